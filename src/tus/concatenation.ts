/**
 * The tus concatenation extension, all of it. @tus/server only lets partial uploads through:
 * a partial upload is created by @tus/server and marked in its metadata under a reserved key
 * (`markPartial`, its onUploadCreate hook); HEAD shows the mark as `Upload-Concat`
 * (`showConcat`). A final upload is created here (`createFinal`), with what every other upload
 * gets from @tus/server: the locks of the uploads involved, and the upload events (created,
 * finished) that metrics and hooks listen to. PATCH to a final upload is refused (403).
 *
 * Concatenation writes bytes the client does not send: one partial listed many times, or in
 * many finals, would multiply what a client uploads into storage. So a final lists at most
 * TUS_CONCAT_MAX_PARTS partials, and each partial's bytes go into at most TUS_CONCAT_MAX_USES
 * finals (a partial listed twice counts twice): storage written by concatenation stays within
 * that many times the bytes received. Each partial records the finals that claimed it, in
 * order; the first claims are honoured.
 */
import type { EventEmitter } from 'node:events';
import type { Server } from '@tus/server';
import { type DataStore, EVENTS, type Lock, type Locker, Metadata, Uid, Upload } from '@tus/utils';
import { OWNER_KEY } from '../auth/ownership.js';
import { ID_IN_USE } from '../hooks/answers.js';
import type { Concatenator } from '../stores/capabilities.js';
import { intend } from '../stores/creation-intent.js';
import { UploadIdTaken } from '../stores/exclusive-create.js';
import type { Answer } from './answer.js';
import { plain } from './answer.js';
import { notResumable, refuse } from './refusals.js';
import { uploadIdOf } from './upload-id.js';

/** Reserved metadata key holding "partial" or "final;<urls>". */
export const CONCAT_KEY = 'tus-concat';
/** On a final upload still waiting for its partials (concatenation-unfinished): their ids. */
const WAITING_KEY = 'tus-concat-waiting';
/**
 * On a partial upload: the final uploads that claimed it, in order, once per listing; those
 * still waiting for it are assembled when it finishes. Written under the partial's lock once it
 * is finished; while it receives, without (see createFinal).
 */
const FINALS_KEY = 'tus-concat-finals';
/** Keys clients can neither set nor see: the concatenation marks and the owner (src/auth/ownership.ts). */
const isReserved = (key: string) => key === CONCAT_KEY || key.startsWith(`${CONCAT_KEY}-`) || key === OWNER_KEY;

/** `Upload-Concat` of a POST: partial, final with the partials' ids, or a message saying what is wrong. */
export type ConcatHeader = { kind: 'partial' } | { kind: 'final'; urls: string[]; ids: string[] } | { kind: 'invalid'; message: string };

/** Parse `Upload-Concat` (`partial`, or `final;<url> <url> ...` naming uploads of mount path `path`). */
export function parseConcatHeader(value: string, path: string): ConcatHeader {
  if (value === 'partial') return { kind: 'partial' };
  if (!value.startsWith('final;')) return { kind: 'invalid', message: 'Upload-Concat must be "partial" or "final;<url> <url> ..."' };
  const urls = value.slice('final;'.length).trim().split(/ +/).filter(Boolean);
  if (urls.length === 0)
    return { kind: 'invalid', message: 'Upload-Concat: final; needs the URLs of the partial uploads, separated by spaces' };
  const ids: string[] = [];
  for (const url of urls) {
    const id = uploadIdOf(url, path);
    if (!id) return { kind: 'invalid', message: `Upload-Concat: ${url} is not an upload of this location (${path}/<id>)` };
    ids.push(id);
  }
  return { kind: 'final', urls, ids };
}

/** Metadata from the client, without the reserved key (clients cannot forge the mark). */
export function clientMetadata(metadata: Upload['metadata']): Record<string, string | null> | undefined {
  if (!metadata) return undefined;
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !isReserved(key)));
}

/** onUploadCreate hook: mark partial uploads. */
export function markPartial(req: Request, upload: Upload): { metadata?: Upload['metadata'] } {
  const metadata = clientMetadata(upload.metadata);
  if (req.headers.get('upload-concat') === 'partial') return { metadata: { ...metadata, [CONCAT_KEY]: 'partial' } };
  return metadata ? { metadata } : {};
}

