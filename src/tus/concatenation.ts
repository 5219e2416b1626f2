/**
 * The tus concatenation extension on top of @tus/server, which only lets partial uploads
 * through. A partial upload is created by @tus/server and marked in its metadata under a
 * reserved key; the final upload is answered here: the partials are checked (they must
 * exist, be partial and be finished) and the store assembles them. HEAD shows the mark as
 * `Upload-Concat` instead of as metadata.
 */

import type { DataStore, Upload } from '@tus/utils';
import { Metadata, Uid } from '@tus/utils';
import type { Concatenator } from '../stores/concatenate.js';
import { requestContext } from '../stores/request-context.js';

/** Reserved metadata key holding "partial" or "final;<urls>". */
export const CONCAT_KEY = 'tus-concat';

export interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
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

export interface FinalRequest {
  header: string;
  metadataHeader: string | undefined;
  lengthHeader: string | undefined;
  /** Mount path of this location, without trailing slash. */
  path: string;
  maxSize: number;
  store: DataStore & Concatenator;
  /** Absolute URL of a new upload id. */
  urlOf(id: string): string;
}

/** Create the final upload of `Upload-Concat: final;<url> <url> ...`. */
export async function createFinal(r: FinalRequest): Promise<Answer> {
  const bad = (body: string, status = 400): Answer => ({ status, body });
  if (r.lengthHeader !== undefined) return bad('A final upload must not carry Upload-Length: its length is the sum of its partial uploads');
  const urls = r.header.slice('final;'.length).trim().split(/ +/).filter(Boolean);
  if (urls.length === 0) return bad('Upload-Concat: final; needs the URLs of the partial uploads, separated by spaces');
  const ids: string[] = [];
  for (const url of urls) {
    let pathname: string;
    try {
      pathname = new URL(url, 'http://relative').pathname;
    } catch {
      return bad(`Upload-Concat: ${JSON.stringify(url)} is not a URL`);
    }
    const prefix = `${r.path}/`;
    const id = pathname.startsWith(prefix) ? decodeURIComponent(pathname.slice(prefix.length)) : '';
    if (!/^[A-Za-z0-9_-]+$/.test(id)) return bad(`Upload-Concat: ${url} is not an upload of this location (${prefix}<id>)`);
    ids.push(id);
  }
  let metadata: Record<string, string | null> | undefined;
  if (r.metadataHeader) {
    try {
      metadata = clientMetadata(Metadata.parse(r.metadataHeader) as Record<string, string | null>);
    } catch {
      return bad('Upload-Metadata is invalid: comma-separated "key base64value" pairs, unique non-empty keys');
    }
  }
  let total = 0;
  for (const [i, id] of ids.entries()) {
    let upload: Upload;
    try {
      upload = await requestContext.run({ fresh: true }, () => r.store.getUpload(id));
    } catch {
      return bad(`Upload-Concat: partial upload ${urls[i]} does not exist`);
    }
    if (upload.metadata?.[CONCAT_KEY] !== 'partial')
      return bad(`Upload-Concat: ${urls[i]} is not a partial upload (create it with Upload-Concat: partial)`);
    if (upload.size === undefined || upload.offset !== upload.size) {
      return bad(
        `Upload-Concat: partial upload ${urls[i]} is not finished (${upload.offset} of ${upload.size ?? '?'} bytes); finish it first`,
      );
    }
    total += upload.size;
  }
  if (r.maxSize > 0 && total > r.maxSize)
    return bad(`The concatenated upload would be ${total} bytes, above the maximum of ${r.maxSize}`, 413);
  const id = Uid.rand();
  const mark = `final;${ids.map((p) => `${r.path}/${p}`).join(' ')}`;
  await r.store.concatenate(id, ids, { ...metadata, [CONCAT_KEY]: mark });
  return { status: 201, body: '', headers: { Location: r.urlOf(id), 'Upload-Offset': String(total) } };
}
