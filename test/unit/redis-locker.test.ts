/**
 * The Redis locker against a real redis-server: exclusive, release requests reach the holder
 * (pub/sub), 423 after the wait, a crashed holder's lock expires, unlock never deletes a lock
 * it no longer holds, renewal keeps a long request's lock, Redis away is REDIS_UNAVAILABLE.
 * A lock lost while held (its key gone or another's, Redis restarted empty, Redis unreachable
 * until the lock would expire) is told through its hold (LockHold): `lost` aborts with the
 * answer, `verify` rejects, the request is asked to stop.
 */
import type { Lock } from '@tus/utils';
import { ERRORS } from '@tus/utils';
import t, { type Test } from 'tap';
import { connectRedis } from '../../src/redis/connection.js';
import { LOCK_LOST, LOCK_NOT_KEPT, REDIS_UNAVAILABLE, RedisLocker } from '../../src/redis/locker.js';
import type { LockHold } from '../../src/stores/capabilities.js';
import { holdOf, TimedLocker } from '../../src/tus/timed-locker.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';

const redis = await startRedis();
t.teardown(() => redis.close());
const connections = await connectRedis({ url: redis.url, port: redis.port, db: 0, prefix: 't:' });
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

/** What taking the lock of `id` on `l` fails with (undefined if it is taken). */
const lockError = (l: RedisLocker, id: string) =>
  l
    .newLock(id)
    .lock(never, () => undefined)
    .then(
      () => undefined,
      (e: unknown) => e,
    );

