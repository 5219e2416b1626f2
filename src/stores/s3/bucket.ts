/**
 * Every S3 call of one location: its bucket, its object settings (ACL, encryption) and the
 * translation of S3 failures into answers that say what to check (StoreError). Nothing here
 * knows about tus uploads beyond object keys. Conditional writes (conditional-writes.ts) and
 * the sweep of stray multipart uploads (stray-multiparts.ts) are its helpers.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandOutput,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  ListPartsCommand,
  type ListPartsCommandOutput,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { ConditionalWrites } from './conditional-writes.js';
import type { S3Location } from './config.js';
import { explainS3Error, isNoSuchUpload, isNotFound, StoreError } from './errors.js';
import { encryptionParams, finalObjectParams } from './object-settings.js';
import { StrayMultiparts } from './stray-multiparts.js';
import type { Part } from './upload-state.js';

/** Bodies up to this size (state objects, small tails) are sent with the quick request timeout. */
const QUICK_BODY = 64 * 1024;

/** Failures after which an operation may have happened on S3 all the same (its answer lost). */
const LOST_ANSWER = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'TimeoutError', 'RequestTimeout', 'InternalError']);

export type Metadata = Record<string, string | null> | undefined;
/** A request body: bytes, or a stream of exactly `length` bytes. */
export type Body = Buffer | Readable;

export class Bucket {
  readonly name: string;
  constructor(
    readonly location: S3Location,
    readonly client: S3Client,
    private readonly log?: Logger,
  ) {
    this.name = location.bucket;
    this.quick = { requestTimeout: location.requestTimeout };
  }

