/** unknownVariables: the names a deployment's environment sets that the configuration would ignore. */
import t from 'tap';
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
