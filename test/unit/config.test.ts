import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseConfig, type S3Location } from '../../src/config/index.js';
import { scratchDir } from '../helpers/scratch.js';

const s3Env = {
  STORAGE_LOCATIONS: 's3',
  STORAGE_S3_DRIVER: 's3',
  STORAGE_S3_BUCKET: 'uploads',
  STORAGE_S3_REGION: 'eu-west-1',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

t.test('no environment at all: one local location under ./uploads, defaults everywhere', async (t) => {
  const c = parseConfig({});
  t.equal(c.host, '0.0.0.0');
  t.equal(c.port, 1080);
  t.equal(c.tusPath, '/files/');
  t.equal(c.logLevel, 'info');
  t.equal(c.logStyle, 'raw');
  t.equal(c.maxUploadSize, 0);
  t.equal(c.uploadExpiration, 24 * 3600 * 1000);
  t.equal(c.publicUrl, undefined);
  t.same(c.locations, [{ name: 'local', driver: 'local', root: './uploads' }]);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.locations) && Object.isFrozen(c.locations[0]), 'deeply frozen');
});

t.test('server variables are cast', async (t) => {
  const c = parseConfig({
    HOST: '127.0.0.1',
    PORT: '8080',
    PUBLIC_URL: 'https://up.example.com/api/',
    TUS_PATH: '/uploads',
    LOG_LEVEL: 'debug',
    LOG_STYLE: 'pretty',
    FILES_MAX_UPLOAD_SIZE: '10gb',
    TUS_UPLOAD_EXPIRATION: '10m',
  });
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 8080);
  t.equal(c.publicUrl, 'https://up.example.com/api', 'trailing slash dropped');
  t.equal(c.tusPath, '/uploads/', 'trailing slash added');
  t.equal(c.logLevel, 'debug');
  t.equal(c.logStyle, 'pretty');
  t.equal(c.maxUploadSize, 10 * 1024 ** 3);
  t.equal(c.uploadExpiration, 600000);
  t.equal(parseConfig({ FILES_MAX_UPLOAD_SIZE: '1048576', TUS_UPLOAD_EXPIRATION: '5000' }).maxUploadSize, 1048576);
  t.equal(parseConfig({ TUS_UPLOAD_EXPIRATION: '5000' }).uploadExpiration, 5000);
  t.equal(parseConfig({ PORT: '' }).port, 1080, 'empty means unset');
});

t.test('s3 location: every variable and its default', async (t) => {
  const defaults = parseConfig(s3Env).locations[0] as S3Location;
  t.same(defaults, {
    name: 's3',
    driver: 's3',
    bucket: 'uploads',
    region: 'eu-west-1',
    root: '',
    forcePathStyle: false,
    connectionTimeout: 5000,
    socketTimeout: 120000,
    requestTimeout: 10000,
    maxSockets: 500,
    keepAlive: true,
    chunkSize: 5242880,
    partConcurrency: 60,
    partMemory: 96 * 1024 * 1024,
    equalPartSize: false,
    streamParts: true,
    maxAttempts: 4,
    checksumCalculation: 'WHEN_REQUIRED',
  });
  const full = parseConfig({
    ...s3Env,
    STORAGE_S3_KEY: 'AKIAEXAMPLE',
    STORAGE_S3_SECRET: 'shh',
    STORAGE_S3_ROOT: '/tenant/a/',
    STORAGE_S3_ENDPOINT: 'http://127.0.0.1:9000/',
    STORAGE_S3_FORCE_PATH_STYLE: 'true',
    STORAGE_S3_ACL: 'public-read',
    STORAGE_S3_SERVER_SIDE_ENCRYPTION: 'aws:kms',
    STORAGE_S3_SERVER_SIDE_ENCRYPTION_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:1:key/abc',
    STORAGE_S3_CONNECTION_TIMEOUT: '2s',
    STORAGE_S3_SOCKET_TIMEOUT: '60000',
    STORAGE_S3_MAX_SOCKETS: '64',
    STORAGE_S3_KEEP_ALIVE: 'false',
    STORAGE_S3_TUS__CHUNK_SIZE: '16mb',
    STORAGE_S3_PART_CONCURRENCY: '8',
    STORAGE_S3_EQUAL_PART_SIZE: 'true',
    STORAGE_S3_STREAM_PARTS: 'false',
    STORAGE_S3_MAX_ATTEMPTS: '2',
    STORAGE_S3_CHECKSUM_CALCULATION: 'WHEN_SUPPORTED',
  }).locations[0] as S3Location;
  t.equal(full.partConcurrency, 8);
  t.equal(full.equalPartSize, true);
  t.equal(full.streamParts, false);
  t.equal(full.maxAttempts, 2);
  t.equal(full.checksumCalculation, 'WHEN_SUPPORTED');
  t.same(full.credentials, { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'shh' });
  t.equal(full.root, 'tenant/a/', 'prefix normalised: no leading slash, one trailing');
  t.equal(full.endpoint, 'http://127.0.0.1:9000');
  t.equal(full.forcePathStyle, true);
  t.equal(full.acl, 'public-read');
  t.equal(full.serverSideEncryption, 'aws:kms');
  t.equal(full.kmsKeyId, 'arn:aws:kms:eu-west-1:1:key/abc');
  t.equal(full.connectionTimeout, 2000);
  t.equal(full.socketTimeout, 60000);
  t.equal(full.maxSockets, 64);
  t.equal(full.keepAlive, false);
  t.equal(full.chunkSize, 16 * 1024 * 1024);
  for (const sse of ['AES256', 'aws:kms:dsse']) {
    const l = parseConfig({ ...s3Env, STORAGE_S3_SERVER_SIDE_ENCRYPTION: sse }).locations[0] as S3Location;
    t.equal(l.serverSideEncryption, sse);
  }
});

