/**
 * Versions of upload state kept in Redis, so an instance's cached state is trusted only while
 * no other instance changed the upload: each change bumps the version first (under the
 * upload's lock, before any byte moves, so a holder that crashes mid-change still leaves the
 * new version behind), and a cache entry remembers the version it was read at.
 */
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
      const [[, version]] = (await this.redis.multi().incr(this.key(id)).pexpire(this.key(id), this.keep).exec()) as [
        [Error | null, number],
      ];
      return String(version);
    } catch {
      throw REDIS_UNAVAILABLE;
    }
  }
}
