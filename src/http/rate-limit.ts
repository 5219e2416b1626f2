/**
 * Optional per-IP rate limiting (RATE_LIMITER_ENABLED, _POINTS, _DURATION, as in Directus):
 * at most `points` requests per `duration` from one client address (`request.ip`, so behind a
 * proxy with IP_TRUST_PROXY the forwarded address; IPv6 by /64), counted with
 * @fastify/rate-limit's in-memory store. Past it: 429 with Retry-After and a plain-text
 * message. Not counted: OPTIONS (CORS preflights and tus discovery, which Directus answers
 * before its limiter too) and the /healthz and /readyz probes.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface RateLimiterConfig {
  enabled: boolean;
  points: number;
  /** Milliseconds. */
  duration: number;
}

const EXEMPT_PATHS = new Set(['/healthz', '/readyz']);

export function isExempt(request: FastifyRequest): boolean {
  // An OPTIONS with X-HTTP-Method-Override becomes that method in the tus routes: counted.
  const options = request.method === 'OPTIONS' && request.headers['x-http-method-override'] === undefined;
  return options || EXEMPT_PATHS.has(request.url.split('?')[0] ?? '');
}

/** Register before the routes it covers (its hook applies to routes registered after it). */
export async function registerRateLimit(app: FastifyInstance, config: RateLimiterConfig): Promise<void> {
  if (!config.enabled) return;
  // global: false: no hook of the plugin's own (it answers JSON); ours below answers plain text.
  await app.register(rateLimit, { global: false });
  const limit = app.createRateLimit({ max: config.points, timeWindow: config.duration });
  app.addHook('onRequest', async (request, reply) => {
    if (isExempt(request)) return;
    const result = await limit(request);
    if (result.isAllowed || !result.isExceeded) return;
    const retry = Math.max(1, result.ttlInSeconds);
    request.log.info({ ip: request.ip }, 'rate limit exceeded; answered 429');
    return reply
      .code(429)
      .headers({ 'Retry-After': String(retry), 'Content-Type': 'text/plain; charset=utf-8', 'Tus-Resumable': '1.0.0' })
      .send(
        `Too many requests from ${request.ip}: at most ${config.points} per ${config.duration / 1000} s (RATE_LIMITER_POINTS, RATE_LIMITER_DURATION); retry in ${retry} s\n`,
      );
  });
}
