/** Headers of the objects the store writes: ACL, encryption, Content-Type, Content-Disposition. */
import { create as contentDisposition } from 'content-disposition';
import type { S3Location } from '../../config/index.js';

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

// type/subtype with optional parameters, as RFC 9110 allows; anything else is not trusted.
const MIME = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i;

export function contentTypeOf(metadata: Record<string, string | null> | undefined): string {
  const type = metadata?.filetype ?? metadata?.contentType ?? metadata?.type;
  return type && type.length <= 255 && MIME.test(type) ? type : 'application/octet-stream';
}

/** `inline; filename="..."; filename*=UTF-8''...` from the `filename` metadata, or undefined. */
export function contentDispositionOf(metadata: Record<string, string | null> | undefined): string | undefined {
  const name = metadata?.filename ?? metadata?.name;
  if (!name) return undefined;
  // Keep the last path segment only, and no control characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
  return clean ? contentDisposition(clean, { type: 'inline' }) : undefined;
}

/** ACL and object headers go on the final object only (at CreateMultipartUpload or PutObject). */
export function finalObjectParams(location: S3Location, metadata: Record<string, string | null> | undefined): FinalObjectParams {
  const disposition = contentDispositionOf(metadata);
  return {
    ...(location.acl ? { ACL: location.acl } : {}),
    ...encryptionParams(location),
    ContentType: contentTypeOf(metadata),
    ...(disposition ? { ContentDisposition: disposition } : {}),
  };
}
