/**
 * The tus concatenation extension, all of it. @tus/server only lets partial uploads through:
 * a partial upload is created by @tus/server and marked in its metadata under a reserved key
 * (`markPartial`, its onUploadCreate hook); HEAD shows the mark as `Upload-Concat`
 * (`showConcat`). A final upload is created here (`createFinal`), with what every other upload
 * gets from @tus/server: the locks of the uploads involved, and the upload events (created,
 * finished) that metrics and hooks listen to. PATCH to a final upload is refused (403).
 */
import type { EventEmitter } from 'node:events';
import type { Server } from '@tus/server';
import { type DataStore, EVENTS, type Locker, Metadata, Uid, Upload } from '@tus/utils';
import type { Concatenator } from '../stores/capabilities.js';
import type { Answer } from './answer.js';
import { plain } from './answer.js';
import { uploadIdOf } from './upload-id.js';

/** Reserved metadata key holding "partial" or "final;<urls>". */
export const CONCAT_KEY = 'tus-concat';

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
  const { [CONCAT_KEY]: _mark, ...rest } = metadata;
  return rest;
}

/** onUploadCreate hook: mark partial uploads. */
export function markPartial(req: Request, upload: Upload): { metadata?: Upload['metadata'] } {
  const metadata = clientMetadata(upload.metadata);
  if (req.headers.get('upload-concat') === 'partial') return { metadata: { ...metadata, [CONCAT_KEY]: 'partial' } };
  return metadata ? { metadata } : {};
}

/** Move the mark from Upload-Metadata to Upload-Concat on a HEAD response. */
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
  if (!mark) return;
  headers.set('Upload-Concat', mark);
  const rest = clientMetadata(metadata) ?? {};
  if (Object.keys(rest).length > 0) headers.set('Upload-Metadata', Metadata.stringify(rest));
  else headers.delete('upload-metadata');
}

export function isFinalUpload(upload: Upload): boolean {
  return upload.metadata?.[CONCAT_KEY]?.startsWith('final;') ?? false;
}

/** 403 for a PATCH to a final upload; `read` is a read that changes nothing. */
export async function refusePatchToFinal(id: string | undefined, read: (id: string) => Promise<Upload>): Promise<Answer | undefined> {
  if (!id) return undefined;
  const upload = await read(id).catch(() => undefined);
  if (upload && isFinalUpload(upload)) return plain(403, 'A final upload of a concatenation cannot be changed with PATCH');
  return undefined;
}

export interface FinalRequest {
  /** The POST, for the upload events. */
  request: Request;
  header: ConcatHeader & { kind: 'final' };
  metadataHeader: string | undefined;
  lengthHeader: string | undefined;
  /** Mount path of this location, without trailing slash. */
  path: string;
  maxSize: number;
  store: DataStore & Concatenator;
  locker: Locker;
  /** The location's @tus/server, whose listeners get the upload events. */
  engine: Server;
  /** Absolute URL of a new upload id. */
  urlOf(id: string): string;
}

/** Create the final upload of `Upload-Concat: final;<url> <url> ...`. */
export async function createFinal(r: FinalRequest): Promise<Answer> {
  if (r.lengthHeader !== undefined)
    return plain(400, 'A final upload must not carry Upload-Length: its length is the sum of its partial uploads');
  let metadata: Record<string, string | null> | undefined;
  if (r.metadataHeader) {
    try {
      metadata = clientMetadata(Metadata.parse(r.metadataHeader) as Record<string, string | null>);
    } catch {
      return plain(400, 'Upload-Metadata is invalid: comma-separated "key base64value" pairs, unique non-empty keys');
    }
  }
  const id = Uid.rand();
  const { urls, ids } = r.header;
  // The partials stay as they are while they are read: their locks (in a fixed order, so two
  // concatenations of the same partials cannot deadlock), and the new upload's.
  const locks = [...new Set([...ids].sort()), id].map((lockId) => r.locker.newLock(lockId));
  const held: typeof locks = [];
  try {
    for (const lock of locks) {
      await lock.lock(new AbortController().signal, async () => {});
      held.push(lock);
    }
    let total = 0;
    for (const [i, partialId] of ids.entries()) {
      const partial = await r.store.getUpload(partialId).catch(() => undefined);
      if (!partial) return plain(400, `Upload-Concat: partial upload ${urls[i]} does not exist`);
      if (partial.metadata?.[CONCAT_KEY] !== 'partial')
        return plain(400, `Upload-Concat: ${urls[i]} is not a partial upload (create it with Upload-Concat: partial)`);
      if (partial.size === undefined || partial.offset !== partial.size) {
        return plain(
          400,
          `Upload-Concat: partial upload ${urls[i]} is not finished (${partial.offset} of ${partial.size ?? '?'} bytes); finish it first`,
        );
      }
      total += partial.size;
    }
    if (r.maxSize > 0 && total > r.maxSize)
      return plain(413, `The concatenated upload would be ${total} bytes, above the maximum of ${r.maxSize}`);
    // HEAD repeats the partials' URLs as the client sent them (absolute or relative).
    const mark = `final;${urls.join(' ')}`;
    const finalMetadata = { ...metadata, [CONCAT_KEY]: mark };
    const url = r.urlOf(id);
    await r.store.concatenate(id, ids, finalMetadata);
    const upload = new Upload({ id, size: total, offset: total, metadata: finalMetadata, creation_date: new Date().toISOString() });
    const answer: Answer = { status: 201, body: '', headers: { Location: url, 'Upload-Offset': String(total), 'Upload-Concat': mark } };
    // The same events @tus/server emits for uploads it creates and finishes.
    const events: EventEmitter = r.engine;
    events.emit(EVENTS.POST_CREATE, r.request, upload, url);
    events.emit(EVENTS.POST_FINISH, r.request, new Response(null, { status: 201 }), upload);
    return answer;
  } finally {
    for (const lock of held.reverse()) await lock.unlock();
  }
}