t.test('a global TUS_CHUNK_SIZE is the default; the per-location value wins', async (t) => {
  t.equal((parseConfig({ ...s3Env, TUS_CHUNK_SIZE: '8mb' }).locations[0] as S3Location).chunkSize, 8 * 1024 * 1024);
  t.equal(
    (parseConfig({ ...s3Env, TUS_CHUNK_SIZE: '8mb', STORAGE_S3_TUS__CHUNK_SIZE: '6291456' }).locations[0] as S3Location).chunkSize,
    6291456,
  );
});

t.test('several locations, the first is the default, names are case-insensitive', async (t) => {
  const c = parseConfig({ ...s3Env, STORAGE_LOCATIONS: 'S3, archive', STORAGE_ARCHIVE_DRIVER: 'local', STORAGE_ARCHIVE_ROOT: '/data' });
  t.same(
    c.locations.map((l) => [l.name, l.driver]),
    [
      ['s3', 's3'],
      ['archive', 'local'],
    ],
  );
  t.equal(c.locations[1]?.driver === 'local' && c.locations[1].root, '/data');
});

t.test('every invalid value is reported, naming the variable, the value and what is allowed', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'http' }, /^PORT="http": expected a whole number from 0 to 65535$/],
    [{ PORT: '70000' }, /^PORT="70000": expected a whole number/],
    [{ PUBLIC_URL: 'example.com' }, /^PUBLIC_URL="example.com": expected the public base URL/],
    [{ PUBLIC_URL: 'ftp://example.com' }, /^PUBLIC_URL="ftp:\/\/example.com": expected .* http:\/\/ or https:\/\//],
    [{ TUS_PATH: 'files' }, /^TUS_PATH="files": expected a URL path starting with \//],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent$/],
    [{ LOG_STYLE: 'json' }, /^LOG_STYLE="json": expected one of raw, pretty$/],
    [{ FILES_MAX_UPLOAD_SIZE: 'lots' }, /^FILES_MAX_UPLOAD_SIZE="lots": expected a size in bytes or with a unit/],
    [{ TUS_UPLOAD_EXPIRATION: 'soon' }, /^TUS_UPLOAD_EXPIRATION="soon": expected a duration/],
    [{ TUS_CHUNK_SIZE: '1mb' }, /^TUS_CHUNK_SIZE="1mb": expected a size from 5MB \(5242880\)/],
    [{ STORAGE_LOCATIONS: 'a-b', STORAGE_A_B_DRIVER: 'local' }, /^STORAGE_LOCATIONS="a-b": location name "a-b" must start with a letter/],
    [{ STORAGE_LOCATIONS: 'x,x', STORAGE_X_DRIVER: 'local' }, /location "x" is listed twice/],
    [{ STORAGE_LOCATIONS: ' , ' }, /^STORAGE_LOCATIONS: lists no location/],
    [
      { STORAGE_LOCATIONS: 'media' },
      /^STORAGE_MEDIA_DRIVER=unset: required for the location "media" listed in STORAGE_LOCATIONS; expected one of local, s3, azure$/,
    ],
    [
      { STORAGE_LOCATIONS: 'media', STORAGE_MEDIA_DRIVER: 'gridfs' },
      /^STORAGE_MEDIA_DRIVER="gridfs": unknown driver; expected one of local, s3, azure$/,
    ],
    [
      // Directus's gcs driver: refused with the route that works instead.
      { STORAGE_LOCATIONS: 'media', STORAGE_MEDIA_DRIVER: 'gcs' },
      /^STORAGE_MEDIA_DRIVER="gcs": not available: .*through the s3 driver on its XML API with an HMAC key: DRIVER=s3, ENDPOINT=https:\/\/storage\.googleapis\.com, REGION=auto.*; expected one of local, s3, azure$/,
    ],
    [{ ...s3Env, STORAGE_S3_BUCKET: '' }, /^STORAGE_S3_BUCKET=unset: required: the bucket name$/],
    [{ ...s3Env, STORAGE_S3_REGION: '' }, /^STORAGE_S3_REGION=unset: required: the bucket region/],
    [{ ...s3Env, STORAGE_S3_KEY: 'AKIA' }, /^STORAGE_S3_SECRET=unset: required when KEY is set/],
    [{ ...s3Env, STORAGE_S3_SECRET: 'shh' }, /^STORAGE_S3_KEY=unset: required when SECRET is set$/],
    [
      { ...s3Env, STORAGE_S3_TUS__CHUNK_SIZE: '5242879' },
      /^STORAGE_S3_TUS__CHUNK_SIZE="5242879": expected a size from 5MB \(5242880\) to 5GB/,
    ],
    [{ ...s3Env, STORAGE_S3_TUS__CHUNK_SIZE: '6gb' }, /^STORAGE_S3_TUS__CHUNK_SIZE="6gb": expected a size from/],
    [
      { ...s3Env, STORAGE_S3_ACL: 'world' },
      /^STORAGE_S3_ACL="world": expected one of private, public-read, public-read-write, authenticated-read/,
    ],
    [
      { ...s3Env, STORAGE_S3_SERVER_SIDE_ENCRYPTION: 'aes' },
      /^STORAGE_S3_SERVER_SIDE_ENCRYPTION="aes": expected one of AES256, aws:kms, aws:kms:dsse$/,
    ],
    [
      { ...s3Env, STORAGE_S3_SERVER_SIDE_ENCRYPTION_KMS_KEY_ID: 'k1' },
      /^STORAGE_S3_SERVER_SIDE_ENCRYPTION_KMS_KEY_ID="k1": only allowed with SERVER_SIDE_ENCRYPTION=aws:kms/,
    ],
    [
      { ...s3Env, STORAGE_S3_SERVER_SIDE_ENCRYPTION: 'AES256', STORAGE_S3_SERVER_SIDE_ENCRYPTION_KMS_KEY_ID: 'k1' },
      /KMS_KEY_ID="k1": only allowed with/,
    ],
    [{ ...s3Env, STORAGE_S3_ENDPOINT: 'minio:9000' }, /^STORAGE_S3_ENDPOINT="minio:9000": expected the S3 endpoint URL/],
    [{ ...s3Env, STORAGE_S3_FORCE_PATH_STYLE: 'yes please' }, /^STORAGE_S3_FORCE_PATH_STYLE="yes please": expected true or false$/],
    [{ ...s3Env, STORAGE_S3_KEEP_ALIVE: 'maybe' }, /^STORAGE_S3_KEEP_ALIVE="maybe": expected true or false$/],
    [{ ...s3Env, STORAGE_S3_MAX_SOCKETS: '0' }, /^STORAGE_S3_MAX_SOCKETS="0": expected a whole number from 1/],
    [{ ...s3Env, STORAGE_S3_CONNECTION_TIMEOUT: 'fast' }, /^STORAGE_S3_CONNECTION_TIMEOUT="fast": expected a duration/],
    [{ ...s3Env, STORAGE_S3_SOCKET_TIMEOUT: '-1' }, /^STORAGE_S3_SOCKET_TIMEOUT="-1": expected a duration/],
    [{ ...s3Env, STORAGE_S3_PART_CONCURRENCY: '0' }, /^STORAGE_S3_PART_CONCURRENCY="0": expected a whole number from 1 to 1000$/],
    [{ ...s3Env, STORAGE_S3_EQUAL_PART_SIZE: 'r2' }, /^STORAGE_S3_EQUAL_PART_SIZE="r2": expected true or false$/],
    [{ ...s3Env, STORAGE_S3_MAX_ATTEMPTS: '0' }, /^STORAGE_S3_MAX_ATTEMPTS="0": expected a whole number from 1 to 20$/],
    [
      { ...s3Env, STORAGE_S3_CHECKSUM_CALCULATION: 'ALWAYS' },
      /^STORAGE_S3_CHECKSUM_CALCULATION="ALWAYS": expected one of WHEN_REQUIRED, WHEN_SUPPORTED$/,
    ],
  ];
  for (const [env, pattern] of cases) {
    const problems = problemsOf(env);
    t.ok(
      problems.some((p) => pattern.test(p)),
      `${JSON.stringify(env)} -> ${pattern}`,
      { problems },
    );
  }
});

