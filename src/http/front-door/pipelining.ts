/**
 * Requests pipelined on one connection are handled one after the other, each once the one
 * before it is done (Node parses and dispatches them at once, and only orders the answers): a
 * HEAD pipelined after a PATCH must see what that PATCH stored. An answer that closes the
 * connection stops what is pipelined behind it.
 */
import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { connectionOf } from '../connection-state.js';

/** How long a connection closed by its answer still takes (and drops) the body the client is sending. */
const LINGER_MS = 2000;

export function inTurn<T>(socket: Socket, run: () => Promise<T>): Promise<T> {
  const connection = connectionOf(socket);
  const previous = connection.turn;
  const current = previous ? previous.then(run, run) : run();
  connection.turn = current.catch(() => undefined);
  return current;
}

/** Whether the connection can no longer answer (its last answer closed it, or it is gone). */
export function isClosing(socket: Socket): boolean {
  return connectionOf(socket).closing === true || socket.destroyed || socket.writableEnded;
}

/**
 * The answer closes the connection: nothing pipelined behind it runs. When the client may
 * still be sending its body (a request stopped midway: a lost lock, a body too large), Node
 * would close the socket right after the answer, and the bytes still arriving would make the
 * kernel reset the connection, which can discard the answer at the client before it reads it.
 * The socket is half-closed instead (the answer, then FIN), the body's rest is read and
 * dropped by Node's parser, and the socket is closed when the client closes its side or
 * after LINGER_MS.
 */
export function closeAfter(request: FastifyRequest): void {
  const socket = request.raw.socket;
  connectionOf(socket).closing = true;
  if (request.raw.complete || socket.destroyed) return;
  const lingering = socket as Socket & { destroySoon?: () => void };
  lingering.destroySoon = () => {
    if (socket.writable) socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
  };
}
