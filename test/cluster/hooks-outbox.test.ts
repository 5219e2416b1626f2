/**
 * The hook outbox shared by two instances (dist/main.js) on one S3 root and one Redis (issue 21):
 * post-finish entries left by crashed instances are delivered after a restart (Redis is not yet
 * connected when the server starts: the sweep waits for it), entries of a crashed instance are
 * delivered by the one still running without the crashed one coming back, an entry an instance is
 * still retrying is left to it, and with Redis away at start the outbox is delivered once Redis
 * returns. TUS_LOCK_TTL=3s: a crashed instance's delivery leases expire after it, and the sweep
 * runs every TUS_LOCK_TTL.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { createUpload, patch } from '../helpers/app.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { type ServerProcess, startProcess } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { metric, until } from '../helpers/wait.js';

const SECRET = 'tus-hook-outbox-cluster-secret-7c41d2';
const LOCK_TTL = 3000;
const server = s3TestServer();
const s3 = verifyClient(server);
const redis = await startRedis();
t.teardown(() => redis.close());

/** A receiver that answers 500 to post-finish while `broken`, 200 otherwise. */
const receiver = await HookReceiver.start(SECRET);
t.teardown(() => receiver.close());
let broken = true;
receiver.respond = (hook) => (broken && hook.type === 'post-finish' ? { status: 500, body: 'receiver broken' } : {});

const FAILED = 'tus_hook_deliveries_total{event="post-finish",result="failed"}';
const DELIVERED = 'tus_hook_deliveries_total{event="post-finish",result="delivered"}';

function envOf(root: string): Record<string, string> {
  return s3LocationEnv(server, root, {
    REDIS: redis.url,
    TUS_LOCK_TTL: `${LOCK_TTL}ms`,
    HOOKS_HTTP_URL: receiver.url,
    HOOKS_HTTP_SECRET: SECRET,
    HOOKS_ENABLED_EVENTS: 'post-finish',
    HOOKS_RETRY_DELAY: '200',
    HOOKS_RETRY_MAX_DELAY: '1000',
  });
}

/** An instance, once it answers (startProcess gives up waiting after 20 s; a loaded machine may take longer). */
async function start(t: Test, env: Record<string, string>): Promise<ServerProcess> {
  const instance = await startProcess(env);
  t.teardown(() => instance.stop('SIGKILL'));
  await until(
    () =>
      fetch(`${instance.url}/healthz`).then(
        (res) => res.ok,
        () => false,
      ),
    'the instance to answer',
    120_000,
    200,
  );
  return instance;
}

/** The idempotency keys of the outbox entries under `root`. */
async function outboxKeys(root: string): Promise<string[]> {
  const keys = await listKeys(s3, server.bucket, `${root}.tus-hooks/`);
  return Promise.all(
    keys.map(async (key) => {
      const res = await s3.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
      return (JSON.parse((await res.Body?.transformToString()) ?? '{}') as { key: string }).key;
    }),
  );
}

/** Finish one 4-byte upload on `instance`; its post-finish is in the outbox once this returns. */
async function finishUpload(instance: ServerProcess): Promise<string> {
  const url = await createUpload(instance.url, 4);
  const res = await patch(url, 0, Buffer.from('data'));
  if (res.status !== 204) throw new Error(`PATCH: ${res.status}`);
  return url.split('/').pop() as string;
}

/** Distinct idempotency keys the receiver answered 2xx to (post-finish sent after `broken` was cleared). */
const deliveredKeys = (since: number) =>
  new Set(
    receiver
      .of('post-finish')
      .slice(since)
      .map((h) => h.body.IdempotencyKey as string),
  );

/** The upload ids of the post-finish hooks received since the first `since`, sorted. */
const finishedSince = (since: number) =>
  receiver
    .of('post-finish')
    .slice(since)
    .map((h) => h.body.Event.Upload.ID)
    .sort();

/** Lines of an instance's log whose message is `msg`. */
const logLines = (instance: ServerProcess, msg: string) =>
  instance
    .output()
    .split('\n')
    .filter((line) => line.includes(`"msg":"${msg}`));

t.beforeEach(() => {
  broken = true;
});

