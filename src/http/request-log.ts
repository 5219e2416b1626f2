/**
 * One log line per request: request id (an incoming X-Request-Id is kept and echoed),
 * method, URL, status, how the exchange ended (`outcome`), location, upload id, bytes stored
 * and duration; and the request metrics. Secrets never reach the log: no headers are logged,
 * and pino redacts known paths.
 *
 * Every request gets its line exactly once, answered or not. An answered request is written
 * when its answer is sent (the response's `finish`, hijacked replies included). A request
 * whose connection closes before its answer is sent (the client went away, its body was cut
 * for being too slow, a shutdown cut it) never sees `finish`: its line is written when the
 * connection closes, once the route's work (registered with `settleBeforeLog`: the tus
 * routes, whose stores keep the bytes that arrived) has settled, so the line carries the
 * bytes stored. Such a request's status is the one sent if its headers went out before the
 * close, else the one nginx logs for the case, never sent: 499 (the client closed the
 * connection), 408 (TUS_BODY_IDLE_TIMEOUT / TUS_BODY_MIN_RATE), 503 (a shutdown cut it).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { redactUri } from '../hooks/payload.js';
import { connectionOf } from './connection-state.js';
import type { Metrics } from './metrics.js';

/** How a request ended: its answer sent, or its connection closed first, and why. */
export type Outcome = 'answered' | 'aborted' | 'timeout' | 'shutdown';

/** The status logged and counted for a request not answered (nothing of an answer sent). */
const UNANSWERED: Record<Exclude<Outcome, 'answered'>, number> = { aborted: 499, timeout: 408, shutdown: 503 };

export interface Exchange {
  request: FastifyRequest;
  reply: FastifyReply;
  /** Why the server cut the request (the default when the connection closes: the client went away). */
  cut?: 'timeout' | 'shutdown';
  /** An HTTP parser error on the connection while this request's body was read. */
  clientError?: string;
  /**
   * The status whose headers went out before the connection died (null: none), read when it
   * was cut or closed: a handler answering later writes into a dead connection.
   */
  sentBeforeClose?: number | null;
  /** The route's work, awaited before the line of an unanswered request. */
  work?: Promise<unknown>;
  logged: boolean;
}

/** The requests a connection is reading or answering, oldest first (pipelining). */
const open = (socket: Socket): Set<Exchange> => {
  const connection = connectionOf(socket);
  connection.exchanges ??= new Set();
  return connection.exchanges;
};

/** The requests open on a connection, without recording one (an empty list when there is none). */
const exchangesOn = (socket: Socket): Iterable<Exchange> => connectionOf(socket).exchanges ?? [];

/** The exchange of a request still open on its connection. */
function exchangeOf(req: IncomingMessage): Exchange | undefined {
  if (!req.socket) return undefined;
  for (const exchange of exchangesOn(req.socket)) if (exchange.request.raw === req) return exchange;
  return undefined;
}

/** The request being read or answered on `socket` (the latest), to which a parser error belongs. */
function inProgress(socket: Socket): Exchange | undefined {
  let latest: Exchange | undefined;
  for (const exchange of exchangesOn(socket)) latest = exchange;
  return latest;
}

/** What of its answer a request had sent when its connection was cut. */
function noteSent(exchange: Exchange): void {
  const res = exchange.reply.raw;
  if (exchange.sentBeforeClose === undefined) exchange.sentBeforeClose = res.headersSent ? res.statusCode : null;
}

/**
 * A parser error of the connection (about to be closed) while a request's body is being read
 * belongs to that request: recorded for its line, and true. False when no body is being read
 * (the error is about bytes after the last request: a request that could not be read).
 */
export function noteClientError(socket: Socket, code: string | undefined): boolean {
  const exchange = inProgress(socket);
  if (!exchange || exchange.request.raw.complete) return false;
  // A request the server cut fails with its own error, not the client's.
  if (!exchange.cut) exchange.clientError = code ?? 'unknown';
  for (const each of exchangesOn(socket)) noteSent(each);
  return true;
}

/** Whether an answer on `socket` has begun (nothing else may be written into it then). */
export function answerStarted(socket: Socket): boolean {
  for (const exchange of exchangesOn(socket)) if (exchange.reply.raw.headersSent) return true;
  return false;
}

/** The server cuts this request's body (and connection): its line says why instead of `aborted`. */
export function markCut(req: IncomingMessage, why: 'timeout' | 'shutdown'): void {
  const exchange = exchangeOf(req);
  if (!exchange) return;
  exchange.cut ??= why;
  noteSent(exchange);
}

/** The line of this request, if it is not answered, waits for `work` (what it stored is then known). */
export function settleBeforeLog(request: FastifyRequest, work: Promise<unknown>): void {
  const exchange = exchangeOf(request.raw);
  if (exchange) exchange.work = work;
}

export function registerRequestLog(app: FastifyInstance, metrics?: Metrics): void {
  const write = (exchange: Exchange, outcome: Outcome, status: number) => {
    const { request, reply } = exchange;
    const tus = request.tus;
    metrics?.requests.inc({ method: request.method, status: String(status), location: tus?.location ?? '' });
    request.log.info(
      {
        method: request.method,
        // A token in the query string (AUTH_QUERY_TOKEN), however its name is encoded, is never written.
        url: redactUri(request.url),
        status,
        outcome,
        ...(exchange.clientError ? { clientError: exchange.clientError } : {}),
        ...(tus ? { location: tus.location, uploadId: tus.uploadId, bytes: tus.bytes ?? 0 } : {}),
        ...(tus?.grant ? { subject: tus.grant.subject } : {}),
        durationMs: Math.round(reply.elapsedTime),
      },
      'request',
    );
  };
  /**
   * The exchange is over: its answer sent (`finish`, which Node emits only once the last byte
   * is handed to the connection), or its connection closed first. Its one line, then or once
   * the route's work settles. What was sent is read when the connection was cut or closed: a
   * handler answering later writes into a dead connection (Node then even reports the
   * response finished, `writableFinished`).
   */
  const end = (exchange: Exchange, answered: boolean) => {
    if (exchange.logged) return;
    exchange.logged = true;
    const { request, reply } = exchange;
    const socket = request.raw.socket;
    if (socket) connectionOf(socket).exchanges?.delete(exchange);
    if (answered) return write(exchange, 'answered', reply.raw.statusCode);
    noteSent(exchange);
    const outcome = exchange.cut ?? 'aborted';
    const status = exchange.sentBeforeClose ?? UNANSWERED[outcome];
    if (!exchange.work) return write(exchange, outcome, status);
    const settled = () => write(exchange, outcome, status);
    exchange.work.then(settled, settled);
  };
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    const exchange: Exchange = { request, reply, logged: false };
    reply.raw.once('finish', () => end(exchange, true));
    // A connection that closes ends every request on it: a response not yet sent never emits `finish`.
    const socket = request.raw.socket;
    if (!socket) return;
    if (!connectionOf(socket).exchanges && !socket.destroyed) {
      const all = open(socket);
      // One listener per connection, however many requests it carries.
      socket.once('close', () => {
        for (const each of all) end(each, false);
      });
    }
    open(socket).add(exchange);
    if (socket.destroyed) setImmediate(() => end(exchange, false));
  });
}
