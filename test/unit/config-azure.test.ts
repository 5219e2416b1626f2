/** The azure location's variables (Directus's names): values, defaults, the _FILE secret, and refusals naming the variable. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/index.js';
import type { AzureLocation } from '../../src/stores/azure/config.js';
import { scratchDir } from '../helpers/scratch.js';

const KEY = Buffer.from('not the real key, only base64').toString('base64');
const azureEnv = {
  STORAGE_LOCATIONS: 'media',
  STORAGE_MEDIA_DRIVER: 'azure',
  STORAGE_MEDIA_CONTAINER_NAME: 'uploads',
  STORAGE_MEDIA_ACCOUNT_NAME: 'myaccount',
  STORAGE_MEDIA_ACCOUNT_KEY: KEY,
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

t.test('azure location: every variable and its default', async (t) => {
  const l = parseConfig(azureEnv).locations[0] as AzureLocation;
  t.match(l, {
    name: 'media',
    driver: 'azure',
    container: 'uploads',
    accountName: 'myaccount',
    accountKey: KEY,
    endpoint: 'https://myaccount.blob.core.windows.net',
    root: '',
    chunkSize: 5 * 1024 * 1024,
    partConcurrency: 16,
    maxAttempts: 4,
  });
  const set = parseConfig({
    ...azureEnv,
    STORAGE_MEDIA_ENDPOINT: 'http://127.0.0.1:27300/devstoreaccount1/',
    STORAGE_MEDIA_ROOT: '/tenant/a/',
    STORAGE_MEDIA_TUS__CHUNK_SIZE: '2mb',
    STORAGE_MEDIA_PART_CONCURRENCY: '3',
    STORAGE_MEDIA_PART_MEMORY: '32mb',
    STORAGE_MEDIA_MAX_UPLOAD_SIZE: '1gb',
  }).locations[0] as AzureLocation;
  t.match(set, {
    endpoint: 'http://127.0.0.1:27300/devstoreaccount1',
    root: 'tenant/a/',
    chunkSize: 2 * 1024 * 1024,
    partConcurrency: 3,
    partMemory: 32 * 1024 * 1024,
    maxUploadSize: 1024 * 1024 * 1024,
  });
});

t.test('the account key may come from STORAGE_<LOC>_ACCOUNT_KEY_FILE', async (t) => {
  const dir = scratchDir(t, 'azure-key-');
  const file = join(dir, 'key');
  writeFileSync(file, `${KEY}\n`);
  // An empty .env of the test's own: the repository's .env (if any) is not read.
  writeFileSync(join(dir, 'empty.env'), '');
  const { STORAGE_MEDIA_ACCOUNT_KEY: _, ...withoutKey } = azureEnv;
  const config = loadConfig({ ...withoutKey, STORAGE_MEDIA_ACCOUNT_KEY_FILE: file, CONFIG_PATH: join(dir, 'empty.env') }, undefined);
  t.equal((config.locations[0] as AzureLocation).accountKey, KEY);
});

t.test('bad values refuse the start, naming the variable; the key is never echoed', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ ...azureEnv, STORAGE_MEDIA_CONTAINER_NAME: '' }, /^STORAGE_MEDIA_CONTAINER_NAME=unset: required: the container name$/],
    [{ ...azureEnv, STORAGE_MEDIA_CONTAINER_NAME: 'Up_Loads' }, /^STORAGE_MEDIA_CONTAINER_NAME="Up_Loads": expected 3 to 63 lower-case/],
    [{ ...azureEnv, STORAGE_MEDIA_CONTAINER_NAME: 'ab' }, /^STORAGE_MEDIA_CONTAINER_NAME="ab": expected 3 to 63/],
    [{ ...azureEnv, STORAGE_MEDIA_ACCOUNT_NAME: '' }, /^STORAGE_MEDIA_ACCOUNT_NAME=unset: required: the storage account name$/],
    [{ ...azureEnv, STORAGE_MEDIA_ACCOUNT_NAME: 'My-Account' }, /^STORAGE_MEDIA_ACCOUNT_NAME="My-Account": expected 3 to 24/],
    [{ ...azureEnv, STORAGE_MEDIA_ACCOUNT_KEY: '' }, /^STORAGE_MEDIA_ACCOUNT_KEY=unset: required: the storage account's access key/],
    [{ ...azureEnv, STORAGE_MEDIA_ACCOUNT_KEY: 'not base64!' }, /^STORAGE_MEDIA_ACCOUNT_KEY=\(hidden\): expected the account's access key/],
    [
      { ...azureEnv, STORAGE_MEDIA_ENDPOINT: 'myaccount.blob' },
      /^STORAGE_MEDIA_ENDPOINT="myaccount.blob": expected the blob service endpoint URL/,
    ],
    [{ ...azureEnv, STORAGE_MEDIA_TUS__CHUNK_SIZE: '100kb' }, /^STORAGE_MEDIA_TUS__CHUNK_SIZE="100kb": expected a size from 1MB/],
    [{ ...azureEnv, STORAGE_MEDIA_TUS__CHUNK_SIZE: '5gb' }, /^STORAGE_MEDIA_TUS__CHUNK_SIZE="5gb": expected a size from 1MB .* to 3.91GB/],
    [{ ...azureEnv, STORAGE_MEDIA_PART_CONCURRENCY: '0' }, /^STORAGE_MEDIA_PART_CONCURRENCY="0": expected a whole number from 1/],
    [{ ...azureEnv, STORAGE_MEDIA_MAX_ATTEMPTS: 'many' }, /^STORAGE_MEDIA_MAX_ATTEMPTS="many": expected a whole number/],
  ];
  for (const [env, pattern] of cases) {
    const problems = problemsOf(env);
    t.ok(
      problems.some((p) => pattern.test(p)),
      String(pattern),
      { problems },
    );
    t.notOk(problems.join('\n').includes('not base64!'), 'the key is not echoed');
  }
});

t.test('a misspelt azure variable is warned about', async (t) => {
  const config = parseConfig({ ...azureEnv, STORAGE_MEDIA_CONTAINER: 'x' });
  t.ok(config.warnings.some((w) => w.startsWith('STORAGE_MEDIA_CONTAINER is not a setting of the azure driver')));
});

t.test("TUS_CHUNK_SIZE is the default block size, within Azure's 4000 MiB", async (t) => {
  t.equal((parseConfig({ ...azureEnv, TUS_CHUNK_SIZE: '8mb' }).locations[0] as AzureLocation).chunkSize, 8 * 1024 * 1024);
  t.equal((parseConfig({ ...azureEnv, TUS_CHUNK_SIZE: '5gb' }).locations[0] as AzureLocation).chunkSize, 4000 * 1024 * 1024);
});

t.test("under a container's memory limit the azure location's part memory is sized like an s3 location's", async (t) => {
  const facts = { limit: { bytes: 160 * 1024 * 1024, source: 'constrainedMemory' as const }, heapLimit: 67 * 1024 * 1024, heapSized: true };
  const sized = parseConfig(azureEnv, facts).locations[0] as AzureLocation;
  t.ok(sized.partMemory < 96 * 1024 * 1024, `sized down from the 96 MiB default: ${sized.partMemory}`);
  t.ok(sized.partMemory >= 2 * sized.chunkSize, 'at least two blocks');
  const set = parseConfig({ ...azureEnv, STORAGE_MEDIA_PART_MEMORY: '8mb' }, facts).locations[0] as AzureLocation;
  t.equal(set.partMemory, 8 * 1024 * 1024, 'a PART_MEMORY that was set is kept');
});
