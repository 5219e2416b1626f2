/** The limits' variables: defaults, casting, per-location overrides, and misconfigurations named. */
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { configProblems } from '../helpers/config.js';

const problems = configProblems;

t.test('defaults', async (t) => {
  const c = parseConfig({});
  t.same(c.mimeTypeAllowList, ['*/*']);
  t.equal(c.maxMetadataSize, 4096);
  t.equal(c.maxMetadataKeys, 64);
  t.equal(c.bodyIdleTimeout, 60_000);
  t.equal(c.bodyMinRate, 1024);
  t.equal(c.tempMaxSize, 1024 ** 3);
  t.equal(c.headersTimeout, 60_000);
  t.equal(c.maxHeaderSize, 16 * 1024);
  t.same(c.rateLimiter, { enabled: false, points: 50, duration: 1000 });
  t.equal(c.locations[0]?.maxUploadSize, undefined, 'a location without its own limit uses the server one');
  t.equal(c.locations[0]?.mimeTypeAllowList, undefined);
});

t.test('values: units, lists lower-cased, RATE_LIMITER_DURATION in seconds as in Directus', async (t) => {
  const c = parseConfig({
    FILES_MIME_TYPE_ALLOW_LIST: ' Image/* , application/PDF ',
    TUS_MAX_METADATA_SIZE: '8kb',
    TUS_BODY_IDLE_TIMEOUT: '0',
    SERVER_HEADERS_TIMEOUT: '10s',
    RATE_LIMITER_ENABLED: 'true',
    RATE_LIMITER_POINTS: '10',
    RATE_LIMITER_DURATION: '60',
    STORAGE_LOCAL_MAX_UPLOAD_SIZE: '10mb',
    STORAGE_LOCAL_MIME_TYPE_ALLOW_LIST: 'video/*',
  });
  t.same(c.mimeTypeAllowList, ['image/*', 'application/pdf']);
  t.equal(c.maxMetadataSize, 8192);
  t.equal(c.bodyIdleTimeout, 0);
  t.equal(c.headersTimeout, 10_000);
  t.same(c.rateLimiter, { enabled: true, points: 10, duration: 60_000 });
  t.equal(parseConfig({ RATE_LIMITER_DURATION: '500ms' }).rateLimiter.duration, 500);
  t.equal(c.locations[0]?.maxUploadSize, 10 * 1024 * 1024);
  t.same(c.locations[0]?.mimeTypeAllowList, ['video/*']);
  t.equal(parseConfig({ STORAGE_LOCAL_MAX_UPLOAD_SIZE: '0' }).locations[0]?.maxUploadSize, 0, '0: no limit for this location');
  t.same(c.warnings, [], 'the per-location variables are known suffixes');
});

t.test('misconfigurations stop the start, naming the variable', async (t) => {
  t.match(problems({ FILES_MIME_TYPE_ALLOW_LIST: 'image,video/*' }), [
    /^FILES_MIME_TYPE_ALLOW_LIST="image,video\/\*": .*not a MIME type: image$/,
  ]);
  t.match(problems({ STORAGE_LOCAL_MIME_TYPE_ALLOW_LIST: 'text/ html' }), [/^STORAGE_LOCAL_MIME_TYPE_ALLOW_LIST=/]);
  t.match(problems({ STORAGE_LOCAL_MAX_UPLOAD_SIZE: 'big' }), [/^STORAGE_LOCAL_MAX_UPLOAD_SIZE="big": expected a size/]);
  t.match(problems({ TUS_MAX_METADATA_KEYS: '0' }), [/^TUS_MAX_METADATA_KEYS="0": expected a whole number from 1/]);
  t.match(problems({ SERVER_MAX_HEADER_SIZE: '100' }), [/^SERVER_MAX_HEADER_SIZE="100": expected a size from 1KB/]);
  t.match(problems({ RATE_LIMITER_POINTS: '0' }), [/^RATE_LIMITER_POINTS="0"/]);
  t.match(problems({ RATE_LIMITER_DURATION: 'soon' }), [/^RATE_LIMITER_DURATION="soon": expected a number of seconds/]);
  t.match(problems({ TUS_BODY_IDLE_TIMEOUT: '-1' }), [/^TUS_BODY_IDLE_TIMEOUT="-1"/]);
  t.match(problems({ TUS_TEMP_MAX_SIZE: 'lots' }), [/^TUS_TEMP_MAX_SIZE=/]);
  // bytes.parse alone would read these as 5 and 1 bytes.
  t.match(problems({ FILES_MAX_UPLOAD_SIZE: '5gib' }), [/^FILES_MAX_UPLOAD_SIZE="5gib": expected a size in bytes or with a unit/]);
  t.match(problems({ TUS_TEMP_MAX_SIZE: '1 banana' }), [/^TUS_TEMP_MAX_SIZE="1 banana": expected a size/]);
  t.equal(parseConfig({ FILES_MAX_UPLOAD_SIZE: '1.5 GB' }).maxUploadSize, 1.5 * 1024 ** 3);
});