/** On a HEAD response: the concatenation mark moves from Upload-Metadata to Upload-Concat, other reserved keys go. */
export function showConcat(headers: Headers): void {
  const raw = headers.get('upload-metadata');
  if (!raw) return;
  let metadata: Record<string, string | null>;
  try {
    metadata = Metadata.parse(raw) as Record<string, string | null>;
  } catch {
    return;
  }
  const mark = metadata[CONCAT_KEY];
  if (mark) headers.set('Upload-Concat', mark);
  const rest = clientMetadata(metadata) ?? {};
  if (Object.keys(rest).length > 0) headers.set('Upload-Metadata', Metadata.stringify(rest));
  else headers.delete('upload-metadata');
}

export function isFinalUpload(upload: Upload): boolean {
  return upload.metadata?.[CONCAT_KEY]?.startsWith('final;') ?? false;
}

/** How much concatenation may write (0: no limit). */
export interface ConcatLimits {
  /** Partials one final upload may list (TUS_CONCAT_MAX_PARTS). */
  maxParts: number;
  /** Final uploads one partial's bytes may go into, a partial listed twice counting twice (TUS_CONCAT_MAX_USES). */
  maxUses: number;
}

const claimsOf = (upload: Upload): string[] => upload.metadata?.[FINALS_KEY]?.split(' ').filter(Boolean) ?? [];

