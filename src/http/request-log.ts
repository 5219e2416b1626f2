/**
 * One log line per request: request id (an incoming X-Request-Id is kept and echoed),
 * method, URL, status, location, upload id, bytes stored and duration; and the request
 * metrics. Secrets never reach the log: no headers are logged, and pino redacts known paths.
 */
import type { FastifyInstance } from 'fastify';
import { redactUri } from '../hooks/payload.js';
import type { Metrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the tus routes. */
    tus?: { location: string; uploadId?: string; bytes?: number };
  }
}

export function registerRequestLog(app: FastifyInstance, metrics?: Metrics): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const status = reply.raw.statusCode;
    const tus = request.tus;
    metrics?.requests.inc({ method: request.method, status: String(status), location: tus?.location ?? '' });
    request.log.info(
      {
        method: request.method,
        // A token in the query string (AUTH_QUERY_TOKEN), however its name is encoded, is never written.
        url: redactUri(request.url),
        status,
        ...(tus ? { location: tus.location, uploadId: tus.uploadId, bytes: tus.bytes ?? 0 } : {}),
        ...(request.grant ? { subject: request.grant.subject } : {}),
        durationMs: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
}
