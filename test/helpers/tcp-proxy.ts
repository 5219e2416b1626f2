/** A tiny TCP proxy (node:net) in front of a host:port that tests can take down (refusing connections) and bring back. */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

import { resetSocket } from './reset-socket.js';
export interface TcpProxy {
  port: number;
  url: string;
  /** Refuse new connections (the port is closed) and reset every open one. */
  down(): Promise<void>;
  /** Accept connections and swallow what they send, never answering (a network partition); open ones go silent too. */
  blackhole(): void;
  /** Listen again on the same port (after `down`), or forward again (after `blackhole`). */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  /** Open connections and their upstreams, to silence on `blackhole`. */
  const pairs = new Map<Socket, Socket>();
  let silent = false;
  let server: Server | undefined;
  let current = port;

  const listen = async (): Promise<void> => {
    const srv = createServer((client) => {
      if (silent) {
        sockets.add(client);
        client.on('error', () => {}).on('close', () => sockets.delete(client));
        client.resume();
        return;
      }
      const upstream = createConnection(target);
      pairs.set(client, upstream);
      sockets.add(client);
      sockets.add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
        pairs.delete(client);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    srv.listen(current, '127.0.0.1');
    await once(srv, 'listening');
    current = (srv.address() as { port: number }).port;
    server = srv;
  };

  const down = async (): Promise<void> => {
    const srv = server;
    server = undefined;
    for (const s of sockets) resetSocket(s);
    sockets.clear();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return current;
    },
    get url() {
      return `http://127.0.0.1:${current}`;
    },
    down,
    blackhole: () => {
      silent = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.resume();
        upstream.resume();
      }
      pairs.clear();
    },
    up: async () => {
      silent = false;
      if (!server) await listen();
    },
    close: down,
  };
}