  /** Run one S3 call (here or in its helpers); a failure becomes a StoreError that says what to check. */
  async call<T>(operation: string, key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      // Ours already explained; an abort is a streamed part we cut short ourselves.
      if (error instanceof StoreError || (error instanceof Error && error.name === 'AbortError')) throw error;
      const explained = explainS3Error(error, {
        location: this.location.name,
        bucket: this.name,
        operation,
        key,
        root: this.location.root,
      });
      this.log?.error({ operation, key, cause: explained.cause, err: error }, explained.body.trim());
      throw explained;
    }
  }

  /**
   * Options of a call without a large body: its answer is due within `_REQUEST_TIMEOUT` per
   * attempt, so an S3 that accepts connections but never answers fails it in seconds.
   */
  readonly quick: { requestTimeout: number };
  /** What the endpoint honours of If-None-Match / If-Match, learnt once per bucket. */
  private readonly conditional = new ConditionalWrites(this);
  private readonly strays = new StrayMultiparts(this);

  warn(details: Record<string, unknown>, message: string): void {
    this.log?.warn(details, message);
  }

  private fail(message: string, status = 502): StoreError {
    return new StoreError(status, `Storage location "${this.location.name}": ${message}\n`);
  }

  /** A private object (state, tail): encrypted like everything, never with the ACL. */
  putPrivate(key: string, body: Body, length: number, extra: { ContentType?: string; Metadata?: Record<string, string> } = {}) {
    return this.put(key, body, length, { ...extra, ...encryptionParams(this.location) });
  }

  /**
   * The final object in one request, with ACL, encryption and content headers; `state`: user
   * metadata carrying the upload's state (see object-state.ts).
   */
  putFinal(
    key: string,
    body: Body,
    length: number,
    metadata: Metadata,
    signal?: AbortSignal,
    state?: Record<string, string>,
  ): Promise<void> {
    return this.put(key, body, length, { ...finalObjectParams(this.location, metadata), ...(state ? { Metadata: state } : {}) }, signal);
  }

  /**
   * A private object that must not exist yet (an upload's first state, when its id may be
   * taken): PutObject with `If-None-Match: *` where the endpoint honours it, UploadIdTaken when
   * the object exists. Where it does not (`conditionalWrites`), a plain PutObject: the Redis
   * claim and the existence check before the creation are then all that guard the id.
   */
  putNew(key: string, body: Buffer, extra: { ContentType?: string } = {}): Promise<string | undefined> {
    return this.conditional.putNew(key, body, extra);
  }

  /** Whether the endpoint honours `If-None-Match: *` on PutObject (probed once per bucket). */
  conditionalWrites(): Promise<boolean> {
    return this.conditional.ifNoneMatchHonoured();
  }

  private async put(key: string, body: Body, length: number, params: object, signal?: AbortSignal): Promise<void> {
    await this.call('PutObject', key, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentLength: length, ...params }), {
        ...(signal ? { abortSignal: signal } : {}),
        ...(length <= QUICK_BODY ? this.quick : {}),
      }),
    );
  }

  /**
   * Write a state object (`.info`) only over the version `etag` names (If-Match), where S3
   * supports conditional writes; unconditionally when `etag` is undefined or S3 does not.
   * Returns the new version's ETag. Another version there (a request that took the upload
   * over wrote it since) fails with STATE_CHANGED and leaves it untouched.
   */
  putState(key: string, body: Buffer, etag: string | undefined): Promise<string | undefined> {
    return this.conditional.putIfMatch(key, body, etag);
  }

  /** A state object's text and ETag, or undefined when it does not exist. */
  async readState(key: string): Promise<{ text: string; etag: string | undefined } | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }), this.quick);
      return { text: (await res.Body?.transformToString()) ?? '', etag: res.ETag };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.call('GetObject', key, () => Promise.reject(error));
    }
  }

  /** The whole object as text, or undefined when it does not exist. */
  async readText(key: string): Promise<string | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }), this.quick);
      return (await res.Body?.transformToString()) ?? '';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.call('GetObject', key, () => Promise.reject(error));
    }
  }

  /** Bytes start..end (inclusive) as a stream. */
  async openRange(key: string, start: number, end: number): Promise<Readable> {
    const res = await this.call('GetObject', key, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: `bytes=${start}-${end}` }), this.quick),
    );
    return res.Body as Readable;
  }

  /** Bytes start..end (inclusive) in memory (small pieces only). */
  async readRange(key: string, start: number, end: number): Promise<Buffer> {
    return this.call('GetObject', key, async () => {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: `bytes=${start}-${end}` }), this.quick);
      return Buffer.from((await res.Body?.transformToByteArray()) ?? new Uint8Array());
    });
  }

  /** Size and user metadata of an object, or undefined when it does not exist. */
  async head(key: string): Promise<{ size: number; metadata: Record<string, string> } | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }), this.quick);
      return { size: res.ContentLength ?? 0, metadata: res.Metadata ?? {} };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.call('HeadObject', key, () => Promise.reject(error));
    }
  }

  async delete(key: string): Promise<void> {
    await this.call('DeleteObject', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }), this.quick));
  }

  async createMultipart(key: string, metadata: Metadata): Promise<string> {
    let res: CreateMultipartUploadCommandOutput;
    try {
      res = await this.call('CreateMultipartUpload', key, () =>
        this.client.send(
          new CreateMultipartUploadCommand({ Bucket: this.name, Key: key, ...finalObjectParams(this.location, metadata) }),
          this.quick,
        ),
      );
    } catch (error) {
      // An attempt whose answer was lost (a reset, a timeout, a failure after the fact) may have
      // created one all the same; not when S3 was never reached or refused the request.
      if (error instanceof StoreError && LOST_ANSWER.has(error.cause)) await this.abortStrays(key, undefined);
      throw error;
    }
    if (!res.UploadId) throw this.fail('CreateMultipartUpload returned no UploadId.');
    return res.UploadId;
  }

  /**
   * Abort the multipart uploads of `key` but `keep`. Called only where no `.info` names any
   * other (while creating the one multipart upload of a tus upload under its lock, or removing an
   * upload whose `.info` names none), so any other is an orphan: left by a CreateMultipartUpload
   * whose answer was lost, or by a process killed before `.info` recorded it. Best effort: without
   * s3:ListBucketMultipartUploads it is skipped, with one warning per bucket.
   */
  abortStrays(key: string, keep: string | undefined): Promise<void> {
    return this.strays.abort(key, keep);
  }

  /** Every part of a multipart upload, or undefined when the multipart upload is gone (completed or aborted). */
  async listParts(key: string, uploadId: string): Promise<Part[] | undefined> {
    const parts: Part[] = [];
    let marker: string | undefined;
    do {
      let page: ListPartsCommandOutput;
      try {
        page = await this.client.send(
          new ListPartsCommand({ Bucket: this.name, Key: key, UploadId: uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }),
          this.quick,
        );
      } catch (error) {
        if (isNoSuchUpload(error)) return undefined;
        return this.call('ListParts', key, () => Promise.reject(error));
      }
      for (const p of page.Parts ?? []) parts.push({ PartNumber: p.PartNumber ?? 0, ETag: p.ETag ?? '', Size: p.Size ?? 0 });
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Body, length: number, signal?: AbortSignal): Promise<Part> {
    const res = await this.call('UploadPart', key, () =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.name,
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

  /** Part `partNumber` copied from bytes `start..end` (inclusive) of another object, inside S3. */
  async copyPart(key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number): Promise<Part> {
    const res = await this.call('UploadPartCopy', key, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.name,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: encodeURI(`${this.name}/${sourceKey}`),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      ),
    );
    return { PartNumber: partNumber, ETag: res.CopyPartResult?.ETag ?? '', Size: end - start + 1 };
  }

  async complete(key: string, uploadId: string, parts: readonly Part[]): Promise<void> {
    await this.call('CompleteMultipartUpload', key, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      ),
    );
  }

  /** Abort a multipart upload; one already gone is fine. */
  async abort(key: string, uploadId: string): Promise<void> {
    await this.call('AbortMultipartUpload', key, async () => {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId }), this.quick);
      } catch (error) {
        if (!isNoSuchUpload(error)) throw error;
      }
    });
  }

  /** One page of the keys under `prefix`; with `delimiter`, only those without it after the prefix. */
  async list(prefix: string, token: string | undefined, delimiter?: string): Promise<ListObjectsV2CommandOutput> {
    return this.call('ListObjectsV2', prefix, () =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: this.name,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
          ...(delimiter ? { Delimiter: delimiter } : {}),
        }),
        this.quick,
      ),
    );
  }

  /** Readiness: a tiny authorised write under the root (s3:PutObject), explained on failure. */
  async probe(signal: AbortSignal): Promise<void> {
    const key = `${this.location.root}.tus-readyz`;
    await this.call('PutObject', key, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: '', ...encryptionParams(this.location) }), {
        abortSignal: signal,
      }),
    );
  }
}
