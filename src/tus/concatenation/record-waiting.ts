/**
 * concatenation-unfinished: a final upload created while some of its partials still receive is
 * recorded now (WAITING_KEY: the partials' ids) and assembled when the last one finishes
 * (assemble-waiting.ts). Each partial records the final's claim: a finished one under its lock
 * (it receives nothing), an unfinished one without (asking for its lock would cut it off).
 * Should that be lost to a concurrent write, the final's assembly records it, and checks it,
 * under the locks then.
 */
import type { EventEmitter } from 'node:events';
import { EVENTS, Upload } from '@tus/utils';
import { ID_IN_USE } from '../../hooks/answers.js';
import { intend } from '../../stores/creation-intent.js';
import { UploadIdTaken } from '../../stores/exclusive-create.js';
import { type Answer, plain } from '../answer.js';
import { refuse } from '../refusals.js';
import { claimedMetadata, overuse, recordClaims } from './claims.js';
import type { NewFinal } from './create-final.js';
import { withLocks } from './locks.js';
import { WAITING_KEY } from './marks.js';
import { available, distinct, isFinished } from './partials.js';

export function recordWaiting(f: NewFinal): Promise<Answer> {
  const { r, id, partials, counts } = f;
  const { maxUses } = r.limits;
  const finished = maxUses > 0 ? distinct(partials.filter(isFinished)).map((p) => p.id) : [];
  return withLocks(r.locker, [id, ...finished], async () => {
    const locked = await Promise.all(finished.map((p) => r.store.getUpload(p)));
    const refused = overuse(locked, r.header, maxUses);
    if (refused) return refuse('partialOverused', refused);
    const waiting = new Upload({ id, offset: 0, metadata: { ...f.metadata, [WAITING_KEY]: r.header.ids.join(' ') } });
    intend(waiting, { exclusive: f.exclusive, subject: r.subject });
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
      await r.store.setMetadata(partial.id, claimedMetadata(fresh, id, times));
    }
    const events: EventEmitter = r.engine;
    events.emit(EVENTS.POST_CREATE, r.request, waiting, f.url);
    return { status: 201, body: '', headers: { ...f.headers, 'Upload-Offset': String(available(partials)) } };
  });
}
