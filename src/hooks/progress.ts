/**
 * post-receive for one request's body: the bytes read so far, reported at most every
 * HOOKS_PROGRESS_INTERVAL while the body arrives and once when it ends (if anything arrived
 * since the last report), as tusd's sendProgressMessages does. A report whose answer says
 * StopUpload stops the body (`stop` aborts) while it is still being read.
 */
import { monotonic } from '../runtime/monotonic.js';
import type { HookHTTPResponse } from './http-hook.js';

export interface ProgressOptions {
  /** The upload's offset when the body began. */
  startOffset: number;
  interval: number;
  /** Send one post-receive for `offset`; resolves with the StopUpload answer, if any. */
  report(offset: number): Promise<{ stop: boolean; response?: HookHTTPResponse | undefined }>;
  now?: () => number;
}

export class Progress {
  private readonly controller = new AbortController();
  private bytes = 0;
  private lastOffset: number;
  private lastTime: number;
  private finished = false;
  /** The HTTPResponse of the post-receive answer that stopped the upload. */
  stoppedWith: HookHTTPResponse | undefined;

  constructor(private readonly o: ProgressOptions) {
    this.lastOffset = o.startOffset;
    this.lastTime = (o.now ?? monotonic)();
  }

  /** Aborted when a post-receive answer says StopUpload. */
  get stop(): AbortSignal {
    return this.controller.signal;
  }

  get stopped(): boolean {
    return this.controller.signal.aborted;
  }

  /** The store read `n` more bytes (called for every piece: cheap unless a report is due). */
  readonly onBytes = (n: number): void => {
    this.bytes += n;
    const now = (this.o.now ?? monotonic)();
    if (now - this.lastTime >= this.o.interval) this.send(now);
  };

  /** The body ended (or failed): one last report if anything arrived since the last one. */
  end(): void {
    if (this.finished) return;
    if (!this.stopped) this.send((this.o.now ?? monotonic)());
    this.finished = true;
  }

  private send(now: number): void {
    const offset = this.o.startOffset + this.bytes;
    this.lastTime = now;
    if (offset === this.lastOffset || this.finished) return;
    this.lastOffset = offset;
    void this.o.report(offset).then(
      ({ stop, response }) => {
        // Once the body has ended there is nothing left to stop (tusd alike).
        if (!stop || this.finished || this.stopped) return;
        this.stoppedWith = response ?? {};
        this.controller.abort();
      },
      () => undefined,
    );
  }
}
