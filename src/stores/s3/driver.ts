/** The s3 driver's registry entry (../drivers.ts): S3 and S3-compatible buckets. */
import { defineDriver } from '../driver.js';
import { S3_DRIVER, type S3Location, s3CrossChecks, s3LocationOf, s3LocationSchema } from './config.js';
import { MIN_PART_SIZE } from './part-size.js';

export const s3Driver = defineDriver({
  name: S3_DRIVER,
  settings: {
    schema: ({ chunkSize }) => s3LocationSchema(chunkSize ?? MIN_PART_SIZE),
    secrets: ['KEY', 'SECRET'],
    crossChecks: s3CrossChecks,
    location: s3LocationOf,
  },
  // Imported when a location of this driver is configured: its client library is not loaded otherwise.
  createStore: async (location: S3Location, options) => (await import('./index.js')).createS3Store(location, options),
  // The key the store recorded (a key template's, or `<root><id>`).
  hookStorage:
    (location) =>
    ({ id, storage }) => ({ Type: 's3store', Bucket: location.bucket, Key: storage?.path ?? `${location.root}${id}` }),
  notReady(location, { name, reason, sentence, serving }) {
    const create = /\(NoSuchBucket\b/.test(reason)
      ? ` Create the bucket (aws s3 mb s3://${location.bucket}) or correct STORAGE_${name.toUpperCase()}_BUCKET.`
      : '';
    return {
      details: { location: name, driver: S3_DRIVER, bucket: location.bucket, error: reason },
      message: `Storage location "${name}" (bucket "${location.bucket}") is not ready at start: ${sentence}${create} ${serving} a bucket created or a permission granted later is used without a restart.`,
    };
  },
  capabilities: {
    warnWithoutAuth: true,
    keyTemplates: true,
    sockets: (location) => location.maxSockets,
    partMemory: {
      variable: 'PART_MEMORY',
      of: (location) => location.partMemory,
      chunkSize: (location) => location.chunkSize,
      with: (location, partMemory) => ({ ...location, partMemory }),
    },
  },
});
