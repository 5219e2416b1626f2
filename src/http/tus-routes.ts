/**
 * The front door of one location's tus endpoint. Every request takes the same path, in this
 * order (`handle`):
 *   1. the Host, and a trusted proxy's forwarded origin (400 unless a valid host, see
 *      src/tus/public-origin.ts); the method (X-HTTP-Method-Override becomes the request's method, before any
 *      check, lock or hook sees it); the upload id, parsed once (src/tus/upload-id.ts); an
 *      empty Upload-Metadata is no metadata;
 *   2. checks that answer or pass: shutting down (503), GET downloads, the protocol guard
 *      (412/415/400), the final upload of a concatenation (created here, with its locks and
 *      events), PATCH to a final upload (403), HEAD of a final upload waiting for its
 *      partials, the checksum (400/460, body spooled);
 *   3. state freshness: HEAD and DELETE, and a PATCH whose offset disagrees with the cached
 *      state, make the store read the upload again (under @tus/server's lock);
 *   4. hand the request to @tus/server (the protocol engine): the body goes straight to a
 *      store that reads bodies itself, else through @tus/server's stream;
 *   5. adjust @tus/server's answer in one place (src/tus/answer.ts) and send it.
 * The plugin's scope has no body parsers and the reply is hijacked, so Fastify neither
 * buffers the body nor answers a second time.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Server } from '@tus/server';
import { type DataStore, EVENTS, type Locker, type Upload } from '@tus/utils';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { NodeRequest, sendNodeResponse } from 'srvx/node';
import { type Authenticate, isAnswer } from '../auth/authenticate.js';
import type { Grant } from '../auth/grant.js';
import { attachGrant, mayAccess, ownedRead } from '../auth/ownership.js';
import type { MountHooks } from '../hooks/mount.js';
import { isBodyWriter, isConcatenator, isStateCache, readWithoutLock } from '../stores/capabilities.js';
import { type Answer, adjustAnswer, REASONS } from '../tus/answer.js';
import {
  digestLengthNote,
  parseChecksumHeader,
  type SpooledBody,
  SpoolTooLarge,
  spoolAndVerify,
  spoolAndVerifyTrailer,
} from '../tus/checksum.js';
import {
  assembleFinal,
  type ConcatLimits,
  createFinal,
  parseConcatHeader,
  refusePatchToFinal,
  waitingFinalHead,
} from '../tus/concatenation.js';
import { checkCreation, narrowLimits } from '../tus/creation-limits.js';
import { excessLeftUnread, requestWithDirectBody } from '../tus/engine.js';
import { checkTusRequest, headerInteger } from '../tus/protocol-guard.js';
import { attachOrigin, hostProblem, requestOrigin } from '../tus/public-origin.js';
import { refuse, refuseWith } from '../tus/refusals.js';
import { type TempSpace, TempSpaceFull } from '../tus/temp-space.js';
import { uploadIdOf } from '../tus/upload-id.js';
import { download } from './download.js';
import type { RequestTracker } from './drain.js';
import { checkAppend, sendUploadResumptionSupported, servedVersion, toIetfAnswer, toIetfResponse, translateRequest } from './ietf.js';
import { settleBeforeLog } from './request-log.js';
import type { TrustedPeer } from './trusted-proxy.js';

export interface TusRoutesOptions {
  /** Mount path without trailing slash. */
  path: string;
  engine: Server;
  datastore: DataStore;
  locker: Locker;
  location: string;
  /** Serve GET downloads of finished uploads. */
  downloads: boolean;
  /** Where checksum-verified bodies are spooled. */
  tempDir: string;
  /** Extensions answered by our layer on top of the store's. */
  extraExtensions: readonly string[];
  /** Public base URL, for the Location of new uploads; unset: the request's origin. */
  publicUrl?: string | undefined;
  /** Peers whose X-Forwarded-Host/-Proto and Forwarded make the origin (IP_TRUST_PROXY). */
  trustedPeer: TrustedPeer;
  /** 0: no limit. */
  maxSize: number;
  /** Requests in flight, for a graceful shutdown. */
  tracker: RequestTracker;
  /** Upload bytes stored by a request (metrics). */
  onBytes?: (bytes: number) => void;
  /** Bearer-token authentication; undefined: off. */
  authenticate?: Authenticate | undefined;
  /** Limits besides maxSize (src/tus/creation-limits.ts, src/tus/temp-space.ts; bodies: src/http/body-idle.ts, app-wide). */
  limits: RouteLimits;
  /** HTTP hooks of this mount (src/hooks/mount.ts); undefined: off. */
  hooks?: MountHooks | undefined;
}

