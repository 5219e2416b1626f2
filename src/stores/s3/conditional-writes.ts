/**
 * Conditional PutObjects of one bucket, as far as its endpoint honours them: `If-None-Match: *`
 * (an object that must not exist yet) and `If-Match` (an object written only over the version
 * its ETag names). What the endpoint does with each is learnt once per bucket.
 */
import { randomUUID } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { UploadIdTaken } from '../exclusive-create.js';
import type { Bucket } from './bucket.js';
import { isNotFound, STATE_CHANGED, s3ErrorCode } from './errors.js';
import { encryptionParams } from './object-settings.js';

export class ConditionalWrites {
  constructor(private readonly bucket: Bucket) {}

  /** See Bucket.putNew. */
  async putNew(key: string, body: Buffer, extra: { ContentType?: string } = {}): Promise<string | undefined> {
    const bucket = this.bucket;
    if (!(await this.ifNoneMatchHonoured())) {
      await bucket.putPrivate(key, body, body.length, extra);
      return undefined;
    }
    const params = { ...extra, ...encryptionParams(bucket.location), IfNoneMatch: '*' };
    // AWS answers 409 ConditionalRequestConflict to a conditional write racing another on the
    // same key, and asks for a retry: the retry meets the object the other one stored (412).
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await bucket.client.send(
          new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body, ContentLength: body.length, ...params }),
          bucket.quick,
        );
        return res.ETag;
      } catch (error) {
        if (isPreconditionFailed(error)) throw new UploadIdTaken();
        if (s3ErrorCode(error) === 'ConditionalRequestConflict' && attempt < 5) {
          await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
          continue;
        }
        if (s3ErrorCode(error) === 'ConditionalRequestConflict') throw new UploadIdTaken();
        await bucket.call('PutObject', key, () => Promise.reject(error));
        return undefined;
      }
    }
  }

  /** Whether the endpoint honours `If-None-Match: *` on PutObject (`probeIfNoneMatch`, once per bucket). */
  ifNoneMatchHonoured(): Promise<boolean> {
    this.ifNoneMatch ??= this.probeIfNoneMatch().catch((error: unknown) => {
      // Not known (S3 did not answer): asked again by the next creation that needs it.
      this.ifNoneMatch = undefined;
      throw error;
    });
    return this.ifNoneMatch;
  }

  private ifNoneMatch: Promise<boolean> | undefined;

  /**
   * Two conditional PutObjects of a fresh key under the root, then its removal: the second must
   * be refused (412). AWS S3 (since August 2024), MinIO and Ceph radosgw refuse it; Swift's
   * s3api answers 501 NotImplemented to both, and a server that ignores the header stores both.
   */
  private async probeIfNoneMatch(): Promise<boolean> {
    const bucket = this.bucket;
    const key = `${bucket.location.root}.tus-probe-${randomUUID()}`;
    const put = () =>
      bucket.client.send(
        new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: '', IfNoneMatch: '*', ...encryptionParams(bucket.location) }),
        bucket.quick,
      );
    const unsupported = (how: string) => {
      bucket.warn(
        { bucket: bucket.name, location: bucket.location.name },
        `the S3 endpoint ${how} conditional writes (PutObject If-None-Match: *): an upload id chosen by a pre-create hook is guarded by the Redis claim (REDIS) and a check before its creation only`,
      );
      return false;
    };
    try {
      try {
        await put();
      } catch (error) {
        if (refusesConditions(error)) return unsupported('refuses');
        return await bucket.call('PutObject', key, () => Promise.reject(error));
      }
      try {
        await put();
      } catch (error) {
        if (isPreconditionFailed(error)) return true;
        if (refusesConditions(error)) return unsupported('refuses');
        return await bucket.call('PutObject', key, () => Promise.reject(error));
      }
      return unsupported('ignores');
    } finally {
      await bucket.delete(key).catch(() => undefined);
    }
  }

  /**
   * How PutObject takes If-Match here, learnt from the first conditional write: `quoted`, the
   * ETag as S3 gives it (AWS, MinIO); `bare`, without its quotes (Ceph radosgw compares the
   * header with the unquoted ETag and refuses the quoted one); `unsupported` (Swift's s3api
   * answers 501 NotImplemented, or a server refuses the object's own ETag in both forms):
   * state objects are then written unconditionally, guarded by the upload's lock alone.
   */
  private ifMatchForm: 'quoted' | 'bare' | 'unsupported' | undefined;

  /** See Bucket.putState. */
  async putIfMatch(key: string, body: Buffer, etag: string | undefined): Promise<string | undefined> {
    const bucket = this.bucket;
    const params = {
      Bucket: bucket.name,
      Key: key,
      Body: body,
      ContentLength: body.length,
      ContentType: 'application/json',
      ...encryptionParams(bucket.location),
    };
    const unconditional = async () =>
      (await bucket.call('PutObject', key, () => bucket.client.send(new PutObjectCommand(params), bucket.quick))).ETag;
    if (etag === undefined || this.ifMatchForm === 'unsupported') return unconditional();
    const forms = this.ifMatchForm ? [this.ifMatchForm] : (['quoted', 'bare'] as const);
    for (const form of forms) {
      try {
        const ifMatch = form === 'bare' ? unquoted(etag) : `"${unquoted(etag)}"`;
        const res = await bucket.client.send(new PutObjectCommand({ ...params, IfMatch: ifMatch }), bucket.quick);
        this.ifMatchForm = form;
        return res.ETag;
      } catch (error) {
        const code = s3ErrorCode(error);
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (code === 'NotImplemented' || status === 501) break;
        const refused = code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || status === 412 || status === 409;
        if (!refused && !isNotFound(error)) return bucket.call('PutObject', key, () => Promise.reject(error));
        // Refused: another version is there (or none: the upload was removed), or the server
        // does not read this form of the ETag (it refuses the object's own).
        const now = await this.headEtag(key);
        if (now === undefined || unquoted(now) !== unquoted(etag)) throw STATE_CHANGED;
      }
    }
    this.ifMatchForm = 'unsupported';
    bucket.warn(
      { bucket: bucket.name, location: bucket.location.name },
      'S3 does not support conditional PutObject (If-Match): upload state is written unconditionally, guarded by the upload lock alone (see docs/deployment.md, Scaling out)',
    );
    return unconditional();
  }

  private async headEtag(key: string): Promise<string | undefined> {
    const bucket = this.bucket;
    try {
      return (await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: key }), bucket.quick)).ETag;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return bucket.call('HeadObject', key, () => Promise.reject(error));
    }
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
