/**
 * One instance at a time (Redis): the scheduled cleanup of two "instances" sharing a Redis
 * never runs twice at once, and a crashed runner's key frees itself by its TTL.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import t from 'tap';
import { runAlone } from '../../src/redis/run-alone.js';
import { scheduleCleanup } from '../../src/tus/cleanup.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const redis = await startRedis();
t.teardown(() => redis.close());
const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
t.teardown(() => client.disconnect());

t.test('a second runner finds the job taken and does not run it', async (t) => {
  let release!: () => void;
  const first = runAlone(client, 'job:a', 2000, () => new Promise<void>((resolve) => (release = resolve)));
  await until(async () => (await redisCommand(redis, 'EXISTS', 'job:a')) === 1, 'first runner holds the key');
  let ranSecond = false;
  t.equal(
    await runAlone(client, 'job:a', 2000, async () => {
      ranSecond = true;
    }),
    false,
  );
  t.equal(ranSecond, false);
  release();
  t.equal(await first, true);
  t.equal(await redisCommand(redis, 'EXISTS', 'job:a'), 0, 'released');
  t.equal(await runAlone(client, 'job:a', 2000, async () => undefined), true, 'free again');
});

t.test("a crashed runner's key expires by its TTL", async (t) => {
  await redisCommand(redis, 'SET', 'job:b', 'dead-runner', 'PX', '500');
  t.equal(await runAlone(client, 'job:b', 2000, async () => undefined), false);
  await until(async () => runAlone(client, 'job:b', 2000, async () => undefined), 'runs after the TTL', 5000, 100);
});

t.test('two instances on one schedule: the cleanup never runs on both at once', async (t) => {
  let running = 0;
  let most = 0;
  let runs = 0;
  // A store whose cleanup takes 1.5 s, so every second both instances' schedules fire while it runs.
  const store = {
    name: 'shared',
    datastore: {
      hasExtension: () => true,
      deleteExpired: async () => {
        running += 1;
        runs += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        running -= 1;
        return 0;
      },
    } as never,
  };
  const log = pino({ level: 'silent' });
  const alone = (run: () => Promise<void>) => runAlone(client, 'tus:cleanup', 2000, run);
  const jobs = [
    scheduleCleanup('* * * * * *', [store], log, undefined, alone),
    scheduleCleanup('* * * * * *', [store], log, undefined, alone),
  ];
  t.teardown(() => {
    for (const job of jobs) job.stop();
  });
  await until(() => runs >= 2, 'two cleanups ran', 10_000, 50);
  for (const job of jobs) job.stop();
  await until(() => running === 0, 'the last run ended', 5000, 50);
  t.equal(most, 1, `never two at once (${runs} runs)`);
});
