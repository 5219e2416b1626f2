/** REDIS_* as in Directus: a URL or the parts; mistakes stop the start naming the variable, never showing a password. */
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { configProblems } from '../helpers/config.js';

const problems = (env: Record<string, string>) => configProblems(env).join('\n');

t.test('unset: no Redis (one instance)', async (t) => {
  t.equal(parseConfig({}).redis, undefined);
  t.equal(parseConfig({}).lockTimeout, 30_000);
  t.equal(parseConfig({}).lockTtl, 15_000);
});

t.test('a URL, or the parts', async (t) => {
  t.match(parseConfig({ REDIS: 'rediss://user:pw@cache.example.com:6380/2' }).redis, {
    url: 'rediss://user:pw@cache.example.com:6380/2',
    port: 6380,
    db: 2,
    prefix: 'tus:',
  });
  t.same(parseConfig({ REDIS_HOST: 'redis', REDIS_PASSWORD: 'pw', REDIS_DB: '3', REDIS_PREFIX: 'uploads:' }).redis, {
    host: 'redis',
    port: 6379,
    password: 'pw',
    db: 3,
    prefix: 'uploads:',
  });
  t.equal(parseConfig({ TUS_LOCK_TIMEOUT: '5s', TUS_LOCK_TTL: '3s' }).lockTtl, 3000);
});

t.test('mistakes are named, passwords never shown', async (t) => {
  const scheme = problems({ REDIS: 'http://:secret-pw@host:6379' });
  t.match(scheme, /REDIS: the URL must start with redis:\/\/ or rediss:\/\//);
  t.notMatch(scheme, /secret-pw/);
  t.match(problems({ REDIS: 'not a url' }), /REDIS: not a URL/);
  t.match(problems({ REDIS: 'redis://h:6379', REDIS_HOST: 'h' }), /REDIS_HOST: set only one of REDIS \(a URL\) and REDIS_HOST/);
  const orphan = problems({ REDIS_PASSWORD: 'secret-pw' });
  t.match(orphan, /REDIS_PASSWORD: set without REDIS_HOST/);
  t.notMatch(orphan, /secret-pw/);
  t.match(problems({ TUS_LOCK_TTL: '10ms' }), /TUS_LOCK_TTL/);
  t.match(problems({ REDIS_PORT: '70000' }), /REDIS_PORT/);
});
