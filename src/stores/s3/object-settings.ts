/** Headers of the objects the store writes: ACL, encryption, Content-Type, Content-Disposition. */

import { contentTypeOf, servedDisposition } from '../content-headers.js';
import type { S3Location } from './config.js';

export { contentDispositionOf, contentTypeOf } from '../content-headers.js';

export interface EncryptionParams {
  ServerSideEncryption?: 'AES256' | 'aws:kms' | 'aws:kms:dsse';
  SSEKMSKeyId?: string;
}

export interface FinalObjectParams extends EncryptionParams {
  ACL?: NonNullable<S3Location['acl']>;
  ContentType: string;
  ContentDisposition?: string;
}

/** Encryption goes on every object the store writes (final object, .info, .part). */
export function encryptionParams(location: S3Location): EncryptionParams {
  if (!location.serverSideEncryption) return {};
  return {
    ServerSideEncryption: location.serverSideEncryption,
    ...(location.kmsKeyId && location.serverSideEncryption !== 'AES256' ? { SSEKMSKeyId: location.kmsKeyId } : {}),
  };
}

/** ACL and object headers go on the final object only (at CreateMultipartUpload or PutObject). */
export function finalObjectParams(location: S3Location, metadata: Record<string, string | null> | undefined): FinalObjectParams {
  // The bucket may serve the object itself (public-read, presigned links): the same rule as downloads.
  const disposition = servedDisposition(metadata);
  return {
    ...(location.acl ? { ACL: location.acl } : {}),
    ...encryptionParams(location),
    ContentType: contentTypeOf(metadata),
    ...(disposition ? { ContentDisposition: disposition } : {}),
  };
}
