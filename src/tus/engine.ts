/**
 * @tus/server, the protocol engine of one location, wired through its options, plus the one
 * adapter it needs for stores that read request bodies themselves.
 */
import type { Readable } from 'node:stream';
import { MemoryLocker, Server } from '@tus/server';
import { type CancellationContext, type DataStore, ERRORS, type Lock, type Locker, Uid, type Upload } from '@tus/utils';
import { grantOf, withOwner } from '../auth/ownership.js';
import { ID_IN_USE } from '../hooks/answers.js';
import type { MountHooks } from '../hooks/mount.js';
import { BodyTooLong, type BodyWriter, isBodyWriter, isConcatenator, type LockHold, readWithoutLock } from '../stores/capabilities.js';
import { intend } from '../stores/creation-intent.js';
import { UploadIdTaken } from '../stores/exclusive-create.js';
import { type Assembly, assembleWaitingFinals, markPartial } from './concatenation.js';
import { originOf } from './public-origin.js';
import { notResumable, saysResumable } from './refusals.js';
import { holdOf } from './timed-locker.js';
import { uploadIdOf } from './upload-id.js';

export interface EngineOptions {
  /** Mount path without trailing slash, such as /files or /files/s3. */
  path: string;
  datastore: DataStore;
  /** 0: no limit. */
  maxSize: number;
  /** Final uploads one partial may go into (TUS_CONCAT_MAX_USES); 0 or unset: no limit. */
  concatMaxUses?: number;
  /** Absolute base URL clients see, such as https://uploads.example.com; overrides Host. */
  publicUrl?: string | undefined;
  locker: Locker;
  /** DELETE may terminate finished uploads. */
  terminateFinished: boolean;
  log?: Assembly['log'];
  /** Hooks of this mount (pre-create, pre-finish, post-receive; src/hooks/mount.ts). */
  hooks?: MountHooks | undefined;
}

/** @tus/server's answer to a lock it could not take in time (its status is 500). */
export const LOCK_TIMEOUT_BODY = 'The upload is in use by another request that did not release it in time; retry in a moment\n';

export function createEngine(options: EngineOptions): Server {
  const { publicUrl, path, hooks } = options;
  const server = new Server({
    path,
    datastore: options.datastore,
    ...(options.maxSize > 0 ? { maxSize: options.maxSize } : {}),
    // Forwarded headers are read by the front door, only from trusted proxies (src/tus/public-origin.ts).
    respectForwardedHeaders: false,
    disableTerminationForFinishedUploads: !options.terminateFinished,
    getFileIdFromRequest: (req) => uploadIdOf(req.url, path),
    // 128 random bits (Uid.rand), after the token's id prefix if it has one.
    // A pre-create hook may choose the id instead (ChangeFileInfo.ID), or refuse the upload (it throws).
    namingFunction: async (req, metadata) => `${grantOf(req)?.prefix ?? ''}${(await hooks?.preCreate(req, metadata)) ?? Uid.rand()}`,
    // Partial uploads of the concatenation extension are marked in their metadata; the owner is recorded.
    onUploadCreate: async (req, upload) => {
      // Metadata a pre-create hook chose replaces the client's; an id it chose is created only if unused.
      hooks?.applyCreateMetadata(req, upload);
      hooks?.markChosenId(req, upload);
      const { metadata } = markPartial(req, upload);
      const owned = withOwner(metadata, grantOf(req));
      // The body is the whole upload: the store may write it in one request (see creation-intent.ts).
      if (bodyIsWholeUpload(req, upload)) intend(upload, { wholeBody: true });
      // The key template's {subject}: the store computes the key when it creates the upload.
      intend(upload, { subject: grantOf(req)?.subject });
      return owned ? { metadata: owned } : {};
    },
    // concatenation-unfinished: before the last partial's PATCH is answered, the final uploads
    // waiting for it are assembled (a client that then asks for the final finds it complete).
    onUploadFinish: async (req, upload) => {
      const store = options.datastore;
      if (isConcatenator(store)) {
        // The finals named now, not when this request began (a final may have been created since).
        const current = await readWithoutLock(store, upload.id).catch(() => upload);
        await assembleWaitingFinals(current, {
          store,
          read: (id) => readWithoutLock(store, id),
          locker: options.locker,
          maxSize: options.maxSize,
          maxUses: options.concatMaxUses ?? 0,
          engine: server,
          log: options.log ?? console,
        });
      }
      // pre-finish: its HTTPResponse goes into the answer.
      return (await hooks?.preFinish(req, upload)) ?? {};
    },
    locker: options.locker,
    // CORS is answered by the HTTP layer; an empty function keeps @tus/server from adding `*`.
    allowedOrigins: () => false,
    onResponseError: (req, error) => explainError(req, error),
    // PUBLIC_URL, else the origin the front door checked and attached (Host, or a trusted proxy's).
    generateUrl: (req, { proto, host, path, id }) => `${publicUrl ?? originOf(req) ?? `${proto}://${host}`}${path}/${id}`,
  });
  const store = options.datastore;
  watchLockHolds(server);
  if (isBodyWriter(store)) readBodiesDirectly(server, store, hooks);
  return server;
}

