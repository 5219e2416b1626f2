/**
 * At-least-once delivery of the durable hooks (post-finish, post-terminate): each entry is
 * stored in its location's outbox first, then sent until the receiver answers 2xx, with
 * exponential backoff and jitter between attempts; what an outbox holds at start is sent
 * again. Every attempt carries the entry's idempotency key (header and body), so a receiver
 * can recognise a repeat. Closing stops the timers and aborts requests in flight: their
 * entries stay in the outbox for the next start.
 */
import PQueue from 'p-queue';
import type { HookEvent } from './events.js';
import { callHook, HookFailure, type HookTarget } from './http-hook.js';
import type { Outbox, OutboxEntry } from './outbox.js';

export interface DeliveryLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export type DeliveryResult = 'delivered' | 'failed' | 'dropped';

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

  constructor(private readonly o: DeliveryOptions) {
    this.queue = new PQueue({ concurrency: o.concurrency ?? 8 });
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

  /** Deliver what the outboxes hold (at start: entries left by an earlier run). Returns how many. */
  async resume(outboxes: readonly Outbox[]): Promise<number> {
    let resumed = 0;
    for (const outbox of outboxes) {
      let entries: OutboxEntry[];
      try {
        entries = await outbox.entries((name, reason) =>
          this.o.log.warn({ location: outbox.location, record: name, reason }, 'outbox record is not a hook delivery; left alone'),
        );
      } catch (error) {
        this.o.log.error({ err: error, location: outbox.location }, 'cannot read the hook outbox; its deliveries wait for the next start');
        continue;
      }
      for (const entry of entries) {
        if (this.jobs.has(entry.key)) continue;
        this.schedule({ outbox, entry: withoutBody(entry), body: undefined, stored: true, headers: undefined, failures: 0 }, 0);
        resumed += 1;
      }
      if (entries.length > 0) this.o.log.info({ location: outbox.location, count: entries.length }, 'delivering hooks left in the outbox');
    }
    return resumed;
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
    if (this.closing.signal.aborted) return;
    const { entry, outbox } = job;
    const details = { location: outbox.location, event: entry.event, uploadId: entry.uploadId, idempotencyKey: entry.key };
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const body = job.body ?? (await outbox.body(entry.key));
      if (body === undefined) {
        // No longer in the outbox: delivered meanwhile (another instance resumed it too), or removed.
        this.jobs.delete(entry.key);
        this.o.log.info(details, 'hook no longer in the outbox: not sent again');
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
      job.failures += 1;
      const reason = error instanceof HookFailure ? error.message : String(error);
      if (this.o.retryMaxAge > 0 && Date.now() - entry.createdAt >= this.o.retryMaxAge) {
        this.jobs.delete(entry.key);
        this.o.onResult?.(entry.event, 'dropped', seconds());
        this.o.log.error(
          { ...details, attempts: job.failures, reason },
          `hook not delivered within HOOKS_RETRY_MAX_AGE (${this.o.retryMaxAge} ms): given up and removed from the outbox`,
        );
        await outbox.remove(entry.key).catch(() => undefined);
        return;
      }
      if (job.stored) job.body = undefined;
      const wait = retryDelay(job.failures, this.o.retryDelay, this.o.retryMaxDelay);
      this.o.onResult?.(entry.event, 'failed', seconds());
      this.o.log.warn({ ...details, attempts: job.failures, reason, retryInMs: wait }, 'hook delivery failed; will retry');
      this.schedule(job, wait);
      return;
    }
    this.jobs.delete(entry.key);
    this.o.onResult?.(entry.event, 'delivered', seconds());
    this.o.log.info({ ...details, attempts: job.failures + 1 }, 'hook delivered');
    try {
      await outbox.remove(entry.key);
    } catch (error) {
      // Delivered; it will be delivered again after a restart (the receiver sees the same key).
      this.o.log.warn({ ...details, err: error }, 'delivered hook could not be removed from the outbox');
    }
  }

  /** Stop: no new attempts, requests in flight aborted; undelivered entries stay in the outboxes. */
  async close(): Promise<void> {
    this.closing.abort();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.clear();
    await this.queue.onIdle();
  }
}
