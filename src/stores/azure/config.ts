/** The variables of an azure location (STORAGE_<LOC>_*, Directus's names) and the typed location they make. */
import { z } from 'zod';
import { duration, int, required, size, text, url } from '../../config/casting.js';
import { locationLimitsOf, locationLimitsSchema } from '../../config/location-limits.js';
import type { LocationLimits, SettingProblem } from '../driver.js';
import { normalisePrefix, templateRoomProblem } from '../location-keys.js';
import { MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, MiB } from './block-size.js';

export const AZURE_DRIVER = 'azure';

export interface AzureLocation extends LocationLimits {
  readonly name: string;
  readonly driver: typeof AZURE_DRIVER;
  readonly container: string;
  readonly accountName: string;
  readonly accountKey: string;
  /** The account's blob endpoint, without trailing slash. */
  readonly endpoint: string;
  /** Prefix of every blob name, without leading slash, with a trailing one when not empty. */
  readonly root: string;
  /** Preferred block size in bytes (grown for uploads that would need more than 50,000 blocks). */
  readonly chunkSize: number;
  /** Most blocks being staged at once for this location. */
  readonly partConcurrency: number;
  /** Bytes of block buffers held at once for this location. */
  readonly partMemory: number;
  /** Attempts per Azure request, the first included. */
  readonly maxAttempts: number;
  /** Milliseconds an attempt may go without sending or receiving a byte before it is abandoned (and retried). */
  readonly socketTimeout: number;
}

// Azure's rule for container names: 3 to 63 lower-case letters, digits and single hyphens.
const CONTAINER = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
// Storage account names: 3 to 24 lower-case letters and digits.
const ACCOUNT = /^[a-z0-9]{3,24}$/;

export const azureLocationSchema = (defaultChunkSize: number) =>
  z.object({
    DRIVER: z.string().optional(),
    CONTAINER_NAME: required('the container name'),
    ACCOUNT_NAME: required('the storage account name'),
    ACCOUNT_KEY: required("the storage account's access key (or ACCOUNT_KEY_FILE)"),
    ENDPOINT: url('the blob service endpoint URL'),
    ROOT: text(''),
    TUS__CHUNK_SIZE: size(defaultChunkSize, { min: MIN_BLOCK_SIZE, max: MAX_BLOCK_SIZE }),
    PART_CONCURRENCY: int(16, { min: 1, max: 1000 }),
    PART_MEMORY: size(96 * MiB, { min: MIN_BLOCK_SIZE }),
    MAX_ATTEMPTS: int(4, { min: 1, max: 20 }),
    SOCKET_TIMEOUT: duration(120000),
    ...locationLimitsSchema,
  });

/** Rules the schema's per-variable casts cannot say: Azure's name rules and a key that is base64. */
export function azureCrossChecks(raw: Record<string, string | undefined>): SettingProblem[] {
  const issues: SettingProblem[] = [];
  const container = raw.CONTAINER_NAME?.trim();
  if (container && !CONTAINER.test(container)) {
    issues.push({
      key: 'CONTAINER_NAME',
      message: 'expected 3 to 63 lower-case letters, digits and single hyphens (Azure container name)',
    });
  }
  const account = raw.ACCOUNT_NAME?.trim();
  if (account && !ACCOUNT.test(account)) {
    issues.push({ key: 'ACCOUNT_NAME', message: 'expected 3 to 24 lower-case letters and digits (Azure storage account name)' });
  }
  const key = raw.ACCOUNT_KEY?.trim();
  if (key && !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
    issues.push({ key: 'ACCOUNT_KEY', message: "expected the account's access key as Azure shows it (base64)" });
  }
  const room = templateRoomProblem(raw);
  if (room) issues.push(room);
  return issues;
}

/** The typed azure location from its validated variables. */
export function azureLocationOf(name: string, v: z.infer<ReturnType<typeof azureLocationSchema>>): AzureLocation {
  return {
    name,
    driver: AZURE_DRIVER,
    container: v.CONTAINER_NAME,
    accountName: v.ACCOUNT_NAME,
    accountKey: v.ACCOUNT_KEY,
    endpoint: v.ENDPOINT ?? `https://${v.ACCOUNT_NAME}.blob.core.windows.net`,
    root: normalisePrefix(v.ROOT ?? ''),
    chunkSize: v.TUS__CHUNK_SIZE,
    partConcurrency: v.PART_CONCURRENCY,
    partMemory: v.PART_MEMORY,
    maxAttempts: v.MAX_ATTEMPTS,
    socketTimeout: v.SOCKET_TIMEOUT,
    ...locationLimitsOf(v),
  };
}
