/**
 * A final upload whose partials are all finished when it is created: copied from them at once
 * under their locks and its own, then announced with @tus/server's upload events (created,
 * finished) and the pre-finish hook, as for any upload.
 */
import type { EventEmitter } from 'node:events';
import { EVENTS, Upload } from '@tus/utils';
import { ID_IN_USE } from '../../hooks/answers.js';
import { UploadIdTaken } from '../../stores/exclusive-create.js';
import { type Answer, plain } from '../answer.js';
import { notResumable, refuse } from '../refusals.js';
import { overuse, recordClaims } from './claims.js';
import type { FinalRequest, NewFinal } from './create-final.js';
import { withLocks } from './locks.js';
import { distinct, isFinished } from './partials.js';

export function assembleAtCreation(f: NewFinal): Promise<Answer> {
  const { r, id } = f;
  const { ids } = r.header;
  // Finished partials receive nothing: their locks keep them as they are while they are copied.
  return withLocks(r.locker, [...ids, id], async () => {
    const current = await Promise.all(ids.map((p) => r.store.getUpload(p).catch(() => undefined)));
    if (!current.every((p) => p && isFinished(p))) return refuse('partialChanged');
    const locked = distinct(current as Upload[]);
    // Checked again under the locks: another final may have claimed a partial since.
    const refused = overuse(locked, r.header, r.limits.maxUses);
    if (refused) return refuse('partialOverused', refused);
    return (await copyPartials(f, locked)) ?? announce(f);
  });
}

/** Claim the partials and copy them into the final upload; on failure undo both and answer why. */
async function copyPartials({ r, id, metadata, counts, exclusive }: NewFinal, locked: readonly Upload[]): Promise<Answer | undefined> {
  const { maxUses } = r.limits;
  try {
    // Claimed before a byte is copied, so a failure cannot leave bytes written unaccounted for.
    if (maxUses > 0) await recordClaims(r.store, locked, id, counts);
    await r.store.concatenate(id, r.header.ids, metadata, { exclusive, subject: r.subject });
    return undefined;
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
}

/** The same events @tus/server emits for uploads it creates and finishes, and its onUploadFinish (pre-finish hook). */
async function announce({ r, id, url, metadata, total, headers }: NewFinal): Promise<Answer> {
  // Read back (under the lock still) for where the store put it: hooks report its key.
  const storage = (await r.store.getUpload(id).catch(() => undefined))?.storage;
  const upload = new Upload({ id, size: total, offset: total, metadata, creation_date: new Date().toISOString(), storage });
  const events: EventEmitter = r.engine;
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
}
