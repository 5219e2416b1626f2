/**
 * A block staged while its bytes arrive: the request body's pieces are pushed into the Put Block
 * request as they come, and kept (they are the cutter's own buffers, never copied) so that every
 * attempt the SDK makes reads the block from its first byte: `body` is the request body factory
 * the SDK calls once per attempt. A request body that ends before the block is full aborts the
 * Put Block: Azure stores nothing for a request shorter than its Content-Length.
 */

import { Readable } from 'node:stream';
import { pacedByClient } from './client-paced.js';

export class StreamedBlock {
  /** The Put Block request (and its retries); set by whoever starts it. */
  task!: Promise<unknown>;
  private readonly pieces: Buffer[] = [];
  private received = 0;
  private readonly readers = new Set<Readable>();
  private readonly controller = new AbortController();

  constructor(
    readonly index: number,
    readonly length: number,
  ) {
    // Every byte arrived so far was read by the attempt: what it waits for is the client's. Not
    // once the block is cut (its attempts are to end) or has no attempt reading it.
    pacedByClient(
      this.body,
      () =>
        !this.full &&
        !this.controller.signal.aborted &&
        this.readers.size > 0 &&
        [...this.readers].every((reader) => !reader.destroyed && reader.readableLength === 0),
    );
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get full(): boolean {
    return this.received >= this.length;
  }

  /** One attempt's body: the bytes so far, then the rest as it arrives. */
  readonly body = (): NodeJS.ReadableStream => {
    const reader = new Readable({ read() {} });
    for (const piece of this.pieces) reader.push(piece);
    if (this.full) reader.push(null);
    else {
      this.readers.add(reader);
      reader.once('close', () => this.readers.delete(reader));
    }
    return reader;
  };

  /** The next bytes of the block have arrived. */
  append(piece: Buffer): void {
    if (piece.length === 0 || this.full) return;
    this.pieces.push(piece);
    this.received += piece.length;
    for (const reader of this.readers) reader.push(piece);
    if (!this.full) return;
    for (const reader of this.readers) reader.push(null);
    this.readers.clear();
  }

  /** The request body ended before the block was full: abandon the Put Block. */
  cut(): void {
    if (this.full) return;
    this.controller.abort(new BlockCut());
    for (const reader of this.readers) reader.destroy();
    this.readers.clear();
  }
}

export class BlockCut extends Error {
  override name = 'AbortError';
  constructor() {
    super('the request body ended before the block was complete');
  }
}
