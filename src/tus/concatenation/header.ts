/** `Upload-Concat` of a POST, parsed: which uploads a final upload lists. */
import { uploadIdOf } from '../upload-id.js';

/** `Upload-Concat` of a POST: partial, final with the partials' ids, or a message saying what is wrong. */
export type ConcatHeader = { kind: 'partial' } | { kind: 'final'; urls: string[]; ids: string[] } | { kind: 'invalid'; message: string };

/** The partials a final upload lists: their URLs as the client sent them, and their ids, in the same order. */
export type FinalListing = Pick<ConcatHeader & { kind: 'final' }, 'urls' | 'ids'>;

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
