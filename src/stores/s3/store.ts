/**
 * The S3 data store: every tus upload becomes one S3 multipart upload (see upload.ts for the
 * objects of one upload, write-body.ts for a request's body, bucket.ts for the S3 calls).
 *
 * All state lives in the bucket, so any instance can continue any upload. This instance
 * caches the state of uploads it handles; the cache is filled and changed only by callers
 * holding the upload's lock (@tus/server takes it for HEAD, PATCH, POST and DELETE), and
 * dropped after any failure, so within one instance it is always true. Callers without the
 * lock read with `readUpload`, which changes nothing.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { DataStore, ERRORS, Upload } from '@tus/utils';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { bodyPieces } from '../body-pieces.js';
import {
  BodyTooLong,
  type BodyWriteOptions,
  type BodyWriter,
  type Closable,
  type Concatenator,
  type PartCounter,
  type Prober,
  type RangedReader,
  type RecordKeeper,
  type StateCache,
  type UploadReader,
  type UploadVersions,
} from '../capabilities.js';
import { intentOf } from '../creation-intent.js';
import { assemble } from './assemble.js';
import { Bucket } from './bucket.js';
import { S3_DRIVER, type S3Location } from './config.js';
import { StoreError } from './errors.js';
import { idFromInfoKey, uploadKeys } from './keys.js';
import { PartSender } from './part-sender.js';
import { choosePartLength, MAX_OBJECT_SIZE, planParts } from './part-size.js';
import { S3Upload } from './upload.js';
import { StateHome, type UploadInfo } from './upload-state.js';
import { writeBody } from './write-body.js';

/** How long a cached state lives when versions are shared (their Redis keys live longer). */
const CACHE_TTL = 24 * 3600 * 1000;

export interface S3StoreOptions {
  location: S3Location;
  client: S3Client;
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
  /** Largest upload accepted (0: the S3 limit of 5 TiB); bounds deferred-length part plans. */
  maxUploadSize: number;
  logger?: Logger | undefined;
  /** Shared versions of upload state (several instances); absent: the cache is this instance's alone. */
  versions?: UploadVersions | undefined;
}

