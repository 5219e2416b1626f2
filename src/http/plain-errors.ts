/**
 * Fastify's own answers (unknown route, malformed URL, unsupported or unparsable content type)
 * are JSON by default; a client of this server gets plain text saying what is wrong instead,
 * like every other answer (src/tus/answer.ts). Found by the fuzz test (test/e2e/fuzz.test.ts).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

function send(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply
    .code(status)
    .header('Content-Type', 'text/plain; charset=utf-8')
    .send(message.endsWith('\n') ? message : `${message}\n`);
}

/** Fastify's `frameworkErrors` option: a URL that is not valid percent-encoding, a path parameter too long. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  send(reply, status, `${error.message}; check the URL's percent-encoding`);
}

/** Plain-text 404 for unknown routes and methods, and plain text for the 4xx errors Fastify raises itself. */
export function registerPlainErrors(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) =>
    send(reply, 404, `Nothing here: ${request.method} ${request.url.split('?')[0]} is not a route of this server`),
  );
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const status = error.statusCode ?? 500;
    // 5xx: Fastify's default handler logs it and answers.
    if (status < 400 || status >= 500) throw error;
    return send(reply, status, error.message);
  });
}
