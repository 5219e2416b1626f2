/**
 * TUS_BODY_IDLE_TIMEOUT and TUS_BODY_MIN_RATE: a request body must bring at least
 * `minRate` bytes a second (at least one byte) over every stretch of the idle timeout, or it is
 * cut off (the connection is closed): a client that sends nothing, or trickles a byte a
 * second, cannot hold a connection. The stores keep what arrived, as when a client goes away,
 * and the tus client resumes from the offset HEAD reports. Only the body counts: the watch ends
 * once the body has arrived whole, however long the store then takes (completing a multipart
 * upload), and while received bytes wait unread in the request's buffer (the store slower
 * than the client, or waiting for the upload's lock) the client is not blamed, nor for the
 * time this process itself stood still.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { monotonic } from '../runtime/monotonic.js';
import { markCut } from './request-log.js';

export interface BodyPace {
  /** Milliseconds; 0: no watch. */
  idleMs: number;
  /** Bytes a second the body must average over `idleMs`; 0: any byte will do. */
  minRate: number;
}

/**
 * Watch `req`'s body; when it brings less than its due over `idleMs` while the server waits
 * for it, `onSlow` runs (with the bytes it brought) and the request is destroyed. Returns a
 * function that ends the watch.
 */
export function watchBodyIdle(req: IncomingMessage, pace: BodyPace, onSlow: (bytes: number) => void): () => void {
  const { idleMs, minRate } = pace;
  if (idleMs <= 0 || req.complete) return () => undefined;
  const socket = req.socket;
  // Bytes due per stretch of idleMs.
  const due = Math.max(1, Math.floor((minRate * idleMs) / 1000));
  let since = socket.bytesRead;
  let sinceAt = monotonic();
  const every = Math.max(20, Math.min(1000, Math.floor(idleMs / 10)));
  let lastTick = sinceAt;
  let skipped = false;
  const tick = () => {
    if (req.complete || req.destroyed || socket.destroyed) return stop();
    // A tick that comes late means this process did not run (a long GC pause, a starved CPU):
    // that time was the server's, not the client's, and the bytes that arrived meanwhile are
    // not read yet (timers run before the poll phase). Judge at the next tick, but never skip
    // two in a row: a server lagging all the time must still cut a silent body.
    const now = monotonic();
    const late = now - lastTick - every;
    lastTick = now;
    if (late > every) {
      sinceAt += late;
      if (!skipped) {
        skipped = true;
        return;
      }
    }
    skipped = false;
    const brought = socket.bytesRead - since;
    // Enough bytes, or bytes waiting for the store to take them: the client keeps pace.
    if (brought >= due || req.readableLength > 0) {
      since = socket.bytesRead;
      sinceAt = now;
      return;
    }
    if (now - sinceAt >= idleMs) {
      stop();
      onSlow(brought);
      // No error: the body ends early, like a client that went away (what arrived is kept).
      req.destroy();
    }
  };
  const timer = setInterval(tick, every);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    req.off('close', stop);
  };
  req.once('close', stop);
  return stop;
}

/**
 * Watch the body of every request, not only an upload's: a body behind an answer that does not
 * read it (a 404, a probe, a DELETE, the rate limiter's 429) is read off the wire by Node after
 * the answer, and would otherwise hold its connection for as long as it trickles. Registered
 * before every other hook, so that no early answer escapes it.
 */
export function registerBodyWatch(app: FastifyInstance, pace: BodyPace): void {
  if (pace.idleMs <= 0) return;
  app.addHook('onRequest', (request, _reply, done) => {
    const { headers } = request;
    if (headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0) {
      watchBodyIdle(request.raw, pace, (bytes) => {
        // The request's own line then says `outcome: timeout`.
        markCut(request.raw, 'timeout');
        request.log.warn(
          { location: request.tus?.location, uploadId: request.tus?.uploadId, bytes, ...pace },
          `the request body brought ${bytes} bytes in ${pace.idleMs} ms (TUS_BODY_IDLE_TIMEOUT, TUS_BODY_MIN_RATE): connection closed, what arrived is kept`,
        );
      });
    }
    done();
  });
}