/** How many times each id is listed. */
function listings(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Why a new final listing `partial` `times` times may not use it (its claims so far count), or undefined. */
function useProblem(partial: Upload, url: string, times: number, maxUses: number): string | undefined {
  if (maxUses === 0) return undefined;
  const used = claimsOf(partial).length;
  if (used + times <= maxUses) return undefined;
  const allowed = `a partial upload's bytes may go into final uploads ${maxUses} time${maxUses === 1 ? '' : 's'} (TUS_CONCAT_MAX_USES)`;
  return used === 0
    ? `Upload-Concat: ${url} is listed ${times} times; ${allowed}; nothing was created`
    : `Upload-Concat: ${url} is already used by ${used === 1 ? 'a final upload' : `${used} final uploads`}, and ${allowed}: upload those bytes again as a new partial upload; nothing was created`;
}

/** The claims of `partial` with `finalId`'s `times` claims recorded (appended where missing). */
function withClaims(partial: Upload, finalId: string, times: number): string[] {
  const claims = claimsOf(partial);
  const missing = times - claims.filter((claim) => claim === finalId).length;
  return [...claims, ...Array<string>(Math.max(0, missing)).fill(finalId)];
}

/** Record `finalId`'s claims on each partial (a store write only where one is missing). */
async function recordClaims(store: Concatenator, partials: readonly Upload[], finalId: string, counts: Map<string, number>): Promise<void> {
  for (const partial of partials) {
    const claims = withClaims(partial, finalId, counts.get(partial.id) ?? 0);
    if (claims.length === claimsOf(partial).length) continue;
    await store.setMetadata(partial.id, { ...partial.metadata, [FINALS_KEY]: claims.join(' ') });
  }
}

/** One Upload per distinct id, the first of `ids`'s order. */
const distinct = (partials: readonly Upload[]) => [...new Map(partials.map((p) => [p.id, p])).values()];

export interface FinalRequest {
  /** The POST, for the upload events. */
  request: Request;
  header: ConcatHeader & { kind: 'final' };
  metadataHeader: string | undefined;
  lengthHeader: string | undefined;
  /** Mount path of this location, without trailing slash. */
  path: string;
  maxSize: number;
  limits: ConcatLimits;
  store: DataStore & Concatenator;
  /** A read that changes nothing (without the lock). */
  read(id: string): Promise<Upload>;
  locker: Locker;
  /** The location's @tus/server, whose listeners get the upload events. */
  engine: Server;
  /** Absolute URL of a new upload id. */
  urlOf(id: string): string;
  /** Owner recorded on the final upload (the authenticated subject). */
  owner?: string | undefined;
  /** Prefix of the final upload's id (a token's `prefix` claim). */
  idPrefix?: string | undefined;
  /** A token's own size limit: partials of unknown length could grow past it, so they are refused. */
  tokenMaxSize?: number | undefined;
  /** The pre-finish hook once the final upload is assembled: what it adds to the answer; it throws @tus/server's error shape when it fails (answered with the upload's Location). */
  preFinish?: (upload: Upload) => Promise<{ status_code?: number; headers?: Record<string, string>; body?: string }>;
  /** The pre-create hook: an answer refuses the upload; otherwise the id and metadata it chose, if any. */
  preCreate?: (upload: {
    size: number | undefined;
    metadata: Record<string, string | null> | undefined;
    partialIds: readonly string[];
  }) => Promise<Answer | { id?: string; metadata?: Record<string, string> }>;
}

/**
 * Create the final upload of `Upload-Concat: final;<url> <url> ...`. With every partial
 * finished it is assembled at once; otherwise (concatenation-unfinished) it is recorded as
 * waiting, each unfinished partial names it, and the last partial to finish assembles it.
 */
export async function createFinal(r: FinalRequest): Promise<Answer> {
  if (r.lengthHeader !== undefined) return refuse('finalWithLength');
  let metadata: Record<string, string | null> | undefined;
  if (r.metadataHeader) {
    try {
      metadata = clientMetadata(Metadata.parse(r.metadataHeader) as Record<string, string | null>);
    } catch {
      return refuse('finalBadMetadata');
    }
  }
  const { urls, ids } = r.header;
  const { maxParts, maxUses } = r.limits;
  if (maxParts > 0 && ids.length > maxParts) {
    return refuse('tooManyPartials', ids.length, maxParts);
  }
  const counts = listings(ids);
  const urlOf = (partialId: string) => urls[ids.indexOf(partialId)] as string;
  const overused = (current: readonly Upload[]) =>
    distinct(current)
      .map((p) => useProblem(p, urlOf(p.id), counts.get(p.id) ?? 0, maxUses))
      .find(Boolean);
  // The partials are read without their locks: taking a lock asks its holder to stop, and
  // partials still receiving must not be cut off by a final upload that waits for them.
  const partials: Upload[] = [];
  for (const [i, partialId] of ids.entries()) {
    const partial = await r.read(partialId).catch(() => undefined);
    if (!partial) return refuse('partialMissing', urls[i] as string);
    if (partial.metadata?.[CONCAT_KEY] !== 'partial') return refuse('notAPartial', urls[i] as string);
    partials.push(partial);
  }
  const refusedUse = overused(partials);
  if (refusedUse) return refuse('partialOverused', refusedUse);
  if (r.tokenMaxSize !== undefined && partials.some((p) => p.size === undefined)) {
    return refuse('tokenNeedsPartialLengths', r.tokenMaxSize);
  }
  const total = partials.reduce((sum, p) => sum + (p.size ?? 0), 0);
  if (r.maxSize > 0 && total > r.maxSize) return refuse('concatTooLarge', total, r.maxSize);
  // A pre-create hook (src/hooks/mount.ts) may refuse the upload, or choose its id and metadata.
  const known = partials.every((p) => p.size !== undefined);
  const changes = r.preCreate ? await r.preCreate({ size: known ? total : undefined, metadata, partialIds: ids }) : {};
  if ('status' in changes) return changes;
  if (changes.metadata) metadata = changes.metadata;
  const id = `${r.idPrefix ?? ''}${changes.id ?? Uid.rand()}`;
  // HEAD repeats the partials' URLs as the client sent them (absolute or relative).
  const mark = `final;${urls.join(' ')}`;
  const finalMetadata = { ...metadata, [CONCAT_KEY]: mark, ...(r.owner !== undefined ? { [OWNER_KEY]: r.owner } : {}) };
  const url = r.urlOf(id);
  const events: EventEmitter = r.engine;
  const headers = { Location: url, 'Upload-Concat': mark };
  if (partials.every(isFinished)) {
    // Finished partials receive nothing: their locks keep them as they are while they are copied.
    return withLocks(r.locker, [...ids, id], async () => {
      const current = await Promise.all(ids.map((p) => r.store.getUpload(p).catch(() => undefined)));
      if (!current.every((p) => p && isFinished(p))) return refuse('partialChanged');
      const locked = distinct(current as Upload[]);
      // Checked again under the locks: another final may have claimed a partial since.
      const refused = overused(locked);
      if (refused) return refuse('partialOverused', refused);
      try {
        // Claimed before a byte is copied, so a failure cannot leave bytes written unaccounted for.
        if (maxUses > 0) await recordClaims(r.store, locked, id, counts);
        await r.store.concatenate(id, ids, finalMetadata, changes.id !== undefined);
      } catch (error) {
        // Another creation (on any instance) has the id the hook chose: its upload stays as it is.
        const taken = error instanceof UploadIdTaken;
        const failed = error as { status_code?: number; body?: string };
        // The final upload was never announced: remove what the attempt left (its state, an open
        // multipart upload) and give its partials back.
        if (!taken) await r.store.remove(id).catch(() => {});
        if (maxUses > 0) {
          for (const partial of locked) {
            await r.store.setMetadata(partial.id, partial.metadata ?? {}).catch(() => {});
          }
        }
        if (taken) return plain(ID_IN_USE.status_code, ID_IN_USE.body);
        if (failed.status_code === undefined) throw error;
        const reason = notResumable((failed.body ?? '').trim(), '.');
        return plain(failed.status_code, `${reason} The final upload was not created: send the POST again.`);
      }
      const upload = new Upload({ id, size: total, offset: total, metadata: finalMetadata, creation_date: new Date().toISOString() });
      // The same events @tus/server emits for uploads it creates and finishes, and its onUploadFinish (pre-finish hook).
      events.emit(EVENTS.POST_CREATE, r.request, upload, url);
      let finish: Awaited<ReturnType<NonNullable<FinalRequest['preFinish']>>> = {};
      try {
        finish = (await r.preFinish?.(upload)) ?? {};
      } catch (error) {
        const failed = error as { status_code?: number; body?: string };
        if (failed.status_code === undefined) throw error;
        // The final upload exists and is complete: the client must learn where (sending the POST again would create another).
        return plain(failed.status_code, failed.body ?? '', { Location: url, 'Upload-Offset': String(total) });
      }
      events.emit(EVENTS.POST_FINISH, r.request, new Response(null, { status: 201 }), upload);
      return {
        status: finish.status_code ?? 201,
        body: finish.body ?? '',
        headers: { ...headers, 'Upload-Offset': String(total), ...finish.headers },
      };
    });
  }
  // concatenation-unfinished: recorded now, assembled when the last partial finishes. Each
  // partial records the final's claim: a finished one under its lock (it receives nothing), an
  // unfinished one without, for the reason above. Should that be lost to a concurrent write,
  // the final's HEAD assembles it, and the claim is recorded, and checked, under the locks then.
  const finished = maxUses > 0 ? distinct(partials.filter(isFinished)).map((p) => p.id) : [];
  return withLocks(r.locker, [id, ...finished], async () => {
    const locked = await Promise.all(finished.map((p) => r.store.getUpload(p)));
    const refused = overused(locked);
    if (refused) return refuse('partialOverused', refused);
    const waiting = new Upload({ id, offset: 0, metadata: { ...finalMetadata, [WAITING_KEY]: ids.join(' ') } });
    if (changes.id !== undefined) intend(waiting, { exclusive: true });
    try {
      await r.store.create(waiting);
    } catch (error) {
      if (error instanceof UploadIdTaken) return plain(ID_IN_USE.status_code, ID_IN_USE.body);
      throw error;
    }
    if (maxUses > 0) await recordClaims(r.store, locked, id, counts);
    for (const partial of distinct(partials).filter((p) => !isFinished(p))) {
      // Read again just before the write, to lose as little as possible of a concurrent one.
      const fresh = await r.read(partial.id).catch(() => partial);
      // Without a limit, only to be found when the partial finishes: once.
      const times = maxUses > 0 ? (counts.get(partial.id) ?? 1) : 1;
      await r.store.setMetadata(partial.id, { ...fresh.metadata, [FINALS_KEY]: withClaims(fresh, id, times).join(' ') });
    }
    events.emit(EVENTS.POST_CREATE, r.request, waiting, url);
    return { status: 201, body: '', headers: { ...headers, 'Upload-Offset': String(available(partials)) } };
  });
}

const isFinished = (upload: Upload) => upload.size !== undefined && upload.offset === upload.size;

/** Bytes of the concatenation readable from its start: finished partials whole, then the first unfinished one's offset. */
function available(partials: readonly Upload[]): number {
  let bytes = 0;
  for (const partial of partials) {
    bytes += partial.offset;
    if (!isFinished(partial)) break;
  }
  return bytes;
}

/** Take the locks of `ids` in a fixed order (two concatenations of the same partials cannot deadlock), run, release. */
async function withLocks<T>(locker: Locker, ids: readonly string[], run: () => Promise<T>): Promise<T> {
  const held: Lock[] = [];
  try {
    for (const id of [...new Set(ids)].sort()) {
      const lock = locker.newLock(id);
      await lock.lock(new AbortController().signal, async () => {});
      held.push(lock);
    }
    return await run();
  } finally {
    for (const lock of held.reverse()) await lock.unlock();
  }
}

/**
 * HEAD of a final upload still waiting for its partials: the bytes available so far, and its
 * length once every partial's length is known. Once every partial is finished it is assembled
 * first (`assemble`: the last partial's PATCH normally did), and @tus/server answers. `read`
 * changes nothing.
 */
export async function waitingFinalHead(
  upload: Upload,
  read: (id: string) => Promise<Upload>,
  assemble: (finalId: string) => Promise<string | undefined>,
  maxSize: number,
): Promise<Answer | undefined> {
  const waiting = upload.metadata?.[WAITING_KEY];
  if (!waiting) return undefined;
  const partials = await Promise.all(waiting.split(' ').map((id) => read(id).catch(() => undefined)));
  if (partials.some((p) => !p)) return refuse('partialGone');
  const known = partials as Upload[];
  if (known.every(isFinished)) {
    const total = known.reduce((sum, p) => sum + (p.size ?? 0), 0);
    if (maxSize > 0 && total > maxSize) {
      return refuse('finalTooLarge', total, maxSize);
    }
    const refused = await assemble(upload.id);
    return refused ? refuse('finalCannotComplete', refused) : undefined;
  }
  const headers: Record<string, string> = {
    'Upload-Offset': String(available(known)),
    'Upload-Concat': String(upload.metadata?.[CONCAT_KEY]),
    'Cache-Control': 'no-store',
  };
  if (known.every((p) => p.size !== undefined)) headers['Upload-Length'] = String(known.reduce((sum, p) => sum + (p.size ?? 0), 0));
  else headers['Upload-Defer-Length'] = '1';
  const metadata = clientMetadata(upload.metadata);
  if (metadata && Object.keys(metadata).length > 0) headers['Upload-Metadata'] = Metadata.stringify(metadata);
  const answer = plain(200, '');
  return { ...answer, headers: { ...answer.headers, ...headers } };
}

export interface Assembly {
  store: DataStore & Concatenator;
  /** A read that changes nothing (without the lock). */
  read(id: string): Promise<Upload>;
  locker: Locker;
  /** 0: no limit. */
  maxSize: number;
  /** TUS_CONCAT_MAX_USES (0: no limit). */
  maxUses: number;
  engine: Server;
  log: { error(details: object, message: string): void };
}

/** When a partial finishes (before its PATCH is answered): assemble the final uploads waiting for it that now have all their partials. */
export async function assembleWaitingFinals(partial: Upload, a: Assembly): Promise<void> {
  for (const finalId of new Set(claimsOf(partial))) {
    try {
      await assembleFinal(finalId, a);
    } catch (error) {
      a.log.error({ err: error, uploadId: finalId }, 'assembling a final upload after its last partial finished failed');
    }
  }
}

/**
 * Assemble a waiting final upload if every partial is finished (under their locks and its own);
 * emits POST_FINISH. Answers why it never can be (a partial used up by finals that claimed it
 * first), or undefined.
 */
export async function assembleFinal(finalId: string, a: Assembly): Promise<string | undefined> {
  const waiting = (await a.read(finalId).catch(() => undefined))?.metadata?.[WAITING_KEY];
  if (!waiting) return undefined;
  const ids = waiting.split(' ');
  // Locks only once every partial is finished: a lock asked for cuts off a partial still receiving.
  const ready = await Promise.all(ids.map((id) => a.read(id).catch(() => undefined)));
  if (!ready.every((p) => p && isFinished(p))) return undefined;
  const total = ready.reduce((sum, p) => sum + (p?.size ?? 0), 0);
  if (a.maxSize > 0 && total > a.maxSize) {
    a.log.error({ uploadId: finalId, bytes: total }, 'a final upload would exceed the maximum upload size; not assembled');
    return undefined;
  }
  return withLocks(a.locker, [...ids, finalId], async () => {
    const final = await a.store.getUpload(finalId).catch(() => undefined);
    if (!final?.metadata?.[WAITING_KEY]) return undefined;
    const partials = await Promise.all(ids.map((id) => a.store.getUpload(id)));
    if (!partials.every(isFinished)) return undefined;
    if (a.maxUses > 0) {
      // The first claims are honoured: this final's, recorded now if a concurrent write lost them, must be among them.
      const counts = listings(ids);
      const unique = distinct(partials);
      const overused = unique.find((p) => withClaims(p, finalId, counts.get(p.id) ?? 0).lastIndexOf(finalId) >= a.maxUses);
      if (overused) {
        a.log.error(
          { uploadId: finalId, partial: overused.id },
          'a partial of a final upload was used up by other final uploads; not assembled',
        );
        return `Upload-Concat: partial upload ${overused.id} was used up by other final uploads first (TUS_CONCAT_MAX_USES=${a.maxUses})`;
      }
      await recordClaims(a.store, unique, finalId, counts);
    }
    const { [WAITING_KEY]: _ids, ...metadata } = final.metadata;
    const size = await a.store.concatenate(finalId, ids, metadata);
    const done = new Upload({ id: finalId, size, offset: size, metadata, creation_date: final.creation_date ?? new Date().toISOString() });
    const events: EventEmitter = a.engine;
    events.emit(EVENTS.POST_FINISH, new Request('http://localhost/'), new Response(null, { status: 204 }), done);
    return undefined;
  });
}
