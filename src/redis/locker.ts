/**
 * @tus/server's Locker over Redis, for several instances sharing a bucket: one key per upload
 * id, taken with a random token and a TTL (SET NX PX), renewed while the request runs, released
 * by compare-and-delete. A request that finds the lock held asks its holder, on whichever
 * instance, to release it (pub/sub), as @tus/server's MemoryLocker does within one process:
 * a client's retry takes over from its own stalled request. A crashed holder's lock expires.
 *
 * A lock can be lost while its request runs: Redis restarted without persistence (every key
 * gone at once, so another request takes the lock at the next attempt), or renewals that
 * fail until the key expires. Each lock offers a LockHold: `lost` aborts as soon as the loss
 * is known (a renewal, the reconnection to Redis, or a check that finds the key gone or
 * another token), and a store asks `verify` before each write that commits. A lost lock is
 * never taken back: another request may have written in between, so the request is stopped
 * and answered an error (LOCK_LOST, LOCK_NOT_KEPT).
 */
import { randomUUID } from 'node:crypto';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/utils';
import type { Redis } from 'ioredis';
import { monotonic } from '../runtime/monotonic.js';
import type { LockHold } from '../stores/capabilities.js';
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

/**
 * The request's lock was found gone or held by another request (Redis restarted without it,
 * or it expired and was taken): the request was stopped, and nothing it had not stored by
 * then is stored. 409 Conflict, as for a stale offset: the client asks HEAD where the upload
 * is and resumes from there (tus clients retry 409).
 */
export const LOCK_LOST = Object.freeze({
  status_code: 409,
  body: "This request lost the upload's lock (another request took the upload over, as after a Redis restart) and was stopped; bytes not stored by then were dropped. HEAD the upload for its offset and resume from there\n",
});

/** The request's lock could not be renewed before it would expire (Redis does not answer): stopped like LOCK_LOST. */
export const LOCK_NOT_KEPT = Object.freeze({
  status_code: 503,
  body: "This request could not keep the upload's lock (Redis did not answer in time) and was stopped; bytes not stored by then were dropped. HEAD the upload for its offset and resume in a moment\n",
});

export class RedisLocker implements Locker {
  /** Release requests for the locks this instance holds, by upload id. */
  private readonly held = new Map<string, RequestRelease>();
  /** Every lock held now (after a Redis restart two may share an id for a moment). */
  private readonly live = new Set<RedisLock>();
  private subscribed: Promise<unknown> | undefined;