t.test('both instances killed with entries pending, both restarted: every entry is delivered and the outbox emptied', async (t) => {
  const root = uniqueRoot('outbox-both');
  const env = envOf(root);
  const [a, b] = await Promise.all([start(t, env), start(t, env)]);
  const ids = [await finishUpload(a), await finishUpload(b), await finishUpload(a), await finishUpload(b)];
  t.equal(new Set(ids).size, 4);
  await until(
    async () => (await metric(a.url, FAILED)) >= 2 && (await metric(b.url, FAILED)) >= 2,
    'both instances to fail delivering',
    30_000,
  );
  const pending = (await outboxKeys(root)).sort();
  t.equal(pending.length, 4, 'four entries in the outbox');
  await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]);

  broken = false;
  const since = receiver.of('post-finish').length;
  const [a2, b2] = await Promise.all([start(t, env), start(t, env)]);
  await until(() => deliveredKeys(since).size >= 4, 'the four entries delivered after the restart', 60_000, 100);
  t.same([...deliveredKeys(since)].sort(), pending, 'the entries left in the outbox, by their idempotency keys');
  t.same(finishedSince(since), [...ids].sort(), 'one post-finish per upload (no duplicate)');
  await until(async () => (await listKeys(s3, server.bucket, `${root}.tus-hooks/`)).length === 0, 'the outbox emptied', 30_000, 200);
  for (const instance of [a2, b2]) {
    t.same(logLines(instance, 'hook outbox resume failed'), [], 'no failed resumption');
    t.notMatch(instance.output(), /enableOfflineQueue/, 'no command sent before Redis was connected');
  }
});

t.test(
  'one instance killed with entries pending: the one still running delivers them, and left them alone while they were retried',
  async (t) => {
    const root = uniqueRoot('outbox-survivor');
    const env = envOf(root);
    const [a, b] = await Promise.all([start(t, env), start(t, env)]);
    const ids = [await finishUpload(a), await finishUpload(a), await finishUpload(a)];
    // With HOOKS_RETRY_MAX_DELAY=1s, 20 failed attempts of three entries take several seconds:
    // more than two sweep intervals (TUS_LOCK_TTL) of b, which must not take over what a retries.
    await until(async () => (await metric(a.url, FAILED)) >= 20, 'a to retry its entries for a while', 60_000, 100);
    t.equal(await metric(b.url, FAILED), 0, 'b made no attempt while a was retrying');
    t.equal(await metric(b.url, DELIVERED), 0);
    await a.stop('SIGKILL');

    broken = false;
    const since = receiver.of('post-finish').length;
    await until(() => deliveredKeys(since).size >= 3, 'the killed instance’s entries delivered by b', 60_000, 100);
    t.same(finishedSince(since), [...ids].sort(), 'each upload’s post-finish, once');
    t.equal(await metric(b.url, DELIVERED), 3, 'delivered by b');
    t.not(a.child.signalCode, null, 'a was not restarted');
    await until(async () => (await listKeys(s3, server.bucket, `${root}.tus-hooks/`)).length === 0, 'the outbox emptied', 30_000, 200);
  },
);

t.test('Redis away at start: the outbox is delivered once Redis is back', async (t) => {
  const root = uniqueRoot('outbox-redis-away');
  const env = envOf(root);
  const a = await start(t, env);
  const ids = [await finishUpload(a), await finishUpload(a)];
  await until(async () => (await metric(a.url, FAILED)) >= 2, 'a to fail delivering', 30_000);
  await a.stop('SIGKILL');
  await redis.stop('SIGKILL');
  t.teardown(() => redis.start());

  broken = false;
  const since = receiver.of('post-finish').length;
  const a2 = await start(t, env);
  // A while without Redis: /readyz reports it 25 times, 300 ms apart at least, longer than the
  // 5 s the server gives Redis to connect before it logs the wait.
  let unready = 0;
  await until(
    async () => {
      if ((await fetch(`${a2.url}/readyz`)).status === 503) unready += 1;
      return unready >= 25;
    },
    '/readyz to report Redis away',
    60_000,
    300,
  );
  t.equal(receiver.of('post-finish').length, since, 'nothing delivered while Redis is away');
  await redis.start();
  await until(() => deliveredKeys(since).size >= 2, 'the entries delivered once Redis is back', 60_000, 100);
  t.same(finishedSince(since), [...ids].sort());
  await until(async () => (await listKeys(s3, server.bucket, `${root}.tus-hooks/`)).length === 0, 'the outbox emptied', 30_000, 200);
  t.equal(logLines(a2, 'Redis is not connected').length, 1, 'the wait is logged once, not on every try');
  t.same(logLines(a2, 'hook outbox resume failed'), []);
});
