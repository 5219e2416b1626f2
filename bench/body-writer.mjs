// How the bench's tus client writes a request body: `writeBody(req, chunks, pieceSize)`.
// Without a piece size, each generator block (1 MiB) goes to req.write as it comes, as before.
// With one (BENCH write-size rows: 16 KiB, 64 KiB, 1 MiB), the body leaves in pieces of exactly
// that size, one socket write (one syscall) each: Nagle off (setNoDelay), the socket uncorked
// after every write (Node's http client corks it until the next tick, which would merge the
// pieces into one writev), and the next piece written only once the previous one was handed to
// the kernel (pieces queued in the stream would also leave as one writev).
import { once } from 'node:events';

export async function writeBody(req, chunks, pieceSize) {
  if (!pieceSize) {
    for (const chunk of chunks) if (!req.write(chunk)) await once(req, 'drain');
    return;
  }
  const socket = req.socket ?? (await once(req, 'socket'))[0];
  socket.setNoDelay(true);
  if (socket.connecting) await once(socket, 'connect');
  // The headers first, on their own.
  req.flushHeaders();
  while (socket.writableCorked) socket.uncork();
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += pieceSize) {
      const piece = at === 0 && chunk.length <= pieceSize ? chunk : chunk.subarray(at, at + pieceSize);
      await new Promise((resolve, reject) => {
        req.write(piece, (error) => (error ? reject(error) : resolve()));
        while (socket.writableCorked) socket.uncork();
      });
    }
  }
}

/** "16 KiB", "1 MiB": a piece size for the tables. */
export const pieceLabel = (pieceSize) => (pieceSize >= 1024 * 1024 ? `${pieceSize / 1024 / 1024} MiB` : `${pieceSize / 1024} KiB`);