t.test('a holder that does not let go: 423 (ERR_LOCK_TIMEOUT) after the wait', async (t) => {
  const l = locker({ wait: 600 });
  const holder = l.newLock('u2');
  await holder.lock(never, () => undefined);
  const started = Date.now();
  const error = await lockError(l, 'u2');
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
  const error = await lockError(l, 'u5');
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

const holdOfLock = (lock: Lock): LockHold => {
  const hold = holdOf(lock);
  if (!hold) throw new Error('the Redis lock has no hold');
  return hold;
};
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

t.test('a lock whose key is gone: verify rejects LOCK_LOST, lost aborts with it, the request is asked to stop', async (t) => {
  const errors: string[] = [];
  const l = new RedisLocker({
    redis: connections.redis,
    subscriber: connections.subscriber,
    prefix: 't:',
    ttl: 30_000,
    wait: 2000,
    log: { warn: () => undefined, error: (_d, message) => errors.push(message) },
  });
  // Through the TimedLocker, as the app wires it: the hold is the Redis lock's.
  const lock = new TimedLocker(l, () => undefined).newLock('u7');
  let released = 0;
  await lock.lock(never, () => {
    released += 1;
  });
  const hold = holdOfLock(lock);
  await redisCommand(redis, 'PEXPIRE', 't:lock:u7', '5000');
  await hold.verify();
  t.ok(Number(await redisCommand(redis, 'PTTL', 't:lock:u7')) > 25_000, 'verify renews the lock (its TTL extended again)');
  t.notOk(hold.lost.aborted, 'not lost');
  await redisCommand(redis, 'DEL', 't:lock:u7');
  t.equal(await rejection(hold.verify()), LOCK_LOST, 'verify: LOCK_LOST once the key is gone');
  t.ok(hold.lost.aborted, 'lost aborted');
  t.equal(hold.lost.reason, LOCK_LOST, 'with LOCK_LOST (409)');
  t.equal(LOCK_LOST.status_code, 409);
  t.match(LOCK_LOST.body, /HEAD/);
  t.equal(released, 1, 'the request was asked to stop (once)');
  t.match(errors, [/upload lock lost/], 'logged as an error');
  t.equal(await rejection(hold.verify()), LOCK_LOST, 'a lost lock stays lost');
  // Another request takes the upload meanwhile; unlocking the lost lock leaves its lock alone.
  await redisCommand(redis, 'SET', 't:lock:u7', 'the-new-holder');
  t.equal(await rejection(hold.verify()), LOCK_LOST, 'never taken back');
  await lock.unlock();
  t.equal(await redisCommand(redis, 'GET', 't:lock:u7'), 'the-new-holder', "unlock leaves the new holder's lock");
  await redisCommand(redis, 'DEL', 't:lock:u7');
});

t.test('a lock taken over by another token is found lost at the next renewal, without anyone asking', async (t) => {
  const l = locker({ ttl: 600 });
  const lock = l.newLock('u8');
  let released = 0;
  await lock.lock(never, () => {
    released += 1;
  });
  const hold = holdOfLock(lock);
  await redisCommand(redis, 'SET', 't:lock:u8', 'someone-else');
  await until(() => hold.lost.aborted, 'the renewal to find the lock lost', 1000, 10);
  t.equal(hold.lost.reason, LOCK_LOST);
  t.equal(released, 1);
  await lock.unlock();
  t.equal(await redisCommand(redis, 'GET', 't:lock:u8'), 'someone-else');
  await redisCommand(redis, 'DEL', 't:lock:u8');
});

t.test('Redis restarted empty: the loss is found at the reconnection, long before the next renewal', async (t) => {
  const l = locker({ ttl: 60_000 });
  const lock = l.newLock('u9');
  await lock.lock(never, () => undefined);
  const hold = holdOfLock(lock);
  await redis.stop('SIGKILL');
  await redis.start();
  const started = Date.now();
  await until(() => hold.lost.aborted, 'the reconnection to find the lock lost', 10_000, 10);
  t.ok(Date.now() - started < 5000, `lost ${Date.now() - started} ms after Redis came back (renewal: every 20 s)`);
  t.equal(hold.lost.reason, LOCK_LOST);
  await lock.unlock();
  await until(() => connections.ping(), 'reconnected', 10_000, 100);
});

/** A connection to Redis through a TCP proxy the test can take down and bring up; both closed with the test. */
async function redisThroughProxy(t: Test) {
  const proxy = await startTcpProxy({ host: redis.host, port: redis.port });
  t.teardown(() => proxy.close());
  const through = await connectRedis({
    url: `redis://:${encodeURIComponent(redis.password)}@127.0.0.1:${proxy.port}/0`,
    port: proxy.port,
    db: 0,
    prefix: 't:',
  });
  t.teardown(() => through.close());
  await until(() => through.ping(), 'connected through the proxy');
  return { proxy, through };
}

t.test('Redis unreachable for a moment, its keys kept: verify waits for it and the lock is still held', async (t) => {
  const { proxy, through } = await redisThroughProxy(t);
  const l = new RedisLocker({ redis: through.redis, subscriber: through.subscriber, prefix: 't:', ttl: 6000, wait: 2000 });
  const lock = l.newLock('u10');
  await lock.lock(never, () => undefined);
  const hold = holdOfLock(lock);
  await proxy.down();
  const asked = Date.now();
  const verified = hold.verify();
  await new Promise((r) => setTimeout(r, 800));
  await proxy.up();
  await verified;
  t.ok(Date.now() - asked >= 700, `verify answered once Redis was reachable again (${Date.now() - asked} ms)`);
  t.notOk(hold.lost.aborted, 'still held');
  await lock.unlock();
  t.equal(await redisCommand(redis, 'EXISTS', 't:lock:u10'), 0, 'released');
});

t.test('Redis unreachable until the lock could expire: LOCK_NOT_KEPT (503)', async (t) => {
  const { proxy, through } = await redisThroughProxy(t);
  const l = new RedisLocker({ redis: through.redis, subscriber: through.subscriber, prefix: 't:', ttl: 1500, wait: 2000 });
  const lock = l.newLock('u11');
  let released = 0;
  await lock.lock(never, () => {
    released += 1;
  });
  const hold = holdOfLock(lock);
  await proxy.down();
  const asked = Date.now();
  t.equal(await rejection(hold.verify()), LOCK_NOT_KEPT, 'verify: LOCK_NOT_KEPT');
  t.ok(Date.now() - asked < 1500, `given up before the TTL (${Date.now() - asked} ms)`);
  t.equal(hold.lost.reason, LOCK_NOT_KEPT);
  t.equal(LOCK_NOT_KEPT.status_code, 503);
  t.equal(released, 1);
  await proxy.up();
  await lock.unlock();
});

/**
 * A locker whose Redis takes each command at once but answers SET and the renewals
 * `state.answerMs` later (a slow network), or, while `failing`, does not answer renewals at all.
 * `confirmedSent` is when the last SET or renewal Redis confirmed was sent (the key's TTL runs
 * from then); `sent` lists when each renewal was sent.
 */
function slowAnswers(ttl: number, answerMs: number) {
  const state = { failing: false, answerMs, confirmedSent: 0, sent: [] as number[] };
  const late = async <T>(command: () => Promise<T>, confirmed: (result: T) => boolean): Promise<T> => {
    const sent = performance.now();
    const result = await command();
    if (confirmed(result)) state.confirmedSent = Math.max(state.confirmedSent, sent);
    await new Promise((r) => setTimeout(r, state.answerMs));
    return result;
  };
  const slow = new Proxy(connections.redis, {
    get(target, prop, receiver) {
      if (prop === 'eval')
        return (...args: Parameters<typeof target.eval>) => {
          if (state.failing) return Promise.reject(new Error('Redis does not answer'));
          state.sent.push(performance.now());
          return late(
            () => target.eval(...args),
            (result) => result === 1,
          );
        };
      if (prop === 'set')
        return (...args: Parameters<typeof target.set>) =>
          late(
            () => (target.set as (...a: unknown[]) => Promise<unknown>)(...args),
            (result) => result === 'OK',
          );
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { state, locker: new RedisLocker({ redis: slow, subscriber: connections.subscriber, prefix: 't:', ttl, wait: 20_000 }) };
}

t.test('answers that come late: the lock is given up before its key can expire, counted from when the command was sent', async (t) => {
  // Redis answers 3 s late: counted from the answers, the holder would rely on the lock until
  // 3 + 4 s after the last SET or renewal Redis took, past the 6 s TTL. TTLs of seconds, so that
  // a test process stalled under load does not decide the outcome.
  const ttl = 6000;
  const { state, locker: l } = slowAnswers(ttl, 3000);
  const lock = l.newLock('u12');
  await lock.lock(never, () => undefined);
  const hold = holdOfLock(lock);
  await hold.verify();
  t.ok(state.confirmedSent > 0, 'taken and renewed, each answered 3 s late: still relied on');
  state.failing = true;
  t.equal(await rejection(hold.verify()), LOCK_NOT_KEPT, 'then not renewed: LOCK_NOT_KEPT');
  const age = performance.now() - state.confirmedSent;
  t.ok(age < ttl, `given up ${Math.round(age)} ms after the last command Redis confirmed was sent, before its TTL of ${ttl} ms ran out`);
  state.failing = false;
  await lock.unlock();
});

t.test('a renewal answered after two thirds of the TTL does not vouch for a write: LOCK_NOT_KEPT', async (t) => {
  const ttl = 6000;
  const { state, locker: l } = slowAnswers(ttl, 0);
  const lock = l.newLock('u13');
  let released = 0;
  await lock.lock(never, () => {
    released += 1;
  });
  const hold = holdOfLock(lock);
  state.answerMs = 4100;
  const asked = performance.now();
  t.equal(await rejection(hold.verify()), LOCK_NOT_KEPT, 'verify: LOCK_NOT_KEPT, although Redis renewed it');
  const own = state.sent.find((at) => at >= asked);
  t.ok(own !== undefined && own - asked < 100, "verify's own renewal was sent at once");
  const age = performance.now() - (own ?? 0);
  t.ok(age >= 4100 && age < ttl, `refused when its answer came, ${Math.round(age)} ms after it was sent, within the TTL of ${ttl} ms`);
  t.equal(hold.lost.reason, LOCK_NOT_KEPT, 'the hold is lost');
  t.equal(released, 1, 'the request is asked to stop');
  await lock.unlock();
});
