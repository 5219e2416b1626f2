/**
 * concatenation-unfinished: a waiting final upload is assembled once every partial is
 * finished, by the last partial's PATCH (before it is answered) or by the final's HEAD.
 */
import type { EventEmitter } from 'node:events';
import type { Server } from '@tus/server';
import { type DataStore, EVENTS, type Locker, Upload } from '@tus/utils';
import type { Concatenator } from '../../stores/capabilities.js';
import { claimsOf, listings, recordClaims, withClaims } from './claims.js';
import { withLocks } from './locks.js';
import { WAITING_KEY } from './marks.js';
import { distinct, isFinished, totalSize } from './partials.js';

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
  const total = totalSize(ready);
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
      const refused = await claimUnderLocks(finalId, ids, partials, a);
      if (refused) return refused;
    }
    const { [WAITING_KEY]: _ids, ...metadata } = final.metadata;
    const size = await a.store.concatenate(finalId, ids, metadata);
    const creation_date = final.creation_date ?? new Date().toISOString();
    // At the key it got when it was created (hooks report it).
    const done = new Upload({ id: finalId, size, offset: size, metadata, creation_date, storage: final.storage });
    const events: EventEmitter = a.engine;
    events.emit(EVENTS.POST_FINISH, new Request('http://localhost/'), new Response(null, { status: 204 }), done);
    return undefined;
  });
}

/**
 * The first claims are honoured: this final's, recorded now if a concurrent write lost them,
 * must be among them. Answers why it is not, or undefined once recorded.
 */
async function claimUnderLocks(
  finalId: string,
  ids: readonly string[],
  partials: readonly Upload[],
  a: Assembly,
): Promise<string | undefined> {
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
  return undefined;
}
