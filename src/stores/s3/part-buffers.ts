/**
 * Reused part buffers. Allocating a fresh multi-megabyte buffer per part costs page faults
 * and garbage collection on every part; a few free buffers per size are kept instead.
 */
export class PartBuffers {
  private readonly free = new Map<number, Buffer[]>();
  constructor(private readonly keepPerSize = 4) {}

  take(size: number): Buffer {
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  give(buffer: Buffer): void {
    const list = this.free.get(buffer.length) ?? [];
    if (list.length >= this.keepPerSize) return;
    list.push(buffer);
    this.free.set(buffer.length, list);
  }
}