export interface RouteLimits {
  /** FILES_MIME_TYPE_ALLOW_LIST, or the location's. */
  mimeTypes: readonly string[];
  maxMetadataSize: number;
  maxMetadataKeys: number;
  /** Space of every checksum spool together (TUS_TEMP_MAX_SIZE). */
  tempSpace: TempSpace;
  /** TUS_CONCAT_MAX_PARTS and TUS_CONCAT_MAX_USES. */
  concat: ConcatLimits;
}

const METHODS: HTTPMethods[] = ['POST', 'HEAD', 'PATCH', 'OPTIONS', 'DELETE', 'GET'];

const integer = headerInteger;
const header = (request: FastifyRequest, name: string) => {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
};

/** Bytes a PATCH or creation-with-upload POST added, from the offsets before and after. */
function bytesStored(request: FastifyRequest, response: Response): number {
  const after = Number(response.headers.get('upload-offset'));
  if (request.method === 'POST') return Number.isFinite(after) && createdBy(request, response) ? after : 0;
  if (!Number.isFinite(after) || response.status >= 300) return 0;
  const before = integer(request.headers['upload-offset']);
  return request.method === 'PATCH' && before !== undefined ? Math.max(0, after - before) : 0;
}

/**
 * Whether this POST's answer is about an upload it created: a 201 (or a hook's status) with its
 * Location and offset, or the 5xx of a failed pre-finish that still gives them (src/hooks/mount.ts).
 */
function createdBy(request: FastifyRequest, response: Response): boolean {
  if (request.method !== 'POST' || !response.headers.has('location')) return false;
  return response.status < 300 || (response.status >= 500 && response.headers.has('upload-offset'));
}

function send(o: TusRoutesOptions, request: FastifyRequest, reply: FastifyReply, tusAnswer: Answer) {
  // An IETF request refused before its translation (a bad method override) is answered in its terms too.
  const version = request.ietf ? undefined : servedVersion(request);
  const ietf = request.ietf ?? (version !== undefined ? { version, complete: false } : undefined);
  const answer = ietf ? toIetfAnswer(tusAnswer, ietf) : tusAnswer;
  if (answer.status >= 400) request.log.info({ location: o.location, status: answer.status }, answer.body.trim());
  if (REASONS[answer.status]) reply.raw.statusMessage = REASONS[answer.status] as string;
  if (answer.headers?.Connection === 'close') closeAfter(request);
  return reply
    .code(answer.status)
    .headers(answer.headers ?? {})
    .send(answer.body);
}

/**
 * Who asks (the bearer token, 401 without a good one), whether the token allows this request
 * (read-only, locations, declared length), and whether the upload is theirs: another subject's
 * upload is answered exactly like an unknown id.
 */
async function authorize(o: TusRoutesOptions, request: FastifyRequest, id: string | undefined): Promise<Answer | undefined> {
  const result = await (o.authenticate as Authenticate)(request.headers, request.url);
  if (isAnswer(result)) return result;
  request.grant = result;
  const { method } = request;
  if (result.readOnly && method !== 'GET' && method !== 'HEAD') {
    return refuse('readOnlyToken');
  }
  if (result.locations && !result.locations.includes(o.location)) {
    return refuse('tokenLocation', o.location, result.locations);
  }
  if (method === 'POST' && result.maxSize !== undefined && request.headers['upload-defer-length'] !== undefined) {
    return refuse('tokenNeedsLength', result.maxSize);
  }
  if (!id) return undefined;
  let upload: Upload | undefined;
  try {
    upload = await readWithoutLock(o.datastore, id);
  } catch (error) {
    // Unknown ids, and uploads whose data is gone (410: whose owner cannot be told), get the
    // same answer as uploads of others. Any other failure fails closed: the request must not
    // reach the engine with its owner unchecked.
    const status = (error as { status_code?: number }).status_code;
    if (status !== 404 && status !== 410) {
      request.log.warn({ err: error, uploadId: id }, 'the upload could not be read to check its owner');
      return refuse('ownerUnreadable');
    }
  }
  if (upload && mayAccess(result, upload)) return undefined;
  return notFound(method);
}

