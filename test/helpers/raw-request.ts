/**
 * Requests on raw sockets, for what fetch cannot do: a body announced and then stalled,
 * trickled or held back, a connection watched until the server closes it.
 */
import { type ClientRequest, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { until } from './wait.js';

/**
 * The head of a tus PATCH to `url` (the upload's URL) announcing `length` bytes at `offset`,
 * as raw HTTP/1.1; `extra` is further header lines, each ending in CRLF.
 */
export const patchHead = (url: string, offset: number, length: number, extra = '') => {
  const { pathname, host } = new URL(url);
  return `PATCH ${pathname} HTTP/1.1\r\nHost: ${host}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: ${offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${length}\r\n${extra}\r\n`;
};

/** A raw connection to `url`'s host and port: what it received (decoded as `encoding`), and when it was closed. */
export function rawConnection(
  url: string,
  encoding: BufferEncoding = 'utf8',
): { socket: Socket; received: () => string; closedAt: () => number | undefined } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let received = '';
  let closedAt: number | undefined;
  socket.on('data', (d: Buffer) => {
    received += d.toString(encoding);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closedAt = Date.now();
  });
  return { socket, received: () => received, closedAt: () => closedAt };
}

/** A raw connection (as `rawConnection`) that has sent the head of a PATCH at offset 0 announcing `length` bytes: the test writes the body. */
export function patchConnection(url: string, length: number, extra = '') {
  const connection = rawConnection(url);
  connection.socket.write(patchHead(url, 0, length, extra));
  return connection;
}

/** The status and Upload-Offset (-1: none) of a raw HTTP/1.1 answer. */
export function statusAndOffset(answer: string): { status: number; offset: number } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  const offsetHeader = /\r\nupload-offset: (\d+)\r\n/i.exec(answer)?.[1];
  return { status, offset: offsetHeader === undefined ? -1 : Number(offsetHeader) };
}

/**
 * A PATCH to `url` (the upload's URL) on a raw socket: the headers announce `declared` bytes;
 * the body goes out as the test writes it (`send`), so a test can stall it or hold it back; the
 * socket stays open until the test destroys it. `answer` is the raw response as received so far.
 */
export function rawPatch(url: string, offset: number, declared: number) {
  const { socket, received } = rawConnection(url, 'latin1');
  socket.write(patchHead(url, offset, declared));
  return {
    socket,
    send: (bytes: Uint8Array) => new Promise<void>((resolve) => socket.write(bytes, () => resolve())),
    answer: received,
    /** The status and Upload-Offset of the answer, once its headers have arrived. */
    async answered(timeoutMs = 30_000): Promise<{ status: number; offset: number }> {
      await until(() => received().includes('\r\n\r\n') || socket.destroyed, 'the PATCH to be answered', timeoutMs);
      return statusAndOffset(received());
    },
  };
}

/** The headers of a tus PATCH at `offset`, then `extra` (Content-Length, Upload-Checksum, ...). */
export const patchHeaders = (offset: number, extra: Record<string, string> = {}): Record<string, string> => ({
  'Tus-Resumable': '1.0.0',
  'Upload-Offset': String(offset),
  'Content-Type': 'application/offset+octet-stream',
  ...extra,
});

/** A tus PATCH to `url` at `offset` as a node:http request whose body the test writes (headers: `patchHeaders`). */
export const patchRequest = (url: string, offset: number, extra: Record<string, string> = {}): ClientRequest =>
  request(url, { method: 'PATCH', headers: patchHeaders(offset, extra) });

/**
 * PATCH `chunks` chunks of `size` bytes (from offset 0), one every `everyMs`, until the server
 * answers: its status, body and headers, and how many chunks went out. A connection error before
 * the answer resolves with `error` and status 0: the server answers mid-body and closes, unread
 * bytes make that close a reset, which can reach the client before the answer does (EPIPE).
 */
export function drippedPatch(
  url: string,
  size: number,
  chunks: number,
  everyMs: number,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined>; sent: number; error?: Error }> {
  return new Promise((resolve) => {
    let sent = 0;
    const req = patchRequest(url, 0, { 'Content-Length': String(size * chunks) });
    const timer = setInterval(() => {
      if (sent < chunks) {
        req.write(Buffer.alloc(size, 7));
        sent += 1;
      }
    }, everyMs);
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      clearInterval(timer);
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), headers: res.headers, sent });
        req.destroy();
      });
    });
    req.on('error', (error) => {
      clearInterval(timer);
      if (!answered) resolve({ status: 0, body: '', headers: {}, sent, error });
    });
  });
}