/**
 * @tus/server's error answers where they say the wrong thing: a lock it could not take in time
 * is its 500 (our 423); one message, "Upload-Length or Upload-Defer-Length header required",
 * answers every length problem; a store failure on POST says "the upload can be resumed"
 * although nothing was created.
 */
function explainError(
  req: Request,
  error: Error | { status_code: number; body: string },
): { status_code: number; body: string } | undefined {
  if (error === ERRORS.ERR_LOCK_TIMEOUT) return { status_code: 423, body: LOCK_TIMEOUT_BODY };
  // The store's exclusive create of an id a pre-create hook chose: the same refusal as its check.
  if (error instanceof UploadIdTaken) return ID_IN_USE;
  if (error === ERRORS.INVALID_LENGTH) return { status_code: 400, body: `${lengthProblem(req)}\n` };
  const answer = error as { status_code?: number; body?: string };
  if (req.method === 'POST' && answer.status_code === 503 && saysResumable(answer.body)) {
    return { status_code: 503, body: notResumable(answer.body as string, '; nothing was created, send the POST again.') };
  }
  return undefined;
}

function lengthProblem(req: Request): string {
  const length = req.headers.get('upload-length');
  const deferred = req.headers.get('upload-defer-length');
  if (req.method === 'POST') {
    return length !== null && deferred !== null
      ? 'Send either Upload-Length or Upload-Defer-Length: 1, not both'
      : 'Upload-Length (or Upload-Defer-Length: 1 when the length is not known yet) is required';
  }
  return `Upload-Length ${length} cannot be set: the length is set once, on an upload created with Upload-Defer-Length: 1, and not below the bytes already received`;
}

/** One process's locks (without Redis); `wait`: milliseconds before 423 Locked. */
export function defaultLocker(wait?: number): Locker {
  return wait ? new MemoryLocker({ acquireLockTimeout: wait }) : new MemoryLocker();
}

/**
 * A request body a BodyWriter store reads itself: the placeholder stream @tus/server passes
 * along untouched as the web Request's body (it is never read), carrying the Node stream and
 * what the front door knows of it.
 */
// (ReadableStream's constructor overloads cannot be extended as they are typed.)
const PlaceholderStream: new () => ReadableStream = ReadableStream;

export class DirectBody extends PlaceholderStream {
  /** The web Request it is the body of, for the hooks' and the lock's per-request state. */
  request?: Request;
  /** The body brought more than its upload could take, the rest left unread (see `keptWhatFits`). */
  excessLeftUnread = false;

  constructor(
    readonly body: Readable,
    readonly expectedBytes: number | undefined,
  ) {
    super();
  }
}

/** A web Request for @tus/server whose body goes straight to a BodyWriter store. */
export function requestWithDirectBody(url: URL, init: { method: string; headers: [string, string][] }, direct: DirectBody): Request {
  direct.request = new Request(url, { ...init, body: direct, duplex: 'half' } as RequestInit);
  return direct.request;
}

/**
 * A creation-with-upload whose body @tus/server hands to the store (its Content-Type) and
 * announces exactly the upload's length (Content-Length, or the verified checksum spool).
 */
function bodyIsWholeUpload(req: Request, upload: Upload): boolean {
  const direct = req.body;
  return (
    direct instanceof DirectBody &&
    upload.size !== undefined &&
    upload.size > 0 &&
    direct.expectedBytes === upload.size &&
    req.headers.get('content-type') === 'application/offset+octet-stream'
  );
}

/**
 * A body longer than what the upload can take, sent without Content-Length (chunked), so that
 * its length is only known once the bytes that fit are stored; with Content-Length the same
 * body is refused whole before a byte is read (413). The stores keep the bytes that fit (they
 * stream to storage as they arrive: S3 parts are sent before the body ends, so nothing can be
 * refused whole) and leave the rest unread. The answer says what is stored:
 * - those bytes complete an upload of known length: the request succeeded as far as the upload
 *   goes, and is answered as any PATCH (or creation) that completes it, 204 (201) with the
 *   upload's length as its offset, the upload finished (post-finish hooks and all), and the
 *   connection closed after the answer so the excess is never read. tusd 1 answered the same;
 *   tusd 2 answers 413 after completing the upload, telling the client an upload failed that
 *   is stored whole.
 * - otherwise (a deferred length past the largest upload allowed, or an upload that was
 *   already complete): 413, saying what was stored.
 */
function keptWhatFits(error: unknown, upload: Upload, direct: DirectBody): number {
  if (!(error instanceof BodyTooLong)) throw error;
  if (upload.size !== undefined && error.offset === upload.size && error.offset > upload.offset) {
    direct.excessLeftUnread = true;
    return error.offset;
  }
  const stored = error.offset - upload.offset;
  throw { status_code: 413, body: `${tooLongReason(upload, error.offset, stored)}\n` };
}

