/**
 * Mounts one location's @tus/server at a path. The request body must reach @tus/server as
 * the raw Node stream, so this plugin's scope has no body parsers, and the reply is
 * hijacked so Fastify neither buffers the body nor answers a second time.
 */
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Server } from '@tus/server';
import type { DataStore } from '@tus/utils';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { NodeRequest, sendNodeResponse } from 'srvx/node';
import { isConcatenator } from '../stores/concatenate.js';
import { type RequestContext, readsRequestBody, requestContext } from '../stores/request-context.js';
import { CHECKSUM_ALGORITHMS, parseChecksumHeader, type SpooledBody, spoolAndVerify } from '../tus/checksum.js';
import { createFinal, isFinalUpload, showConcat } from '../tus/concatenation.js';
import { checkTusRequest } from '../tus/protocol-guard.js';
import { download } from './download.js';
import type { RequestTracker } from './drain.js';

export interface TusRoutesOptions {
  /** Mount path without trailing slash. */
  path: string;
  tus: Server;
  datastore: DataStore;
  location: string;
  /** Serve GET downloads of finished uploads. */
  downloads: boolean;
  /** Where checksum-verified bodies are spooled. */
  tempDir: string;
  /** Extensions answered by our layer on top of the store's. */
  extraExtensions: readonly string[];
  /** Public base URL, for the Location of final uploads. */
  publicUrl?: string;
  /** 0: no limit. */
  maxSize: number;
  /** Requests in flight, for a graceful shutdown. */
  tracker: RequestTracker;
  /** Upload bytes stored by a request (metrics). */
  onBytes?: (bytes: number) => void;
}

const METHODS: HTTPMethods[] = ['POST', 'HEAD', 'PATCH', 'OPTIONS', 'DELETE', 'GET'];

const integer = (value: string | string[] | undefined) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined);

/** What the store may know of this request: body length, the client's offset, whether to re-read state. */
function contextOf(method: string, headers: Record<string, string | string[] | undefined>, bodyBytes?: number): RequestContext {
  const expectedBytes = bodyBytes ?? integer(headers['content-length']);
  const clientOffset = integer(headers['upload-offset']);
  return {
    ...(expectedBytes !== undefined ? { expectedBytes } : {}),
    ...(method === 'PATCH' && clientOffset !== undefined ? { clientOffset } : {}),
    fresh: method === 'HEAD' || method === 'DELETE',
  };
}

const idOf = (url: string, path: string): string | undefined => {
  const rest = decodeURIComponent(new URL(url, 'http://x').pathname.slice(path.length)).replace(/^\/+|\/+$/g, '');
  return rest && !rest.includes('/') ? rest : undefined;
};

/** Bytes a PATCH or creation-with-upload POST added, from the offsets before and after. */
function bytesStored(request: FastifyRequest, response: Response): number {
  const after = Number(response.headers.get('upload-offset'));
  if (!Number.isFinite(after) || response.status >= 300) return 0;
  if (request.method === 'POST') return after;
  const before = integer(request.headers['upload-offset']);
  return request.method === 'PATCH' && before !== undefined ? Math.max(0, after - before) : 0;
}

