/**
 * Everything this server adds to Fastify's types, in one place: what the app carries for
 * main.ts (the requests to drain, the readiness check) and, on a request to a tus mount, its
 * context (src/http/front-door/context.ts), which the request log and the body watch read.
 */
import type { RequestTracker } from './drain.js';
import type { DoorContext } from './front-door/context.js';
import type { Readiness } from './health.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** In-flight tus requests; ended and awaited on shutdown. */
    tusRequests: RequestTracker;
    /** The /readyz check of every location (and Redis), for the check at start. */
    readiness: Readiness;
  }
  interface FastifyRequest {
    /** The request's context on a tus mount, once its request line passed (src/http/front-door/request-line.ts). */
    tus?: DoorContext;
  }
}