/** The one answer for an id that is unknown or not the caller's. */
function notFound(method: string): Answer {
  const answer = refuse('noSuchUpload');
  return method === 'HEAD' ? { ...answer, body: '' } : answer;
}

/** The server's maximum upload size narrowed by the token's (0: none). */
export function effectiveMaxSize(serverMax: number, grant: Grant | undefined): number {
  if (grant?.maxSize === undefined) return serverMax;
  return serverMax > 0 ? Math.min(serverMax, grant.maxSize) : grant.maxSize;
}

/** Step 2: the checks before @tus/server; an answer ends the request, a verified body passes on. */
async function check(o: TusRoutesOptions, request: FastifyRequest, id: string | undefined): Promise<Answer | { spooled?: SpooledBody }> {
  const { method } = request;
  const guard = checkTusRequest(method, request.headers);
  if (guard) return guard;
  if (method === 'POST' && !isMountPath(request.url, o.path)) {
    return refuse('notTheMountPath', o.path, new URL(request.url, 'http://x').pathname);
  }
  if (method === 'POST') {
    // Metadata, type and length of the new upload, with the token's limits (final uploads too).
    const { limits } = o;
    const creation = {
      maxSize: o.maxSize,
      mimeTypes: [limits.mimeTypes],
      maxMetadataSize: limits.maxMetadataSize,
      maxMetadataKeys: limits.maxMetadataKeys,
    };
    const refused = checkCreation(request.headers, narrowLimits(creation, request.grant));
    if (refused) return refused;
  }
  const concat = header(request, 'upload-concat');
  if (method === 'POST' && concat !== undefined && concat !== 'partial') return createFinalUpload(o, request, concat);
  if (method === 'PATCH') {
    const refused = await refusePatchToFinal(id, (upload) => readWithoutLock(o.datastore, upload));
    if (refused) return refused;
    if (request.ietf && id) {
      const upload = await readWithoutLock(o.datastore, id).catch(() => undefined);
      const refusedAppend = checkAppend(request, upload);
      if (refusedAppend) return refusedAppend;
    }
  }
  if (method === 'HEAD' && id) {
    // A final upload still waiting for its partials is answered from them (concatenation-unfinished).
    const upload = await readWithoutLock(o.datastore, id).catch(() => undefined);
    const store = o.datastore;
    const assemble = async (finalId: string) => {
      if (!isConcatenator(store)) return undefined;
      const read = (upload: string) => readWithoutLock(store, upload);
      const { maxUses } = o.limits.concat;
      return assembleFinal(finalId, { store, read, locker: o.locker, maxSize: o.maxSize, maxUses, engine: o.engine, log: request.log });
    };
    const waiting = upload ? await waitingFinalHead(upload, (partial) => readWithoutLock(store, partial), assemble, o.maxSize) : undefined;
    if (waiting) return waiting;
  }
  if (method === 'DELETE' && o.hooks) {
    // pre-terminate: the hook may keep the upload (RejectTermination).
    const refused = await o.hooks.beforeTerminate(request, id);
    if (refused) return refused;
  }
  return verifyChecksum(o, request, id);
}

