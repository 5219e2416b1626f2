import { Readable } from 'node:stream';
import type { Part } from './upload-state.js';

/**
 * A part sent to S3 while its bytes arrive: each piece of the request body is pushed to the
 * S3 request body as it comes (the write loop keeps the same pieces for a re-send, so no byte
 * is copied). If the request body ends before the part is full, the S3 request is aborted:
 * S3 stores nothing for a request whose body is shorter than its Content-Length.
 */
export class StreamedPart {
  readonly body = new Readable({ read() {} });
  /** The S3 request (or its re-send); set by whoever starts it. */
  task!: Promise<Part>;
  private readonly controller = new AbortController();
  private settle!: (full: boolean) => void;
  /** true once every byte of the part arrived, false if the request ended short. */
  readonly filled: Promise<boolean> = new Promise((resolve) => {
    this.settle = resolve;
  });
  private received = 0;
  private closed = false;

  constructor(readonly length: number) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The next bytes of the part have arrived. */
  append(piece: Buffer): void {
    if (piece.length === 0 || this.closed) return;
    this.body.push(piece);
    this.received += piece.length;
    if (this.received >= this.length) {
      this.closed = true;
      this.body.push(null);
      this.settle(true);
    }
  }

  /** The request ended before the part was full: abandon the S3 request. */
  cut(): void {
    if (this.closed) return;
    this.closed = true;
    this.settle(false);
    this.controller.abort(new PartCut());
    this.body.destroy();
  }
}

export class PartCut extends Error {
  override name = 'AbortError';
  constructor() {
    super('the request body ended before the part was complete');
  }
}
