/**
 * Background work that needs Redis (the hook outbox sweep, the scheduled cleanup's lock) run
 * when Redis is there. Commands fail at once while Redis is away (no offline queue, see
 * connection.ts), and Redis is not yet connected when the server starts, so such work waits
 * for the connection, and tries again when Redis goes away under it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

export interface WaitLog {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

/** Milliseconds Redis may take to connect before the wait is logged. */
const GRACE = 5000;

/** Resolves true once `redis` is connected, false if `signal` aborts first (or `timeout` ms pass). */
export function redisReady(redis: Redis, signal: AbortSignal, timeout?: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(!signal.aborted);
  if (signal.aborted) return Promise.resolve(false);
  // Not events.once: it rejects on the 'error' every failed reconnection emits.
  return new Promise((resolve) => {
    const done = (ready: boolean) => () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      signal.removeEventListener('abort', onAbort);
      resolve(ready);
    };
    const onReady = done(true);
    const onAbort = done(false);
    const timer = timeout === undefined ? undefined : setTimeout(onAbort, timeout);
    redis.on('ready', onReady);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `job` once Redis is connected. When it fails while Redis is not connected (it went away
 * meanwhile), wait for Redis again and run it again, at least 0.5 s after the last try, doubled
 * per try up to 30 s, so a flapping Redis is not hammered. Logged once per outage (a wait
 * longer than 5 s, or a failure): when the wait starts and when the job ran after it. A failure while Redis is connected is the job's
 * own: thrown. Resolves undefined when `signal` aborts (the server closes).
 */
export async function withRedis<T>(
  redis: Redis,
  what: string,
  job: () => Promise<T>,
  o: { signal: AbortSignal; log: WaitLog },
): Promise<T | undefined> {
  let waiting = false;
  let tries = 0;
  for (;;) {
    // Connecting takes a moment (at start, after a blip): only a longer wait is an outage worth a line.
    if (!waiting && !(await redisReady(redis, o.signal, GRACE))) {
      if (o.signal.aborted) return undefined;
      waiting = true;
      o.log.warn({ redisStatus: redis.status }, `Redis is not connected: ${what} waits for it`);
    }
    if (!(await redisReady(redis, o.signal))) return undefined;
    try {
      const result = await job();
      if (waiting) o.log.info({ tries: tries + 1 }, `Redis is connected: ${what} ran`);
      return result;
    } catch (error) {
      if (o.signal.aborted) return undefined;
      if (redis.status === 'ready') throw error;
      tries += 1;
      if (!waiting) {
        waiting = true;
        o.log.warn({ redisStatus: redis.status, err: error }, `Redis is not connected: ${what} waits for it`);
      }
      await sleep(Math.min(30_000, 500 * 2 ** (tries - 1)), undefined, { signal: o.signal }).catch(() => undefined);
    }
  }
}