/** `POST` with `Upload-Concat: final;...`: created by the concatenation module, tracked for shutdown. */
async function createFinalUpload(o: TusRoutesOptions, request: FastifyRequest, concat: string): Promise<Answer> {
  const parsed = parseConcatHeader(concat, o.path);
  if (parsed.kind === 'invalid') return refuse('badConcatHeader', parsed.message);
  if (parsed.kind !== 'final' || !isConcatenator(o.datastore)) return refuse('noConcatenation');
  const grant = request.grant;
  const { hooks } = o;
  const webRequest = attachGrant(
    new Request(new URL(request.url, 'http://localhost'), { method: request.method, headers: webHeaders(request) }),
    grant,
  );
  hooks?.attach(webRequest, request);
  const creation = createFinal({
    request: webRequest,
    ...(hooks
      ? { preCreate: (upload) => hooks.preCreateFinal(webRequest, upload), preFinish: (upload) => hooks.preFinish(webRequest, upload) }
      : {}),
    header: parsed,
    metadataHeader: header(request, 'upload-metadata'),
    lengthHeader: header(request, 'upload-length'),
    path: o.path,
    maxSize: effectiveMaxSize(o.maxSize, grant),
    limits: o.limits.concat,
    store: o.datastore,
    // Another subject's partial does not exist for this one.
    read: ownedRead((upload) => readWithoutLock(o.datastore, upload), grant),
    locker: o.locker,
    engine: o.engine,
    owner: grant?.owner,
    idPrefix: grant?.prefix,
    tokenMaxSize: grant?.maxSize,
    urlOf: (newId) => `${baseUrl(o, request)}${o.path}/${newId}`,
  })
    .then((answer) => (hooks ? hooks.settleAnswer(request, answer) : answer))
    .finally(() => hooks?.end(request));
  o.tracker.track(request.raw, creation);
  return creation;
}

/**
 * `Upload-Checksum`: spool and hash the body; only a body that matches goes on (460 otherwise).
 * Before a byte is spooled, the upload must exist at the client's offset, and the body may not
 * be longer than what the upload can still take (the temp disk is not for unknown uploads).
 */
async function verifyChecksum(
  o: TusRoutesOptions,
  request: FastifyRequest,
  id: string | undefined,
): Promise<Answer | { spooled?: SpooledBody }> {
  const checksum = header(request, 'upload-checksum');
  // checksum-trailer: a chunked PATCH (or creation POST) that announces the checksum as a trailer.
  const trailer = checksum === undefined && /(^|,)\s*upload-checksum\s*(,|$)/i.test(header(request, 'trailer') ?? '');
  const withBody = request.method === 'PATCH' || request.method === 'POST';
  if ((checksum === undefined && !trailer) || !withBody || request.headers['content-type'] !== 'application/offset+octet-stream') return {};
  const parsed = checksum === undefined ? undefined : parseChecksumHeader(checksum);
  if (typeof parsed === 'string') return refuse('badChecksumHeader', parsed);
  const room = await roomForBody(o, request, id);
  if (typeof room !== 'number') return room;
  const declared = integer(request.headers['content-length']);
  if (declared !== undefined && declared > room) return refuse('bodyBeyondRoom', declared, room);
  const space = o.limits.tempSpace;
  if (space.max > 0 && declared !== undefined && declared > space.max) return refuse('bodyBeyondSpool', space.max);
  let spooled: SpooledBody;
  let problem: string | undefined;
  try {
    const spoolRoom = { space, announced: declared };
    if (parsed) spooled = await spoolAndVerify(request.raw, parsed, o.tempDir, room, spoolRoom);
    else ({ spooled, problem } = await spoolAndVerifyTrailer(request.raw, o.tempDir, room, spoolRoom));
  } catch (error) {
    // The rest of the body is not read: the connection is closed after the answer.
    if (error instanceof SpoolTooLarge) return refuse('bodyGrewBeyondRoom', room);
    if (error instanceof TempSpaceFull && error.alone) return refuseWith('bodyBeyondSpool', { Connection: 'close' }, space.max);
    if (error instanceof TempSpaceFull) {
      request.log.warn({ location: o.location, inUse: space.inUse, max: space.max }, 'checksum spool refused: TUS_TEMP_MAX_SIZE reached');
      return refuse('spoolSpaceFull');
    }
    // The client went away before the body was complete: nothing verifiable to keep.
    return refuse('bodyEndedEarly');
  }
  if (spooled.matches) return { spooled };
  await spooled.dispose();
  const why = parsed
    ? `Upload-Checksum (${parsed.algorithm})${digestLengthNote(parsed)}`
    : `the Upload-Checksum trailer${problem ? ` (${problem})` : ''}`;
  return refuse('checksumMismatch', why);
}