function tooLongReason(upload: Upload, offset: number, stored: number): string {
  if (upload.size === undefined) {
    return `The upload may not grow past ${offset} bytes (the largest upload allowed): the first ${stored} bytes of this body were stored, the rest refused; the upload is at ${offset}`;
  }
  if (upload.offset === upload.size) return `The upload is complete (${upload.size} bytes): nothing of this body was stored`;
  return `The body is longer than the upload can take: the first ${stored} bytes were stored, the rest refused; the upload is at ${offset}`;
}

type AcquireLock = (req: Request, id: string, context: CancellationContext) => Promise<Lock>;

/** @tus/server's context of one PATCH or POST, with the hold on its upload's lock when that lock can be lost (the Redis locker's). */
type HeldContext = CancellationContext & { hold?: LockHold };

/**
 * A lock that can be lost while its request runs (Redis restarted without it, renewals that
 * failed until it expired): @tus/server would answer 204 with whatever the request stored,
 * although another request may have taken the upload over. Its PATCH and POST handlers note
 * the lock's hold: the store checks it before each write that commits and stops when it is
 * lost, and a request whose lock is lost before its body is stored is answered the loss
 * (LOCK_LOST 409, LOCK_NOT_KEPT 503), never 2xx.
 */
function watchLockHolds(server: Server): void {
  for (const handler of [server.handlers.PATCH, server.handlers.POST]) {
    const target = handler as unknown as { acquireLock: AcquireLock; writeToStore: WriteToStore };
    const acquire = target.acquireLock.bind(handler);
    target.acquireLock = async (req, id, context) => {
      const lock = await acquire(req, id, context);
      const hold = holdOf(lock);
      if (hold) (context as HeldContext).hold = hold;
      return lock;
    };
    // (For bodies a BodyWriter store reads itself, readBodiesDirectly passes the hold to the store as well.)
    const write = target.writeToStore.bind(handler);
    target.writeToStore = (webStream, upload, maxBodySize, context) => answerLoss(context, write(webStream, upload, maxBodySize, context));
  }
}

/** A write whose lock was lost before it ended fails with the loss, whatever the store made of it. */
async function answerLoss<T>(context: CancellationContext, writing: Promise<T>): Promise<T> {
  const hold = (context as HeldContext).hold;
  try {
    const result = await writing;
    if (hold?.lost.aborted) throw hold.lost.reason;
    return result;
  } catch (error) {
    throw hold?.lost.aborted ? hold.lost.reason : error;
  }
}

type WriteToStore = (
  webStream: ReadableStream | null,
  upload: Upload,
  maxBodySize: number,
  context: CancellationContext,
) => Promise<number>;

/**
 * Corrects one @tus/server behaviour: its PATCH and POST handlers hand every body to the store
 * through `Readable.fromWeb`, a PassThrough and a StreamLimiter (`BaseHandler.writeToStore`),
 * which costs a copy and several stream hops per chunk. For a body registered with
 * `requestWithDirectBody`, the store gets the raw Node stream with what the handler knows as
 * arguments: the offset, the largest body allowed, and the cancellation signal @tus/server
 * aborts when another request asks for the upload's lock (the store then stops reading and
 * keeps what arrived, as @tus/server's own stream does), and the lock's hold when the lock can
 * be lost (see watchLockHolds). Locks, checks, events and answers stay @tus/server's.
 * post-receive hooks hear the bytes as they are read; a StopUpload answer stops the body like
 * that signal does, then the upload is removed (the lock is still held).
 */
function readBodiesDirectly(server: Server, store: BodyWriter, hooks: MountHooks | undefined): void {
  for (const handler of [server.handlers.PATCH, server.handlers.POST]) {
    const target = handler as unknown as { writeToStore: WriteToStore };
    const original = target.writeToStore.bind(handler);
    target.writeToStore = async (webStream, upload, maxBodySize, context) => {
      const direct = webStream;
      if (!(direct instanceof DirectBody)) return original(webStream, upload, maxBodySize, context);
      if (context.signal.aborted) throw ERRORS.ABORTED;
      if (direct.request) hooks?.beforeWrite(direct.request, upload);
      const receiving = direct.request ? hooks?.receiving(direct.request, upload) : undefined;
      const hold = (context as HeldContext).hold;
      const offset = await answerLoss(
        context,
        store
          .writeBody(upload.id, upload.offset, direct.body, {
            expectedBytes: direct.expectedBytes,
            maxBytes: maxBodySize,
            stop: receiving ? AbortSignal.any([context.signal, receiving.stop]) : context.signal,
            onProgress: receiving?.onBytes,
            hold,
          })
          .catch((error: unknown) => keptWhatFits(error, upload, direct))
          .finally(() => receiving?.end()),
      );
      await receiving?.settle();
      return offset;
    };
  }
}