export const tusRoutes: FastifyPluginAsync<TusRoutesOptions> = async (app: FastifyInstance, options) => {
  const { path, tus, datastore, location } = options;
  app.removeAllContentTypeParsers();
  // Leave every body untouched for @tus/server to stream.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const plain = (reply: FastifyReply, status: number, body: string, headers: Record<string, string> = {}) =>
    reply
      .code(status)
      .headers({ 'Tus-Resumable': '1.0.0', 'Content-Type': 'text/plain; charset=utf-8', ...headers })
      .send(`${body}\n`);

  /** Adjust @tus/server's answer where the spec asks for more. */
  const finish = async (request: FastifyRequest, response: Response): Promise<Response> => {
    const headers = new Headers(response.headers);
    // CORS is answered by the HTTP layer (CORS_*), not by @tus/server.
    for (const name of [...headers.keys()]) if (name.startsWith('access-control-')) headers.delete(name);
    if (request.method === 'OPTIONS') {
      const extensions = [...(headers.get('tus-extension')?.split(',') ?? []), ...options.extraExtensions].map((e) =>
        e === 'concatentation' ? 'concatenation' : e,
      );
      headers.set('Tus-Extension', [...new Set(extensions)].join(','));
      headers.set('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
    }
    if (request.method === 'HEAD') showConcat(headers);
    if (response.status === 409 && request.method === 'PATCH') {
      // The spec's 409 lets the client resynchronise: tell it where the upload is.
      const id = idOf(request.url, path);
      const current = id ? await requestContext.run({ fresh: true }, () => datastore.getUpload(id)).catch(() => undefined) : undefined;
      if (current) headers.set('Upload-Offset', String(current.offset));
    }
    // @tus/server builds Responses without a reason phrase ("HTTP/1.1 204 "); add the standard one.
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText || STATUS_CODES[response.status] || '',
      headers,
    });
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const uploadId = idOf(request.url, path);
    request.tus = { location, ...(uploadId ? { uploadId } : {}) };
    if (options.tracker.draining)
      return plain(reply, 503, 'The server is shutting down; retry in a moment', { 'Retry-After': '1', Connection: 'close' });
    if (request.method === 'GET') {
      if (!options.downloads) return plain(reply, 404, 'Downloads are disabled on this server (TUS_DOWNLOAD_ENABLED=false)');
      return download(request, reply, datastore, idOf(request.url, path));
    }
    const guard = checkTusRequest(request.method, request.headers);
    if (guard) {
      request.log.info({ location, status: guard.status }, guard.body.trim());
      return reply.code(guard.status).headers(guard.headers).send(guard.body);
    }

    const concat = request.headers['upload-concat'];
    if (request.method === 'POST' && typeof concat === 'string' && concat.startsWith('final;')) {
      if (!isConcatenator(datastore)) return plain(reply, 501, 'This location does not support concatenation');
      const host = request.headers.host ?? 'localhost';
      const answer = await createFinal({
        header: concat,
        metadataHeader: request.headers['upload-metadata'] as string | undefined,
        lengthHeader: request.headers['upload-length'] as string | undefined,
        path,
        maxSize: options.maxSize,
        store: datastore,
        urlOf: (id) => `${options.publicUrl ?? `${request.protocol}://${host}`}${path}/${id}`,
      });
      return plain(reply, answer.status, answer.body, answer.headers);
    }
    if (request.method === 'PATCH') {
      const id = idOf(request.url, path);
      const upload = id
        ? await requestContext.run(contextOf('PATCH', request.headers), () => datastore.getUpload(id)).catch(() => undefined)
        : undefined;
      if (upload && isFinalUpload(upload)) return plain(reply, 403, 'A final upload of a concatenation cannot be changed with PATCH');
    }

    let spooled: SpooledBody | undefined;
    const checksum = request.headers['upload-checksum'];
    const hasBody = request.headers['content-type'] === 'application/offset+octet-stream';
    if (typeof checksum === 'string' && hasBody) {
      const header = parseChecksumHeader(checksum);
      if (typeof header === 'string') return plain(reply, 400, header);
      try {
        spooled = await spoolAndVerify(request.raw, header, options.tempDir);
      } catch {
        // The client went away before the body was complete: nothing verifiable to keep.
        return plain(reply, 400, 'The request body ended before it was complete; its checksum cannot be verified');
      }
      if (!spooled.matches) {
        await spooled.dispose();
        request.log.info({ location }, 'checksum mismatch');
        reply.raw.statusMessage = 'Checksum Mismatch';
        return plain(
          reply,
          460,
          `Checksum Mismatch: the body does not match Upload-Checksum (${header.algorithm}); nothing was stored, send it again`,
        );
      }
    }

    reply.hijack();
    // Headers set by hooks (CORS, request id) on the Fastify reply, which hijack skips.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
    try {
      // A store that reads the body itself gets the raw request (or the verified spool):
      // @tus/server then sees an empty body, and no byte passes through web-stream adapters.
      const direct = hasBody && readsRequestBody(datastore);
      const body: Readable | undefined = spooled ? spooled.open() : direct ? request.raw : undefined;
      const webRequest =
        direct || spooled
          ? new Request(new URL(request.url, `http://${request.headers.host ?? 'localhost'}`), {
              method: request.method,
              headers: Object.entries(request.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)] as [string, string]])),
              ...(direct ? {} : { body: Readable.toWeb(body as Readable) as ReadableStream, duplex: 'half' }),
            } as RequestInit)
          : new NodeRequest({ req: request.raw, res: reply.raw });
      const context = { ...contextOf(request.method, request.headers, spooled?.size), ...(direct && body ? { body } : {}) };
      const handling = requestContext.run(context, () => tus.handleWeb(webRequest));
      options.tracker.track(request.raw, handling);
      const response = await handling;
      const stored = bytesStored(request, response);
      if (stored > 0) {
        options.onBytes?.(stored);
        request.tus.bytes = stored;
      }
      if (request.method === 'POST' && response.status === 201) {
        const created = response.headers.get('location')?.split('/').pop();
        if (created) request.tus.uploadId = created;
      }
      await sendNodeResponse(reply.raw, await finish(request, response));
    } catch (error) {
      request.log.error({ err: error, location }, 'tus handler failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Tus-Resumable': '1.0.0' });
      }
      reply.raw.end('Internal error while handling the upload; see the server log\n');
    } finally {
      await spooled?.dispose();
    }
  };
  for (const url of [path || '/', `${path}/*`]) {
    app.route({ method: METHODS, url, exposeHeadRoute: false, handler });
  }
};
