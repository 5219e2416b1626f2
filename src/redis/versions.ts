/**
 * Versions of upload state kept in Redis, so an instance's cached state is trusted only while
 * no other instance changed the upload: each change bumps the version first (under the
 * upload's lock, before any byte moves, so a holder that crashes mid-change still leaves the
 * new version behind), and a cache entry remembers the version it was read at.
 *
 * A version is a random token, not a counter: a Redis restarted empty (no persistence) would
 * count again from 1, and a cache entry from before the restart would match a version reached
 * by other instances' changes since (an instance then wrote at its stale offset).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { UploadVersions } from '../stores/capabilities.js';
import { REDIS_UNAVAILABLE } from './locker.js';

export class RedisVersions implements UploadVersions {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Milliseconds a version outlives its last change (longer than any cache entry lives). */
    private readonly keep: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}ver:${id}`;
  }

  async current(id: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.key(id))) ?? undefined;
    } catch {
      throw REDIS_UNAVAILABLE;
    }
  }

  async bump(id: string): Promise<string> {
    try {
      const version = randomUUID();
      await this.redis.set(this.key(id), version, 'PX', this.keep);
      return version;
    } catch {
      throw REDIS_UNAVAILABLE;
    }
  }
}
