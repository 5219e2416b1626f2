/**
 * The S3 data store: every tus upload becomes one S3 multipart upload (see upload.ts for the
 * objects of one upload, write-body.ts for a request's body, bucket.ts for the S3 calls,
 * upload-cache.ts for the cache).
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
import { type CreationIntent, intentOf } from '../creation-intent.js';
import { UploadCache } from '../upload-cache.js';
import { assemble, undoAssembly } from './assemble.js';
import { Bucket } from './bucket.js';
import { S3_DRIVER, type S3Location } from './config.js';
import { StoreError } from './errors.js';
import { deleteExpired } from './expiry.js';
import { uploadKeys } from './keys.js';
import { NewUploads } from './new-uploads.js';
import { PartSender } from './part-sender.js';
import { MAX_OBJECT_SIZE } from './part-size.js';
import { RecordObjects } from './records.js';
import { S3Upload } from './upload.js';
import { StateHome } from './upload-state.js';
import { writeBody } from './write-body.js';

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
  private readonly cache: UploadCache<S3Upload>;
  private readonly versions: UploadVersions | undefined;
  private readonly newUploads: NewUploads;
  private readonly records: RecordObjects;
  /**
   * New uploads whose state is in memory only until their creation's body settles it (see
   * `create`): kept apart from the cache, which may drop entries (HEAD, eviction) at any time.
   */
  private readonly unsaved = new Map<string, S3Upload>();

  constructor(options: S3StoreOptions) {
    super();
    this.versions = options.versions;
    this.cache = new UploadCache<S3Upload>(this.versions);
    this.location = options.location;
    this.expiration = options.expiration;
    this.maxUploadSize = options.maxUploadSize;
    this.bucket = new Bucket(options.location, options.client, options.logger);
    this.newUploads = new NewUploads(this.bucket, this.location, this.maxUploadSize);
    this.records = new RecordObjects(this.bucket, this.location.root);
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

  /**
   * An upload written whole in one PutObject carries its state in the object's metadata
   * instead of `.info` (one S3 request for a small file sent with its creation): an empty
   * upload now, or one whose creation brings its whole body, when that fits one PutObject.
   * Its `.info` is then written only if the body does not arrive whole (cut short, or its
   * PutObject failed), before anything else is stored (see StateHome.Unsaved).
   */
  override async create(upload: Upload): Promise<Upload> {
    if (upload.size !== undefined && upload.size > MAX_OBJECT_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const intent = intentOf(upload);
    const { id, size, metadata, creation_date: creationDate } = upload;
    const created = this.newUploads.create({ id, size, metadata, creationDate, subject: intent.subject });
    const version = await this.versions?.bump(upload.id);
    // An id chosen elsewhere (a pre-create hook) is claimed by creating `.info` first; nothing
    // is stored under it before, so a refusal leaves the upload that has it untouched.
    const exclusive = intent.exclusive === true;
    if (exclusive) await created.createInfo();
    const deferred = !exclusive && this.newUploads.stateMayWait(created, upload);
    if (deferred) created.leaveStateUnsaved();
    if (upload.size === 0) {
      await created.sendWhole(Buffer.alloc(0), 0);
      await created.finishedWhole();
    }
    if (!deferred && !exclusive) await created.saveInfo();
    else if (created.stateHome === StateHome.Unsaved) this.unsaved.set(upload.id, created);
    this.cache.remember(created, version);
    // @tus/server announces the object it passed: post-create hooks report where this one goes.
    const stored = this.toUpload(created);
    upload.storage = stored.storage;
    return stored;
  }

  /** The upload's state for a caller holding its lock: cached, or loaded (finishing an interrupted completion). */
  private async locked(id: string): Promise<S3Upload> {
    const cached = this.unsaved.get(id) ?? (await this.cache.trusted(id));
    if (cached) return cached;
    let version = await this.versions?.current(id);
    const upload = await S3Upload.load(this.bucket, uploadKeys(this.location.root, id));
    if (upload.completionDue) {
      version = await this.versions?.bump(id);
      await upload.complete();
    }
    this.cache.remember(upload, version);
    return upload;
  }

  /** DataStore: @tus/server calls it holding the upload's lock. */
  override async getUpload(id: string): Promise<Upload> {
    return this.toUpload(await this.locked(id));
  }

  async readUpload(id: string): Promise<Upload> {
    const upload = this.unsaved.get(id) ?? (await this.cache.trusted(id));
    return this.toUpload(upload ?? (await S3Upload.load(this.bucket, uploadKeys(this.location.root, id))));
  }

  invalidate(id: string): void {
    this.cache.delete(id);
  }

  invalidateAll(): void {
    this.cache.clear();
  }

  cachedOffset(id: string): number | undefined {
    return this.cache.unchecked(id)?.offset;
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
      this.cache.written(upload, version);
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
    this.cache.remember(upload, version);
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

  /** Remove unfinished uploads older than the expiration (expiry.ts). */
  override async deleteExpired(): Promise<number> {
    if (this.expiration <= 0) return 0;
    return deleteExpired(this.bucket, this.location.root, this.expiration, (id) => this.remove(id));
  }

  async concatenate(
    id: string,
    partialIds: readonly string[],
    metadata: Record<string, string | null> | undefined,
    intent: CreationIntent = {},
  ): Promise<number> {
    // The state of a final upload waiting for its partials (cached by the caller, which holds its
    // lock), put back on failure.
    const waiting = this.cache.unchecked(id);
    const before = waiting ? JSON.stringify(waiting.info) : undefined;
    const partials = await Promise.all(partialIds.map((p) => this.locked(p)));
    const size = partials.reduce((total, p) => total + (p.info.size ?? 0), 0);
    // A final upload that waited for its partials keeps the key recorded when it was created.
    const key = waiting?.info.key;
    const target = this.newUploads.create({ id, size, metadata, subject: intent.subject, key });
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    // A new final upload whose id was chosen elsewhere: claimed as in `create`, before anything is stored.
    if (intent.exclusive) await target.createInfo();
    try {
      // Parts of the final upload follow the partials' boundaries, not a plan.
      await assemble(target, partials, this.bucket, this.sender);
      await target.saveInfo();
    } catch (error) {
      await undoAssembly(target, this.bucket, before);
      throw error;
    }
    this.cache.remember(target, version);
    return size;
  }

  async setMetadata(id: string, metadata: Record<string, string | null>): Promise<void> {
    const upload = await this.locked(id);
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    upload.info.metadata = metadata;
    await upload.saveInfo();
    this.cache.remember(upload, version);
  }

  probe(signal: AbortSignal): Promise<void> {
    return this.bucket.probe(signal);
  }

  /** Bytes start..end (inclusive) of a finished upload, for GET. */
  async openRange(id: string, start: number, end: number): Promise<Readable> {
    const upload = (await this.cache.trusted(id)) ?? (await S3Upload.load(this.bucket, uploadKeys(this.location.root, id)));
    // Every byte is stored but the object is not assembled yet (the completion was interrupted
    // or is running): the next HEAD or PATCH, which hold the lock, finish it.
    if (!upload.finished) {
      throw new StoreError(503, 'The upload has all its bytes but its object is still being assembled; retry in a moment.\n');
    }
    return this.bucket.openRange(upload.info.key, start, end);
  }

  close(): void {
    this.bucket.client.destroy();
  }

  /** RecordKeeper: records.ts. */
  putRecord(kind: string, name: string, text: string): Promise<void> {
    return this.records.putRecord(kind, name, text);
  }

  readRecord(kind: string, name: string): Promise<string | undefined> {
    return this.records.readRecord(kind, name);
  }

  deleteRecord(kind: string, name: string): Promise<void> {
    return this.records.deleteRecord(kind, name);
  }

  listRecords(kind: string): Promise<string[]> {
    return this.records.listRecords(kind);
  }
}
