import { Readable } from 'node:stream';
import type { Part } from './upload-state.js';

/**
 * A part sent to S3 while its bytes arrive. The bytes land in the part's buffer (kept for a
 * re-send) and views of them are pushed to the S3 request body, so nothing is copied twice.
 * If the request body ends before the part is full, the S3 request is aborted: S3 stores
 * nothing for a request whose body is shorter than its Content-Length.
 */
export class StreamedPart {
  readonly body = new Readable({ read() {} });
  private readonly controller = new AbortController();
  private settle!: (full: boolean) => void;
  /** true once every byte of the part arrived, false if the request ended short. */
  readonly whole: Promise<boolean> = new Promise((resolve) => {
    this.settle = resolve;
  });
  /** The S3 request (or its re-send); set by whoever starts it. */
  task!: Promise<Part>;
  private filled = 0;
  private closed = false;

  constructor(
    readonly buffer: Buffer,
    readonly length: number,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get full(): boolean {
    return this.filled === this.length;
  }

  /** Bytes [from, to) of the buffer have arrived. */
  append(from: number, to: number): void {
    if (to <= from || this.closed) return;
    this.body.push(this.buffer.subarray(from, to));
    this.filled = to;
    if (this.full) {
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
