/**
 * What the s3 store's part cutter and the azure store's block cutter share: the body's pieces
 * held for the unit (part or block) being filled, kept as the body's own buffers (views, never
 * copied), and how a piece of the body is taken into it.
 */
export abstract class BodyCutter {
  protected pieces: Buffer[] = [];
  protected held = 0;
  /** Length of the unit being filled (0: the upload can take no more). */
  protected target = 0;
  /** Body bytes taken so far (a tail read back from storage not included). */
  received = 0;
  /** Bytes arrived past `maxBytes` or past the upload's length. */
  tooLarge = false;

  /** `maxBytes`: body bytes accepted at most; more is "too large". */
  constructor(protected readonly maxBytes: number) {}

  get full(): boolean {
    return this.target > 0 && this.held >= this.target;
  }

  /** Take what fits of `chunk` into the current unit: the piece taken and the rest. */
  take(chunk: Buffer): { piece: Buffer | undefined; rest: Buffer } {
    const room = Math.min(this.target - this.held, this.maxBytes - this.received);
    if (room <= 0) {
      // Past the upload's length or the largest body accepted.
      this.tooLarge = true;
      return { piece: undefined, rest: chunk };
    }
    const size = Math.min(room, chunk.length);
    const piece = size === chunk.length ? chunk : chunk.subarray(0, size);
    this.pieces.push(piece);
    this.held += size;
    this.received += size;
    return { piece, rest: chunk.subarray(size) };
  }
}
