/**
 * The S3 data store: every tus upload becomes one S3 multipart upload.
 *
 * Objects under the location's root: the final object `<id>`, the state `<id>.info`, and
 * `<id>.part` holding the bytes of an interrupted request that do not make a part. All
 * state lives in the bucket, so any instance can continue any upload; a per-instance cache
 * saves the S3 round trips of re-reading it on every request and is refreshed whenever the
 * client's offset disagrees with it, and on every HEAD.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type ListPartsCommandOutput,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { DataStore, ERRORS, Upload } from '@tus/utils';
import { LRUCache } from 'lru-cache';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { S3Location } from '../../config/index.js';
import type { Concatenator } from '../concatenate.js';
import type { RangedReader } from '../ranged-read.js';
import { type DirectBodyReader, requestContext } from '../request-context.js';
import { explainS3Error, isNoSuchUpload, isNotFound } from './errors.js';
import { idFromInfoKey, type UploadKeys, uploadKeys } from './keys.js';
import { encryptionParams, finalObjectParams } from './object-settings.js';
import { choosePartLength, MAX_OBJECT_SIZE, MAX_PART_SIZE, MIN_PART_SIZE, planParts } from './part-size.js';
import { PartCut, StreamedPart } from './streamed-part.js';
import { contiguous, offsetOf, type Part, partsBytes, type UploadInfo, type UploadState } from './upload-state.js';

export interface S3StoreOptions {
  location: S3Location;
  client: S3Client;
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
  /** Largest upload accepted (0: the S3 limit of 5 TiB); bounds deferred-length part plans. */
  maxUploadSize: number;
  logger?: Logger;
}

/** Metadata key on `.part` naming the part number its bytes begin. */
const NEXT_PART = 'tus-next-part';

class StoreFailure extends Error {
  constructor(
    readonly status_code: number,
    readonly body: string,
  ) {
    super(body.trim());
  }
}

export class S3Store extends DataStore implements RangedReader, Concatenator, DirectBodyReader {
  readonly readsRequestBody = true as const;
  readonly location: S3Location;
  readonly client: S3Client;
  /** Part uploads in flight for this location, across all uploads. */
  readonly partQueue: PQueue;
  /**
   * Parts being streamed while their bytes arrive. They are not in `partQueue`: a slow client
   * filling its part must not hold a slot that full parts need (that would throttle every
   * upload to the slowest clients). They start only while streams plus running full parts stay
   * under PART_CONCURRENCY; otherwise the part is filled first and sent like any full part.
   */
  private streaming = 0;

  /** S3 part uploads in flight: full parts being sent plus parts streaming while they fill. */
  get partsInFlight(): number {
    return this.partQueue.pending + this.streaming;
  }
  private readonly expiration: number;
  private readonly maxUploadSize: number;
  private readonly log: Logger | undefined;
  private readonly cache = new LRUCache<string, UploadState>({ max: 10_000 });

  constructor(options: S3StoreOptions) {
    super();
    this.location = options.location;
    this.client = options.client;
    this.expiration = options.expiration;
    this.maxUploadSize = options.maxUploadSize;
    this.log = options.logger;
    // Parts in flight: at most PART_CONCURRENCY, and no more than PART_MEMORY holds.
    const { partConcurrency, partMemory, chunkSize } = options.location;
    this.partQueue = new PQueue({ concurrency: Math.max(1, Math.min(partConcurrency, Math.floor(partMemory / chunkSize))) });
    this.extensions = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination'];
    if (this.expiration > 0) this.extensions.push('expiration');
  }

  override getExpiration(): number {
    return this.expiration;
  }

  private keys(id: string): UploadKeys {
    return uploadKeys(this.location.root, id);
  }

