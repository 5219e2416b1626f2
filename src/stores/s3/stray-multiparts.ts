/**
 * Multipart uploads of a key that no `.info` names, found by listing the bucket's multipart
 * uploads and aborted (best effort, bounded in time).
 */
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Bucket } from './bucket.js';

export class StrayMultiparts {
  /** Set once S3 refused ListMultipartUploads: the sweep is then skipped. */
  private listingDenied = false;

  constructor(private readonly bucket: Bucket) {}

  /** See Bucket.abortStrays. */
  async abort(key: string, keep: string | undefined): Promise<void> {
    if (this.listingDenied) return;
    const bucket = this.bucket;
    try {
      // Bounded: it must not make a failing request much slower when S3 is slow or down.
      const abortSignal = AbortSignal.timeout(2 * bucket.location.connectionTimeout);
      const listed = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }), { abortSignal });
      for (const upload of listed.Uploads ?? []) {
        if (upload.Key !== key || !upload.UploadId || upload.UploadId === keep) continue;
        await bucket.client.send(new AbortMultipartUploadCommand({ Bucket: bucket.name, Key: key, UploadId: upload.UploadId }), {
          abortSignal,
        });
        bucket.warn(
          { key, uploadId: upload.UploadId },
          'aborted a multipart upload that no upload names (a lost answer or a killed process)',
        );
      }
    } catch (error) {
      if ((error as { name?: string }).name === 'AccessDenied') {
        this.listingDenied = true;
        bucket.warn(
          { bucket: bucket.name, location: bucket.location.name },
          'multipart uploads that no upload names are not looked for: grant s3:ListBucketMultipartUploads to have them aborted (or set a lifecycle rule AbortIncompleteMultipartUpload)',
        );
        return;
      }
      bucket.warn({ key, err: error }, 'multipart uploads that no upload names were not looked for');
    }
  }
}
