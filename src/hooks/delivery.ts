/**
 * At-least-once delivery of the durable hooks (post-finish, post-terminate): each entry is
 * stored in its location's outbox first, then sent until the receiver answers 2xx, with
 * exponential backoff and jitter between attempts. What the outboxes hold and no one delivers
 * is picked up by `sweep`: at start, and with several instances (leases) every TUS_LOCK_TTL,
 * so a crashed instance's entries are delivered by another without waiting for its restart.
 * Every attempt carries the entry's idempotency key (header and body), so a receiver can
 * recognise a repeat. Closing stops the timers and aborts requests in flight: their entries
 * stay in the outbox for the next start (or another instance).
 *
 * Telling an entry an instance is still retrying from an orphan: a lease per entry in Redis
 * (`DeliveryLeases`, src/redis/leases.ts), taken before the entry is stored and renewed by its
 * deliverer for as long as it holds the entry, between attempts too. An orphan is an entry
 * without a lease: its deliverer stopped renewing (crashed, killed) a lease TTL ago. Age alone
 * (entry age against the retry schedule) cannot tell: a receiver down for hours leaves a live
 * instance's entries as old as a dead one's. A deliverer that finds its lease held by another
 * instance (it could not renew it for a TTL, and the entry was taken over) stops retrying it.
 * Without leases (one instance, no Redis) there is no one else: an outbox is swept at start only.
 */
import PQueue from 'p-queue';
import type { HookEvent } from './events.js';
import { callHook, HookFailure, type HookTarget } from './http-hook.js';
import { type Outbox, type OutboxEntry, OutboxRecordError } from './outbox.js';

export interface DeliveryLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export type DeliveryResult = 'delivered' | 'failed' | 'dropped';

/** One outbox entry, named for its lease. */
export interface LeaseRef {
  location: string;
  key: string;
}

/** Leases on outbox entries shared by several instances (see the top of this file). */
export interface DeliveryLeases {
  /** Milliseconds a lease lives without renewal. */
  readonly ttl: number;
  /** Take the leases no one holds; returns those taken. */
  claim(refs: readonly LeaseRef[]): Promise<Set<LeaseRef>>;
  /** Extend the leases held (taking again those gone); returns those another instance holds now. */
  renew(refs: readonly LeaseRef[]): Promise<Set<LeaseRef>>;
  release(ref: LeaseRef): Promise<void>;
}

export interface DeliveryOptions {
  target: HookTarget;
  /** Milliseconds before the first retry; doubled each time up to `retryMaxDelay`. */
  retryDelay: number;
  retryMaxDelay: number;
  /** Give an entry up this many milliseconds after it was made; 0 never. */
  retryMaxAge: number;
  log: DeliveryLog;
  /** Each attempt's outcome (metrics); `seconds` is the attempt's duration. */
  onResult?: (event: HookEvent, result: DeliveryResult, seconds: number) => void;
  /** Hook requests in flight at once. */
  concurrency?: number;
  /** With several instances sharing the outboxes (Redis). */
  leases?: DeliveryLeases;
}

interface Job {
  outbox: Outbox;
  entry: Omit<OutboxEntry, 'body'>;
  /**
   * The body, while in memory: dropped after a failed attempt when the outbox holds it, and read
   * from there for the next attempt, so a receiver that is down for long costs no memory per
   * event beyond its key (bodies carry the client's headers: up to SERVER_MAX_HEADER_SIZE each).
   */
  body: string | undefined;
  /** The outbox holds the entry. */
  stored: boolean;
  /** Forwarded client headers: kept in memory only (they may be credentials), so absent after a restart. */
  headers: Record<string, string> | undefined;
  failures: number;
  /** Another instance took the entry over: no further attempt. */
  lost?: boolean;
}

const withoutBody = ({ body: _body, ...rest }: OutboxEntry): Omit<OutboxEntry, 'body'> => rest;

/**
 * The wait before the next attempt after `failures` failed ones: `base`, doubled per failure up
 * to `max`, of which a random half ("equal jitter"), so receivers that come back are not hit by
 * every retry at once.
 */
