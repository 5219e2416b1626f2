/**
 * TUS_BODY_IDLE_TIMEOUT: a request body that sends nothing for that long is cut off (the
 * connection is closed). The stores keep what arrived, as when a client goes away, and the tus
 * client resumes from the offset HEAD reports. Only the body counts: the watch ends once the
 * body has arrived whole, however long the store then takes (completing a multipart upload,
 * waiting for a lock), and while received bytes wait in the request's buffer (the store is
 * slower than the client, not the client idle) the client is not blamed.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Watch `req`'s body; after `idleMs` without a byte from the client, while the server waits
 * for one, `onIdle` runs and the request is destroyed. Returns a function that ends the watch.
 */
export function watchBodyIdle(req: IncomingMessage, idleMs: number, onIdle: (idleMs: number) => void): () => void {
  if (idleMs <= 0 || req.complete) return () => undefined;
  const socket = req.socket;
  let lastBytes = socket.bytesRead;
  let lastProgress = Date.now();
  const tick = () => {
    if (req.complete || req.destroyed || socket.destroyed) return stop();
    // Bytes read from the socket, or bytes waiting for the store to take them: not idle.
    if (socket.bytesRead !== lastBytes || req.readableLength > 0) {
      lastBytes = socket.bytesRead;
      lastProgress = Date.now();
      return;
    }
    if (Date.now() - lastProgress >= idleMs) {
      stop();
      onIdle(idleMs);
      // No error: the body ends early, like a client that went away (what arrived is kept).
      req.destroy();
    }
  };
  const timer = setInterval(tick, Math.max(20, Math.min(1000, Math.floor(idleMs / 10))));
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    req.off('close', stop);
  };
  req.once('close', stop);
  return stop;
}
