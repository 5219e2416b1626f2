/**
 * The last step: the answer. Our own answers (a gate's) go out through Fastify (`send`);
 * @tus/server's answer is adjusted in one place (src/tus/answer.ts), given a hook's
 * HTTPResponse, counted (bytes stored) and written on the hijacked reply (`forward`). An IETF
 * request's answer is translated back to the draft's terms (src/http/ietf.ts).
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { sendNodeResponse } from 'srvx/node';
import { mergeResponse } from '../../hooks/answers.js';
import { isStateCache, readWithoutLock } from '../../stores/capabilities.js';
import { type Answer, adjustAnswer, REASONS } from '../../tus/answer.js';
import { uploadIdOf } from '../../tus/upload-id.js';
import { servedVersion } from '../ietf.js';
import { toIetfAnswer, toIetfResponse } from '../ietf-answer.js';
import { effectiveMaxSize } from './authorize.js';
import { type DoorContext, header, integerHeader } from './context.js';
import { handOver } from './hand-over.js';
import { closeAfter } from './pipelining.js';

/** A gate's answer. */
export function send(c: DoorContext, tusAnswer: Answer): FastifyReply {
  const { o, request, reply } = c;
  // An IETF request refused before its translation (a bad method override) is answered in its terms too.
  const version = c.ietf ? undefined : servedVersion(request);
  const ietf = c.ietf ?? (version !== undefined ? { version, complete: false } : undefined);
  const answer = ietf ? toIetfAnswer(tusAnswer, ietf) : tusAnswer;
  if (answer.status >= 400) request.log.info({ location: o.location, status: answer.status }, answer.body.trim());
  if (REASONS[answer.status]) reply.raw.statusMessage = REASONS[answer.status] as string;
  if (answer.headers?.Connection === 'close') closeAfter(request);
  return reply
    .code(answer.status)
    .headers(answer.headers ?? {})
    .send(answer.body);
}

/** The hand-over and @tus/server's answer, on the hijacked reply, and what it stored for the log and metrics. */
export async function forward(c: DoorContext): Promise<void> {
  const { o, request, reply } = c;
  reply.hijack();
  // Headers set by hooks (CORS, request id) on the Fastify reply, which hijack skips.
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
  try {
    const handled = await handOver(c);
    // Durable hooks (post-finish, post-terminate) stored before the client hears; a hook's HTTPResponse merged.
    const hook = await o.hooks?.settle(c, handled.status);
    const response = hook ? await mergeResponse(handled, hook) : handled;
    account(c, response);
    const adjusted = await adjust(c, response);
    // A chunked body longer than its upload completed it; the rest, left unread, goes with the connection.
    if (c.direct?.excessLeftUnread && c.direct.body === request.raw) adjusted.headers.set('Connection', 'close');
    // @tus/server closes the connection after an error: nothing pipelined behind it runs.
    if (adjusted.headers.get('connection')?.toLowerCase() === 'close') closeAfter(request);
    const answer = c.ietf
      ? await toIetfResponse(adjusted, c.ietf, request.method, { maxSize: effectiveMaxSize(o.maxSize, c.grant) })
      : adjusted;
    await deliver(reply.raw, answer);
  } catch (error) {
    request.log.error({ err: error, location: o.location }, 'tus handler failed');
    if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Tus-Resumable': '1.0.0' });
    reply.raw.end('Internal error while handling the upload; see the server log\n');
  } finally {
    await c.spooled?.dispose();
    // A creation's claim on the id pre-create chose, if the answer did not release it.
    await o.hooks?.end(c);
  }
}

/** What the request stored and created, for the metrics and the request's log line. */
function account(c: DoorContext, response: Response): void {
  const { o, request, id } = c;
  const stored = bytesStored(c, response);
  if (stored > 0 && request.tus) {
    o.onBytes?.(stored);
    request.tus.bytes = stored;
  }
  const created = createdBy(c, response) ? uploadIdOf(response.headers.get('location') ?? '', o.path) : undefined;
  if (created && request.tus) request.tus.uploadId = created;
  if (response.status === 423) request.log.warn({ location: o.location, uploadId: id }, 'upload lock not released in time; answered 423');
}

function adjust(c: DoorContext, response: Response): Promise<Response> {
  const { o, id } = c;
  return adjustAnswer(response, {
    method: c.request.method,
    concat: header(c, 'upload-concat'),
    extraExtensions: o.extraExtensions,
    // The client's offset disagreed: tell it the stored one, read again from storage.
    currentOffset: async () => {
      if (!id) return undefined;
      if (isStateCache(o.datastore)) o.datastore.invalidate(id);
      return (await readWithoutLock(o.datastore, id).catch(() => undefined))?.offset;
    },
  });
}

/** Bytes a PATCH or creation-with-upload POST added, from the offsets before and after. */
function bytesStored(c: DoorContext, response: Response): number {
  const { method } = c.request;
  const after = Number(response.headers.get('upload-offset'));
  if (method === 'POST') return Number.isFinite(after) && createdBy(c, response) ? after : 0;
  if (!Number.isFinite(after) || response.status >= 300) return 0;
  const before = integerHeader(c, 'upload-offset');
  return method === 'PATCH' && before !== undefined ? Math.max(0, after - before) : 0;
}

/**
 * Whether this POST's answer is about an upload it created: a 201 (or a hook's status) with its
 * Location and offset, or the 5xx of a failed pre-finish that still gives them (src/hooks/mount.ts).
 */
function createdBy(c: DoorContext, response: Response): boolean {
  if (c.request.method !== 'POST' || !response.headers.has('location')) return false;
  return response.status < 300 || (response.status >= 500 && response.headers.has('upload-offset'));
}

/**
 * Send the answer, or stop waiting when the connection closes first: Node never finishes a
 * response on a closed socket, and the handler (and the request's log line) would wait forever.
 */
async function deliver(res: ServerResponse, answer: Response): Promise<void> {
  if (res.destroyed) {
    await answer.body?.cancel().catch(() => undefined);
    return;
  }
  const sent = new AbortController();
  const closed = once(res, 'close', { signal: sent.signal }).catch(() => undefined);
  try {
    await Promise.race([sendNodeResponse(res, answer), closed]);
  } finally {
    sent.abort();
  }
}
