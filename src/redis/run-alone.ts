/**
 * Run a job on one instance at a time: a Redis key taken with a random token and a TTL,
 * renewed while the job runs, released by compare-and-delete. An instance that finds the key
 * taken does not run the job (false); a crashed runner's key expires.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RELEASE, RENEW } from './scripts.js';

export async function runAlone(redis: Redis, key: string, ttl: number, run: () => Promise<void>): Promise<boolean> {
  const token = randomUUID();
  if ((await redis.set(key, token, 'PX', ttl, 'NX')) !== 'OK') return false;
  const renewal = setInterval(() => void redis.eval(RENEW, 1, key, token, String(ttl)).catch(() => undefined), ttl / 3);
  try {
    await run();
    return true;
  } finally {
    clearInterval(renewal);
    await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
  }
}
