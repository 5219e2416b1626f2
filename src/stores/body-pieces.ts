/**
 * The pieces of a request body, until it ends, fails, or `stop` aborts. Stopping ends the
 * iteration as if the body had ended, without destroying the body: that is how a request
 * honours a lock release (a newer request for the same upload asked for it), keeping every
 * byte received, the same as @tus/server's own body stream does.
 */
import type { Readable } from 'node:stream';

/** The body broke off before its end (the client went away, or a shutdown ended it). */
export class BodyCut extends Error {
  override name = 'BodyCut';
}

/** The error of a body that broke off (not of a store or a bug): what arrived before it is kept. */
export function isBodyCut(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return (
    error instanceof BodyCut ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    (error instanceof Error && error.message === 'aborted')
  );
}

/** `onPiece` hears the size of every piece as it is read (the request's progress). */
export async function* bodyPieces(body: Readable, stop?: AbortSignal, onPiece?: (bytes: number) => void): AsyncGenerator<Buffer> {
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: unknown;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (error: unknown) => {
    failure ??= error;
    notify();
  };
  // 'close' before 'end': the connection died mid-body.
  const onClose = () => {
    if (!ended && !body.readableEnded) failure ??= new BodyCut('the request body ended before its announced end');
    notify();
  };
  body.on('readable', notify);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  stop?.addEventListener('abort', notify);
  try {
    for (;;) {
      if (stop?.aborted) return;
      // A destroyed body still gives what it buffered before the cut: those bytes arrived too.
      const chunk: Buffer | null = body.read();
      if (chunk !== null) {
        onPiece?.(chunk.length);
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (ended || body.readableEnded) return;
      // Destroyed before these listeners were attached (the client left while the request
      // waited for its lock or a hook): no event will come, the cut is seen here.
      if (body.destroyed) throw new BodyCut('the request body ended before its announced end');
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    body.off('readable', notify);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
    stop?.removeEventListener('abort', notify);
  }
}