  constructor(readonly o: RedisLockerOptions) {
    o.subscriber.on('pmessage', (_pattern: string, channel: string) => {
      const id = channel.slice(this.channel('').length);
      const release = this.held.get(id);
      if (release) void Promise.resolve(release()).catch(() => undefined);
    });
    // Connected again: Redis may have restarted empty, and another request may be taking a
    // lock held here right now. Every lock is checked at once, not at its next renewal.
    o.redis.on('ready', () => {
      for (const lock of this.live) lock.check();
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

  hold(lock: RedisLock, id: string, release: RequestRelease): void {
    this.held.set(id, release);
    this.live.add(lock);
  }

  drop(lock: RedisLock, id: string, release: RequestRelease): void {
    if (this.held.get(id) === release) this.held.delete(id);
    this.live.delete(lock);
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
  /** When Redis last confirmed the lock (taken or renewed). */
  private confirmedAt = 0;
  private lostController = new AbortController();

  constructor(
    private readonly id: string,
    private readonly locker: RedisLocker,
  ) {}

  /** What a store asks before each write that commits (see LockHold). */
  get hold(): LockHold {
    return { lost: this.lostController.signal, verify: () => this.verify() };
  }

  async lock(stopSignal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { redis, ttl, wait } = this.locker.o;
    const token = randomUUID();
    const deadline = monotonic() + wait;
    let asked = -Infinity;
    let pause = 10;
    // Normally subscribed long ago; if not yet, a release request may be missed and is repeated.
    void this.locker.listen().catch(() => undefined);
    let sentAt: number;
    for (;;) {
      let taken: string | null;
      sentAt = monotonic();
      try {
        taken = await redis.set(this.locker.key(this.id), token, 'PX', ttl, 'NX');
      } catch {
        throw REDIS_UNAVAILABLE;
      }
      if (taken === 'OK') break;
      // Ask the holder to let go (again every second: a request that began holding since may have missed it).
      if (monotonic() - asked >= 1000) {
        asked = monotonic();
        await redis.publish(this.locker.channel(this.id), token).catch(() => undefined);
      }
      if (stopSignal.aborted || monotonic() >= deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
      await sleep(Math.min(pause, deadline - monotonic()), stopSignal);
      pause = Math.min(pause * 2, 200);
    }
    // The key's TTL runs from the sending: a SET answered after two thirds of it leaves too
    // little of the lease to rely on (only reachable with a TUS_LOCK_TTL under 4.5 s, since
    // commands time out after 3 s). Let the key go and answer as when Redis does not answer.
    if (monotonic() - sentAt > (ttl * 2) / 3) {
      await this.locker.release(this.id, token).catch(() => undefined);
      throw REDIS_UNAVAILABLE;
    }
    this.token = token;
    this.confirmedAt = sentAt;
    this.lostController = new AbortController();
    this.release = requestRelease;
    this.locker.hold(this, this.id, requestRelease);
    // Renew every third of the TTL, the first counted from the sending too.
    this.renewal = setTimeout(
      () => {
        this.check();
        this.renewal = setInterval(() => this.check(), ttl / 3);
        this.renewal.unref();
      },
      Math.max(0, sentAt + ttl / 3 - monotonic()),
    );
    this.renewal.unref();
  }

  /**
   * Renew the lock now: true while it is ours (its TTL extended), false once it is found gone
   * or another's (lost). Rejects when Redis does not answer.
   */
  private async renew(): Promise<boolean> {
    const token = this.token;
    if (!token || this.lostController.signal.aborted) return false;
    const sentAt = monotonic();
    const result = await this.locker.renew(this.id, token);
    if (this.token !== token) return false;
    if (result === 1) {
      // The TTL runs from when Redis took the command, at the latest: count from the sending,
      // so a slow answer cannot make the lock look younger than it is (and an older renewal
      // answered after a newer one does not make it look older).
      this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      return true;
    }
    this.lose(LOCK_LOST, 'upload lock lost (taken over after it expired, or Redis restarted without it); the request is stopped');
    return false;
  }

  /**
   * Not confirmed for two thirds of the TTL: the key may expire (and be taken) before Redis
   * answers again. The lock is given up with a third of the TTL to spare.
   */
  private get expiring(): boolean {
    return monotonic() - this.confirmedAt > (this.locker.o.ttl * 2) / 3;
  }

  /** Renewal (every third of the TTL) and the check after a reconnection to Redis. */
  check(): void {
    this.renew().catch(() => {
      if (this.expiring) this.lose(LOCK_NOT_KEPT, 'upload lock not renewed (Redis does not answer); the request is stopped');
    });
  }

  /**
   * Asked by a store before a write that commits: Redis confirms the lock is ours (and extends
   * it), or it is lost. While Redis does not answer the question is asked again until the lock
   * would be given up anyway (two thirds of the TTL without a confirmation).
   */
  private async verify(): Promise<void> {
    const lost = this.lostController.signal;
    for (;;) {
      if (lost.aborted) throw lost.reason;
      if (!this.token) throw LOCK_LOST;
      try {
        if (await this.renew()) {
          // Confirmed, but the answer took so long that the key may expire before the write
          // this check vouches for is done: the lease cannot be relied on.
          if (!this.expiring) return;
          this.lose(
            LOCK_NOT_KEPT,
            'upload lock renewed too late to rely on (Redis answered after two thirds of TUS_LOCK_TTL); the request is stopped',
          );
        }
      } catch {
        if (this.expiring) this.lose(LOCK_NOT_KEPT, 'upload lock not renewed (Redis does not answer); the request is stopped');
        else await sleep(100, lost);
      }
    }
  }

  /** The request must stop writing at once: its store hears `lost`, @tus/server its release request. */
  private lose(reason: { status_code: number; body: string }, message: string): void {
    if (this.lostController.signal.aborted) return;
    clearInterval(this.renewal);
    this.locker.o.log?.error({ uploadId: this.id }, message);
    this.lostController.abort(reason);
    const release = this.release;
    if (release) void Promise.resolve(release()).catch(() => undefined);
  }

  async unlock(): Promise<void> {
    clearInterval(this.renewal);
    const { token, release } = this;
    if (!token) throw new Error('Releasing an unlocked lock!');
    this.token = undefined;
    if (release) this.locker.drop(this, this.id, release);
    // Not released (Redis down): the key expires by its TTL. A lost lock is someone else's now:
    // compare-and-delete leaves it alone.
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
