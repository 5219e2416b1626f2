/**
 * The last step: the answer, one shape (`Answer`, src/tus/answer.ts) and one way out (`send`).
 * A gate's answer is sent as it is (`refused`); @tus/server's is turned into an `Answer` once,
 * given a hook's HTTPResponse, counted (bytes stored), adjusted in one place and sent
 * (`forward`). An IETF request's answer is translated to the draft's terms on the way out
 * (src/http/ietf-answer.ts).
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { mergeAnswer } from '../../hooks/answers.js';
import { isStateCache, readWithoutLock } from '../../stores/capabilities.js';
import { type Answer, adjustAnswer, answerOf, headerOf, reasonOf, withHeaders } from '../../tus/answer.js';
import { uploadIdOf } from '../../tus/upload-id.js';
import { servedVersion } from '../ietf.js';
import { toIetfAnswer } from '../ietf-answer.js';
import { effectiveMaxSize } from './authorize.js';
import { type DoorContext, header, integerHeader } from './context.js';
import { handOver } from './hand-over.js';
import { closeAfter } from './pipelining.js';

/** A gate's answer: logged when it refuses, then sent. */
export function refused(c: DoorContext, answer: Answer): Promise<void> {
  if (answer.status >= 400) c.request.log.info({ location: c.o.location, status: answer.status }, answer.body.trim());
  return send(c, answer);
}

/** The hand-over and @tus/server's answer, and what it stored for the log and metrics. */
export async function forward(c: DoorContext): Promise<void> {
  const { o, request, reply } = c;
  takeOver(reply);
  try {
    const handled = await answerOf(await handOver(c));
    // The store has read the spooled body: it goes before the client hears (dispose is idempotent).
    await c.spooled?.dispose();
    // Durable hooks (post-finish, post-terminate) stored before the client hears; a hook's HTTPResponse merged.
    const hook = await o.hooks?.settle(c, handled.status);
    const answer = hook ? mergeAnswer(handled, hook) : handled;
    account(c, answer);
    const adjusted = await adjust(c, answer);
    // A chunked body longer than its upload completed it; the rest, left unread, goes with the connection.
    const excess = c.direct?.excessLeftUnread === true && c.direct.body === request.raw;
    await send(c, excess ? withHeaders(adjusted, (h) => h.set('Connection', 'close')) : adjusted);
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

/**
 * Every answer goes out here: in the draft's terms for an IETF request (one refused before its
 * translation too), on the raw reply, its connection closed after it when it says so (@tus/server
 * closes it after an error: nothing pipelined behind it runs).
 */
async function send(c: DoorContext, answer: Answer): Promise<void> {
  const { request, reply } = c;
  const version = c.ietf ? undefined : servedVersion(request);
  const ietf = c.ietf ?? (version !== undefined ? { version, complete: false } : undefined);
  const out = ietf ? toIetfAnswer(answer, ietf, { method: request.method, maxSize: effectiveMaxSize(c.o.maxSize, c.grant) }) : answer;
  if (headerOf(out, 'connection')?.toLowerCase() === 'close') closeAfter(request);
  takeOver(reply);
  await deliver(reply.raw, out);
}

/** The reply is ours to write: Fastify neither buffers the body nor answers a second time. */
function takeOver(reply: FastifyReply): void {
  if (reply.sent) return;
  reply.hijack();
  // Headers set by hooks (CORS, request id) on the Fastify reply, which hijack skips.
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
}

/** What the request stored and created, for the metrics and the request's log line. */
function account(c: DoorContext, answer: Answer): void {
  const { o, request, id } = c;
  const stored = bytesStored(c, answer);
  if (stored > 0 && request.tus) {
    o.onBytes?.(stored);
    request.tus.bytes = stored;
  }
  const created = createdBy(c, answer) ? uploadIdOf(headerOf(answer, 'location') ?? '', o.path) : undefined;
  if (created && request.tus) request.tus.uploadId = created;
  if (answer.status === 423) request.log.warn({ location: o.location, uploadId: id }, 'upload lock not released in time; answered 423');
}

function adjust(c: DoorContext, answer: Answer): Promise<Answer> {
  const { o, id } = c;
  return adjustAnswer(answer, {
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
function bytesStored(c: DoorContext, answer: Answer): number {
  const { method } = c.request;
  const after = Number(headerOf(answer, 'upload-offset'));
  if (method === 'POST') return Number.isFinite(after) && createdBy(c, answer) ? after : 0;
  if (!Number.isFinite(after) || answer.status >= 300) return 0;
  const before = integerHeader(c, 'upload-offset');
  return method === 'PATCH' && before !== undefined ? Math.max(0, after - before) : 0;
}

/**
 * Whether this POST's answer is about an upload it created: a 201 (or a hook's status) with its
 * Location and offset, or the 5xx of a failed pre-finish that still gives them (src/hooks/mount.ts).
 */
function createdBy(c: DoorContext, answer: Answer): boolean {
  if (c.request.method !== 'POST' || headerOf(answer, 'location') === undefined) return false;
  return answer.status < 300 || (answer.status >= 500 && headerOf(answer, 'upload-offset') !== undefined);
}

/**
 * Send the answer, or stop waiting when the connection closes first: Node never finishes a
 * response on a closed socket, and the handler (and the request's log line) would wait forever.
 */
async function deliver(res: ServerResponse, answer: Answer): Promise<void> {
  if (res.destroyed) return;
  const sent = new AbortController();
  const closed = once(res, 'close', { signal: sent.signal }).catch(() => undefined);
  try {
    await Promise.race([write(res, answer), closed]);
  } finally {
    sent.abort();
  }
}

/**
 * The answer on the wire, framed here: no body for a status that has none (1xx, 204, 304), else
 * its Content-Length (a HEAD's empty answer gives none: its body would not be sent anyway) and,
 * when nothing says what it is (a hook's body), plain text.
 */
function write(res: ServerResponse, answer: Answer): Promise<void> {
  const { status, body } = answer;
  const bodiless = status < 200 || status === 204 || status === 304;
  const headers = withHeaders(answer, (h) => {
    h.delete('content-length');
    h.delete('transfer-encoding');
    if (bodiless) return;
    if (body !== '' || res.req.method !== 'HEAD') h.set('Content-Length', String(Buffer.byteLength(body)));
    if (!h.has('content-type')) h.set('Content-Type', 'text/plain; charset=utf-8');
  }).headers;
  res.writeHead(status, reasonOf(status), headers);
  return new Promise((resolve) => res.end(bodiless ? undefined : body, () => resolve()));
}
