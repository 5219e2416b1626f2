/**
 * The Azure data store: every tus upload becomes one block blob, `<root><id>` (see upload.ts for
 * the blobs of one upload, write-body.ts for a request's body, container.ts for the Azure calls).
 *
 * All state lives in the container, so any instance can continue any upload. This instance
 * caches the state of uploads it handles exactly as the S3 store does (the S3 store's
 * UploadCache, trusted only at the version it was read or written at when instances share
 * versions in Redis), filled and changed only by callers holding the upload's lock.
 */
import type { Readable } from 'node:stream';
import { DataStore, ERRORS, Upload } from '@tus/utils';
import { bodyPieces } from '../body-pieces.js';
import {
  BodyTooLong,
  type BodyWriteOptions,
  type BodyWriter,
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
import { objectKey } from '../key-template.js';
import { UploadCache } from '../upload-cache.js';
import { MAX_BLOB_SIZE, planBlocks, planCapacity } from './block-size.js';
import { BlockStager } from './block-stager.js';
import { assemble, undoAssembly } from './concatenate.js';
import { AZURE_DRIVER, type AzureLocation } from './config.js';
import type { AzureContainer } from './container.js';
import { StoreError } from './errors.js';
import { deleteExpired } from './expiry.js';
import { uploadNames } from './info-blob.js';
import { BlobRecords } from './records.js';
import { AzureUpload } from './upload.js';
import { writeBody } from './write-body.js';

export interface AzureStoreOptions {
  location: AzureLocation;
  container: AzureContainer;
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
  /** Largest upload accepted (0: the largest block blob); bounds deferred-length block plans. */
  maxUploadSize: number;
  versions?: UploadVersions | undefined;
}

export class AzureStore
  extends DataStore
  implements BodyWriter, StateCache, UploadReader, RangedReader, Concatenator, Prober, PartCounter, RecordKeeper
{
  readonly location: AzureLocation;
  readonly container: AzureContainer;
  readonly stager: BlockStager;
  private readonly expiration: number;
  private readonly maxUploadSize: number;
  private readonly versions: UploadVersions | undefined;
  private readonly cache: UploadCache<AzureUpload>;
  private readonly records: BlobRecords;

  constructor(options: AzureStoreOptions) {
    super();
    this.location = options.location;
    this.container = options.container;
    this.expiration = options.expiration;
    this.maxUploadSize = options.maxUploadSize;
    this.versions = options.versions;
    this.cache = new UploadCache<AzureUpload>(this.versions);
    this.records = new BlobRecords(this.container, this.location.root);
    this.stager = new BlockStager(this.location.partConcurrency, this.location.partMemory);
    this.extensions = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination'];
    if (this.expiration > 0) this.extensions.push('expiration');
  }

  get partsInFlight(): number {
    return this.stager.inFlight;
  }

  override getExpiration(): number {
    return this.expiration;
  }

  /**
   * A new upload's state, in memory: nothing is stored. Its blob is `blob` when given (a waiting
   * final upload's recorded one), else at the location's key template's key, else `<root><id>`.
   */
  private newUpload(n: {
    id: string;
    size: number | undefined;
    metadata: Upload['metadata'];
    creationDate?: string | undefined;
    subject?: string | undefined;
    blob?: string | undefined;
  }): AzureUpload {
    const { id, size, metadata } = n;
    const names = uploadNames(this.location.root, id);
    const creationDate = n.creationDate ?? new Date().toISOString();
    const { keyTemplate, root } = this.location;
    const templated = keyTemplate
      ? `${root}${objectKey(keyTemplate, { id, subject: n.subject, createdAt: creationDate, metadata })}`
      : undefined;
    return new AzureUpload(this.container, names, {
      version: 1,
      id,
      ...(size !== undefined ? { size } : {}),
      ...(metadata ? { metadata } : {}),
      creation_date: creationDate,
      blob: n.blob ?? templated ?? names.blob,
      plan: planBlocks(size, this.location.chunkSize, this.maxUploadSize),
    });
  }

  /** `.info` first (created only if absent when the id was chosen elsewhere); an empty upload is committed at once. */
  override async create(upload: Upload): Promise<Upload> {
    if (upload.size !== undefined && upload.size > MAX_BLOB_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const intent = intentOf(upload);
    const { id, size, metadata } = upload;
    const created = this.newUpload({ id, size, metadata, creationDate: upload.creation_date, subject: intent.subject });
    const version = await this.versions?.bump(upload.id);
    if (intent.exclusive === true) await created.createInfo();
    else await created.saveInfo();
    if (created.completionDue) await created.complete();
    this.cache.remember(created, version);
    // @tus/server announces the object it passed: post-create hooks report where this one goes.
    const stored = this.toUpload(created);
    upload.storage = stored.storage;
    return stored;
  }

  /** The upload's state for a caller holding its lock: cached, or loaded (finishing an interrupted completion). */
  private async locked(id: string): Promise<AzureUpload> {
    const cached = await this.cache.trusted(id);
    if (cached) return cached;
    let version = await this.versions?.current(id);
    const upload = await AzureUpload.load(this.container, uploadNames(this.location.root, id));
    if (upload.completionDue) {
      version = await this.versions?.bump(id);
      await upload.complete();
    }
    this.cache.remember(upload, version);
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    return this.toUpload(await this.locked(id));
  }

  async readUpload(id: string): Promise<Upload> {
    const upload = await this.cache.trusted(id);
    return this.toUpload(upload ?? (await AzureUpload.load(this.container, uploadNames(this.location.root, id))));
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

  private toUpload(upload: AzureUpload): Upload {
    const { info } = upload;
    return new Upload({
      id: info.id,
      ...(info.size !== undefined ? { size: info.size } : {}),
      offset: upload.offset,
      ...(info.metadata ? { metadata: info.metadata } : {}),
      creation_date: info.creation_date,
      storage: { type: AZURE_DRIVER, path: info.blob, bucket: this.container.name },
    });
  }

  override write(readable: Readable, id: string, offset: number): Promise<number> {
    return this.writeBody(id, offset, readable, { maxBytes: MAX_BLOB_SIZE });
  }

  async writeBody(id: string, offset: number, body: Readable, options: BodyWriteOptions): Promise<number> {
    const upload = await this.locked(id);
    if (upload.offset !== offset) throw ERRORS.INVALID_OFFSET;
    if (upload.finished) {
      for await (const _ of bodyPieces(body, options.stop)) throw new BodyTooLong(offset);
      return offset;
    }
    // Without a known length the plan's capacity bounds the body.
    const limit = upload.info.size ?? planCapacity(upload.info.plan);
    const version = await this.versions?.bump(id);
    upload.fence = options.hold;
    try {
      const written = await writeBody(upload, this.stager, body, {
        expectedBytes: options.expectedBytes,
        maxBytes: Math.min(options.maxBytes, limit - offset),
        stop: options.stop,
        onProgress: options.onProgress,
        hold: options.hold,
      }).catch((error: unknown) => (error instanceof BodyTooLong ? error : Promise.reject(error)));
      this.cache.written(upload, version);
      if (await this.expiredWhileWriting(upload)) {
        this.cache.delete(id);
        return Promise.reject(ERRORS.FILE_NOT_FOUND);
      }
      if (written instanceof BodyTooLong) throw written;
      return written;
    } catch (error) {
      if (error instanceof BodyTooLong || error === ERRORS.FILE_NOT_FOUND) throw error;
      // What Azure holds after a failure is read again by the next request.
      this.cache.delete(id);
      if (options.hold?.lost.aborted) await this.versions?.bump(id).catch(() => undefined);
      if (await this.expiredWhileWriting(upload)) throw ERRORS.FILE_NOT_FOUND;
      throw error;
    } finally {
      upload.fence = undefined;
    }
  }

  /**
   * Whether the upload expired and was removed while a request wrote to it (a slow client past
   * the expiration; expiry takes no lock): what the request staged or kept since then would stay
   * for ever, found by no HEAD, expiry or DELETE, so it is removed too. Asked only of uploads
   * old enough for expiry (expiry.ts) to touch: one more call to Azure for those alone.
   */
  private async expiredWhileWriting(upload: AzureUpload): Promise<boolean> {
    if (this.expiration <= 0) return false;
    if (Date.now() - new Date(upload.info.creation_date).getTime() < this.expiration - 60_000) return false;
    if (!(await upload.removedMeanwhile().catch(() => false))) return false;
    await upload.remove().catch(() => undefined);
    return true;
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    const upload = await this.locked(id);
    if (length > Math.min(MAX_BLOB_SIZE, planCapacity(upload.info.plan))) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    await upload.declareLength(length);
    this.cache.remember(upload, version);
  }

  override async remove(id: string): Promise<void> {
    this.cache.delete(id);
    await this.versions?.bump(id);
    const upload = await AzureUpload.load(this.container, uploadNames(this.location.root, id));
    await upload.remove();
  }

  override async deleteExpired(): Promise<number> {
    if (this.expiration <= 0) return 0;
    return deleteExpired(this.container, this.location.root, this.expiration, (id) => this.remove(id));
  }

  async concatenate(
    id: string,
    partialIds: readonly string[],
    metadata: Record<string, string | null> | undefined,
    intent: CreationIntent = {},
  ): Promise<number> {
    // The state of a final upload waiting for its partials (cached by the caller), put back on failure.
    const waiting = this.cache.unchecked(id);
    const before = waiting ? JSON.stringify(waiting.info) : undefined;
    const partials = await Promise.all(partialIds.map((p) => this.locked(p)));
    const size = partials.reduce((total, p) => total + (p.info.size ?? 0), 0);
    if (size > MAX_BLOB_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    // A final upload that waited for its partials keeps the blob recorded when it was created.
    const target = this.newUpload({ id, size, metadata, subject: intent.subject, blob: waiting?.info.blob });
    const version = await this.versions?.bump(id);
    this.cache.delete(id);
    if (intent.exclusive) await target.createInfo();
    try {
      await assemble(target, partials, this.container, this.stager);
      await target.saveInfo();
    } catch (error) {
      await undoAssembly(target, this.container, before);
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
    return this.container.probe(signal);
  }

  async openRange(id: string, start: number, end: number): Promise<Readable> {
    const upload = (await this.cache.trusted(id)) ?? (await AzureUpload.load(this.container, uploadNames(this.location.root, id)));
    // Every byte is staged but the blob is not committed yet: the next HEAD or PATCH, which hold the lock, commit it.
    if (!upload.finished) {
      throw new StoreError(503, 'The upload has all its bytes but its blob is still being committed; retry in a moment.\n');
    }
    return this.container.openRange(upload.info.blob, start, end);
  }

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
