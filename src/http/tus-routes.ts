/**
 * Mounts one @tus/server at a path. The request body must reach @tus/server as the raw
 * Node stream, so this plugin's scope has no body parsers, and the reply is hijacked so
 * Fastify neither buffers the body nor answers a second time.
 */
import { STATUS_CODES } from 'node:http';
import type { Server } from '@tus/server';
import type { FastifyInstance, FastifyPluginAsync, HTTPMethods } from 'fastify';
import { NodeRequest, sendNodeResponse } from 'srvx/node';
import { type RequestContext, requestContext } from '../stores/request-context.js';
import { checkTusRequest } from '../tus/protocol-guard.js';

const integer = (value: string | string[] | undefined) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined);

/** What the store may know of this request: body length, the client's offset, whether to re-read state. */
function contextOf(method: string, headers: Record<string, string | string[] | undefined>): RequestContext {
  const expectedBytes = integer(headers['content-length']);
  const clientOffset = integer(headers['upload-offset']);
  return {
    ...(expectedBytes !== undefined ? { expectedBytes } : {}),
    ...(method === 'PATCH' && clientOffset !== undefined ? { clientOffset } : {}),
    fresh: method === 'HEAD' || method === 'DELETE' || method === 'GET',
  };
}

export interface TusRoutesOptions {
  /** Mount path without trailing slash. */
  path: string;
  tus: Server;
  location: string;
}

const METHODS: HTTPMethods[] = ['POST', 'HEAD', 'PATCH', 'OPTIONS', 'DELETE', 'GET'];

export const tusRoutes: FastifyPluginAsync<TusRoutesOptions> = async (app: FastifyInstance, { path, tus, location }) => {
  app.removeAllContentTypeParsers();
  // Leave every body untouched for @tus/server to stream.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const guard = checkTusRequest(request.method, request.headers);
    if (guard) {
      request.log.info({ location, status: guard.status }, guard.body.trim());
      return reply.code(guard.status).headers(guard.headers).send(guard.body);
    }
    reply.hijack();
    try {
      const response = await requestContext.run(contextOf(request.method, request.headers), () =>
        tus.handleWeb(new NodeRequest({ req: request.raw, res: reply.raw })),
      );
      // @tus/server builds Responses without a reason phrase ("HTTP/1.1 204 "); add the standard one.
      const named = new Response(response.body, {
        status: response.status,
        statusText: response.statusText || STATUS_CODES[response.status] || '',
        headers: response.headers,
      });
      await sendNodeResponse(reply.raw, named);
    } catch (error) {
      request.log.error({ err: error, location }, 'tus handler failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Tus-Resumable': '1.0.0' });
      }
      reply.raw.end('Internal error while handling the upload; see the server log\n');
    }
  };
  for (const url of [path || '/', `${path}/*`]) {
    app.route({ method: METHODS, url, exposeHeadRoute: false, handler });
  }
};
