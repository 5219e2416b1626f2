/**
 * unknownVariables: the names a deployment's environment sets that the configuration would ignore;
 * and the start-up warning for a misspelt name under this server's own prefixes.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { unknownVariables } from '../../src/config/variables.js';

t.test('server variables, STORAGE_LOCATIONS, CONFIG_PATH and *_FILE forms are known', async (t) => {
  t.same(unknownVariables({ PORT: '1', REDIS_HOST: 'r', CONFIG_PATH: '.env', STORAGE_LOCATIONS: '', AUTH_JWT_SECRET_FILE: '/s' }), []);
  t.same(unknownVariables({ PORTS: '1', REDIS_HOSTNAME: 'r', NODE_ENV: 'production' }), ['PORTS', 'REDIS_HOSTNAME', 'NODE_ENV']);
});

t.test("a listed location's driver settings are known, misspelt ones and other locations' are not", async (t) => {
  const env = {
    STORAGE_LOCATIONS: 's3, Disk',
    STORAGE_S3_DRIVER: 's3',
    STORAGE_S3_BUCKET: 'b',
    STORAGE_S3_SECRET_FILE: '/s',
    STORAGE_S3_ROOT: '',
    STORAGE_DISK_DRIVER: 'local',
    STORAGE_DISK_ROOT: '/data',
  };
  t.same(unknownVariables(env), []);
  t.same(unknownVariables({ ...env, STORAGE_S3_BUCKIT: 'b', STORAGE_DISK_BUCKET: 'b', STORAGE_OTHER_ROOT: '/x' }), [
    'STORAGE_S3_BUCKIT',
    'STORAGE_DISK_BUCKET',
    'STORAGE_OTHER_ROOT',
  ]);
});

t.test('unset STORAGE_LOCATIONS: the zero-config local location; an unknown driver knows no setting', async (t) => {
  t.same(unknownVariables({ STORAGE_LOCAL_ROOT: '/data', STORAGE_S3_BUCKET: 'b' }), ['STORAGE_S3_BUCKET']);
  t.same(unknownVariables({ STORAGE_LOCATIONS: 'x', STORAGE_X_DRIVER: 'ftp', STORAGE_X_ROOT: '/' }), ['STORAGE_X_ROOT']);
});

t.test(
  'a misspelt HOOKS_/TUS_/SERVER_/METRICS_ name is warned about at start, naming the known ones; Directus-only names are not',
  async (t) => {
    const { warnings } = parseConfig({
      HOOKS_EVENTS: 'post-finish',
      TUS_CHUNKSIZE: '8mb',
      SERVER_MAX_CONNECTION: '10',
      METRICS_TOKENS_FILE: '/run/secrets/metrics',
      METRICS_TOKEN: 'x',
      TUS_ENABLED: 'true',
      METRICS_SCHEDULE: '*/1 * * * *',
      TUS_PATH: '/files',
      DB_CLIENT: 'pg',
      SERVER_SHUTDOWN_TIMEOUT: '1000',
      TUS_NODE_CACHE: '/cache',
      TUS_S3_SERVER_SERVICE_HOST: '10.0.0.1',
      TUS_S3_SERVER_SERVICE_PORT_TUS: '80',
      TUS_S3_SERVER_PORT: 'tcp://10.0.0.1:80',
      TUS_S3_SERVER_PORT_80_TCP_ADDR: '10.0.0.1',
    });
    const ignored = warnings.filter((w) => w.includes('is not a setting of this server'));
    t.same(
      ignored.map((w) => w.split(' ')[0]),
      ['HOOKS_EVENTS', 'METRICS_TOKEN', 'SERVER_MAX_CONNECTION', 'TUS_CHUNKSIZE'],
    );
    t.match(ignored[0], /^HOOKS_EVENTS is not a setting of this server and is ignored; known: .*HOOKS_ENABLED_EVENTS/);
    t.match(ignored[3], /known: .*TUS_CHUNK_SIZE/);
  },
);
