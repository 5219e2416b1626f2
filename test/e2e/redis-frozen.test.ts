/**
 * A Redis that keeps its connections open but answers nothing (frozen with SIGSTOP: a hung or
 * swapping server, a network path that drops packets): requests that need a lock answer 503
 * naming Redis within the command timeout instead of waiting for ever, and the instance is
 * served again as soon as Redis answers (issue 21, found by the hostile probe).
 */
import t from 'tap';
import { COMMAND_TIMEOUT_MS } from '../../src/redis/connection.js';
import { createUpload, head, patch, startAppFor } from '../helpers/app.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const redis = await startRedis();
t.teardown(() => redis.close());

t.test('a frozen Redis: 503 within the command timeout, then served again', async (t) => {
  const app = await startAppFor(t, { REDIS: redis.url, TUS_LOCK_TIMEOUT: '60s' });
  await until(async () => (await fetch(`${app.url}/readyz`)).status === 200, 'the instance connected to Redis');
  const url = await createUpload(app.url, 10);
  t.equal((await patch(url, 0, Buffer.from('hello'))).status, 204);

  const pid = redis.pid as number;
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  const resume = () => {
    if (!resumed) process.kill(pid, 'SIGCONT');
    resumed = true;
  };
  t.teardown(resume);
  for (const [what, request] of [
    ['HEAD', () => head(url)],
    ['PATCH', () => patch(url, 5, Buffer.from('world'))],
  ] as const) {
    const started = Date.now();
    const res = await request();
    const took = Date.now() - started;
    t.equal(res.status, 503, `${what}: 503 while Redis does not answer`);
    // (A HEAD answer has no body to say it in.)
    if (what !== 'HEAD') t.match(await res.text(), /Redis/, `${what}: the answer names Redis`);
    t.ok(res.headers.get('retry-after'), `${what}: Retry-After`);
    // Far below TUS_LOCK_TIMEOUT (60 s): the command timeout answered, not the lock wait.
    t.ok(took < COMMAND_TIMEOUT_MS + 10_000, `${what}: answered in ${took} ms (command timeout ${COMMAND_TIMEOUT_MS} ms)`);
  }
  resume();
  await until(async () => (await head(url)).status === 200, 'HEAD answered again once Redis answers');
  t.pass('HEAD answers again once Redis does');
  const res = await patch(url, 5, Buffer.from('world'));
  t.equal(res.status, 204, 'and the upload goes on');
  t.equal(res.headers.get('upload-offset'), '10');
});
