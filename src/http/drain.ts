/**
 * Requests in flight through the tus routes, so that a shutdown can end their bodies (the
 * store then keeps every byte received: parts and `.part`) and wait for them to finish.
 */
import type { IncomingMessage } from 'node:http';
import { BodyCut } from '../stores/body-pieces.js';
import { markCut } from './request-log.js';

export class RequestTracker {
  private readonly running = new Map<IncomingMessage, Promise<void>>();
  draining = false;

  /** Track `req` until `work` settles. */
  track(req: IncomingMessage, work: Promise<unknown>): void {
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    this.running.set(req, done);
    void done.finally(() => this.running.delete(req));
  }

  get size(): number {
    return this.running.size;
  }

  /** End every body being received, then wait (at most `timeoutMs`) for the handlers to save it. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    for (const req of this.running.keys()) {
      if (!req.complete) {
        markCut(req, 'shutdown');
        // A body cut like a client gone away (not a store failure): the store keeps what arrived and says how much.
        req.destroy(new BodyCut('server shutting down'));
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const all = Promise.all(this.running.values()).then(() => true as const);
    const finished = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return finished;
  }
}
