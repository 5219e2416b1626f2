import type { Socket } from 'node:net';

/**
 * Close a socket with a TCP RST, as a crashed peer or a dropped link would. Node 20 marks a
 * socket closing before libuv's reset can refuse it (uv_tcp_close_reset refuses a socket already
 * shutting down, i.e. after `end()`), so such a socket is never closed and the process spins at
 * exit forever: a socket already ending is destroyed plainly instead.
 */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}
