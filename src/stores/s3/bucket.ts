/**
 * Every S3 call of one location: its bucket, its object settings (ACL, encryption) and the
 * translation of S3 failures into answers that say what to check (StoreError). Nothing here
 * knows about tus uploads beyond object keys.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandOutput,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
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
import { UploadIdTaken } from '../exclusive-create.js';
import type { S3Location } from './config.js';
import { explainS3Error, isNoSuchUpload, isNotFound, STATE_CHANGED, StoreError, s3ErrorCode } from './errors.js';
import { encryptionParams, finalObjectParams } from './object-settings.js';
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

  /** Run one S3 call; a failure becomes a StoreError that says what to check. */
  private async call<T>(operation: string, key: string, run: () => Promise<T>): Promise<T> {
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
  private readonly quick: { requestTimeout: number };

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
  async putNew(key: string, body: Buffer, extra: { ContentType?: string } = {}): Promise<string | undefined> {
    if (!(await this.conditionalWrites())) {
      await this.putPrivate(key, body, body.length, extra);
      return undefined;
    }
    const params = { ...extra, ...encryptionParams(this.location), IfNoneMatch: '*' };
    // AWS answers 409 ConditionalRequestConflict to a conditional write racing another on the
    // same key, and asks for a retry: the retry meets the object the other one stored (412).
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.client.send(
          new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentLength: body.length, ...params }),
          this.quick,
        );
        return res.ETag;
      } catch (error) {
        if (isPreconditionFailed(error)) throw new UploadIdTaken();
        if (s3ErrorCode(error) === 'ConditionalRequestConflict' && attempt < 5) {
          await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
          continue;
        }
        if (s3ErrorCode(error) === 'ConditionalRequestConflict') throw new UploadIdTaken();
        await this.call('PutObject', key, () => Promise.reject(error));
        return undefined;
      }
    }
  }

  /** Whether the endpoint honours `If-None-Match: *` on PutObject (`probeConditionalWrites`, once per bucket). */
  conditionalWrites(): Promise<boolean> {
    this.conditional ??= this.probeConditionalWrites().catch((error: unknown) => {
      // Not known (S3 did not answer): asked again by the next creation that needs it.
      this.conditional = undefined;
      throw error;
    });
    return this.conditional;
  }

  private conditional: Promise<boolean> | undefined;

  /**
   * Two conditional PutObjects of a fresh key under the root, then its removal: the second must
   * be refused (412). AWS S3 (since August 2024), MinIO and Ceph radosgw refuse it; Swift's
   * s3api answers 501 NotImplemented to both, and a server that ignores the header stores both.
   */
  private async probeConditionalWrites(): Promise<boolean> {
    const key = `${this.location.root}.tus-probe-${randomUUID()}`;
    const put = () =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.name, Key: key, Body: '', IfNoneMatch: '*', ...encryptionParams(this.location) }),
        this.quick,
      );
    const unsupported = (how: string) => {
      this.log?.warn(
        { bucket: this.name, location: this.location.name },
        `the S3 endpoint ${how} conditional writes (PutObject If-None-Match: *): an upload id chosen by a pre-create hook is guarded by the Redis claim (REDIS) and a check before its creation only`,
      );
      return false;
    };
    try {
      try {
        await put();
      } catch (error) {
        if (refusesConditions(error)) return unsupported('refuses');
        return await this.call('PutObject', key, () => Promise.reject(error));
      }
      try {
        await put();
      } catch (error) {
        if (isPreconditionFailed(error)) return true;
        if (refusesConditions(error)) return unsupported('refuses');
        return await this.call('PutObject', key, () => Promise.reject(error));
      }
      return unsupported('ignores');
    } finally {
      await this.delete(key).catch(() => undefined);
    }
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
   * How PutObject takes If-Match here, learnt from the first conditional write: `quoted`, the
   * ETag as S3 gives it (AWS, MinIO); `bare`, without its quotes (Ceph radosgw compares the
   * header with the unquoted ETag and refuses the quoted one); `unsupported` (Swift's s3api
   * answers 501 NotImplemented, or a server refuses the object's own ETag in both forms):
   * state objects are then written unconditionally, guarded by the upload's lock alone.
   */
  private ifMatchForm: 'quoted' | 'bare' | 'unsupported' | undefined;

  /**
   * Write a state object (`.info`) only over the version `etag` names (If-Match), where S3
   * supports conditional writes; unconditionally when `etag` is undefined or S3 does not.
   * Returns the new version's ETag. Another version there (a request that took the upload
   * over wrote it since) fails with STATE_CHANGED and leaves it untouched.
   */
  async putState(key: string, body: Buffer, etag: string | undefined): Promise<string | undefined> {
    const params = {
      Bucket: this.name,
      Key: key,
      Body: body,
      ContentLength: body.length,
      ContentType: 'application/json',
      ...encryptionParams(this.location),
    };
    const unconditional = async () =>
      (await this.call('PutObject', key, () => this.client.send(new PutObjectCommand(params), this.quick))).ETag;
    if (etag === undefined || this.ifMatchForm === 'unsupported') return unconditional();
    const forms = this.ifMatchForm ? [this.ifMatchForm] : (['quoted', 'bare'] as const);
    for (const form of forms) {
      try {
        const ifMatch = form === 'bare' ? unquoted(etag) : `"${unquoted(etag)}"`;
        const res = await this.client.send(new PutObjectCommand({ ...params, IfMatch: ifMatch }), this.quick);
        this.ifMatchForm = form;
        return res.ETag;
      } catch (error) {
        const code = s3ErrorCode(error);
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (code === 'NotImplemented' || status === 501) break;
        const refused = code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || status === 412 || status === 409;
        if (!refused && !isNotFound(error)) return this.call('PutObject', key, () => Promise.reject(error));
        // Refused: another version is there (or none: the upload was removed), or the server
        // does not read this form of the ETag (it refuses the object's own).
        const now = await this.headEtag(key);
        if (now === undefined || unquoted(now) !== unquoted(etag)) throw STATE_CHANGED;
      }
    }
    this.ifMatchForm = 'unsupported';
    this.log?.warn(
      { bucket: this.name, location: this.location.name },
      'S3 does not support conditional PutObject (If-Match): upload state is written unconditionally, guarded by the upload lock alone (see docs/deployment.md, Scaling out)',
    );
    return unconditional();
  }

  private async headEtag(key: string): Promise<string | undefined> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }), this.quick)).ETag;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.call('HeadObject', key, () => Promise.reject(error));
    }
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
  async abortStrays(key: string, keep: string | undefined): Promise<void> {
    if (this.strayListingDenied) return;
    try {
      // Bounded: it must not make a failing request much slower when S3 is slow or down.
      const abortSignal = AbortSignal.timeout(2 * this.location.connectionTimeout);
      const listed = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.name, Prefix: key }), { abortSignal });
      for (const upload of listed.Uploads ?? []) {
        if (upload.Key !== key || !upload.UploadId || upload.UploadId === keep) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: upload.UploadId }), {
          abortSignal,
        });
        this.log?.warn(
          { key, uploadId: upload.UploadId },
          'aborted a multipart upload that no upload names (a lost answer or a killed process)',
        );
      }
    } catch (error) {
      if ((error as { name?: string }).name === 'AccessDenied') {
        this.strayListingDenied = true;
        this.log?.warn(
          { bucket: this.name, location: this.location.name },
          'multipart uploads that no upload names are not looked for: grant s3:ListBucketMultipartUploads to have them aborted (or set a lifecycle rule AbortIncompleteMultipartUpload)',
        );
        return;
      }
      this.log?.warn({ key, err: error }, 'multipart uploads that no upload names were not looked for');
    }
  }

  /** Set once S3 refused ListMultipartUploads: the stray sweep is then skipped. */
  private strayListingDenied = false;

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

  async list(prefix: string, token: string | undefined): Promise<ListObjectsV2CommandOutput> {
    return this.call('ListObjectsV2', prefix, () =>
      this.client.send(
        new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
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

function isPreconditionFailed(error: unknown): boolean {
  return (
    s3ErrorCode(error) === 'PreconditionFailed' || (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 412
  );
}

/** A server that does not do conditional writes and says so (Swift's s3api: 501 NotImplemented). */
function refusesConditions(error: unknown): boolean {
  const code = s3ErrorCode(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return code === 'NotImplemented' || status === 501;
}

/** An ETag without its quotes (and weak marker). */
function unquoted(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
