/**
 * What the server knows of one client connection, across the requests it carries: the one
 * side table of connection state (request state lives in each request's context).
 */
import type { Socket } from 'node:net';
import type { Exchange } from './request-log.js';

export interface ConnectionState {
  /** The requests being read or answered on it, oldest first (src/http/request-log.ts). */
  exchanges?: Set<Exchange>;
  /** The turn of its last request: a pipelined request runs after it (src/http/front-door/pipelining.ts). */
  turn?: Promise<unknown>;
  /** Its last answer closes it: nothing pipelined behind runs. */
  closing?: boolean;
}

const connections = new WeakMap<Socket, ConnectionState>();

export function connectionOf(socket: Socket): ConnectionState {
  let state = connections.get(socket);
  if (!state) {
    state = {};
    connections.set(socket, state);
  }
  return state;
}
