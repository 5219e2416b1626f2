/** The locks of the uploads a concatenation involves. */
import type { Lock, Locker } from '@tus/utils';

/** Take the locks of `ids` in a fixed order (two concatenations of the same partials cannot deadlock), run, release. */
export async function withLocks<T>(locker: Locker, ids: readonly string[], run: () => Promise<T>): Promise<T> {
  const held: Lock[] = [];
  try {
    for (const id of [...new Set(ids)].sort()) {
      const lock = locker.newLock(id);
      await lock.lock(new AbortController().signal, async () => {});
      held.push(lock);
    }
    return await run();
  } finally {
    for (const lock of held.reverse()) await lock.unlock();
  }
}
