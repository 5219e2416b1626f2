/** Every provider preset in config/ loads through the real config loader into the right client settings. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig, type S3Location } from '../../src/config/index.js';
import type { AzureLocation } from '../../src/stores/azure/config.js';
import { createS3Client } from '../../src/stores/s3/client.js';
import { planParts } from '../../src/stores/s3/part-size.js';

const dir = new URL('../../config/', import.meta.url).pathname;

const expected: Record<string, Omit<Partial<S3Location>, 'driver'> & { endpointHost?: string; driver: string }> = {
  'aws.env': { driver: 's3', region: 'eu-west-1', forcePathStyle: false },
  'aws-root.env': { driver: 's3', root: 'tenants/acme/uploads/' },
  'aws-iam-role.env': { driver: 's3', region: 'us-east-1' },
  'aws-public-read.env': { driver: 's3', acl: 'public-read' },
  'aws-sse-aes256.env': { driver: 's3', serverSideEncryption: 'AES256' },
  'aws-sse-kms.env': {
    driver: 's3',
    serverSideEncryption: 'aws:kms',
    kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  },
  'spaces.env': { driver: 's3', region: 'fra1', endpointHost: 'fra1.digitaloceanspaces.com' },
  'r2.env': {
    driver: 's3',
    region: 'auto',
    equalPartSize: true,
    endpointHost: '0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
  },
  'minio.env': { driver: 's3', forcePathStyle: true, endpointHost: 'minio:9000' },
  'versitygw.env': { driver: 's3', forcePathStyle: true, endpointHost: 's3:7070' },
  'b2.env': { driver: 's3', region: 'us-west-004', endpointHost: 's3.us-west-004.backblazeb2.com' },
  'local.env': { driver: 'local' },
  'gcs-hmac.env': { driver: 's3', region: 'auto', endpointHost: 'storage.googleapis.com', checksumCalculation: 'WHEN_REQUIRED' },
  'azure.env': { driver: 'azure' },
  'azurite.env': { driver: 'azure' },
};

/** What each azure preset makes of its location. */
const azureExpected: Record<string, Partial<AzureLocation>> = {
  'azure.env': {
    container: 'uploads',
    accountName: 'mystorageaccount',
    endpoint: 'https://mystorageaccount.blob.core.windows.net',
    root: 'tus/',
  },
  'azurite.env': { container: 'uploads', accountName: 'devstoreaccount1', endpoint: 'http://127.0.0.1:10000/devstoreaccount1', root: '' },
};

t.test('one preset per case, each tested', async (t) => {
  t.same(
    readdirSync(dir)
      .filter((f) => f.endsWith('.env'))
      .sort(),
    Object.keys(expected).sort(),
  );
});

for (const [file, want] of Object.entries(expected)) {
  t.test(file, async (t) => {
    const config = loadConfig({ CONFIG_PATH: join(dir, file), PATH: process.env.PATH ?? '' });
    const location = config.locations[0];
    t.equal(location?.driver, want.driver);
    if (location?.driver === 'azure') t.match(location, azureExpected[file]);
    if (location?.driver !== 's3') return;
    const { endpointHost, driver: _d, ...fields } = want;
    t.match(location, fields);
    const client = createS3Client(location);
    t.equal(await client.config.region(), location.region, 'client region');
    t.equal(client.config.forcePathStyle, location.forcePathStyle, 'client path style');
    t.equal(
      location.credentials === undefined,
      file === 'aws-iam-role.env' || file === 'aws-root.env' || file.startsWith('aws-public') || file.startsWith('aws-sse'),
      'credentials only where given',
    );
    if (endpointHost) {
      const endpoint = await client.config.endpoint?.();
      t.equal(endpoint?.hostname + (endpoint?.port ? `:${endpoint.port}` : ''), endpointHost, 'client endpoint');
    }
    if (file === 'r2.env') {
      const plan = planParts({ size: undefined, preferred: location.chunkSize, equalParts: location.equalPartSize, maxUploadSize: 0 });
      t.equal(plan.tiered, false, 'R2: equal part sizes even for deferred lengths');
    }
    client.destroy();
  });
}
