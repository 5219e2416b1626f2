/**
 * The Redis locker against a real redis-server: exclusive, release requests reach the holder
 * (pub/sub), 423 after the wait, a crashed holder's lock expires, unlock never deletes a lock
 * it no longer holds, renewal keeps a long request's lock, Redis away is REDIS_UNAVAILABLE.
 */
import { ERRORS } from '@tus/utils';
import t from 'tap';
import { connectRedis } from '../../src/redis/connection.js';
import { REDIS_UNAVAILABLE, RedisLocker } from '../../src/redis/locker.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const redis = await startRedis();
t.teardown(() => redis.close());
const connections = connectRedis({ url: redis.url, port: redis.port, db: 0, prefix: 't:' });
t.teardown(() => connections.close());
await until(() => connections.ping(), 'Redis connected');
const locker = (options: { ttl?: number; wait?: number } = {}) =>
  new RedisLocker({
    redis: connections.redis,
    subscriber: connections.subscriber,
    prefix: 't:',
    ttl: options.ttl ?? 3000,
    wait: options.wait ?? 2000,
  });
const never = new AbortController().signal;

t.test('one holder at a time; the holder is asked to let go, then the next one takes it', async (t) => {
  const l = locker();
  const first = l.newLock('u1');
  let asked = 0;
  await first.lock(never, () => {
    asked += 1;
    void first.unlock();
  });
  t.equal(await redisCommand(redis, 'EXISTS', 't:lock:u1'), 1);
  const second = l.newLock('u1');
  const started = Date.now();
  await second.lock(never, () => undefined);
  t.ok(asked >= 1, 'the holder was asked to release');
  t.ok(Date.now() - started < 1500, 'taken soon after the release');
  await second.unlock();
  t.equal(await redisCommand(redis, 'EXISTS', 't:lock:u1'), 0, 'released');
});

t.test('a holder that does not let go: 423 (ERR_LOCK_TIMEOUT) after the wait', async (t) => {
  const l = locker({ wait: 600 });
  const holder = l.newLock('u2');
  await holder.lock(never, () => undefined);
  const started = Date.now();
  const error = await l
    .newLock('u2')
    .lock(never, () => undefined)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.equal(error, ERRORS.ERR_LOCK_TIMEOUT, 'lock timeout (423)');
  t.ok(Date.now() - started >= 550, 'waited');
  await holder.unlock();
});

t.test('a crashed holder (key left, nobody renewing) frees itself by its TTL', async (t) => {
  await redisCommand(redis, 'SET', 't:lock:u3', 'dead-instance-token', 'PX', '800');
  const l = locker({ wait: 3000 });
  const started = Date.now();
  const lock = l.newLock('u3');
  await lock.lock(never, () => undefined);
  t.ok(Date.now() - started >= 600, `taken after the TTL (${Date.now() - started} ms)`);
  await lock.unlock();
});

t.test('unlock deletes only its own token (compare-and-delete)', async (t) => {
  const l = locker({ ttl: 1000 });
  const lock = l.newLock('u4');
  await lock.lock(never, () => undefined);
  // Another instance took the key over (as after an expiry).
  await redisCommand(redis, 'SET', 't:lock:u4', 'someone-else');
  await lock.unlock();
  t.equal(await redisCommand(redis, 'GET', 't:lock:u4'), 'someone-else');
  await redisCommand(redis, 'DEL', 't:lock:u4');
});

t.test('renewal keeps a long request holding its lock past the TTL', async (t) => {
  const l = locker({ ttl: 600, wait: 300 });
  const lock = l.newLock('u5');
  await lock.lock(never, () => undefined);
  const until1500 = Date.now() + 1500;
  await until(() => Date.now() > until1500, 'longer than two TTLs', 3000, 100);
  const error = await l
    .newLock('u5')
    .lock(never, () => undefined)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.equal(error, ERRORS.ERR_LOCK_TIMEOUT, 'still held');
  await lock.unlock();
});

t.test('Redis away: REDIS_UNAVAILABLE at once (503), and locks work again when it returns', async (t) => {
  await redis.stop();
  const started = Date.now();
  const error = await locker()
    .newLock('u6')
    .lock(never, () => undefined)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.equal(error, REDIS_UNAVAILABLE, 'REDIS_UNAVAILABLE');
  t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`);
  await redis.start();
  await until(() => connections.ping(), 'reconnected', 10_000, 100);
  const lock = locker().newLock('u6');
  await lock.lock(never, () => undefined);
  await lock.unlock();
});
