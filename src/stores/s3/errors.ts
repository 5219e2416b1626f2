/**
 * S3 failures turned into answers that say what to check. The store throws them as tus
 * errors ({ status_code, body }), which @tus/server sends as the response.
 */
import { NETWORK_ERRORS, StoreError, stateChanged } from '../store-error.js';

export { StoreError };

/** A state object changed since this request read it (store-error.ts). */
export const STATE_CHANGED = stateChanged('PreconditionFailed');

interface AwsLikeError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function s3ErrorCode(error: unknown): string {
  const e = (error ?? {}) as AwsLikeError;
  return e.Code ?? e.name ?? e.code ?? 'UnknownError';
}

export function isNotFound(error: unknown): boolean {
  const code = s3ErrorCode(error);
  const status = (error as AwsLikeError | undefined)?.$metadata?.httpStatusCode;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchUpload' || (status === 404 && code !== 'NoSuchBucket');
}

export function isNoSuchUpload(error: unknown): boolean {
  const code = s3ErrorCode(error);
  // radosgw answers NoSuchKey where AWS answers NoSuchUpload.
  return code === 'NoSuchUpload' || code === 'NoSuchKey';
}

const NETWORK = new Set([...NETWORK_ERRORS, 'TimeoutError', 'RequestTimeout']);

/** The IAM action each S3 call needs, and whether it applies to the bucket itself (not its objects). */
const ACTIONS: Record<string, { action: string; bucketLevel?: true }> = {
  PutObject: { action: 's3:PutObject' },
  CreateMultipartUpload: { action: 's3:PutObject' },
  UploadPart: { action: 's3:PutObject' },
  CompleteMultipartUpload: { action: 's3:PutObject' },
  UploadPartCopy: { action: 's3:PutObject and s3:GetObject' },
  GetObject: { action: 's3:GetObject' },
  HeadObject: { action: 's3:GetObject' },
  DeleteObject: { action: 's3:DeleteObject' },
  AbortMultipartUpload: { action: 's3:AbortMultipartUpload' },
  ListParts: { action: 's3:ListMultipartUploadParts' },
  ListObjectsV2: { action: 's3:ListBucket', bucketLevel: true },
  ListMultipartUploads: { action: 's3:ListBucketMultipartUploads', bucketLevel: true },
};

/** "S3 denied PutObject: grant s3:PutObject on arn:aws:s3:::bucket/root*". */
function deniedAction(where: { bucket: string; operation: string; root?: string }): string {
  const known = ACTIONS[where.operation];
  if (!known) return `S3 denied ${where.operation}: grant the matching s3: action on arn:aws:s3:::${where.bucket} and its objects`;
  const resource = known.bucketLevel ? `arn:aws:s3:::${where.bucket}` : `arn:aws:s3:::${where.bucket}/${where.root ?? ''}*`;
  return `S3 denied ${where.operation}: grant ${known.action} on ${resource}`;
}

/** Where an S3 failure happened: the location, bucket and operation (and `root`, the location's key prefix). */
interface Where {
  location: string;
  bucket: string;
  operation: string;
  key?: string;
  root?: string;
}

/** What to check for each S3 error code the server knows; `v` is the location's variable prefix. */
const HINTS: Array<{ codes: string[]; hint: (v: string, where: Where) => string }> = [
  {
    codes: ['AccessDenied', 'AllAccessDisabled', 'Forbidden'],
    hint: (v, where) =>
      `${deniedAction(where)} in the IAM permissions of the credentials or the bucket policy (the minimal IAM policy in docs/s3.md lists every action the server uses), and check that ${v}ACL is allowed by the bucket's Object Ownership setting.`,
  },
  {
    codes: ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError'],
    hint: (v) => `Check the credentials: ${v}KEY and ${v}SECRET (or the default AWS credential chain when they are unset).`,
  },
  {
    codes: ['NoSuchBucket'],
    hint: (v) => `The bucket does not exist: check ${v}BUCKET, ${v}ENDPOINT and ${v}REGION. The server never creates buckets.`,
  },
  {
    codes: ['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException'],
    hint: (v) => `The bucket is in another region: check ${v}REGION (and ${v}ENDPOINT).`,
  },
  {
    codes: ['EntityTooSmall'],
    hint: (v) =>
      `The store refused a part below its minimum size; if this provider needs larger or equal parts, raise ${v}TUS__CHUNK_SIZE or set ${v}EQUAL_PART_SIZE=true.`,
  },
  {
    codes: ['InvalidArgument', 'NotImplemented'],
    hint: (v) =>
      `The provider does not accept a setting: check ${v}ACL and ${v}SERVER_SIDE_ENCRYPTION (some S3-compatible stores support neither).`,
  },
];

/**
 * What went wrong, in words that name what to check. `where` names the location, bucket and
 * operation (and the location's key prefix, `root`, for the resource an access denial names).
 */
export function explainS3Error(error: unknown, where: Where): StoreError {
  const errno = (error as AwsLikeError | undefined)?.code;
  const code = errno && NETWORK.has(errno) ? errno : s3ErrorCode(error);
  const status = (error as AwsLikeError | undefined)?.$metadata?.httpStatusCode;
  const v = `STORAGE_${where.location.toUpperCase()}_`;
  const target = `${where.operation} on bucket "${where.bucket}"${where.key ? ` key "${where.key}"` : ''}`;
  if (NETWORK.has(code)) {
    return new StoreError(
      503,
      `Storage location "${where.location}": S3 did not answer ${target} (${code}). Check ${v}ENDPOINT, DNS and the network, and ${v}CONNECTION_TIMEOUT / ${v}SOCKET_TIMEOUT / ${v}REQUEST_TIMEOUT; the upload can be resumed.\n`,
      code,
    );
  }
  const known = HINTS.find((h) => h.codes.includes(code));
  if (!known && status === undefined) {
    return new StoreError(
      500,
      `Storage location "${where.location}": unexpected error during ${target}: ${(error as AwsLikeError | undefined)?.message ?? code}. See the server log.\n`,
      code,
    );
  }
  const prefix = `Storage location "${where.location}": S3 refused ${target} (${code}${status ? `, HTTP ${status}` : ''}).`;
  if (known) return new StoreError(502, `${prefix} ${known.hint(v, where)}\n`, code);
  if (status !== undefined && status >= 500) {
    return new StoreError(503, `${prefix} The S3 service failed after retries; the upload can be resumed.\n`, code);
  }
  return new StoreError(502, `${prefix} Check the location's settings (${v}*) and the provider's documentation for this error.\n`, code);
}
