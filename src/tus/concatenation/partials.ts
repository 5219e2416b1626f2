/** The partials of a final upload: read and checked, and what they hold so far. */
import type { Upload } from '@tus/utils';
import type { Answer } from '../answer.js';
import { refuse } from '../refusals.js';
import type { FinalListing } from './header.js';
import { isPartialUpload } from './marks.js';

export const isFinished = (upload: Upload) => upload.size !== undefined && upload.offset === upload.size;

/** Bytes of the concatenation readable from its start: finished partials whole, then the first unfinished one's offset. */
export function available(partials: readonly Upload[]): number {
  let bytes = 0;
  for (const partial of partials) {
    bytes += partial.offset;
    if (!isFinished(partial)) break;
  }
  return bytes;
}

/** The length of the concatenation, counting a partial of unknown length as 0. */
export const totalSize = (partials: readonly (Upload | undefined)[]) => partials.reduce((sum, p) => sum + (p?.size ?? 0), 0);

/** One Upload per distinct id, the first of `ids`'s order. */
export const distinct = (partials: readonly Upload[]) => [...new Map(partials.map((p) => [p.id, p])).values()];

/** The listed partials, in order, or why one cannot be used (the first missing one, or one that is no partial upload). */
export async function readPartials({ urls, ids }: FinalListing, read: (id: string) => Promise<Upload>): Promise<Upload[] | Answer> {
  const partials: Upload[] = [];
  for (const [i, partialId] of ids.entries()) {
    const partial = await read(partialId).catch(() => undefined);
    if (!partial) return refuse('partialMissing', urls[i] as string);
    if (!isPartialUpload(partial)) return refuse('notAPartial', urls[i] as string);
    partials.push(partial);
  }
  return partials;
}
