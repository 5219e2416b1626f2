/**
 * Which instance delivers which hook outbox entry, among instances sharing the outboxes: one
 * Redis key per entry (`<prefix><location>:hook:<idempotency key>`) holding the deliverer's
 * token, with a TTL (TUS_LOCK_TTL) that the deliverer renews, every third of it, for every entry
 * it holds (between attempts too, however long the wait). An entry whose key is gone is an
 * orphan: its instance crashed (or was killed) at least a TTL ago, and another instance may take
 * it over. See delivery.ts for how the leases are used.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DeliveryLeases, LeaseRef } from '../hooks/delivery.js';
import { RELEASE } from './scripts.js';

/** SET NX PX of every key; returns the 1-based indexes of the keys taken. */
const CLAIM = `local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('set', key, ARGV[1], 'px', ARGV[2], 'nx') then taken[#taken + 1] = i end
end
return taken`;

/**
 * Extend every key still ours; take again a key that is gone (Redis restarted without its data,
 * or our renewals failed for a TTL and no one took the entry over meanwhile); returns the 1-based
 * indexes of the keys another instance now holds.
 */
const RENEW_ALL = `local lost = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('get', key)
  if holder == ARGV[1] then redis.call('pexpire', key, ARGV[2])
  elseif not holder then redis.call('set', key, ARGV[1], 'px', ARGV[2])
  else lost[#lost + 1] = i end
end
return lost`;

/** Keys per script call: a few hundred keep each call short for Redis. */
const BATCH = 500;

export class RedisLeases implements DeliveryLeases {
  /** This instance's token: every lease it holds has it. */
  private readonly token = randomUUID();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly ttl: number,
  ) {}

  private key({ location, key }: LeaseRef): string {
    return `${this.prefix}${location}:hook:${key}`;
  }

  private async each(script: string, refs: readonly LeaseRef[]): Promise<Set<LeaseRef>> {
    const picked = new Set<LeaseRef>();
    for (let at = 0; at < refs.length; at += BATCH) {
      const batch = refs.slice(at, at + BATCH);
      const indexes = (await this.redis.eval(
        script,
        batch.length,
        ...batch.map((r) => this.key(r)),
        this.token,
        String(this.ttl),
      )) as number[];
      for (const i of indexes) picked.add(batch[i - 1] as LeaseRef);
    }
    return picked;
  }

  claim(refs: readonly LeaseRef[]): Promise<Set<LeaseRef>> {
    return this.each(CLAIM, refs);
  }

  renew(refs: readonly LeaseRef[]): Promise<Set<LeaseRef>> {
    return this.each(RENEW_ALL, refs);
  }

  async release(ref: LeaseRef): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(ref), this.token);
  }
}
