/**
 * An upload's state carried in its final object's own user metadata (`x-amz-meta-*`), for an
 * upload that arrived whole with its creation: one PutObject and no `.info` (see S3Upload).
 *
 * The state is the `.info` JSON, base64url-encoded (metadata values travel as HTTP headers:
 * ASCII only) and split over `tus-upload-1`, `tus-upload-2`, ... of at most 256 characters
 * each (Swift's limit per value), after the marker `tus-upload: 1`. Only an object with the
 * marker whose state names this very upload is taken for one: a foreign object at the key is
 * never read as an upload. AWS allows 2 KiB of user metadata (names and values); a state that
 * does not fit goes to `.info` as usual.
 */
import type { UploadInfo } from './upload-state.js';

/** Marker key; its value is the format version. */
const MARKER = 'tus-upload';
const VERSION = '1';
/** Characters per value (Swift refuses values over 256). */
const CHUNK = 256;
/** User metadata bytes (names and values) S3 accepts on an object (AWS: 2 KiB). */
export const METADATA_BUDGET = 2048;

/** The user metadata carrying `info`, or undefined when it would not fit the budget. */
export function stateMetadata(info: UploadInfo): Record<string, string> | undefined {
  const encoded = Buffer.from(JSON.stringify(info)).toString('base64url');
  const metadata: Record<string, string> = { [MARKER]: VERSION };
  for (let i = 0; i * CHUNK < encoded.length; i++) metadata[`${MARKER}-${i + 1}`] = encoded.slice(i * CHUNK, (i + 1) * CHUNK);
  let bytes = 0;
  for (const [name, value] of Object.entries(metadata)) bytes += name.length + value.length;
  return bytes <= METADATA_BUDGET ? metadata : undefined;
}

/**
 * The state an object's user metadata carries for the upload whose final object is `key`, or
 * undefined: no marker, another format, damaged, or naming another upload or size.
 */
export function stateFromMetadata(metadata: Record<string, string>, key: string, size: number): UploadInfo | undefined {
  // S3 answers metadata names in lower case; be lenient about servers that do not.
  const lower = new Map(Object.entries(metadata).map(([name, value]) => [name.toLowerCase(), value]));
  if (lower.get(MARKER) !== VERSION) return undefined;
  let encoded = '';
  for (let i = 1; lower.has(`${MARKER}-${i}`); i++) encoded += lower.get(`${MARKER}-${i}`);
  let info: UploadInfo;
  try {
    info = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as UploadInfo;
  } catch {
    return undefined;
  }
  if (typeof info !== 'object' || info === null || info.version !== 1 || info.key !== key || info.size !== size) return undefined;
  if (typeof info.id !== 'string' || typeof info.creation_date !== 'string' || info.uploadId !== undefined) return undefined;
  return info;
}
