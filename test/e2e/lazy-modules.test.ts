/**
 * A server loads only what its configuration uses (issue 24): no S3 or Azure client without such
 * a location, no file store without a local one, no Redis client without REDIS, no JWT library
 * without authentication, no hook machinery (outboxes, delivery) without HOOKS_*. The built
 * server runs with a recorder of every module it loads (test/helpers/module-recorder.mjs), takes
 * an upload, and the record is read once it has exited.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { SERVER_NODE_FLAGS } from '../../scripts/runtime.mjs';
import { startProcess } from '../helpers/process.js';
import { redisTestServer } from '../helpers/redis.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';

const RECORDER = pathToFileURL(resolve(import.meta.dirname, '../helpers/module-recorder.mjs')).href;
const S3_CLIENT = 'node_modules/@aws-sdk/client-s3/';
const AZURE_CLIENT = 'node_modules/@azure/storage-blob/';
const FILE_STORE = 'node_modules/@tus/file-store/';
const REDIS_CLIENT = 'node_modules/ioredis/';
const JWT = 'node_modules/jose/';
const HOOKS = ['dist/hooks/start.js', 'dist/hooks/mount.js', 'dist/hooks/hooks.js', 'dist/hooks/delivery.js', 'dist/hooks/outbox.js'];

/** The modules a server with `env` loads through start-up, one upload and shutdown. */
async function loadedBy(t: Test, env: Record<string, string>): Promise<string[]> {
  const dir = scratchDir(t, 'tus-lazy-');
  const record = join(dir, 'modules.txt');
  const server = await startProcess(
    { STORAGE_LOCAL_ROOT: join(dir, 'uploads'), ...env, MODULE_RECORD_FILE: record },
    { cwd: dir, nodeOptions: [...SERVER_NODE_FLAGS, `--import=${RECORDER}`] },
  );
  const created = await fetch(`${server.url}/files/`, {
    method: 'POST',
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '5', 'Content-Type': 'application/offset+octet-stream', ...(await authOf(env)) },
    body: 'hello',
  });
  t.equal(created.status, 201, `an upload created with its bytes (${await created.text()})`);
  t.equal(await server.stop(), 0, 'the server exited cleanly');
  return readFileSync(record, 'utf8').split('\n');
}

const SECRET = randomBytes(32).toString('hex');
/** A bearer token the server takes when `env` turns authentication on. */
async function authOf(env: Record<string, string>): Promise<Record<string, string>> {
  if (!env.AUTH_JWT_SECRET) return {};
  const jwt = await new SignJWT({ sub: 'lazy-user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
  return { Authorization: `Bearer ${jwt}` };
}
const has = (modules: string[], part: string) => modules.some((url) => url.includes(part));

t.test('a local location and nothing else: no S3, Azure, Redis, JWT or hook module', async (t) => {
  const modules = await loadedBy(t, {});
  t.ok(has(modules, FILE_STORE), 'the file store is loaded (the recorder sees required and imported modules)');
  for (const part of [S3_CLIENT, AZURE_CLIENT, REDIS_CLIENT, JWT, ...HOOKS]) t.notOk(has(modules, part), `${part} not loaded`);
});

t.test('an S3 location: the S3 client, and no file store', async (t) => {
  const modules = await loadedBy(t, s3LocationEnv(s3TestServer(), uniqueRoot('lazy')));
  t.ok(has(modules, S3_CLIENT), 'the S3 client is loaded');
  for (const part of [FILE_STORE, AZURE_CLIENT, REDIS_CLIENT, JWT, ...HOOKS]) t.notOk(has(modules, part), `${part} not loaded`);
});

t.test('Redis, authentication and hooks configured: each is loaded', async (t) => {
  const modules = await loadedBy(t, {
    REDIS: redisTestServer().url,
    AUTH_JWT_SECRET: SECRET,
    HOOKS_HTTP_URL: 'http://127.0.0.1:9/hooks',
    HOOKS_HTTP_SECRET: randomBytes(32).toString('hex'),
    HOOKS_ENABLED_EVENTS: 'post-finish',
  });
  for (const part of [REDIS_CLIENT, JWT, ...HOOKS]) t.ok(has(modules, part), `${part} loaded`);
});
