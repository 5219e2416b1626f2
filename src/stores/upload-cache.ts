/**
 * The uploads this instance caches, each with the version of its state it was read or written
 * at. With shared versions (several instances) an entry is trusted only while that version is
 * still the current one; without them the cache is this instance's alone.
 */
import { LRUCache } from 'lru-cache';
import type { UploadVersions } from './capabilities.js';

/** How long a cached state lives when versions are shared (their Redis keys live longer). */
const CACHE_TTL = 24 * 3600 * 1000;

/** What the cache holds: an upload with its state (the s3 store's S3Upload, the azure store's AzureUpload). */
interface Cached {
  readonly info: { readonly id: string };
}

interface Entry<U extends Cached> {
  upload: U;
  /** The version its state was read or written at (undefined: none known). */
  version: string | undefined;
}

export class UploadCache<U extends Cached> {
  private readonly entries: LRUCache<string, Entry<U>>;

  constructor(private readonly versions: UploadVersions | undefined) {
    // With shared versions an entry must not outlive its version's key in Redis (see RedisVersions).
    this.entries = new LRUCache<string, Entry<U>>({ max: 10_000, ...(versions ? { ttl: CACHE_TTL } : {}) });
  }

  /**
   * The cached state, if no other instance changed the upload since it was cached. An entry
   * read while the upload had no version (its key lost with a Redis restarted empty) is never
   * trusted: a change since, its version lost too, would look like no change.
   */
  async trusted(id: string): Promise<U | undefined> {
    const entry = this.entries.get(id);
    if (!entry || !this.versions) return entry?.upload;
    if (entry.version !== undefined && (await this.versions.current(id)) === entry.version) return entry.upload;
    this.entries.delete(id);
    return undefined;
  }

  /** The cached state without asking whether another instance changed it since. */
  unchecked(id: string): U | undefined {
    return this.entries.get(id)?.upload;
  }

  remember(upload: U, version: string | undefined): void {
    this.entries.set(upload.info.id, { upload, version });
  }

  /** `upload`'s state was written at `version`: its entry, while it holds this upload, says so. */
  written(upload: U, version: string | undefined): void {
    const entry = this.entries.peek(upload.info.id);
    if (entry?.upload === upload) entry.version = version;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }
}
