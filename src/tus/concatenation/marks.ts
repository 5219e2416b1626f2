/**
 * The reserved metadata of concatenation, and the one place that hides it from clients: the
 * mark of a partial or final upload (shown as `Upload-Concat`), the partials a waiting final
 * upload waits for, the finals that claimed a partial.
 */
import { Metadata, type Upload } from '@tus/utils';
import { OWNER_KEY } from '../../auth/ownership.js';

/** Reserved metadata key holding "partial" or "final;<urls>". */
export const CONCAT_KEY = 'tus-concat';
/** On a final upload still waiting for its partials (concatenation-unfinished): their ids. */
export const WAITING_KEY = 'tus-concat-waiting';
/**
 * On a partial upload: the final uploads that claimed it, in order, once per listing; those
 * still waiting for it are assembled when it finishes. Written under the partial's lock once it
 * is finished; while it receives, without (see record-waiting.ts).
 */
export const FINALS_KEY = 'tus-concat-finals';
/** Keys clients can neither set nor see: the concatenation marks and the owner (src/auth/ownership.ts). */
const isReserved = (key: string) => key === CONCAT_KEY || key.startsWith(`${CONCAT_KEY}-`) || key === OWNER_KEY;

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

export const isPartialUpload = (upload: Upload): boolean => upload.metadata?.[CONCAT_KEY] === 'partial';
