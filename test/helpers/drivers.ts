/**
 * Every storage driver the driver-agnostic tests run on (local, s3, azure), each giving a fresh
 * environment, and what a test reads back from whichever one it ran on.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { azureLocationEnv, azureTestServer, blobSha256, listBlobs, verifyContainer } from './azure.js';
import { sha256File } from './bytes.js';
import { listKeys, objectSha256, type S3TestServer, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from './s3.js';

export type DriverName = 'local' | 's3' | 'azure';

/**
 * The drivers a test loops over, each with a function giving a fresh environment: local (a
 * fresh directory made by startApp), S3 (on `s3`, by default the test server) and Azure (on the
 * Azurite test server), each under a fresh root named after `name`. The servers are read when
 * an environment is asked for, so a file that loads this runs its local tests without them.
 */
export function everyDriver(name: string, s3?: S3TestServer): Array<[DriverName, () => Record<string, string>]> {
  return [
    ['local', () => ({})],
    ['s3', () => s3LocationEnv(s3 ?? s3TestServer(), uniqueRoot(name))],
    ['azure', () => azureLocationEnv(azureTestServer(), uniqueRoot(name))],
  ];
}

/** The object-store root of an environment from `everyDriver` (undefined for local). */
export function storeRootOf(env: Record<string, string>): string | undefined {
  return env.STORAGE_S3_ROOT ?? env.STORAGE_AZURE_ROOT;
}

/**
 * What a location holds under `prefix` (relative to its root), sorted: the files of the local
 * directory `localRoot`, the keys of the S3 bucket, or the blobs of the Azure container
 * (uncommitted ones, staged blocks only, included), each named relative to the root.
 */
export async function storedUnder(driver: DriverName, env: Record<string, string>, localRoot: string, prefix = ''): Promise<string[]> {
  const root = storeRootOf(env) ?? '';
  const names =
    driver === 'local'
      ? readdirSync(localRoot).filter((n) => n.startsWith(prefix))
      : driver === 's3'
        ? await listKeys(verifyClient(s3TestServer()), env.STORAGE_S3_BUCKET as string, `${root}${prefix}`)
        : await listBlobs(verifyContainer(azureTestServer()), `${root}${prefix}`);
  return names.map((n) => (driver === 'local' ? n : n.slice(root.length))).sort();
}

/** The sha256 of upload `id` as the location stores it: the local file, the S3 object or the committed Azure blob. */
export async function storedSha256(driver: DriverName, env: Record<string, string>, localRoot: string, id: string): Promise<string> {
  const root = storeRootOf(env) ?? '';
  if (driver === 'local') return sha256File(join(localRoot, id));
  if (driver === 's3') return (await objectSha256(verifyClient(s3TestServer()), env.STORAGE_S3_BUCKET as string, `${root}${id}`)).sha256;
  return (await blobSha256(verifyContainer(azureTestServer()), `${root}${id}`)).sha256;
}