t.test('all problems are reported at once, and secrets are not echoed', async (t) => {
  const problems = problemsOf({ ...s3Env, PORT: 'x', STORAGE_S3_BUCKET: '', STORAGE_S3_KEY: 'AKIASECRETKEY', STORAGE_S3_ACL: 'nope' });
  t.equal(problems.length, 4, problems.join('\n'));
  t.notOk(problems.join('\n').includes('AKIASECRETKEY'));
});

t.test('the ConfigError message lists one line per problem', async (t) => {
  try {
    parseConfig({ PORT: 'x', LOG_LEVEL: 'y' });
    t.fail('expected an error');
  } catch (error) {
    t.type(error, ConfigError);
    t.match((error as Error).message, /^Invalid configuration:\n {2}- PORT="x": .*\n {2}- LOG_LEVEL="y": /);
  }
});

t.test('unknown STORAGE_<LOC>_ variables give warnings, not errors', async (t) => {
  const c = parseConfig({ ...s3Env, STORAGE_S3_BUKET: 'typo' });
  t.match(c.warnings.join('\n'), /STORAGE_S3_BUKET is not a setting of the s3 driver/);
});

t.test('.env file, process precedence, and <NAME>_FILE secrets', async (t) => {
  const dir = scratchDir(t, 'tus-config-');
  const envFile = join(dir, 'app.env');
  const secretFile = join(dir, 'secret');
  writeFileSync(
    envFile,
    'STORAGE_LOCATIONS=s3\nSTORAGE_S3_DRIVER=s3\nSTORAGE_S3_BUCKET=from-file\nSTORAGE_S3_REGION=us-east-1\nSTORAGE_S3_KEY=AKIA\nPORT=1111\n',
  );
  writeFileSync(secretFile, 's3cr3t\n');
  const c = loadConfig({ CONFIG_PATH: envFile, PORT: '2222', STORAGE_S3_SECRET_FILE: secretFile, TF_CLI_CONFIG_FILE: '/nonexistent' });
  t.equal(c.port, 2222, 'the process environment wins over the file');
  const l = c.locations[0] as S3Location;
  t.equal(l.bucket, 'from-file');
  t.same(l.credentials, { accessKeyId: 'AKIA', secretAccessKey: 's3cr3t' }, 'secret read from the file, trailing newline dropped');

  t.throws(() => loadConfig({ CONFIG_PATH: join(dir, 'missing.env') }), /CONFIG_PATH=".*missing.env": cannot read the file \(ENOENT\)/);
  t.throws(
    () => loadConfig({ ...s3Env, STORAGE_S3_KEY: 'AKIA', STORAGE_S3_SECRET_FILE: join(dir, 'nope'), CONFIG_PATH: envFile }),
    /STORAGE_S3_SECRET_FILE=".*nope": cannot read the secret file \(ENOENT\)/,
  );
  t.throws(
    () => loadConfig({ CONFIG_PATH: envFile, STORAGE_S3_SECRET: 'x', STORAGE_S3_SECRET_FILE: secretFile }),
    /STORAGE_S3_SECRET_FILE: STORAGE_S3_SECRET is also set/,
  );
});
