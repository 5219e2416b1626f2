/** A Locker that reports how long each lock took to acquire (metrics: lock waits). */
import type { Lock, Locker, RequestRelease } from '@tus/utils';
import type { LockHold } from '../stores/capabilities.js';

export class TimedLocker implements Locker {
  constructor(
    private readonly inner: Locker,
    private readonly observe: (seconds: number) => void,
  ) {}

  newLock(id: string): Lock {
    const lock = this.inner.newLock(id);
    const observe = this.observe;
    return {
      async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
        const started = process.hrtime.bigint();
        await lock.lock(signal, requestRelease);
        observe(Number(process.hrtime.bigint() - started) / 1e9);
      },
      unlock: () => lock.unlock(),
      // The inner lock's hold, if it can be lost (the Redis locker's).
      get hold() {
        return holdOf(lock);
      },
    } as Lock;
  }
}

/** The hold of a lock that can be lost while its request runs (see LockHold); undefined for one that cannot. */
export function holdOf(lock: Lock): LockHold | undefined {
  return (lock as Lock & { hold?: LockHold }).hold;
}
