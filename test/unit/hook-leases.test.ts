/**
 * Delivery leases on hook outbox entries (real Redis): a sweep takes only entries without a
 * lease, an entry its deliverer still retries is left to it, a lease taken over stops the
 * instance that lost it, and work waiting for Redis logs the wait once.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import t from 'tap';
import { Delivery } from '../../src/hooks/delivery.js';
import { Outbox } from '../../src/hooks/outbox.js';
import { RedisLeases } from '../../src/redis/leases.js';
import { withRedis } from '../../src/redis/when-ready.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const KEY = 'hook-leases-unit-secret-5b2e90';
const redis = await startRedis();
t.teardown(() => redis.close());
/** A client as the server makes them (no offline queue), once connected. */
const client = async () => {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
  c.on('error', () => undefined);
  t.teardown(() => c.disconnect());
  await until(() => c.status === 'ready', 'the client to connect');
  return c;
};
const quiet = { info() {}, warn() {}, error() {} };

/** One outbox shared by the "instances" of a test (records in memory). */
function sharedOutbox(): Outbox {
  const records = new Map<string, string>();
  return new Outbox('loc', {
    putRecord: async (_kind: string, name: string, text: string) => void records.set(name, text),
    readRecord: async (_kind: string, name: string) => records.get(name),
    deleteRecord: async (_kind: string, name: string) => void records.delete(name),
    listRecords: async () => [...records.keys()],
  });
}

/** A receiver answering `status()`; counts attempts by idempotency key and by instance (a header). */
async function receiver(status: () => number) {
  const attempts: Array<{ key: string; by: string }> = [];
  const server = createServer((req, res) => {
    req.resume().on('end', () => {
      attempts.push({ key: String(req.headers['idempotency-key']), by: String(req.headers['x-instance']) });
      res.writeHead(status()).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, attempts };
}

function instance(url: string, leases: RedisLeases) {
  const delivery = new Delivery({
    target: { url, secret: KEY, timeout: 2000, maxResponseSize: 100 },
    retryDelay: 50,
    retryMaxDelay: 100,
    retryMaxAge: 0,
    log: quiet,
    leases,
  });
  t.teardown(() => delivery.close());
  return delivery;
}

const entry = (key: string) => ({ key, event: 'post-finish' as const, uploadId: `u-${key}`, createdAt: Date.now(), body: '{}' });

t.test('a sweep leaves an entry its deliverer retries, and takes it once the deliverer stops renewing', async (t) => {
  let status = 500;
  const r = await receiver(() => status);
  const outbox = sharedOutbox();
  const a = instance(r.url, new RedisLeases(await client(), 'a-test:', 600));
  const b = instance(r.url, new RedisLeases(await client(), 'a-test:', 600));
  await a.enqueue(outbox, entry('e1'), { 'x-instance': 'a' });
  t.equal(await redisCommand(redis, 'EXISTS', 'a-test:loc:hook:e1'), 1, 'the lease is taken with the entry');
  await until(() => r.attempts.length >= 3, 'a to retry');
  // Several lease lifetimes: a renews, so b's sweeps take nothing.
  const started = Date.now();
  await until(() => Date.now() - started > 2000 && r.attempts.length >= 10, 'a to keep retrying for 2 s', 10_000, 50);
  t.same((await b.sweep([outbox])).taken, 0, 'b takes nothing a delivers');
  t.same(b.pending(), {});
  await a.close(); // a stops (its lease is released on close)
  t.same((await b.sweep([outbox])).taken, 1, 'b takes the entry over');
  status = 200;
  await until(() => Object.keys(b.pending()).length === 0, 'b delivers it');
  t.same(await outbox.names(), [], 'removed from the outbox');
  t.equal(await redisCommand(redis, 'EXISTS', 'a-test:loc:hook:e1'), 0, 'the lease is released');
});

t.test("a crashed deliverer's lease expires by its TTL; the instance that lost a lease stops retrying", async (t) => {
  const r = await receiver(() => 500);
  const outbox = sharedOutbox();
  await outbox.add(entry('e2'));
  await redisCommand(redis, 'SET', 'b-test:loc:hook:e2', 'crashed-instance', 'PX', '800');
  const a = instance(r.url, new RedisLeases(await client(), 'b-test:', 600));
  t.same((await a.sweep([outbox])).taken, 0, 'leased by the crashed instance: left');
  await until(async () => (await a.sweep([outbox])).taken === 1, 'taken after the lease expired', 5000, 100);
  await until(() => r.attempts.length >= 2, 'a retries it');
  // Another instance holds it now (as after a partition from Redis longer than the TTL).
  await redisCommand(redis, 'SET', 'b-test:loc:hook:e2', 'other-instance', 'PX', '60000');
  await until(() => Object.keys(a.pending()).length === 0, 'a gives the entry up at its next renewal', 5000);
  const attempts = r.attempts.length;
  await until(async () => Number(await redisCommand(redis, 'PTTL', 'b-test:loc:hook:e2')) < 59_000, 'a second to pass', 5000, 50);
  t.ok(r.attempts.length <= attempts + 1, 'no further attempts from a (one may have been in flight)');
  t.equal(await redisCommand(redis, 'GET', 'b-test:loc:hook:e2'), 'other-instance', 'the other instance keeps its lease');
});

t.test('work waiting for Redis logs the wait once, and runs when Redis is back', async (t) => {
  const c = await client();
  await redis.stop('SIGKILL');
  t.teardown(() => redis.start());
  const lines: string[] = [];
  const log = {
    warn: (_: object, m: string) => void lines.push(`warn ${m}`),
    info: (_: object, m: string) => void lines.push(`info ${m}`),
  };
  let runs = 0;
  const done = withRedis(
    c,
    'the job',
    async () => {
      runs += 1;
      return (await c.set('when-ready', '1')) === 'OK';
    },
    { signal: new AbortController().signal, log },
  );
  let reconnections = 0;
  c.on('reconnecting', () => (reconnections += 1));
  await until(() => lines.length >= 1, 'the wait logged', 10_000, 50);
  await until(() => reconnections >= 10, 'several reconnection attempts while Redis is away', 10_000, 50);
  await redis.start();
  t.equal(await done.catch((error: Error) => error.message), true, 'ran once Redis was back');
  t.same(lines, ['warn Redis is not connected: the job waits for it', 'info Redis is connected: the job ran'], 'one line each');
  t.ok(runs >= 1);
});
