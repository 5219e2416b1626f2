/** The variables of an s3 location (STORAGE_<LOC>_*) and the typed location they make. */
import { z } from 'zod';
import { bool, duration, int, oneOf, required, size, text, url } from '../../config/casting.js';
import { locationLimitsOf, locationLimitsSchema } from '../../config/location-limits.js';
import type { LocationLimits, SettingProblem } from '../driver.js';
import { normalisePrefix, templateRoomProblem } from '../location-keys.js';
import { MAX_PART_SIZE, MIN_PART_SIZE, MiB } from './part-size.js';

export const S3_DRIVER = 's3';

export const S3_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
] as const;
export const S3_SSE = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const;

export interface S3Location extends LocationLimits {
  readonly name: string;
  readonly driver: typeof S3_DRIVER;
  readonly bucket: string;
  readonly region: string;
  /** Absent: the AWS default credential chain (environment, profile, IAM role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Key prefix of every object, without leading slash, with a trailing one when not empty. */
  readonly root: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  readonly acl?: (typeof S3_ACLS)[number];
  readonly serverSideEncryption?: (typeof S3_SSE)[number];
  readonly kmsKeyId?: string;
  readonly connectionTimeout: number;
  readonly socketTimeout: number;
  /** ms an S3 request without a large body may wait for its answer, per attempt. */
  readonly requestTimeout: number;
  readonly maxSockets: number;
  readonly keepAlive: boolean;
  /** Preferred part size in bytes. */
  readonly chunkSize: number;
  /** Most part uploads in flight at once for this location. */
  readonly partConcurrency: number;
  /** Bytes of part buffers in flight at once for this location; caps the concurrency too. */
  readonly partMemory: number;
  /** Every part but the last the same size (Cloudflare R2). */
  readonly equalPartSize: boolean;
  /**
   * Send each part to S3 while its bytes arrive (unsigned payload; a failed attempt is re-sent
   * from the retained copy, signed). false: send each part once complete, with a signed SHA-256.
   */
  readonly streamParts: boolean;
  /** Attempts per S3 request, the first included (transient failures are retried). */
  readonly maxAttempts: number;
  /** AWS SDK checksum mode; WHEN_REQUIRED works with every S3-compatible server. */
  readonly checksumCalculation: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
}

export const s3LocationSchema = (defaultChunkSize: number) =>
  z.object({
    DRIVER: z.string().optional(),
    BUCKET: required('the bucket name'),
    REGION: required('the bucket region, such as us-east-1 (auto for Cloudflare R2)'),
    KEY: text(),
    SECRET: text(),
    ROOT: text(''),
    ENDPOINT: url('the S3 endpoint URL'),
    FORCE_PATH_STYLE: bool(false),
    ACL: oneOf(S3_ACLS),
    SERVER_SIDE_ENCRYPTION: oneOf(S3_SSE),
    SERVER_SIDE_ENCRYPTION_KMS_KEY_ID: text(),
    CONNECTION_TIMEOUT: duration(5000),
    SOCKET_TIMEOUT: duration(120000),
    REQUEST_TIMEOUT: duration(10000),
    MAX_SOCKETS: int(500, { min: 1, max: 100000 }),
    KEEP_ALIVE: bool(true),
    TUS__CHUNK_SIZE: size(defaultChunkSize, { min: MIN_PART_SIZE, max: MAX_PART_SIZE }),
    PART_CONCURRENCY: int(60, { min: 1, max: 1000 }),
    PART_MEMORY: size(96 * MiB, { min: MIN_PART_SIZE }),
    EQUAL_PART_SIZE: bool(false),
    STREAM_PARTS: bool(true),
    MAX_ATTEMPTS: int(4, { min: 1, max: 20 }),
    CHECKSUM_CALCULATION: oneOf(['WHEN_REQUIRED', 'WHEN_SUPPORTED'] as const, 'WHEN_REQUIRED'),
    ...locationLimitsSchema,
  });

/**
 * Rules between variables of one s3 location, checked on the raw values so they are
 * reported together with every per-variable problem.
 */
export function s3CrossChecks(raw: Record<string, string | undefined>): SettingProblem[] {
  const set = (k: string) => (raw[k]?.trim() ?? '') !== '';
  const issues: SettingProblem[] = [];
  if (set('KEY') && !set('SECRET')) {
    issues.push({ key: 'SECRET', message: 'required when KEY is set (or unset KEY to use the default AWS credential chain)' });
  }
  if (set('SECRET') && !set('KEY')) issues.push({ key: 'KEY', message: 'required when SECRET is set' });
  if (set('SERVER_SIDE_ENCRYPTION_KMS_KEY_ID') && !raw.SERVER_SIDE_ENCRYPTION?.trim().startsWith('aws:kms')) {
    issues.push({ key: 'SERVER_SIDE_ENCRYPTION_KMS_KEY_ID', message: 'only allowed with SERVER_SIDE_ENCRYPTION=aws:kms or aws:kms:dsse' });
  }
  const room = templateRoomProblem(raw);
  if (room) issues.push(room);
  return issues;
}

/** The typed S3 location from its validated variables. */
export function s3LocationOf(name: string, v: z.infer<ReturnType<typeof s3LocationSchema>>): S3Location {
  return {
    name,
    driver: S3_DRIVER,
    bucket: v.BUCKET,
    region: v.REGION,
    ...(v.KEY && v.SECRET ? { credentials: { accessKeyId: v.KEY, secretAccessKey: v.SECRET } } : {}),
    root: normalisePrefix(v.ROOT ?? ''),
    ...(v.ENDPOINT ? { endpoint: v.ENDPOINT } : {}),
    forcePathStyle: v.FORCE_PATH_STYLE,
    ...(v.ACL ? { acl: v.ACL } : {}),
    ...(v.SERVER_SIDE_ENCRYPTION ? { serverSideEncryption: v.SERVER_SIDE_ENCRYPTION } : {}),
    ...(v.SERVER_SIDE_ENCRYPTION_KMS_KEY_ID ? { kmsKeyId: v.SERVER_SIDE_ENCRYPTION_KMS_KEY_ID } : {}),
    connectionTimeout: v.CONNECTION_TIMEOUT,
    socketTimeout: v.SOCKET_TIMEOUT,
    requestTimeout: v.REQUEST_TIMEOUT,
    maxSockets: v.MAX_SOCKETS,
    keepAlive: v.KEEP_ALIVE,
    chunkSize: v.TUS__CHUNK_SIZE,
    partConcurrency: v.PART_CONCURRENCY,
    partMemory: v.PART_MEMORY,
    equalPartSize: v.EQUAL_PART_SIZE,
    streamParts: v.STREAM_PARTS,
    maxAttempts: v.MAX_ATTEMPTS,
    checksumCalculation: v.CHECKSUM_CALCULATION ?? 'WHEN_REQUIRED',
    ...locationLimitsOf(v),
  };
}
