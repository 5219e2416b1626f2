/** CORS for browser clients (CORS_* variables, Directus names), with @fastify/cors. */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../config/index.js';

export async function registerCors(app: FastifyInstance, config: Config['cors']): Promise<void> {
  if (!config.enabled) return;
  await app.register(cors, {
    // An origin that is not allowed gets no CORS headers at all.
    origin: config.origin === true ? (config.credentials ? true : '*') : [...config.origin],
    methods: [...config.methods],
    allowedHeaders: [...config.allowedHeaders],
    exposedHeaders: [...config.exposedHeaders],
    credentials: config.credentials,
    maxAge: config.maxAge,
    // Preflights get their CORS headers here, then continue to the tus OPTIONS handler,
    // so a plain OPTIONS (tus discovery) and a preflight both get the tus headers.
    preflight: true,
    preflightContinue: true,
    strictPreflight: false,
  });
  // @fastify/cors still exposes headers to origins it refuses; a refused origin gets none.
  const strip = (reply: FastifyReply) => {
    if (reply.hasHeader('access-control-allow-origin')) return;
    for (const name of Object.keys(reply.getHeaders())) if (name.startsWith('access-control-')) reply.removeHeader(name);
  };
  app.addHook('preHandler', async (_request, reply) => strip(reply));
  app.addHook('onSend', async (_request, reply, payload) => {
    strip(reply);
    return payload;
  });
}
