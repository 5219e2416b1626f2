/**
 * Limits of the HTTP server itself, before any route sees a request: the size of the request
 * headers (SERVER_MAX_HEADER_SIZE, Node's maxHeaderSize; more is 431) and the time a client
 * has to send them (SERVER_HEADERS_TIMEOUT, Node's headersTimeout; then 408 and the connection
 * is closed). Node checks the headers timeout every `connectionsCheckingInterval`, so that
 * interval follows the timeout. The answers Node and Fastify make here (JSON from Fastify) are
 * replaced by plain text saying which limit was hit.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { answerStarted, noteClientError } from './request-log.js';

export interface ServerLimits {
  /** Milliseconds; 0: no limit. */
  headersTimeout: number;
  /** Bytes. */
  maxHeaderSize: number;
}

/** Options for Node's http.createServer (Fastify's `http` option). */
export function httpServerOptions(limits: ServerLimits) {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    // Uploads can be long: no limit on a whole request (Fastify sets the same after creating the server).
    requestTimeout: 0,
    connectionsCheckingInterval:
      limits.headersTimeout > 0 ? Math.max(100, Math.min(30_000, Math.floor(limits.headersTimeout / 4))) : 30_000,
  };
}

/**
 * Fastify's `clientErrorHandler`: errors of the HTTP parser and the headers timeout, answered in
 * plain text. An error while a request's body is being read (the client closing the
 * connection mid-body is HPE_INVALID_EOF_STATE, a broken chunk is HPE_INVALID_CHUNK_SIZE) is
 * that request's: no second answer is written over its own, the connection is closed, and the
 * request's log line (src/http/request-log.ts) tells how it ended, with the parser's code.
 */
export function clientErrorHandler(limits: ServerLimits, log: Pick<FastifyBaseLogger, 'info'>) {
  return (error: Error & { code?: string }, socket: Socket) => {
    if (noteClientError(socket, error.code)) {
      socket.destroy();
      return;
    }
    // The connection is gone already: nothing to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    let status: number;
    let message: string;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      message = `The request headers are larger than this server accepts (${limits.maxHeaderSize} bytes in all, SERVER_MAX_HEADER_SIZE); send smaller headers, such as less Upload-Metadata`;
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      message = `The request headers did not arrive within ${limits.headersTimeout} ms (SERVER_HEADERS_TIMEOUT); the connection is closed`;
    } else {
      status = 400;
      message = `The request is not valid HTTP/1.1 (${error.code ?? error.message}); the connection is closed`;
    }
    log.info({ code: error.code, status, remoteAddress: socket.remoteAddress }, 'client error before a request was read');
    // Not into an answer already under way (a request before this one, pipelined).
    if (socket.writable && !answerStarted(socket)) {
      const body = `${message}\n`;
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