/** Bytes the body of a PATCH (at its upload's offset) or creation POST may hold, or the answer refusing it. */
async function roomForBody(o: TusRoutesOptions, request: FastifyRequest, id: string | undefined): Promise<number | Answer> {
  const limit = o.maxSize > 0 ? o.maxSize : Number.MAX_SAFE_INTEGER;
  if (request.method === 'POST') return Math.min(limit, integer(request.headers['upload-length']) ?? limit);
  const upload = id ? await readWithoutLock(o.datastore, id).catch(() => undefined) : undefined;
  if (!upload) return refuse('unknownUpload');
  if (upload.offset !== integer(request.headers['upload-offset'])) {
    return refuseWith('offsetConflict', { 'Upload-Offset': String(upload.offset) }, upload.offset);
  }
  return (upload.size ?? limit) - upload.offset;
}

/** Step 3: the cached state is trusted unless the request says it may be stale. */
function refreshState(store: DataStore, request: FastifyRequest, id: string | undefined): void {
  if (!id || !isStateCache(store)) return;
  const { method } = request;
  const clientOffset = integer(request.headers['upload-offset']);
  if (method === 'HEAD' || method === 'DELETE' || (method === 'PATCH' && clientOffset !== store.cachedOffset(id))) store.invalidate(id);
}

/** Step 4: @tus/server handles the request; the body goes straight to a store that reads bodies. */
function handOver(o: TusRoutesOptions, request: FastifyRequest, reply: FastifyReply, spooled: SpooledBody | undefined): Promise<Response> {
  const hasBody =
    (request.method === 'PATCH' || request.method === 'POST') && request.headers['content-type'] === 'application/offset+octet-stream';
  const body: Readable | undefined = spooled ? spooled.open() : hasBody ? request.raw : undefined;
  const url = new URL(request.url, `http://${request.headers.host ?? 'localhost'}`);
  const init = { method: request.method, headers: webHeaders(request) };
  let webRequest: Request;
  if (body && isBodyWriter(o.datastore)) {
    webRequest = requestWithDirectBody(url, init, body, spooled?.size ?? integer(request.headers['content-length']));
  } else if (spooled) {
    webRequest = new Request(url, { ...init, body: Readable.toWeb(spooled.open()) as ReadableStream, duplex: 'half' } as RequestInit);
  } else if (body) {
    webRequest = new NodeRequest({ req: request.raw, res: reply.raw });
  } else {
    // No body: the headers as the front door left them (an empty Upload-Metadata removed).
    webRequest = new Request(url, init);
  }
  attachGrant(webRequest, request.grant);
  attachOrigin(webRequest, baseUrl(o, request));
  o.hooks?.attach(webRequest, request);
  const ietf = request.ietf;
  if (ietf && request.method === 'POST') {
    informers.set(webRequest, (location) => sendUploadResumptionSupported(reply.raw, ietf.version, location));
  }
  const handling = o.engine.handleWeb(webRequest);
  o.tracker.track(request.raw, handling);
  return handling;
}

