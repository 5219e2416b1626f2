/**
 * @tus/server's Locker over Redis, for several instances sharing a bucket: one key per upload
 * id, taken with a random token and a TTL (SET NX PX), renewed while the request runs, released
 * by compare-and-delete. A request that finds the lock held asks its holder, on whichever
 * instance, to release it (pub/sub), as @tus/server's MemoryLocker does within one process:
 * a client's retry takes over from its own stalled request. A crashed holder's lock expires.
 */
import { randomUUID } from 'node:crypto';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/utils';
import type { Redis } from 'ioredis';
import { RELEASE, RENEW } from './scripts.js';

export interface RedisLockerOptions {
  /** Commands (SET, PUBLISH, scripts). */
  redis: Redis;
  /** A connection of its own for PSUBSCRIBE (a subscribed connection takes no other command). */
  subscriber: Redis;
  /** Key prefix, such as `tus:`. */
  prefix: string;
  /** Milliseconds a lock lives without renewal (a crashed holder's lock frees itself after this). */
  ttl: number;
  /** Milliseconds a request waits for a held lock before 423 Locked. */
  wait: number;
  log?: { warn(details: object, message: string): void; error(details: object, message: string): void };
}

/** A lock not taken or released because Redis did not answer: the request gets 503. */
export const REDIS_UNAVAILABLE = Object.freeze({
  status_code: 503,
  body: 'Upload locks are unavailable (Redis does not answer); nothing was changed, retry in a moment\n',
});

export class RedisLocker implements Locker {
  /** Release requests for the locks this instance holds, by upload id. */
  private readonly held = new Map<string, RequestRelease>();
  private subscribed: Promise<unknown> | undefined;

  constructor(readonly o: RedisLockerOptions) {
    o.subscriber.on('pmessage', (_pattern: string, channel: string) => {
      const id = channel.slice(this.channel('').length);
      const release = this.held.get(id);
      if (release) void Promise.resolve(release()).catch(() => undefined);
    });
    void this.listen().catch(() => undefined);
  }

  newLock(id: string): Lock {
    return new RedisLock(id, this);
  }

  key(id: string): string {
    return `${this.o.prefix}lock:${id}`;
  }

  channel(id: string): string {
    return `${this.o.prefix}release:${id}`;
  }

  /** Subscribed once, before the first lock is held, so no release request is missed. */
  listen(): Promise<unknown> {
    this.subscribed ??= this.o.subscriber.psubscribe(this.channel('*')).catch((error) => {
      this.subscribed = undefined;
      throw error;
    });
    return this.subscribed;
  }

  hold(id: string, release: RequestRelease): void {
    this.held.set(id, release);
  }

  drop(id: string, release: RequestRelease): void {
    if (this.held.get(id) === release) this.held.delete(id);
  }

  renew(id: string, token: string): Promise<unknown> {
    return this.o.redis.eval(RENEW, 1, this.key(id), token, String(this.o.ttl));
  }

  release(id: string, token: string): Promise<unknown> {
    return this.o.redis.eval(RELEASE, 1, this.key(id), token);
  }
}

class RedisLock implements Lock {
  private token: string | undefined;
  private renewal: NodeJS.Timeout | undefined;
  private release: RequestRelease | undefined;

  constructor(
    private readonly id: string,
    private readonly locker: RedisLocker,
  ) {}

  async lock(stopSignal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { redis, ttl, wait } = this.locker.o;
    const token = randomUUID();
    const deadline = Date.now() + wait;
    let asked = 0;
    let pause = 10;
    // Normally subscribed long ago; if not yet, a release request may be missed and is repeated.
    void this.locker.listen().catch(() => undefined);
    for (;;) {
      let taken: string | null;
      try {
        taken = await redis.set(this.locker.key(this.id), token, 'PX', ttl, 'NX');
      } catch {
        throw REDIS_UNAVAILABLE;
      }
      if (taken === 'OK') break;
      // Ask the holder to let go (again every second: a request that began holding since may have missed it).
      if (Date.now() - asked >= 1000) {
        asked = Date.now();
        await redis.publish(this.locker.channel(this.id), token).catch(() => undefined);
      }
      if (stopSignal.aborted || Date.now() >= deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
      await sleep(Math.min(pause, deadline - Date.now()), stopSignal);
      pause = Math.min(pause * 2, 200);
    }
    this.token = token;
    this.release = requestRelease;
    this.locker.hold(this.id, requestRelease);
    this.keepAlive(token, requestRelease);
  }

  /**
   * Renew a third of the TTL before it runs out. A lock found taken over (or not renewed before
   * it expires) stops its request: another request may now be writing the same upload.
   */
  private keepAlive(token: string, requestRelease: RequestRelease): void {
    const { ttl, log } = this.locker.o;
    let renewedAt = Date.now();
    this.renewal = setInterval(() => {
      this.locker.renew(this.id, token).then(
        (result) => {
          if (result === 1) renewedAt = Date.now();
          else {
            log?.error({ uploadId: this.id }, 'upload lock lost (taken over after it expired); the request is stopped');
            clearInterval(this.renewal);
            void Promise.resolve(requestRelease()).catch(() => undefined);
          }
        },
        () => {
          if (Date.now() - renewedAt > (ttl * 2) / 3) {
            log?.error({ uploadId: this.id }, 'upload lock not renewed (Redis does not answer); the request is stopped');
            void Promise.resolve(requestRelease()).catch(() => undefined);
          }
        },
      );
    }, ttl / 3);
    this.renewal.unref();
  }

  async unlock(): Promise<void> {
    clearInterval(this.renewal);
    const { token, release } = this;
    if (!token) throw new Error('Releasing an unlocked lock!');
    this.token = undefined;
    if (release) this.locker.drop(this.id, release);
    // Not released (Redis down): the key expires by its TTL.
    await this.locker.release(this.id, token).catch((error) => {
      this.locker.o.log?.warn({ err: error, uploadId: this.id }, 'upload lock not released (Redis does not answer); it expires by its TTL');
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
