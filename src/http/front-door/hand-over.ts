/**
 * The hand-over to @tus/server (the protocol engine): the cached state refreshed where the
 * request says it may be stale, then the request as a web Request, whose body goes straight to
 * a store that reads bodies itself (BodyWriter), else through @tus/server's stream (a spooled
 * body, or the Node request's).
 */
import { Readable } from 'node:stream';
import { NodeRequest } from 'srvx/node';
import { isBodyWriter, isStateCache } from '../../stores/capabilities.js';
import { DirectBody, requestWithDirectBody } from '../../tus/engine.js';
import { linkWeb } from '../../tus/web-request.js';
import { type DoorContext, integerHeader } from './context.js';
import { baseUrl } from './request-line.js';

/** The cached state is trusted unless the request says it may be stale. */
export function refreshState(c: DoorContext): void {
  const store = c.o.datastore;
  if (!c.id || !isStateCache(store)) return;
  const { method } = c.request;
  const clientOffset = integerHeader(c, 'upload-offset');
  if (method === 'HEAD' || method === 'DELETE' || (method === 'PATCH' && clientOffset !== store.cachedOffset(c.id))) store.invalidate(c.id);
}

/** @tus/server handles the request; its answer, as it made it. */
export function handOver(c: DoorContext): Promise<Response> {
  const { o, request, reply, spooled } = c;
  const hasBody =
    (request.method === 'PATCH' || request.method === 'POST') && request.headers['content-type'] === 'application/offset+octet-stream';
  const body: Readable | undefined = spooled ? spooled.open() : hasBody ? request.raw : undefined;
  const url = new URL(request.url, `http://${request.headers.host ?? 'localhost'}`);
  const init = { method: request.method, headers: webHeaders(c) };
  let webRequest: Request;
  if (body && isBodyWriter(o.datastore)) {
    c.direct = new DirectBody(body, spooled?.size ?? integerHeader(c, 'content-length'));
    webRequest = requestWithDirectBody(url, init, c.direct);
  } else if (spooled) {
    webRequest = new Request(url, { ...init, body: Readable.toWeb(spooled.open()) as ReadableStream, duplex: 'half' } as RequestInit);
  } else if (body) {
    webRequest = new NodeRequest({ req: request.raw, res: reply.raw });
  } else {
    // No body: the headers as the front door left them (an empty Upload-Metadata removed).
    webRequest = new Request(url, init);
  }
  c.origin = baseUrl(c);
  linkWeb(webRequest, c);
  o.hooks?.attach(c, request);
  const handling = o.engine.handleWeb(webRequest);
  o.tracker.track(request.raw, handling);
  return handling;
}

/** Read by the front door alone (src/tus/public-origin.ts); @tus/server would refuse an odd one even from an untrusted client. */
const ORIGIN_HEADERS = new Set(['forwarded', 'x-forwarded-host', 'x-forwarded-proto']);

export function webHeaders({ request }: DoorContext): [string, string][] {
  return Object.entries(request.headers).flatMap(([k, v]) =>
    v === undefined || ORIGIN_HEADERS.has(k) ? [] : [[k, String(v)] as [string, string]],
  );
}