/** Steps 4 and 5 on the hijacked reply: @tus/server's answer, adjusted, and what it stored for the log and metrics. */
async function forward(o: TusRoutesOptions, request: FastifyRequest, reply: FastifyReply, id: string | undefined, spooled?: SpooledBody) {
  reply.hijack();
  // Headers set by hooks (CORS, request id) on the Fastify reply, which hijack skips.
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
  try {
    const handled = await handOver(o, request, reply, spooled);
    // Durable hooks (post-finish, post-terminate) stored before the client hears; a hook's HTTPResponse merged.
    const response = o.hooks ? await o.hooks.settle(request, handled) : handled;
    const stored = bytesStored(request, response);
    if (stored > 0 && request.tus) {
      o.onBytes?.(stored);
      request.tus.bytes = stored;
    }
    const created = createdBy(request, response) ? uploadIdOf(response.headers.get('location') ?? '', o.path) : undefined;
    if (created && request.tus) request.tus.uploadId = created;
    if (response.status === 423) request.log.warn({ location: o.location, uploadId: id }, 'upload lock not released in time; answered 423');
    const adjusted = await adjustAnswer(response, {
      method: request.method,
      concat: header(request, 'upload-concat'),
      extraExtensions: o.extraExtensions,
      // The client's offset disagreed: tell it the stored one, read again from storage.
      currentOffset: async () => {
        if (!id) return undefined;
        if (isStateCache(o.datastore)) o.datastore.invalidate(id);
        return (await readWithoutLock(o.datastore, id).catch(() => undefined))?.offset;
      },
    });
    // A chunked body longer than its upload completed it; the rest, left unread, goes with the connection.
    if (excessLeftUnread(request.raw)) adjusted.headers.set('Connection', 'close');
    // @tus/server closes the connection after an error: nothing pipelined behind it runs.
    if (adjusted.headers.get('connection')?.toLowerCase() === 'close') closeAfter(request);
    const answer = request.ietf
      ? await toIetfResponse(adjusted, request.ietf, request.method, { maxSize: effectiveMaxSize(o.maxSize, request.grant) })
      : adjusted;
    await deliver(reply.raw, answer);
  } catch (error) {
    request.log.error({ err: error, location: o.location }, 'tus handler failed');
    if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Tus-Resumable': '1.0.0' });
    reply.raw.end('Internal error while handling the upload; see the server log\n');
  } finally {
    await spooled?.dispose();
    // A creation's claim on the id pre-create chose, if the answer did not release it.
    await o.hooks?.end(request);
  }
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

export const tusRoutes: FastifyPluginAsync<TusRoutesOptions> = async (app: FastifyInstance, o) => {
  app.removeAllContentTypeParsers();
  // Leave every body untouched for the store to stream.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  // 104 Upload Resumption Supported: told as soon as @tus/server has created the upload.
  o.engine.on(EVENTS.POST_CREATE, (req: Request, _upload: Upload, url: string) => informers.get(req)?.(url));
  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    // 1. The Host (and a trusted proxy's forwarded origin), which new uploads' URLs are made of.
    const badHost = originProblem(o, request);
    if (badHost) return send(o, request, reply, refuse('badHost', badHost));
    const override = methodOverride(request);
    if (typeof override === 'object') return send(o, request, reply, override);
    // Resumable Uploads for HTTP (the IETF draft): its headers become tus's (src/http/ietf.ts).
    const refusedIetf = translateRequest(request);
    if (refusedIetf) return send(o, request, reply, refusedIetf);
    const id = uploadIdOf(request.url, o.path);
    // An empty Upload-Metadata means no metadata (tus-py-client sends one for a file without any).
    const metadata = request.headers['upload-metadata'];
    if (typeof metadata === 'string' && metadata.trim() === '') delete request.headers['upload-metadata'];
    // (TUS_BODY_IDLE_TIMEOUT, TUS_BODY_MIN_RATE: every request's body is watched, src/http/body-idle.ts registerBodyWatch.)
    request.tus = { location: o.location, ...(id ? { uploadId: id } : {}) };
    if (o.authenticate && request.method !== 'OPTIONS') {
      const refused = await authorize(o, request, id);
      if (refused) return send(o, request, reply, refused);
    }
    // 2.
    if (o.tracker.draining) return send(o, request, reply, refuse('shuttingDown'));
    if (request.method === 'GET') {
      if (!o.downloads) return send(o, request, reply, refuse('downloadsDisabled'));
      return download(request, reply, o.datastore, id);
    }
    const checked = await check(o, request, id);
    if ('status' in checked) return send(o, request, reply, checked);
    // 3.
    refreshState(o.datastore, request, id);
    // 4. and 5.
    return forward(o, request, reply, id, checked.spooled);
  };
  const handler = (request: FastifyRequest, reply: FastifyReply) => {
    const work = inTurn(request.raw.socket, async () => {
      // A request pipelined behind an answer that closed the connection is not run: it
      // could never be answered (@tus/server closes the connection after an error).
      const socket = request.raw.socket;
      if (closing.has(socket) || socket.destroyed || socket.writableEnded) {
        reply.hijack();
        request.raw.destroy();
        return;
      }
      await handle(request, reply);
    });
    // A request whose client goes away is logged once its bytes are stored.
    settleBeforeLog(request, work);
    return work;
  };
  for (const url of [o.path || '/', `${o.path}/*`]) app.route({ method: METHODS, url, exposeHeadRoute: false, handler });
};

