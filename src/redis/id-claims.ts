/**
 * Claims of upload ids chosen by pre-create hooks, shared by every instance (see
 * src/hooks/id-claims.ts): one key per location and id (`<prefix><location>:claim:<id>`),
 * taken with SET NX and a random token, renewed while the creating request runs, released by
 * compare-and-delete when it ends. A crashed instance's claim expires after the TTL; by then
 * the upload it was creating is in the store, or was never created.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CLAIMS_UNAVAILABLE, type IdClaim, type IdClaims } from '../hooks/id-claims.js';
import { RELEASE, RENEW } from './scripts.js';

export class RedisIdClaims implements IdClaims {
  constructor(
    private readonly redis: Redis,
    /** Key prefix, such as `tus:`. */
    private readonly prefix: string,
    /** Milliseconds a claim lives without renewal (TUS_LOCK_TTL, as upload locks). */
    private readonly ttl: number,
  ) {}

  key(location: string, id: string): string {
    return `${this.prefix}${location}:claim:${id}`;
  }

  async claim(location: string, id: string): Promise<IdClaim | undefined> {
    const key = this.key(location, id);
    const token = randomUUID();
    let taken: string | null;
    try {
      taken = await this.redis.set(key, token, 'PX', this.ttl, 'NX');
    } catch {
      throw CLAIMS_UNAVAILABLE;
    }
    if (taken !== 'OK') return undefined;
    // (A renewal that fails leaves the key to its TTL: the lock of the upload fails with Redis too.)
    const renewal = setInterval(() => void this.redis.eval(RENEW, 1, key, token, String(this.ttl)).catch(() => undefined), this.ttl / 3);
    renewal.unref();
    let released: Promise<void> | undefined;
    return {
      release: () => {
        clearInterval(renewal);
        released ??= this.redis.eval(RELEASE, 1, key, token).then(
          () => undefined,
          () => undefined,
        );
        return released;
      },
    };
  }
}
