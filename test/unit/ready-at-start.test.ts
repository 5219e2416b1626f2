/** The warnings of the check at start (main.ts): one per location not ready, naming it and what to do. */
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { notReadyWarnings } from '../../src/http/health.js';

const config = parseConfig({
  STORAGE_LOCATIONS: 'media,disk',
  STORAGE_MEDIA_DRIVER: 's3',
  STORAGE_MEDIA_BUCKET: 'my-uploads',
  STORAGE_MEDIA_REGION: 'eu-west-1',
  STORAGE_DISK_DRIVER: 'local',
  STORAGE_DISK_ROOT: '/srv/uploads',
});

t.test('every location ready: no warning', async (t) => {
  t.same(notReadyWarnings({ ok: true, checks: { media: { ok: true }, disk: { ok: true } }, at: 0 }, config.locations), []);
});

t.test('a missing bucket, a directory that cannot be written, Redis away', async (t) => {
  const warnings = notReadyWarnings(
    {
      ok: false,
      checks: {
        media: {
          ok: false,
          error:
            'Storage location "media": S3 refused PutObject on bucket "my-uploads" key ".tus-readyz" (NoSuchBucket, HTTP 404). The bucket does not exist: check STORAGE_MEDIA_BUCKET, STORAGE_MEDIA_ENDPOINT and STORAGE_MEDIA_REGION. The server never creates buckets.',
        },
        disk: { ok: false, error: "EACCES: permission denied, mkdir '/srv/uploads'" },
        redis: { ok: false, error: 'Redis does not answer (REDIS / REDIS_HOST): upload locks are unavailable' },
      },
      at: 0,
    },
    config.locations,
  );
  t.equal(warnings.length, 3);
  const [media, disk, redis] = warnings;
  t.match(media?.details, { location: 'media', driver: 's3', bucket: 'my-uploads' });
  t.equal(
    media?.message,
    'Storage location "media" (bucket "my-uploads") is not ready at start: S3 refused PutObject on bucket "my-uploads" key ".tus-readyz" (NoSuchBucket, HTTP 404). The bucket does not exist: check STORAGE_MEDIA_BUCKET, STORAGE_MEDIA_ENDPOINT and STORAGE_MEDIA_REGION. The server never creates buckets. Create the bucket (aws s3 mb s3://my-uploads) or correct STORAGE_MEDIA_BUCKET. The server keeps serving meanwhile: /readyz answers 503 and requests for this location fail until it is fixed; a bucket created or a permission granted later is used without a restart.',
  );
  t.match(disk?.details, { location: 'disk', driver: 'local', root: '/srv/uploads' });
  t.match(
    disk?.message,
    /^Storage location "disk" \(directory \/srv\/uploads\) is not ready at start: EACCES: permission denied, mkdir '\/srv\/uploads'\. Check that STORAGE_DISK_ROOT exists or can be made, and is writable by this process\. The server keeps serving/,
  );
  t.same(redis?.details, { check: 'redis', error: 'Redis does not answer (REDIS / REDIS_HOST): upload locks are unavailable' });
  t.equal(redis?.message, 'redis is not ready at start: Redis does not answer (REDIS / REDIS_HOST): upload locks are unavailable.');
});

t.test('another S3 failure: no advice to create the bucket', async (t) => {
  const [w] = notReadyWarnings({ ok: false, checks: { media: { ok: false, error: 'no answer within 3000 ms' } }, at: 0 }, config.locations);
  t.equal(
    w?.message,
    'Storage location "media" (bucket "my-uploads") is not ready at start: no answer within 3000 ms. The server keeps serving meanwhile: /readyz answers 503 and requests for this location fail until it is fixed; a bucket created or a permission granted later is used without a restart.',
  );
});
