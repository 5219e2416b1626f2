/** The S3-compatible test server (started by scripts/s3-server.sh, or any S3 given by S3_TEST_*). */
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { serverEnv } from './server-env.js';

export interface S3TestServer {
  endpoint: string;
  /** Endpoint that accepts x-amz-server-side-encryption: AES256 (the same one if unset). */
  sseEndpoint: string;
  region: string;
  key: string;
  secret: string;
  bucket: string;
  forcePathStyle: boolean;
}

export function s3TestServer(): S3TestServer {
  const env = serverEnv('.s3-test', 'S3_TEST_ENDPOINT');
  if (!env.S3_TEST_ENDPOINT) {
    throw new Error(
      'No S3 test server: run `npm test` (it starts one), or `bash scripts/s3-server.sh start`, or set S3_TEST_ENDPOINT, S3_TEST_KEY, S3_TEST_SECRET, S3_TEST_BUCKET',
    );
  }
  return {
    endpoint: env.S3_TEST_ENDPOINT,
    sseEndpoint: env.S3_TEST_SSE_ENDPOINT || env.S3_TEST_ENDPOINT,
    region: env.S3_TEST_REGION || 'us-east-1',
    key: env.S3_TEST_KEY ?? '',
    secret: env.S3_TEST_SECRET ?? '',
    bucket: env.S3_TEST_BUCKET || 'tus-test',
    forcePathStyle: env.S3_TEST_FORCE_PATH_STYLE !== 'false',
  };
}

/** A fresh key prefix per test, so tests sharing the bucket never see each other's objects. */
export function uniqueRoot(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}/`;
}

/** Environment of an s3 location named "s3" as the default location. */
export function s3LocationEnv(server: S3TestServer, root: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STORAGE_LOCATIONS: 's3',
    STORAGE_S3_DRIVER: 's3',
    STORAGE_S3_BUCKET: server.bucket,
    STORAGE_S3_REGION: server.region,
    STORAGE_S3_KEY: server.key,
    STORAGE_S3_SECRET: server.secret,
    STORAGE_S3_ENDPOINT: server.endpoint,
    STORAGE_S3_FORCE_PATH_STYLE: String(server.forcePathStyle),
    STORAGE_S3_ROOT: root,
    ...extra,
  };
}

export function verifyClient(server: S3TestServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: server.forcePathStyle,
    credentials: { accessKeyId: server.key, secretAccessKey: server.secret },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/**
 * The keys under a location's root but its readiness probe's: /readyz, and the check at start
 * of every process (main.ts), write an empty `<root>.tus-readyz`, overwritten by every probe.
 */
export async function storedKeys(client: S3Client, bucket: string, root: string): Promise<string[]> {
  return (await listKeys(client, bucket, root)).filter((key) => key !== `${root}.tus-readyz`);
}

export async function objectSha256(client: S3Client, bucket: string, key: string): Promise<{ sha256: string; size: number }> {
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of res.Body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** Removes every object under `prefix` (a test's own root), so large tests leave the bucket as they found it. */
export async function removeKeys(client: S3Client, bucket: string, prefix: string): Promise<void> {
  for (const Key of await listKeys(client, bucket, prefix)) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
}

export async function headObject(client: S3Client, bucket: string, key: string): Promise<HeadObjectCommandOutput> {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

/** Parts of a multipart object from its ETag ("md5-N"); 1 for an object written in one PUT. */
export function partCountOf(etag: string | undefined): number {
  const m = /-(\d+)"?$/.exec(etag ?? '');
  return m ? Number(m[1]) : 1;
}

/**
 * Whether the server refuses a second PutObject of one key with `If-None-Match: *` (412), as
 * AWS S3, MinIO and Ceph radosgw do; false when it refuses the condition (Swift's s3api: 501)
 * or ignores it. The probe object, under `root`, is removed.
 */
export async function honoursIfNoneMatch(server: S3TestServer, root: string): Promise<boolean> {
  const client = verifyClient(server);
  const Key = `${root}probe-${randomBytes(4).toString('hex')}`;
  const put = () => client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body: 'x', IfNoneMatch: '*' }));
  try {
    await put();
    await put();
    return false;
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 412) return true;
    if (status === 501) return false;
    throw error;
  } finally {
    await client.send(new DeleteObjectCommand({ Bucket: server.bucket, Key }));
    client.destroy();
  }
}

/** Create a bucket of the test's own on the test server (outside us-east-1 with its location constraint). */
export async function createBucket(server: S3TestServer, bucket: string): Promise<void> {
  await verifyClient(server).send(
    new CreateBucketCommand({
      Bucket: bucket,
      ...(server.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: server.region as never } }),
    }),
  );
}

/** Remove a bucket a test created: its multipart uploads, its objects, then the bucket. */
export async function removeBucket(server: S3TestServer, bucket: string): Promise<void> {
  const client = verifyClient(server);
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  for (const key of await listKeys(client, bucket, '')) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
