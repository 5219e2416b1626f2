/**
 * concatenation-unfinished: the HEAD of a final upload still waiting for its partials, answered
 * from them; once they are all finished it is assembled first and @tus/server answers.
 */
import { type DataStore, Metadata, type Upload } from '@tus/utils';
import { isConcatenator } from '../../stores/capabilities.js';
import { type Answer, plain } from '../answer.js';
import { refuse } from '../refusals.js';
import { type Assembly, assembleFinal } from './assemble-waiting.js';
import { CONCAT_KEY, clientMetadata, WAITING_KEY } from './marks.js';
import { available, isFinished, totalSize } from './partials.js';

/** What the HEAD needs to read the partials and, once they are finished, to assemble the final upload (if its store can). */
export type WaitingHead = Omit<Assembly, 'store'> & { store: DataStore };

/**
 * HEAD of a final upload still waiting for its partials (undefined for any other upload: it
 * goes on to @tus/server): the bytes available so far, and its length once every partial's
 * length is known. Once every partial is finished it is assembled first (the last partial's
 * PATCH normally did), and @tus/server answers. Reads change nothing.
 */
export async function waitingFinalHead(upload: Upload, a: WaitingHead): Promise<Answer | undefined> {
  const waiting = upload.metadata?.[WAITING_KEY];
  if (!waiting) return undefined;
  const partials = await Promise.all(waiting.split(' ').map((id) => a.read(id).catch(() => undefined)));
  if (partials.some((p) => !p)) return refuse('partialGone');
  const known = partials as Upload[];
  if (known.every(isFinished)) {
    const total = totalSize(known);
    if (a.maxSize > 0 && total > a.maxSize) {
      return refuse('finalTooLarge', total, a.maxSize);
    }
    const { store } = a;
    const refused = isConcatenator(store) ? await assembleFinal(upload.id, { ...a, store }) : undefined;
    return refused ? refuse('finalCannotComplete', refused) : undefined;
  }
  const headers: Record<string, string> = {
    'Upload-Offset': String(available(known)),
    'Upload-Concat': String(upload.metadata?.[CONCAT_KEY]),
    'Cache-Control': 'no-store',
  };
  if (known.every((p) => p.size !== undefined)) headers['Upload-Length'] = String(totalSize(known));
  else headers['Upload-Defer-Length'] = '1';
  const metadata = clientMetadata(upload.metadata);
  if (metadata && Object.keys(metadata).length > 0) headers['Upload-Metadata'] = Metadata.stringify(metadata);
  const answer = plain(200, '');
  return { ...answer, headers: { ...answer.headers, ...headers } };
}