/**
 * tus core: "the Server MUST use the value of [X-HTTP-Method-Override] as the request's
 * method" (for environments that only allow GET and POST). The raw request's method is
 * replaced, so everything after this, @tus/server included, sees the method the client meant.
 */
function methodOverride(request: FastifyRequest): Answer | undefined {
  const value = request.headers['x-http-method-override'];
  if (value === undefined) return undefined;
  const method = String(value).trim().toUpperCase();
  if (!(METHODS as string[]).includes(method)) {
    return refuse('badMethodOverride', METHODS, value);
  }
  request.raw.method = method;
  return undefined;
}

/**
 * Requests pipelined on one connection are handled one after the other, each once the one
 * before it is done (Node parses and dispatches them at once, and only orders the answers): a
 * HEAD pipelined after a PATCH must see what that PATCH stored.
 */
const connectionTurns = new WeakMap<Socket, Promise<unknown>>();
/** IETF creations waiting to tell their upload's URL early (104), by the web Request @tus/server sees. */
const informers = new WeakMap<Request, (location: string) => void>();
/** Connections whose last answer closes them. */
const closing = new WeakSet<Socket>();

/** How long a connection closed by its answer still takes (and drops) the body the client is sending. */
const LINGER_MS = 2000;

/**
 * The answer closes the connection: nothing pipelined behind it runs. When the client may
 * still be sending its body (a request stopped midway: a lost lock, a body too large), Node
 * would close the socket right after the answer, and the bytes still arriving would make the
 * kernel reset the connection, which can discard the answer at the client before it reads it.
 * The socket is half-closed instead (the answer, then FIN), the body's rest is read and
 * dropped by Node's parser, and the socket is closed when the client closes its side or
 * after LINGER_MS.
 */
function closeAfter(request: FastifyRequest): void {
  const socket = request.raw.socket;
  closing.add(socket);
  if (request.raw.complete || socket.destroyed) return;
  const lingering = socket as Socket & { destroySoon?: () => void };
  lingering.destroySoon = () => {
    if (socket.writable) socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
  };
}
function inTurn<T>(socket: Socket, run: () => Promise<T>): Promise<T> {
  const previous = connectionTurns.get(socket);
  const current = previous ? previous.then(run, run) : run();
  connectionTurns.set(
    socket,
    current.catch(() => undefined),
  );
  return current;
}

/**
 * A request whose Host is not a host[:port] (RFC 9112: 400), or, without PUBLIC_URL, whose
 * origin for `Location` cannot be made (a trusted proxy's bad forwarded host or proto).
 */
function originProblem(o: TusRoutesOptions, request: FastifyRequest): string | undefined {
  if (o.publicUrl) return hostProblem(request.raw, false);
  const origin = requestOrigin(request.raw, o.trustedPeer);
  return 'problem' in origin ? origin.problem : undefined;
}

/** The base of new uploads' URLs: PUBLIC_URL, or the request's origin (checked by `originProblem`). */
function baseUrl(o: TusRoutesOptions, request: FastifyRequest): string {
  if (o.publicUrl) return o.publicUrl;
  const origin = requestOrigin(request.raw, o.trustedPeer);
  return 'origin' in origin ? origin.origin : 'http://localhost';
}

function isMountPath(url: string, path: string): boolean {
  const pathname = new URL(url, 'http://relative').pathname.replace(/\/+$/, '');
  return pathname === path;
}

/** Read by the front door alone (src/tus/public-origin.ts); @tus/server would refuse an odd one even from an untrusted client. */
const ORIGIN_HEADERS = new Set(['forwarded', 'x-forwarded-host', 'x-forwarded-proto']);

function webHeaders(request: FastifyRequest): [string, string][] {
  return Object.entries(request.headers).flatMap(([k, v]) =>
    v === undefined || ORIGIN_HEADERS.has(k) ? [] : [[k, String(v)] as [string, string]],
  );
}
