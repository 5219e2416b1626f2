/**
 * The hook sender of the server: one per app, shared by every location. It knows which events
 * are enabled, sends blocking and best-effort hooks directly (measured and logged), hands
 * durable ones (post-finish, post-terminate) to the outbox delivery, and stops cleanly when
 * the app closes. What each event means for a request is in mount.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Grant } from '../auth/grant.js';
import { RedisLeases } from '../redis/leases.js';
import { runAlone } from '../redis/run-alone.js';
import { withRedis } from '../redis/when-ready.js';
import type { HooksConfig } from './config.js';
import type { HookContext } from './context.js';
import { Delivery, type DeliveryLog, type DeliveryResult } from './delivery.js';
import { DURABLE_EVENTS, type HookEvent } from './events.js';
import { callHook, HookFailure, type HookResponse, type HookTarget } from './http-hook.js';
import { type IdClaims, MemoryIdClaims } from './id-claims.js';
import { Outbox } from './outbox.js';
import { type HookRequest, hookHttpRequest } from './payload.js';

export interface HookMetricsSink {
  /** One hook request (any event, any attempt) and its duration. */
  request(event: HookEvent, result: 'ok' | 'error', seconds: number): void;
  /** What became of one attempt of a durable delivery. */
  delivery(event: HookEvent, result: DeliveryResult): void;
}

/** Several instances sharing the outboxes (REDIS). */
export interface HooksCluster {
  redis: Redis;
  /** REDIS_PREFIX. */
  prefix: string;
  /** TUS_LOCK_TTL: the life of a delivery lease, and the time between two sweeps of the outboxes. */
  ttl: number;
}

export class Hooks {
  readonly delivery: Delivery;
  private readonly target: HookTarget;
  private readonly outboxes = new Map<string, Outbox>();
  private readonly closing = new AbortController();
  private sweeping: Promise<void> | undefined;

  constructor(
    readonly config: HooksConfig,
    readonly log: DeliveryLog,
    private readonly metrics?: HookMetricsSink,
    /** Upload ids pre-create chose whose creation is under way (in Redis when instances share locations). */
    readonly claims: IdClaims = new MemoryIdClaims(),
    private readonly cluster?: HooksCluster,
  ) {
    this.target = { url: config.url, secret: config.secret, timeout: config.timeout, maxResponseSize: config.maxResponseSize };
    this.delivery = new Delivery({
      target: this.target,
      retryDelay: config.retryDelay,
      retryMaxDelay: config.retryMaxDelay,
      retryMaxAge: config.retryMaxAge,
      log,
      onResult: (event, result, seconds) => {
        metrics?.request(event, result === 'delivered' ? 'ok' : 'error', seconds);
        metrics?.delivery(event, result);
      },
      ...(cluster ? { leases: new RedisLeases(cluster.redis, cluster.prefix, cluster.ttl) } : {}),
    });
  }

  enabled(event: HookEvent): boolean {
    return this.config.events.has(event);
  }

  /** Whether any event needs to know about requests (their address, headers, subject). */
  get active(): boolean {
    return this.config.events.size > 0;
  }

  /** The outbox of a location, made once (its mounts share it). */
  outbox(location: string, store: unknown): Outbox {
    let outbox = this.outboxes.get(location);
    if (!outbox) {
      outbox = new Outbox(location, store);
      this.outboxes.set(location, outbox);
      if (!outbox.durable && [...DURABLE_EVENTS].some((e) => this.enabled(e))) {
        this.log.warn({ location }, 'this location keeps no records: its post-finish and post-terminate hooks are retried in memory only');
      }
    }
    return outbox;
  }

  /** What hooks need of a front-door request: address, redacted headers, subject, forwarded headers. */
  context(request: FastifyRequest, grant: Grant | undefined): HookContext {
    const forwarded: Record<string, string> = {};
    for (const name of this.config.forwardHeaders) {
      const value = request.headers[name.toLowerCase()];
      if (value !== undefined) forwarded[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return { http: hookHttpRequest(request.raw), subject: grant?.subject, forwarded, pending: [] };
  }

  /** Send one hook now and return its answer; throws HookFailure (logged) when the receiver fails. */
  async invoke(payload: HookRequest, context: HookContext | undefined): Promise<HookResponse> {
    const event = payload.Type;
    const started = performance.now();
    try {
      const response = await callHook(this.target, {
        body: JSON.stringify(payload),
        idempotencyKey: payload.IdempotencyKey,
        headers: context?.forwarded,
        signal: this.closing.signal,
      });
      this.metrics?.request(event, 'ok', (performance.now() - started) / 1000);
      return response;
    } catch (error) {
      this.metrics?.request(event, 'error', (performance.now() - started) / 1000);
      this.log.warn(
        { event, uploadId: payload.Event.Upload.ID || undefined, reason: error instanceof HookFailure ? error.message : String(error) },
        `${event} hook failed`,
      );
      throw error;
    }
  }

  /** Best effort (post-create, post-receive): sent once; a failure is logged, nothing else. */
  notify(payload: HookRequest, context: HookContext | undefined): void {
    this.invoke(payload, context).catch(() => undefined);
  }

  /**
   * Deliver what the outboxes hold and no one delivers, in the background from now on (at start:
   * what an earlier run left). One instance (no Redis): the outboxes once, each tried again
   * with backoff until it could be listed. Several (Redis): a sweep every TUS_LOCK_TTL, on one
   * instance at a time, which takes over the entries of crashed instances (delivery.ts); each
   * waits for Redis, which is not yet connected at start (and retries while it is away).
   */
  start(): void {
    this.sweeping ??= (this.cluster ? this.sweepEvery(this.cluster) : this.sweepOnce()).catch((error) =>
      this.log.error({ err: error }, 'hook outbox sweeps stopped'),
    );
  }

  /** What the outboxes hold at start is an earlier run's (no other instance delivers from them). */
  private async sweepOnce(): Promise<void> {
    const { signal } = this.closing;
    let pending = [...this.outboxes.values()];
    for (let tries = 0; pending.length > 0 && !signal.aborted; tries += 1) {
      if (tries > 0) await sleep(Math.min(60_000, 1000 * 2 ** (tries - 1)), undefined, { signal }).catch(() => undefined);
      pending = (await this.delivery.sweep(pending)).unfinished;
    }
  }

  private async sweepEvery({ redis, prefix, ttl }: HooksCluster): Promise<void> {
    const { signal } = this.closing;
    const sweep = async () => void (await this.delivery.sweep([...this.outboxes.values()]));
    let failing = false;
    while (!signal.aborted) {
      try {
        await withRedis(redis, 'the hook outbox sweep', () => runAlone(redis, `${prefix}hooks-sweep`, ttl, sweep), {
          signal,
          log: this.log,
        });
        failing = false;
      } catch (error) {
        // Redis answers, but refuses (logged once until a sweep runs again).
        if (!failing) this.log.error({ err: error }, 'hook outbox sweep failed; trying again');
        failing = true;
      }
      await sleep(ttl, undefined, { signal }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.delivery.close();
    await this.sweeping;
  }
}