export function retryDelay(failures: number, base: number, max: number, random: () => number = Math.random): number {
  const exponential = Math.min(max, base * 2 ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

export class Delivery {
  private readonly jobs = new Map<string, Job>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue: PQueue;
  private readonly closing = new AbortController();

  private readonly renewal: NodeJS.Timeout | undefined;
  /** Records found not to be deliveries, warned about once. */
  private readonly unreadable = new Set<string>();
  /** Outboxes that could not be listed in the last sweep (each outage logged once). */
  private readonly unlisted = new Set<string>();

  constructor(private readonly o: DeliveryOptions) {
    this.queue = new PQueue({ concurrency: o.concurrency ?? 8 });
    const { leases } = o;
    if (leases) this.renewal = setInterval(() => void this.renew(leases), leases.ttl / 3).unref();
  }

  /** Entries not yet delivered, by location. */
  pending(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { outbox } of this.jobs.values()) counts[outbox.location] = (counts[outbox.location] ?? 0) + 1;
    return counts;
  }

  /**
   * Store `entry` in `outbox`, then deliver it. Resolves once it is stored: the client's answer
   * waits for that. If it cannot be stored it is still delivered, from memory only (logged).
   * While closing it is still stored (an upload finishing during the shutdown), for the next start.
   */
  async enqueue(outbox: Outbox, entry: OutboxEntry, headers?: Record<string, string>): Promise<void> {
    let stored = outbox.durable;
    // The lease before the record, so no sweep finds the record without it. Redis away: the
    // next renewal takes it (a sweep in between may take the entry over; then that instance delivers it).
    if (stored) await this.o.leases?.claim([{ location: outbox.location, key: entry.key }]).catch(() => undefined);
    try {
      await outbox.add(entry);
    } catch (error) {
      stored = false;
      this.o.log.error(
        { err: error, location: outbox.location, event: entry.event, uploadId: entry.uploadId, idempotencyKey: entry.key },
        'hook delivery could not be stored in the outbox: it is kept in memory only and lost if the server stops before it is delivered',
      );
    }
    this.schedule({ outbox, entry: withoutBody(entry), body: entry.body, stored, headers, failures: 0 }, 0);
  }

  /**
   * Deliver what the outboxes hold and no one delivers: every entry not delivered here, whose
   * lease (with leases) is free. Returns how many were taken, and the outboxes not read whole
   * (the listing or an entry failed: tried again by the caller).
   */
  async sweep(outboxes: readonly Outbox[]): Promise<{ taken: number; unfinished: Outbox[] }> {
    let taken = 0;
    const unfinished: Outbox[] = [];
    for (const outbox of outboxes) {
      if (!outbox.durable) continue;
      const details = { location: outbox.location };
      let names: string[];
      try {
        names = (await outbox.names()).filter((name) => !this.jobs.has(name));
      } catch (error) {
        unfinished.push(outbox);
        if (!this.unlisted.has(outbox.location)) this.o.log.error({ ...details, err: error }, 'cannot list the hook outbox; trying again');
        this.unlisted.add(outbox.location);
        continue;
      }
      if (this.unlisted.delete(outbox.location)) this.o.log.info(details, 'the hook outbox can be listed again');
      let refs = names.map((key) => ({ location: outbox.location, key }));
      if (this.o.leases) refs = [...(await this.o.leases.claim(refs))];
      let count = 0;
      let failed = false;
      for (const ref of refs) {
        const result = await this.adopt(outbox, ref.key);
        if (result === 'taken') count += 1;
        else await this.o.leases?.release(ref).catch(() => undefined);
        if (result === 'failed') failed = true;
      }
      if (failed) unfinished.push(outbox);
      if (count > 0) this.o.log.info({ ...details, count }, 'delivering hooks left in the outbox');
      taken += count;
    }
    return { taken, unfinished };
  }

  /** Schedule the stored entry `name` (whose lease is ours), unless it is gone or not a delivery. */
  private async adopt(outbox: Outbox, name: string): Promise<'taken' | 'skipped' | 'failed'> {
    let entry: OutboxEntry | undefined;
    try {
      entry = await outbox.entry(name);
    } catch (error) {
      if (!(error instanceof OutboxRecordError)) {
        this.o.log.error({ location: outbox.location, record: name, err: error }, 'cannot read a hook outbox entry; trying again');
        return 'failed';
      }
      if (!this.unreadable.has(name)) {
        this.unreadable.add(name);
        this.o.log.warn(
          { location: outbox.location, record: name, reason: error.message },
          'outbox record is not a hook delivery; left alone',
        );
      }
      return 'skipped';
    }
    // Gone (delivered meanwhile), or enqueued here since the listing.
    if (entry === undefined || this.jobs.has(name) || this.closing.signal.aborted) return 'skipped';
    this.schedule({ outbox, entry: withoutBody(entry), body: undefined, stored: true, headers: undefined, failures: 0 }, 0);
    return 'taken';
  }

  /** Extend the leases of every entry held here; stop retrying those another instance took over. */
  private async renew(leases: DeliveryLeases): Promise<void> {
    const held = new Map<LeaseRef, Job>();
    for (const job of this.jobs.values()) if (job.stored) held.set({ location: job.outbox.location, key: job.entry.key }, job);
    if (held.size === 0) return;
    let lost: Set<LeaseRef>;
    try {
      lost = await leases.renew([...held.keys()]);
    } catch {
      return; // Redis away: the leases are taken again once it is back (/readyz reports it meanwhile)
    }
    for (const ref of lost) {
      const job = held.get(ref);
      if (!job || this.jobs.get(ref.key) !== job) continue;
      job.lost = true;
      this.jobs.delete(ref.key);
      clearTimeout(this.timers.get(ref.key));
      this.timers.delete(ref.key);
      this.o.log.info(
        { location: ref.location, event: job.entry.event, uploadId: job.entry.uploadId, idempotencyKey: ref.key },
        'hook delivery taken over by another instance',
      );
    }
  }

  private schedule(job: Job, delay: number): void {
    if (this.closing.signal.aborted) return;
    this.jobs.set(job.entry.key, job);
    const run = () => void this.queue.add(() => this.attempt(job)).catch(() => undefined);
    if (delay <= 0) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(job.entry.key);
      run();
    }, delay);
    this.timers.set(job.entry.key, timer);
  }

  private async attempt(job: Job): Promise<void> {
    if (this.closing.signal.aborted || job.lost) return;
    const { entry, outbox } = job;
    const details = { location: outbox.location, event: entry.event, uploadId: entry.uploadId, idempotencyKey: entry.key };
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const body = job.body ?? (await outbox.body(entry.key));
      if (body === undefined) {
        // No longer in the outbox: delivered meanwhile (by another instance), or removed.
        this.forget(job);
        this.o.log.info(details, 'hook no longer in the outbox: not sent again');
        await this.release(job);
        return;
      }
      await callHook(this.o.target, {
        body,
        idempotencyKey: entry.key,
        headers: job.headers,
        signal: this.closing.signal,
        statusOnly: true,
      });
    } catch (error) {
      if (this.closing.signal.aborted) return;
      if (job.lost) return; // taken over while this attempt ran: that instance retries it
      job.failures += 1;
      const reason = error instanceof HookFailure ? error.message : String(error);
      if (this.o.retryMaxAge > 0 && Date.now() - entry.createdAt >= this.o.retryMaxAge) {
        this.forget(job);
        this.o.onResult?.(entry.event, 'dropped', seconds());
        this.o.log.error(
          { ...details, attempts: job.failures, reason },
          `hook not delivered within HOOKS_RETRY_MAX_AGE (${this.o.retryMaxAge} ms): given up and removed from the outbox`,
        );
        await outbox.remove(entry.key).catch(() => undefined);
        await this.release(job);
        return;
      }
      if (job.stored) job.body = undefined;
      const wait = retryDelay(job.failures, this.o.retryDelay, this.o.retryMaxDelay);
      this.o.onResult?.(entry.event, 'failed', seconds());
      this.o.log.warn({ ...details, attempts: job.failures, reason, retryInMs: wait }, 'hook delivery failed; will retry');
      this.schedule(job, wait);
      return;
    }
    this.forget(job);
    this.o.onResult?.(entry.event, 'delivered', seconds());
    this.o.log.info({ ...details, attempts: job.failures + 1 }, 'hook delivered');
    try {
      await outbox.remove(entry.key);
    } catch (error) {
      // Delivered; it will be delivered again after a restart (the receiver sees the same key).
      this.o.log.warn({ ...details, err: error }, 'delivered hook could not be removed from the outbox');
    }
    await this.release(job);
  }

  /** Done with `job` (a job taken over meanwhile may have been replaced by a newer one). */
  private forget(job: Job): void {
    if (this.jobs.get(job.entry.key) === job) this.jobs.delete(job.entry.key);
  }

  /** Let the entry's lease go (after its record is removed, so no sweep takes it up again). */
  private async release(job: Job): Promise<void> {
    if (job.stored && !job.lost) await this.o.leases?.release({ location: job.outbox.location, key: job.entry.key }).catch(() => undefined);
  }

  /** Stop: no new attempts, requests in flight aborted; undelivered entries stay in the outboxes. */
  async close(): Promise<void> {
    this.closing.abort();
    clearInterval(this.renewal);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.clear();
    await this.queue.onIdle();
    // Another instance may take the entries over at once, instead of after the leases' TTL.
    await Promise.all([...this.jobs.values()].map((job) => this.release(job)));
  }
}