export class S3Store
  extends DataStore
  implements BodyWriter, StateCache, UploadReader, RangedReader, Concatenator, Prober, PartCounter, Closable, RecordKeeper
{
  readonly location: S3Location;
  readonly bucket: Bucket;
  readonly sender: PartSender;
  private readonly expiration: number;
  private readonly maxUploadSize: number;
  private readonly cache: LRUCache<string, S3Upload>;
  private readonly versions: UploadVersions | undefined;
  /** The version each cached state was read or written at. */
  private readonly seen = new WeakMap<S3Upload, string | undefined>();
  /**
   * New uploads whose state is in memory only until their creation's body settles it (see
   * `create`): kept apart from the cache, which may drop entries (HEAD, eviction) at any time.
   */
  private readonly unsaved = new Map<string, S3Upload>();

  constructor(options: S3StoreOptions) {
    super();
    this.versions = options.versions;
    // With shared versions an entry must not outlive its version's key in Redis (see RedisVersions).
    this.cache = new LRUCache<string, S3Upload>({ max: 10_000, ...(this.versions ? { ttl: CACHE_TTL } : {}) });
    this.location = options.location;
    this.expiration = options.expiration;
    this.maxUploadSize = options.maxUploadSize;
    this.bucket = new Bucket(options.location, options.client, options.logger);
    const { partConcurrency, partMemory, streamParts } = options.location;
    this.sender = new PartSender({
      queueConcurrency: partConcurrency,
      partConcurrency,
      partMemory,
      streamParts,
      log: options.logger,
    });
    this.extensions = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination'];
    if (this.expiration > 0) this.extensions.push('expiration');
  }

  get partsInFlight(): number {
    return this.sender.inFlight;
  }

  override getExpiration(): number {
    return this.expiration;
  }

  private newUpload(id: string, size: number | undefined, metadata: UploadInfo['metadata'], creationDate?: string): S3Upload {
    const keys = uploadKeys(this.location.root, id);
    const { chunkSize, equalPartSize } = this.location;
    return new S3Upload(this.bucket, keys, {
      version: 1,
      id,
      ...(size !== undefined ? { size } : {}),
      ...(metadata ? { metadata } : {}),
      creation_date: creationDate ?? new Date().toISOString(),
      key: keys.object,
      plan: planParts({ size, preferred: chunkSize, equalParts: equalPartSize, maxUploadSize: this.maxUploadSize }),
    });
  }

  /**
   * An upload written whole in one PutObject carries its state in the object's metadata
   * instead of `.info` (one S3 request for a small file sent with its creation): an empty
   * upload now, or one whose creation brings its whole body, when that fits one PutObject.
   * Its `.info` is then written only if the body does not arrive whole (cut short, or its
   * PutObject failed), before anything else is stored (see StateHome.Unsaved).
   */
  override async create(upload: Upload): Promise<Upload> {
    if (upload.size !== undefined && upload.size > MAX_OBJECT_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const created = this.newUpload(upload.id, upload.size, upload.metadata, upload.creation_date);
    const version = await this.versions?.bump(upload.id);
    // An id chosen elsewhere (a pre-create hook) is claimed by creating `.info` first; nothing
    // is stored under it before, so a refusal leaves the upload that has it untouched.
    const intent = intentOf(upload);
    const exclusive = intent.exclusive === true;
    if (exclusive) await created.createInfo();
    const deferred = !exclusive && this.statesInObjects && (upload.size === 0 || (intent.wholeBody === true && this.onePut(created)));
    if (deferred) created.leaveStateUnsaved();
    if (upload.size === 0) {
      await created.sendWhole(Buffer.alloc(0), 0);
      await created.finishedWhole();
    }
    if (!deferred && !exclusive) await created.saveInfo();
    else if (created.stateHome === StateHome.Unsaved) this.unsaved.set(upload.id, created);
    this.remember(created, version);
    return this.toUpload(created);
  }

  /**
   * An object's metadata is readable by whoever may read the object: with an ACL that lets
   * others read it, the state (metadata, owner) stays in the private `.info`.
   */
  private get statesInObjects(): boolean {
    const { acl } = this.location;
    return acl === undefined || acl === 'private' || acl === 'bucket-owner-read' || acl === 'bucket-owner-full-control';
  }

  /** A body of the upload's whole length makes it one PutObject (the part cutter's rule for part 1). */
  private onePut(upload: S3Upload): boolean {
    const { size, plan } = upload.info;
    if (size === undefined || size === 0) return false;
    const first = choosePartLength(plan, {
      partNumber: 1,
      start: 0,
      size,
      available: size,
      equalParts: this.location.equalPartSize,
      maxUploadSize: this.maxUploadSize,
    });
    return first === size;
  }

  /**
   * The cached state, if no other instance changed the upload since it was cached. An entry
   * read while the upload had no version (its key lost with a Redis restarted empty) is never
   * trusted: a change since, its version lost too, would look like no change.
   */
  private async cached(id: string): Promise<S3Upload | undefined> {
    const upload = this.cache.get(id);
    if (!upload || !this.versions) return upload;
    const seen = this.seen.get(upload);
    if (seen !== undefined && (await this.versions.current(id)) === seen) return upload;
    this.cache.delete(id);
    return undefined;
  }

  private remember(upload: S3Upload, version: string | undefined): void {
    this.cache.set(upload.info.id, upload);
    this.seen.set(upload, version);
  }

  /** The upload's state for a caller holding its lock: cached, or loaded (finishing an interrupted completion). */
  private async locked(id: string): Promise<S3Upload> {
    const cached = this.unsaved.get(id) ?? (await this.cached(id));
    if (cached) return cached;
    let version = await this.versions?.current(id);
    const upload = await S3Upload.load(this.bucket, uploadKeys(this.location.root, id));
    if (upload.completionDue) {
      version = await this.versions?.bump(id);
      await upload.complete();
    }
    this.remember(upload, version);
    return upload;
  }

  /** DataStore: @tus/server calls it holding the upload's lock. */
  override async getUpload(id: string): Promise<Upload> {
    return this.toUpload(await this.locked(id));
  }

  async readUpload(id: string): Promise<Upload> {
    const upload = this.unsaved.get(id) ?? (await this.cached(id));
    return this.toUpload(upload ?? (await S3Upload.load(this.bucket, uploadKeys(this.location.root, id))));
  }

  invalidate(id: string): void {
    this.cache.delete(id);
  }

  invalidateAll(): void {
    this.cache.clear();
  }

  cachedOffset(id: string): number | undefined {
    return this.cache.get(id)?.offset;
  }

  private toUpload(upload: S3Upload): Upload {
    const { info } = upload;
    return new Upload({
      id: info.id,
      ...(info.size !== undefined ? { size: info.size } : {}),
      offset: upload.offset,
      ...(info.metadata ? { metadata: info.metadata } : {}),
      creation_date: info.creation_date,
      storage: { type: S3_DRIVER, path: info.key, bucket: this.bucket.name },
    });
  }

  /** DataStore's write, for callers that know nothing of the request. */
  override write(readable: Readable, id: string, offset: number): Promise<number> {
    return this.writeBody(id, offset, readable, { maxBytes: MAX_OBJECT_SIZE });
  }

  async writeBody(id: string, offset: number, body: Readable, options: BodyWriteOptions): Promise<number> {
    const upload = await this.locked(id);
    if (upload.offset !== offset) throw ERRORS.INVALID_OFFSET;
    if (upload.finished) {
      for await (const _ of bodyPieces(body, options.stop)) throw new BodyTooLong(offset);
      return offset;
    }
    // Without a known length nothing else bounds the body.
    const limit = upload.info.size ?? (this.maxUploadSize > 0 ? this.maxUploadSize : MAX_OBJECT_SIZE);
    const version = await this.versions?.bump(id);
    // A lock that can be lost is asked before each write that commits (S3Upload.fenced).
    upload.fence = options.hold;
    try {
      // A body longer than the upload stored what fits, like any other body: only the answer differs.
      const written = await writeBody(upload, this.sender, body, {
        expectedBytes: options.expectedBytes,
        maxBytes: Math.min(options.maxBytes, limit - offset),
        stop: options.stop,
        onProgress: options.onProgress,
        hold: options.hold,
        equalParts: this.location.equalPartSize,
        maxUploadSize: this.maxUploadSize,
      }).catch((error: unknown) => (error instanceof BodyTooLong ? error : Promise.reject(error)));
      // A creation whose body stored nothing (it brought no byte) still leaves its upload.
      await upload.saveUnsavedState();
      this.unsaved.delete(id);
      this.seen.set(upload, version);
      if (written instanceof BodyTooLong) throw written;
      return written;
    } catch (error) {
      if (error instanceof BodyTooLong) throw error;
      // What S3 holds after a failure is read again by the next request.
      this.cache.delete(id);
      if (options.hold?.lost.aborted) {
        // A lost lock: what this request stored before it knew may postdate the state another
        // instance cached since it took the upload over. A new version makes every instance
        // read the upload again instead of trusting its cache (best effort: Redis may be away).
        // A creation records nothing: its answer names no upload to resume.
        await this.versions?.bump(id).catch(() => undefined);
      } else {
        await upload
          .saveUnsavedState()
          .catch((e: unknown) => this.bucket.warn({ key: upload.keys.info, err: e }, 'a new upload was not recorded'));
      }
      this.unsaved.delete(id);
      throw error;
    } finally {
      upload.fence = undefined;
    }
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    if (length > MAX_OBJECT_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const upload = await this.locked(id);
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    await upload.declareLength(length);
    this.remember(upload, version);
  }

  override async remove(id: string): Promise<void> {
    const keys = uploadKeys(this.location.root, id);
    this.cache.delete(id);
    await this.versions?.bump(id);
    let upload: S3Upload;
    try {
      upload = await S3Upload.load(this.bucket, keys);
    } catch (error) {
      if (error !== ERRORS.FILE_NO_LONGER_EXISTS) throw error;
      // The multipart upload is gone already; remove what is left.
      await Promise.all([this.bucket.delete(keys.tail), this.bucket.delete(keys.info)]);
      return;
    }
    await upload.remove();
  }

  /** Remove unfinished uploads older than the expiration; finds them by listing `.info` objects. */
  override async deleteExpired(): Promise<number> {
    if (this.expiration <= 0) return 0;
    let removed = 0;
    let token: string | undefined;
    const now = Date.now();
    do {
      const page = await this.bucket.list(this.location.root, token);
      for (const object of page.Contents ?? []) {
        const id = object.Key ? idFromInfoKey(this.location.root, object.Key) : undefined;
        if (!id || id.includes('/')) continue;
        // The .info object's age is a lower bound of the upload's; skip clearly young ones
        // unread (with a minute's allowance for clock skew between us and the S3 server).
        if (object.LastModified && now - object.LastModified.getTime() < this.expiration - 60_000) continue;
        try {
          const upload = await S3Upload.load(this.bucket, uploadKeys(this.location.root, id));
          // (Every byte in parts: finished in substance, the next HEAD completes it.)
          if (upload.finished || upload.allInParts || now - new Date(upload.info.creation_date).getTime() < this.expiration) continue;
        } catch (error) {
          if (error !== ERRORS.FILE_NO_LONGER_EXISTS) throw error;
        }
        await this.remove(id);
        removed += 1;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return removed;
  }

  async concatenate(
    id: string,
    partialIds: readonly string[],
    metadata: Record<string, string | null> | undefined,
    exclusive = false,
  ): Promise<number> {
    // The state of a final upload waiting for its partials (cached by the caller, which holds its
    // lock), put back on failure.
    const waiting = this.cache.get(id);
    const before = waiting ? JSON.stringify(waiting.info) : undefined;
    const partials = await Promise.all(partialIds.map((p) => this.locked(p)));
    const size = partials.reduce((total, p) => total + (p.info.size ?? 0), 0);
    const target = this.newUpload(id, size, metadata);
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    // A new final upload whose id was chosen elsewhere: claimed as in `create`, before anything is stored.
    if (exclusive) await target.createInfo();
    try {
      // Parts of the final upload follow the partials' boundaries, not a plan.
      await assemble(target, partials, this.bucket, this.sender);
      await target.saveInfo();
    } catch (error) {
      await this.undoConcatenation(target, before);
      throw error;
    }
    this.remember(target, version);
    return size;
  }

  /**
   * Best effort: abort the multipart upload of a failed assembly and put back the state of a
   * waiting final upload (a new one's is removed by its caller, concatenation.ts).
   */
  private async undoConcatenation(target: S3Upload, before: string | undefined): Promise<void> {
    try {
      if (target.info.uploadId && !target.finished) await this.bucket.abort(target.info.key, target.info.uploadId);
      if (target.finished || before === undefined) return;
      await this.bucket.putPrivate(target.keys.info, Buffer.from(before), Buffer.byteLength(before), { ContentType: 'application/json' });
    } catch (error) {
      this.bucket.warn({ key: target.keys.info, err: error }, 'a failed concatenation was not undone');
    }
  }

  async setMetadata(id: string, metadata: Record<string, string | null>): Promise<void> {
    const upload = await this.locked(id);
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    upload.info.metadata = metadata;
    await upload.saveInfo();
    this.remember(upload, version);
  }

  probe(signal: AbortSignal): Promise<void> {
    return this.bucket.probe(signal);
  }

  /** Bytes start..end (inclusive) of a finished upload, for GET. */
  async openRange(id: string, start: number, end: number): Promise<Readable> {
    const upload = (await this.cached(id)) ?? (await S3Upload.load(this.bucket, uploadKeys(this.location.root, id)));
    // Every byte is stored but the object is not assembled yet (the completion was interrupted
    // or is running): the next HEAD or PATCH, which hold the lock, finish it.
    if (!upload.finished) {
      throw new StoreError(503, 'The upload has all its bytes but its object is still being assembled; retry in a moment.\n');
    }
    return this.bucket.openRange(upload.keys.object, start, end);
  }

  close(): void {
    this.bucket.client.destroy();
  }

  /** Records live under `<root>.tus-<kind>/`: not `.info` objects, so expiry never reads them as uploads. */
  private recordPrefix(kind: string): string {
    return `${this.location.root}.tus-${kind}/`;
  }

  async putRecord(kind: string, name: string, text: string): Promise<void> {
    const body = Buffer.from(text);
    await this.bucket.putPrivate(`${this.recordPrefix(kind)}${name}.json`, body, body.length, { ContentType: 'application/json' });
  }

  readRecord(kind: string, name: string): Promise<string | undefined> {
    return this.bucket.readText(`${this.recordPrefix(kind)}${name}.json`);
  }

  async deleteRecord(kind: string, name: string): Promise<void> {
    await this.bucket.delete(`${this.recordPrefix(kind)}${name}.json`);
  }

  async listRecords(kind: string): Promise<string[]> {
    const prefix = this.recordPrefix(kind);
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.bucket.list(prefix, token);
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(prefix.length);
        if (name?.endsWith('.json') && !name.includes('/')) names.push(name.slice(0, -'.json'.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names;
  }
}