  /** Run one S3 call; failures become a response that says what to check. */
  private async s3<T>(operation: string, key: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      // A StoreFailure is explained already; an abort is ours (a streamed part cut short).
      if (error instanceof StoreFailure || (error instanceof Error && error.name === 'AbortError')) throw error;
      const explained = explainS3Error(error, {
        location: this.location.name,
        bucket: this.location.bucket,
        operation,
        ...(key ? { key } : {}),
      });
      this.log?.error({ operation, key, cause: explained.cause, err: error }, explained.body.trim());
      throw new StoreFailure(explained.status_code, explained.body);
    }
  }

  override async create(upload: Upload): Promise<Upload> {
    if (upload.size !== undefined && upload.size > MAX_OBJECT_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    const keys = this.keys(upload.id);
    const info: UploadInfo = {
      version: 1,
      id: upload.id,
      ...(upload.size !== undefined ? { size: upload.size } : {}),
      ...(upload.metadata ? { metadata: upload.metadata } : {}),
      creation_date: upload.creation_date ?? new Date().toISOString(),
      key: keys.object,
      plan: planParts({
        size: upload.size,
        preferred: this.location.chunkSize,
        equalParts: this.location.equalPartSize,
        maxUploadSize: this.maxUploadSize,
      }),
    };
    const state: UploadState = { info, parts: [], tail: 0, finished: false };
    if (upload.size === 0) {
      await this.s3('PutObject', keys.object, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.location.bucket,
            Key: keys.object,
            Body: Buffer.alloc(0),
            ...finalObjectParams(this.location, info.metadata),
          }),
        ),
      );
      state.finished = true;
    }
    await this.saveInfo(info);
    this.cache.set(upload.id, state);
    upload.creation_date = info.creation_date;
    upload.storage = { type: 's3', path: keys.object, bucket: this.location.bucket };
    return upload;
  }

  private async saveInfo(info: UploadInfo): Promise<void> {
    const key = this.keys(info.id).info;
    await this.s3('PutObject', key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: key,
          Body: JSON.stringify(info),
          ContentType: 'application/json',
          ...encryptionParams(this.location),
        }),
      ),
    );
  }

  override async getUpload(id: string): Promise<Upload> {
    const state = await this.state(id);
    return this.toUpload(state);
  }

  private toUpload(state: UploadState): Upload {
    const { info } = state;
    return new Upload({
      id: info.id,
      ...(info.size !== undefined ? { size: info.size } : {}),
      offset: offsetOf(state),
      ...(info.metadata ? { metadata: info.metadata } : {}),
      creation_date: info.creation_date,
      storage: { type: 's3', path: info.key, bucket: this.location.bucket },
    });
  }

  /** The cached state when the request agrees with it, else the state read from the bucket. */
  private async state(id: string): Promise<UploadState> {
    const ctx = requestContext.getStore();
    const cached = this.cache.get(id);
    if (cached && !ctx?.fresh && (ctx?.clientOffset === undefined || ctx.clientOffset === offsetOf(cached))) return cached;
    const state = await this.load(id);
    this.cache.set(id, state);
    return state;
  }

  /** Read an upload's state from the bucket: `.info`, the parts, `.part`. */
  async load(id: string): Promise<UploadState> {
    const keys = this.keys(id);
    const info = await this.readInfo(keys);
    const state: UploadState = { info, parts: [], tail: 0, finished: false };
    if (info.uploadId) {
      try {
        state.parts = contiguous(await this.listParts(info.key, info.uploadId));
      } catch (error) {
        if (!(error instanceof MultipartGone)) throw error;
        // Completed (or aborted by a lifecycle rule): the final object tells which.
        if (await this.objectExists(info.key)) {
          state.finished = true;
          return state;
        }
        throw ERRORS.FILE_NO_LONGER_EXISTS;
      }
    } else if (info.size !== undefined && (await this.objectExists(info.key))) {
      state.finished = true;
      return state;
    }
    if (info.uploadId && info.size !== undefined && partsBytes(state.parts) === info.size) {
      // Every byte is in parts. Some servers (Swift) still list the parts of a completed
      // upload; the final object tells. If it is missing, the completion was interrupted:
      // finish it now.
      if (!(await this.objectExists(info.key))) await this.complete(state);
      state.finished = true;
      return state;
    }
    state.tail = await this.tailSize(keys.part, state.parts.length + 1);
    return state;
  }

  private async readInfo(keys: UploadKeys): Promise<UploadInfo> {
    let text: string;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: keys.info }));
      text = (await res.Body?.transformToString()) ?? '';
    } catch (error) {
      if (isNotFound(error)) throw ERRORS.FILE_NOT_FOUND;
      return this.s3('GetObject', keys.info, () => Promise.reject(error));
    }
    try {
      return JSON.parse(text) as UploadInfo;
    } catch {
      throw new StoreFailure(
        500,
        `Storage location "${this.location.name}": ${keys.info} is not valid JSON; the upload's state is damaged.\n`,
      );
    }
  }

  private async listParts(key: string, uploadId: string): Promise<Part[]> {
    const parts: Part[] = [];
    let marker: string | undefined;
    do {
      let page: ListPartsCommandOutput;
      try {
        page = await this.client.send(
          new ListPartsCommand({
            Bucket: this.location.bucket,
            Key: key,
            UploadId: uploadId,
            ...(marker ? { PartNumberMarker: marker } : {}),
          }),
        );
      } catch (error) {
        if (isNoSuchUpload(error)) throw new MultipartGone();
        return this.s3('ListParts', key, () => Promise.reject(error));
      }
      for (const p of page.Parts ?? []) parts.push({ PartNumber: p.PartNumber ?? 0, ETag: p.ETag ?? '', Size: p.Size ?? 0 });
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  private async objectExists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      return this.s3('HeadObject', key, () => Promise.reject(error));
    }
  }

  /** Size of `.part` if it begins part `nextPart`; a `.part` already merged into a part is stale. */
  private async tailSize(key: string, nextPart: number): Promise<number> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key }));
      return Number(head.Metadata?.[NEXT_PART]) === nextPart ? (head.ContentLength ?? 0) : 0;
    } catch (error) {
      if (isNotFound(error)) return 0;
      return this.s3('HeadObject', key, () => Promise.reject(error));
    }
  }

  private async deleteObject(key: string): Promise<void> {
    await this.s3('DeleteObject', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: key })));
  }

  /** The multipart upload, created with the upload's first part and recorded in `.info`. */
  private multipartCreation = new Map<string, Promise<string>>();
  private ensureMultipart(state: UploadState): Promise<string> {
    const { info } = state;
    if (info.uploadId) return Promise.resolve(info.uploadId);
    let pending = this.multipartCreation.get(info.id);
    if (!pending) {
      pending = (async () => {
        const res = await this.s3('CreateMultipartUpload', info.key, () =>
          this.client.send(
            new CreateMultipartUploadCommand({
              Bucket: this.location.bucket,
              Key: info.key,
              ...finalObjectParams(this.location, info.metadata),
            }),
          ),
        );
        if (!res.UploadId)
          throw new StoreFailure(502, `Storage location "${this.location.name}": CreateMultipartUpload returned no UploadId.\n`);
        info.uploadId = res.UploadId;
        await this.saveInfo(info);
        return res.UploadId;
      })().finally(() => this.multipartCreation.delete(info.id));
      this.multipartCreation.set(info.id, pending);
    }
    return pending;
  }

  private async uploadPart(
    state: UploadState,
    partNumber: number,
    body: Buffer | Readable,
    length: number,
    signal?: AbortSignal,
  ): Promise<Part> {
    const uploadId = await this.ensureMultipart(state);
    const key = state.info.key;
    const res = await this.s3('UploadPart', key, () =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.location.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: length,
        }),
        signal ? { abortSignal: signal } : {},
      ),
    );
    return { PartNumber: partNumber, ETag: res.ETag ?? '', Size: length };
  }

  /** A buffered part: the SDK signs its SHA-256 (which S3 verifies) and retries it on its own. */
  private sendPart(state: UploadState, partNumber: number, body: Buffer): Promise<Part> {
    return this.uploadPart(state, partNumber, body, body.length);
  }

  /**
   * Start sending a part of `length` bytes that this request will fill: the S3 request runs
   * while the bytes arrive. A failed attempt (the SDK cannot retry a stream) is re-sent from
   * the kept pieces (`bytes`) once the part is full; a part the request leaves short fails with PartCut and
   * its bytes are handled like any request's remainder.
   */
  private streamPart(state: UploadState, partNumber: number, length: number, whole: boolean, bytes: () => Buffer): StreamedPart {
    const streamed = new StreamedPart(length);
    this.streaming += 1;
    void streamed.whole.then(() => {
      this.streaming -= 1;
    });
    const send = (body: Buffer | Readable, signal?: AbortSignal) =>
      whole ? this.putWhole(state, body, length, signal) : this.uploadPart(state, partNumber, body, length, signal);
    streamed.task = (async (): Promise<Part> => {
      try {
        return await send(streamed.body, streamed.signal);
      } catch (error) {
        if (!(await streamed.whole)) throw new PartCut();
        this.log?.warn({ key: state.info.key, partNumber, err: error }, 'streamed part failed; sending it again from the bytes kept');
        return send(bytes());
      }
    })();
    // Settled by whoever waits for the part; this keeps an early failure from going unhandled.
    streamed.task.catch(() => {});
    return streamed;
  }

  /**
   * Read the request body once and cut it into parts. Parts this request will fill are sent
   * to S3 while their bytes arrive (STREAM_PARTS), others once full; up to the location's part
   * concurrency, then the body waits. When the body ends, early or not, every byte is kept:
   * as a part, as the final part, or as `.part`.
   */
  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const state = await this.state(id);
    const { info } = state;
    const context = requestContext.getStore();
    // The raw request body when the HTTP layer hands it over; @tus/server's stream is then empty.
    const source = context?.body ?? readable;
    if (context?.body) for await (const _ of readable);
    if (offsetOf(state) !== offset) throw ERRORS.INVALID_OFFSET;
    if (state.finished) {
      for await (const _ of source) throw ERRORS.ERR_SIZE_EXCEEDED;
      return offset;
    }
    const keys = this.keys(id);
    const expected = context?.expectedBytes;
    // Without a known size nothing else bounds the body (the raw body bypasses @tus/server's limiter).
    const limit = info.size ?? (this.maxUploadSize > 0 ? this.maxUploadSize : MAX_OBJECT_SIZE);
    const equalParts = this.location.equalPartSize;

    // The part being filled: the pieces of the body that make it (views, never copied while
    // the part streams; joined only for a buffered send or a re-send).
    let pieces: Buffer[] = [];
    let buffered = 0;
    /** The part being filled, when it is streamed. */
    let streamed: StreamedPart | undefined;
    const oldTail = state.tail;
    let tailBytes: Buffer | undefined;
    if (oldTail > 0) tailBytes = await this.readRange(keys.part, 0, oldTail - 1);
    /** Body bytes taken into parts or the buffer so far. */
    let received = 0;
    let partNumber = state.parts.length + 1;
    let partStart = partsBytes(state.parts);
    const tailPart = partNumber; // the part that absorbs .part's bytes
    const dispatched: Array<Promise<Part>> = [];
    let failed = false;
    const choose = (available: number | undefined) =>
      choosePartLength(info.plan, {
        partNumber,
        start: partStart,
        size: info.size,
        available,
        equalParts,
        maxUploadSize: this.maxUploadSize,
      });
    const available = (held = buffered) => (expected === undefined ? undefined : held + Math.max(0, expected - received));
    // An upload whose bytes all arrive in one request is one PutObject: no multipart upload.
    const isWhole = (length: number) => partNumber === 1 && !info.uploadId && info.size !== undefined && length === info.size;

    let wholeUpload = false;
    /** The part is full: send it (or let its streamed request finish). */
    const dispatch = async () => {
      const number = partNumber;
      const length = buffered;
      wholeUpload = isWhole(length);
      let task: Promise<Part>;
      // A full streamed part counts among the parts in flight until S3 has it (back-pressure).
      if (streamed) {
        const running = streamed.task;
        task = this.partQueue.add(() => running);
      } else {
        const body = Buffer.concat(pieces, length);
        task = wholeUpload
          ? this.partQueue.add(() => this.putWhole(state, body, length))
          : this.partQueue.add(() => this.sendPart(state, number, body));
      }
      task.catch(() => {
        failed = true;
      });
      dispatched.push(task);
      partStart += length;
      partNumber += 1;
      // Back-pressure: stop reading the body while this location's part uploads are saturated.
      if (this.partQueue.size > 0) await this.partQueue.onSizeLessThan(1);
    };

    let target = 0;
    /** Begin the next part and, when this request will fill it, start sending it. */
    const startPart = (held: Buffer | undefined) => {
      target = choose(available(held?.length ?? 0));
      const partPieces: Buffer[] = held?.length ? [held] : [];
      pieces = partPieces;
      buffered = held?.length ?? 0;
      streamed = undefined;
      const rest = expected === undefined ? 0 : expected - received;
      const { streamParts, partConcurrency } = this.location;
      const room = this.streaming + this.partQueue.pending < partConcurrency;
      if (streamParts && room && target > 0 && buffered + rest >= target) {
        const length = target;
        streamed = this.streamPart(state, partNumber, length, isWhole(length), () => Buffer.concat(partPieces, length));
        if (held) streamed.append(held);
      }
    };
    startPart(tailBytes);
    let readError: unknown;
    let tooLarge = false;
    try {
      for await (const data of source as AsyncIterable<Buffer>) {
        let chunk = data;
        while (chunk.length > 0 && !failed) {
          const room = Math.min(target - buffered, limit - offset - received);
          if (room <= 0) {
            tooLarge = true;
            break;
          }
          const take = Math.min(room, chunk.length);
          const piece = take === chunk.length ? chunk : chunk.subarray(0, take);
          pieces.push(piece);
          streamed?.append(piece);
          buffered += take;
          received += take;
          chunk = chunk.subarray(take);
          if (buffered < target) continue;
          await dispatch();
          startPart(undefined);
        }
        if (failed || tooLarge) break;
      }
    } catch (error) {
      // The body broke off (the client went away, or a shutdown ended it): keep what arrived.
      // When the store reads the raw request, its errors are those of the connection.
      readError = context?.body ? ERRORS.ABORTED : error;
    }
    if (tooLarge) readError = ERRORS.ERR_SIZE_EXCEEDED;
    if (streamed) {
      // The body ended before the streamed part was full: abandon its S3 request (nothing of
      // it is stored) and keep its bytes below like any remainder.
      streamed.cut();
      await streamed.task.catch(() => {});
      streamed = undefined;
    }
    // Nothing arrived: nothing to do, unless the length declared by this request (deferred
    // length) makes the upload complete with the bytes already held.
    const completesNow = info.size !== undefined && partStart + buffered === info.size;
    if (received === 0 && dispatched.length === 0 && !completesNow) {
      if (readError && !isAbort(readError)) throw readError;
      return offsetOf(state);
    }

    // Parts count only up to the first failure; later ones are overwritten on resume.
    const settled = await Promise.allSettled(dispatched);
    let firstError: unknown;
    for (const result of settled) {
      if (result.status === 'rejected') firstError ??= result.reason;
      else if (!firstError && !wholeUpload) state.parts.push(result.value);
    }
    if (state.parts.length >= tailPart) state.tail = 0;
    if (firstError) {
      this.cache.delete(id);
      throw firstError;
    }
    if (wholeUpload) {
      state.finished = true;
      state.tail = 0;
      this.cleanupTail(keys.part, oldTail);
      if (tooLarge) throw ERRORS.ERR_SIZE_EXCEEDED;
      return info.size ?? 0;
    }

    const end = partStart + buffered;
    if (info.size !== undefined && end === info.size) {
      if (buffered > 0 || state.parts.length === 0) {
        const body = Buffer.concat(pieces, buffered);
        const last = await this.partQueue.add(() => this.sendPart(state, partNumber, body));
        state.parts.push(last);
      }
      await this.complete(state);
      this.cleanupTail(keys.part, oldTail);
      // A body longer than the upload (sent without Content-Length): the upload is complete, the excess refused.
      if (tooLarge) throw ERRORS.ERR_SIZE_EXCEEDED;
      return info.size;
    }
    if (buffered > 0) {
      // A request that ended early may still leave enough for a part of its own.
      const asPart = choose(buffered) === buffered && buffered >= 5 * 1024 * 1024;
      const body = Buffer.concat(pieces, buffered);
      if (asPart) {
        const part = await this.partQueue.add(() => this.sendPart(state, partNumber, body));
        state.parts.push(part);
        state.tail = 0;
        this.cleanupTail(keys.part, oldTail);
      } else {
        await this.s3('PutObject', keys.part, () =>
          this.client.send(
            new PutObjectCommand({
              Bucket: this.location.bucket,
              Key: keys.part,
              Body: body,
              ContentLength: body.length,
              Metadata: { [NEXT_PART]: String(partNumber) },
              ...encryptionParams(this.location),
            }),
          ),
        );
        state.tail = buffered;
      }
    } else if (oldTail > 0 && state.tail === 0) {
      this.cleanupTail(keys.part, oldTail);
    }
    if (readError && !isAbort(readError)) throw readError;
    return offsetOf(state);
  }

  /** The whole upload as one object; the Part it returns (number 0) stands for no multipart upload. */
  private async putWhole(state: UploadState, body: Buffer | Readable, length: number, signal?: AbortSignal): Promise<Part> {
    const { info } = state;
    await this.s3('PutObject', info.key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: info.key,
          Body: body,
          ContentLength: length,
          ...finalObjectParams(this.location, info.metadata),
        }),
        signal ? { abortSignal: signal } : {},
      ),
    );
    return { PartNumber: 0, ETag: '', Size: length };
  }

  private async complete(state: UploadState): Promise<void> {
    const { info } = state;
    const uploadId = await this.ensureMultipart(state);
    await this.s3('CompleteMultipartUpload', info.key, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.location.bucket,
          Key: info.key,
          UploadId: uploadId,
          MultipartUpload: { Parts: state.parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      ),
    );
    state.finished = true;
    state.tail = 0;
  }

  /** Delete a `.part` whose bytes are now in a part; a leftover one is ignored anyway. */
  private cleanupTail(key: string, oldTail: number): void {
    if (oldTail === 0) return;
    this.deleteObject(key).catch(() => {});
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    const state = await this.state(id);
    if (length > MAX_OBJECT_SIZE) throw ERRORS.ERR_MAX_SIZE_EXCEEDED;
    state.info.size = length;
    await this.saveInfo(state.info);
  }

  override async remove(id: string): Promise<void> {
    let state: UploadState;
    try {
      state = await this.load(id);
    } catch (error) {
      if (error === ERRORS.FILE_NO_LONGER_EXISTS) {
        // The multipart upload is gone already; remove what is left.
        const keys = this.keys(id);
        await Promise.all([this.deleteObject(keys.part), this.deleteObject(keys.info)]);
        this.cache.delete(id);
        return;
      }
      throw error;
    }
    const keys = this.keys(id);
    const { info } = state;
    if (info.uploadId && !state.finished) {
      await this.s3('AbortMultipartUpload', info.key, async () => {
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: info.key, UploadId: info.uploadId }));
        } catch (error) {
          if (!isNoSuchUpload(error)) throw error;
        }
      });
    }
    await Promise.all([this.deleteObject(keys.part), state.finished ? this.deleteObject(info.key) : Promise.resolve()]);
    // .info last: while it exists, a failed termination can be retried.
    await this.deleteObject(keys.info);
    this.cache.delete(id);
  }

  /** Remove unfinished uploads older than the expiration; finds them by listing `.info` objects. */
  override async deleteExpired(): Promise<number> {
    if (this.expiration <= 0) return 0;
    let removed = 0;
    let token: string | undefined;
    const now = Date.now();
    do {
      const page = await this.s3('ListObjectsV2', this.location.root, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: this.location.root,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const id = object.Key ? idFromInfoKey(this.location.root, object.Key) : undefined;
        if (!id || id.includes('/')) continue;
        // The .info object's age is a lower bound of the upload's; skip clearly young ones
        // unread (with a minute's allowance for clock skew between us and the S3 server).
        if (object.LastModified && now - object.LastModified.getTime() < this.expiration - 60_000) continue;
        try {
          const state = await this.load(id);
          if (state.finished || now - new Date(state.info.creation_date).getTime() < this.expiration) continue;
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

  /**
   * The final upload of a concatenation, assembled inside S3: each partial of at least
   * 5 MiB is copied with UploadPartCopy (in slices of up to 5 GiB), never downloaded; only
   * partials (or remainders) below the 5 MiB part minimum are read and sent as bytes.
   */
  async concatenate(id: string, partialIds: readonly string[], metadata: Record<string, string | null> | undefined): Promise<number> {
    const partials = await Promise.all(partialIds.map((p) => this.state(p)));
    const size = partials.reduce((total, p) => total + (p.info.size ?? 0), 0);
    const keys = this.keys(id);
    const info: UploadInfo = {
      version: 1,
      id,
      size,
      ...(metadata ? { metadata } : {}),
      creation_date: new Date().toISOString(),
      key: keys.object,
      plan: planParts({ size, preferred: this.location.chunkSize, equalParts: false, maxUploadSize: 0 }),
    };
    const state: UploadState = { info, parts: [], tail: 0, finished: false };
    let pending: Buffer[] = [];
    let pendingSize = 0;
    const tasks: Array<Promise<Part>> = [];
    const flush = () => {
      const body = Buffer.concat(pending, pendingSize);
      const number = tasks.length + 1;
      tasks.push(this.partQueue.add(() => this.sendPart(state, number, body)));
      pending = [];
      pendingSize = 0;
    };
    for (const partial of partials) {
      const source = partial.info.key;
      const total = partial.info.size ?? 0;
      let pos = 0;
      while (pos < total) {
        const left = total - pos;
        if (pendingSize > 0 || left < MIN_PART_SIZE) {
          // Top up the pending bytes to a full part (or take a small remainder whole).
          const take = pendingSize > 0 ? Math.min(MIN_PART_SIZE - pendingSize, left) : left;
          pending.push(await this.readRange(source, pos, pos + take - 1));
          pendingSize += take;
          pos += take;
          if (pendingSize >= MIN_PART_SIZE) flush();
          continue;
        }
        let length = Math.min(left, MAX_PART_SIZE);
        if (left - length > 0 && left - length < MIN_PART_SIZE) length -= MIN_PART_SIZE;
        const number = tasks.length + 1;
        const range = `bytes=${pos}-${pos + length - 1}`;
        tasks.push(this.partQueue.add(() => this.copyPart(state, number, source, range, length)));
        pos += length;
      }
    }
    if (pendingSize > 0) flush();
    if (tasks.length === 0) {
      await this.putWhole(state, Buffer.alloc(0), 0);
    } else {
      state.parts = await Promise.all(tasks);
      await this.complete(state);
    }
    state.finished = true;
    await this.saveInfo(info);
    this.cache.set(id, state);
    return size;
  }

  private async readRange(key: string, start: number, end: number): Promise<Buffer> {
    return this.s3('GetObject', key, async () => {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key, Range: `bytes=${start}-${end}` }));
      return Buffer.from((await res.Body?.transformToByteArray()) ?? new Uint8Array());
    });
  }

  private async copyPart(state: UploadState, partNumber: number, sourceKey: string, range: string, size: number): Promise<Part> {
    const uploadId = await this.ensureMultipart(state);
    const key = state.info.key;
    const res = await this.s3('UploadPartCopy', key, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.location.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: encodeURI(`${this.location.bucket}/${sourceKey}`),
          CopySourceRange: range,
        }),
      ),
    );
    return { PartNumber: partNumber, ETag: res.CopyPartResult?.ETag ?? '', Size: size };
  }

  /** Readiness: a tiny authorised write under the root (s3:PutObject), explained on failure. */
  async probe(signal: AbortSignal): Promise<void> {
    const key = `${this.location.root}.tus-readyz`;
    await this.s3('PutObject', key, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: key, Body: '', ...encryptionParams(this.location) }), {
        abortSignal: signal,
      }),
    );
  }

  /** Bytes start..end (inclusive) of a finished upload, for GET. */
  async openRange(id: string, start: number, end: number): Promise<Readable> {
    const key = this.keys(id).object;
    const res = await this.s3('GetObject', key, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key, Range: `bytes=${start}-${end}` })),
    );
    return res.Body as Readable;
  }
}

class MultipartGone extends Error {}

function isAbort(error: unknown): boolean {
  return error === ERRORS.ABORTED || (error instanceof Error && error.name === 'AbortError');
}
