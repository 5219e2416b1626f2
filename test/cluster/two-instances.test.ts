/**
 * Two server processes sharing one S3 location and one Redis (issue 13): the Redis locker,
 * versions of each instance's cached state, 503 while Redis is away and recovery without a
 * restart. Each test runs two fresh instances (dist/main.js) on a fresh root prefix, with
 * TUS_LOCK_TTL=3s so a crashed holder's lock frees itself quickly; the tus-js-client test goes
 * through HAProxy in round robin, the others address the instances directly. Every test ends by
 * listing the bucket: no multipart upload left, only `<id>` and `<id>.info` of each finished upload.
 *
 * TEST_CLUSTER_WITHOUT_REDIS=1 runs the same tests without REDIS, to see what Redis is for: the
 * concurrent PATCH, stalled PATCH, stale cache and outage tests fail then.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { createUpload, head, headWithin, patch, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { twoInstances } from '../helpers/cluster.js';
import { type RunningHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { idOf, offsetOf } from '../helpers/ids.js';
import type { ServerProcess } from '../helpers/process.js';
import { rawPatch } from '../helpers/raw-request.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { tusUpload } from '../helpers/tus-client.js';
import { metric, partsStored, until } from '../helpers/wait.js';

const WITH_REDIS = process.env.TEST_CLUSTER_WITHOUT_REDIS !== '1';
const LOCK_TTL = 3000;
const LOCK_TIMEOUT = 10_000;
const server = s3TestServer();
const verify = verifyClient(server);
const redis = await startRedis();
t.teardown(() => redis.close());

interface Cluster {
  root: string;
  a: ServerProcess;
  b: ServerProcess;
}

/** Two instances on a fresh root, sharing the S3 location and Redis (stopped with the test). */
async function cluster(t: Test, name: string): Promise<Cluster> {
  const root = uniqueRoot(`cluster-${name}`);
  const env = s3LocationEnv(server, root, {
    ...(WITH_REDIS ? { REDIS: redis.url } : {}),
    TUS_LOCK_TTL: `${LOCK_TTL}ms`,
    TUS_LOCK_TIMEOUT: `${LOCK_TIMEOUT}ms`,
  });
  const [a, b] = await twoInstances(t, env);
  return { root, a, b };
}

/** A cluster, and an upload of `size` random bytes created on A: its URL on A and on B. */
async function clusterUpload(t: Test, name: string, size: number) {
  const { root, a, b } = await cluster(t, name);
  const data = randomData(size);
  const url = await createUpload(a.url, size);
  const id = idOf(url);
  return { root, a, b, data, url, id, onB: `${b.url}/files/${id}` };
}

/** A PATCH of the whole upload on A that sends its first 6 MiB and stalls, once A has stored a part of it. */
async function stalledOnA(t: Test, a: ServerProcess, id: string, data: Buffer) {
  const stalled = rawPatch(`${a.url}/files/${id}`, 0, data.length);
  t.teardown(() => stalled.socket.destroy());
  await stalled.send(data.subarray(0, 6 * MiB));
  await waitInsidePatch(t, a, id);
  return stalled;
}

const lockKey = (id: string) => `tus:s3:lock:${id}`;

/** The stored object's sha256, read from the bucket. */
const storedSha = async (root: string, id: string) => (await objectSha256(verify, server.bucket, `${root}${id}`)).sha256;

/** Nothing orphaned under the root: no multipart upload, only `<id>` and `<id>.info` of each finished upload (and /readyz's probe). */
async function nothingOrphaned(t: Test, root: string, finished: string[]): Promise<void> {
  const { Uploads = [] } = await verify.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
  t.same(
    Uploads.map((u) => u.Key),
    [],
    'no multipart upload left under the root',
  );
  // /readyz's probe writes an empty `<root>.tus-readyz` (overwritten by every probe): not an upload's.
  const keys = (await listKeys(verify, server.bucket, root)).filter((key) => key !== `${root}.tus-readyz`);
  t.same(
    keys,
    finished.flatMap((id) => [`${root}${id}`, `${root}${id}.info`]).sort(),
    `the bucket holds the object and .info of the ${finished.length} finished upload(s), nothing else`,
  );
}

/** The request log lines (JSON) an instance wrote for one upload. */
function loggedRequests(instance: ServerProcess, id: string): Array<{ method: string; status: number }> {
  return instance
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; uploadId?: string; method: string; status: number };
        return entry.msg === 'request' && entry.uploadId === id ? [entry] : [];
      } catch {
        return [];
      }
    });
}

/** Lock release requests published in Redis for one upload (the locker asks a holder on another instance to let go). */
async function releaseRequests(id: string): Promise<{ count(): number; close(): void }> {
  const socket = connect({ host: redis.host, port: redis.port });
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  const args = [
    ['AUTH', redis.password],
    ['SUBSCRIBE', `tus:s3:release:${id}`],
  ];
  socket.write(args.map((a) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`).join(''));
  await until(() => text.includes('subscribe'), 'the subscription to the release channel', 5000);
  return { count: () => text.split('$7\r\nmessage\r\n').length - 1, close: () => socket.destroy() };
}

/** Wait until `instance` is inside the stalled PATCH with a part stored (the body's first 5 MiB in S3). */
async function waitInsidePatch(t: Test, instance: ServerProcess, id: string): Promise<void> {
  await until(async () => (await partsStored(instance.url)) >= 1, 'the stalled PATCH to store its first part', 20_000);
  if (WITH_REDIS) t.equal(await redisCommand(redis, 'EXISTS', lockKey(id)), 1, 'the stalled PATCH holds the upload lock in Redis');
}

async function sha256Of(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  const hash = createHash('sha256');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

t.test('tus-js-client through HAProxy in round robin: requests of one upload on both instances, byte-exact', async (t) => {
  const { root, a, b } = await cluster(t, 'lb');
  const haproxy: RunningHaproxy = await startHaproxy({ backends: [a.url, b.url], balance: 'roundrobin' });
  t.teardown(() => haproxy.stop());
  const endpoint = `${haproxy.url}/files/`;
  const data = randomData(64 * MiB);
  const expected = sha256(data);
  const finished: string[] = [];
  const names: Record<string, ServerProcess> = { s1: a, s2: b };

  /** The upload's requests as HAProxy logged them, in order. */
  const through = (ids: string[]) => haproxy.requests().filter((r) => ids.some((id) => r.path.endsWith(`/files/${id}`)));

  t.test('64 MiB in 5 MiB chunks', async (t) => {
    const u = await tusUpload(data, { endpoint, chunkSize: 5 * MiB });
    const id = idOf(u.url as string);
    finished.push(id);
    t.equal(await sha256Of(`${haproxy.url}/files/${id}`), expected, 'GET through HAProxy: the sha256 of the 64 MiB');
    t.equal(await storedSha(root, id), expected, 'the stored object is byte-exact');
    await until(() => through([id]).filter((r) => r.method === 'PATCH').length === 13, 'HAProxy to log the 13 PATCHes');
    const patches = through([id]).filter((r) => r.method === 'PATCH');
    t.same(
      patches.map((r) => r.status),
      Array(13).fill(204),
      'every PATCH answered 204 (no 409, 423 or retry)',
    );
    const switches = patches.slice(1).filter((r, i) => r.server !== patches[i]?.server).length;
    t.ok(
      switches >= 6,
      `consecutive PATCHes went to different instances ${switches} times of 12: ${patches.map((r) => r.server).join(' ')}`,
    );
    for (const name of ['s1', 's2']) {
      const served = patches.filter((r) => r.server === name).length;
      t.ok(served >= 6, `${name} served ${served} PATCHes`);
      const patchesLogged = () => loggedRequests(names[name] as ServerProcess, id).filter((r) => r.method === 'PATCH');
      await until(() => patchesLogged().length >= served, `${name}'s log lines`, 5000);
      const logged = patchesLogged();
      t.equal(logged.length, served, `${name}'s own log shows the ${served} PATCHes HAProxy sent it`);
      t.ok(
        logged.every((r) => r.status === 204),
        `${name} logged them all as 204`,
      );
    }
  });

  t.test('64 MiB with parallelUploads: 4 (concatenation)', async (t) => {
    const before = new Set(haproxy.requests().map((r) => r.line));
    const u = await tusUpload(data, { endpoint, chunkSize: 5 * MiB, parallelUploads: 4 });
    const id = idOf(u.url as string);
    t.equal(await sha256Of(`${haproxy.url}/files/${id}`), expected, 'GET through HAProxy: the sha256 of the 64 MiB');
    t.equal(await storedSha(root, id), expected, 'the stored object is byte-exact');
    t.match((await head(`${haproxy.url}/files/${id}`)).headers.get('upload-concat'), /^final;/);
    // The partial uploads' ids, from the PATCHes HAProxy passed on during this upload.
    await until(
      () => haproxy.requests().filter((r) => !before.has(r.line) && r.method === 'PATCH').length === 16,
      'HAProxy to log the 16 PATCHes (4 partial uploads of 16 MiB in 5 MiB chunks)',
    );
    const fresh = haproxy.requests().filter((r) => !before.has(r.line));
    const partials = [...new Set(fresh.filter((r) => r.method === 'PATCH').map((r) => r.path.split('/').pop() as string))];
    t.equal(partials.length, 4, 'four partial uploads');
    finished.push(id, ...partials);
    const patches = through(partials).filter((r) => r.method === 'PATCH');
    t.ok(
      patches.every((r) => r.status === 204),
      `every PATCH of the partials answered 204: ${patches.map((r) => r.status).join(' ')}`,
    );
    for (const name of ['s1', 's2']) {
      const served = patches.filter((r) => r.server === name);
      t.ok(served.length >= 2, `${name} served ${served.length} PATCHes of the partials`);
      const logged = () => partials.flatMap((p) => loggedRequests(names[name] as ServerProcess, p)).filter((r) => r.method === 'PATCH');
      await until(() => logged().length >= served.length, `${name}'s log lines`, 5000);
      t.equal(logged().length, served.length, `${name}'s own log shows them`);
    }
  });

  t.test('nothing orphaned', async (t) => {
    await nothingOrphaned(t, root, finished);
  });
});

t.test('two PATCHes for the same upload at the same moment on the two instances: one writer, byte-exact', async (t) => {
  const { root, a, b } = await cluster(t, 'race');
  const size = 12 * MiB;
  const url = await createUpload(a.url, size);
  const id = idOf(url);
  const data = { A: randomData(size), B: randomData(size) };
  const urls = { A: url, B: `${b.url}/files/${id}` };
  const releases = WITH_REDIS ? await releaseRequests(id) : { count: () => 0, close: () => undefined };
  t.teardown(() => releases.close());

  // Both PATCHes start at once with their first mebibyte (less than a part: nothing stored yet,
  // both pass the offset check), and go on only when both instances are inside the request.
  const requests = { A: rawPatch(url, 0, size), B: rawPatch(urls.B, 0, size) };
  t.teardown(() => {
    requests.A.socket.destroy();
    requests.B.socket.destroy();
  });
  await Promise.all([requests.A.send(data.A.subarray(0, MiB)), requests.B.send(data.B.subarray(0, MiB))]);
  const streaming = async (instance: ServerProcess) => (await metric(instance.url, 'tus_s3_parts_in_flight{location="s3"}')) >= 1;
  await until(
    async () => {
      const [inA, inB] = [await streaming(a), await streaming(b)];
      // Each is streaming its first part to S3, or one is and the other has asked it for the lock.
      return (inA && inB) || ((inA || inB) && releases.count() > 0);
    },
    'both PATCHes to be inside their instance',
    10_000,
  );
  await Promise.all([requests.A.send(data.A.subarray(MiB)), requests.B.send(data.B.subarray(MiB))]);
  const answers = await Promise.all(
    (['A', 'B'] as const).map(async (who) => ({ who, ...(await requests[who].answered(LOCK_TIMEOUT + 10_000)) })),
  );
  t.comment(`answers: ${JSON.stringify(answers)}`);
  const ok = answers.filter((r) => r.status === 204);
  t.ok(ok.length >= 1, 'at least one PATCH answered 204');
  const writers = ok.filter((r) => r.offset > 0);
  t.equal(writers.length, 1, 'exactly one of them stored bytes');
  for (const r of answers) if (r.status !== 204) t.equal(r.status, 409, `${r.who}: 409, the other wrote first`);
  const writer = writers[0] ?? ok[0];
  if (!writer) return;

  // The writer's client resumes from what HEAD says (on the other instance).
  const other = writer.who === 'A' ? urls.B : urls.A;
  const headRes = await head(other);
  const offset = offsetOf(headRes);
  t.equal(offset, writer.offset, 'HEAD on the other instance: the offset the writer was told');
  if (offset < size) {
    const rest = await patch(other, offset, data[writer.who].subarray(offset));
    t.equal(rest.status, 204);
    t.equal(offsetOf(rest), size);
  }
  t.equal(await storedSha(root, id), sha256(data[writer.who]), `the object is exactly ${writer.who}'s data, never a mix`);
  await nothingOrphaned(t, root, [id]);
});

t.test('a stalled PATCH on A; the client resumes through B, which takes over; cutting A afterwards changes nothing', async (t) => {
  const size = 12 * MiB;
  const { root, a, data, id, onB } = await clusterUpload(t, 'stall', size);

  const stalled = await stalledOnA(t, a, id, data);
  if (WITH_REDIS) {
    // The holder renews its lock while the request runs (every third of the TTL).
    const first = Number(await redisCommand(redis, 'PTTL', lockKey(id)));
    let later = first;
    await until(
      async () => {
        later = Number(await redisCommand(redis, 'PTTL', lockKey(id)));
        return later > first;
      },
      'the lock to be renewed',
      LOCK_TTL,
      50,
    );
    t.ok(later > first && later <= LOCK_TTL, `the lock is renewed while A's PATCH runs (PTTL ${first} ms, then ${later} ms)`);
  }

  const { res, waited } = await headWithin(onB, LOCK_TIMEOUT + 2000);
  const offset = offsetOf(res);
  t.ok(waited < LOCK_TIMEOUT, `HEAD on B answered 200 after ${waited} ms, within TUS_LOCK_TIMEOUT (${LOCK_TIMEOUT} ms)`);
  t.ok(offset >= 5 * MiB && offset <= 6 * MiB, `HEAD on B: offset ${offset}, what A received and kept (5 to 6 MiB)`);
  if (WITH_REDIS) {
    // A stopped reading when B asked for the lock, and answered its client with what it kept.
    t.same(await stalled.answered(5000), { status: 204, offset }, 'the stalled PATCH was answered 204 with the offset B then saw');
  }

  const rest = await patch(onB, offset, data.subarray(offset));
  t.equal(rest.status, 204, 'B stores the rest');
  t.equal(offsetOf(rest), size);
  const expected = sha256(data);
  t.equal(await storedSha(root, id), expected, 'the object is byte-exact');

  // The client side of A's PATCH goes away now. A is then stopped (SIGTERM): it finishes the
  // requests it has, so whatever A would still store is stored once it has exited.
  stalled.socket.destroy();
  t.equal(await a.stop(), 0, 'A stops cleanly');
  for (let i = 0; i < 5; i++) {
    const after = await head(onB);
    t.equal(after.status, 200);
    t.equal(offsetOf(after), size, `HEAD ${i + 1} on B after the cut: still complete`);
  }
  t.equal(await storedSha(root, id), expected, 'the object is unchanged');
  t.equal(await sha256Of(onB), expected, 'GET on B: the same bytes');
  await nothingOrphaned(t, root, [id]);
});

t.test('instance A killed (SIGKILL) mid-PATCH: B resumes once the lock TTL expires, byte-exact', async (t) => {
  const size = 12 * MiB;
  const { root, a, data, id, onB } = await clusterUpload(t, 'kill', size);

  await stalledOnA(t, a, id, data);
  await a.stop('SIGKILL');
  const killedAt = Date.now();
  const ttl = WITH_REDIS ? Number(await redisCommand(redis, 'PTTL', lockKey(id))) : 0;
  if (WITH_REDIS) t.ok(ttl > 0 && ttl <= LOCK_TTL, `the dead holder's lock is still in Redis, expiring in ${ttl} ms`);

  const { res, waited } = await headWithin(onB, LOCK_TTL + LOCK_TIMEOUT);
  t.ok(Date.now() - killedAt >= ttl, `HEAD on B answered after the lock expired (${waited} ms, the TTL had ${ttl} ms left)`);
  t.ok(waited < LOCK_TIMEOUT, `and within TUS_LOCK_TIMEOUT (${waited} ms): no 423`);
  t.equal(offsetOf(res), 5 * MiB, 'offset 5 MiB: the part A stored before it died; its unsent tail is not counted');
  if (WITH_REDIS) t.equal(await redisCommand(redis, 'EXISTS', lockKey(id)), 0, 'the lock is free again');

  const rest = await patch(onB, 5 * MiB, data.subarray(5 * MiB));
  t.equal(rest.status, 204);
  t.equal(offsetOf(rest), size);
  t.equal(await storedSha(root, id), sha256(data), 'the object is byte-exact');
  await nothingOrphaned(t, root, [id]);
});

t.test("a stale cache: a PATCH to A at A's cached offset, after the upload moved on through B, gets 409", async (t) => {
  const size = 12 * MiB + 5;
  const { root, data, url, id, onB } = await clusterUpload(t, 'stale', size);

  const first = await patch(url, 0, data.subarray(0, 5 * MiB));
  t.equal(first.status, 204, 'A stores the first 5 MiB (and caches offset 5 MiB)');
  const second = await patch(onB, 5 * MiB, data.subarray(5 * MiB, 10 * MiB));
  t.equal(second.status, 204, 'B stores the next 5 MiB');
  t.equal(offsetOf(second), 10 * MiB);

  const stale = await patch(url, 5 * MiB, randomData(5 * MiB));
  t.equal(stale.status, 409, "A's stale offset: 409, nothing written");
  t.equal(stale.headers.get('upload-offset'), String(10 * MiB), 'with the stored offset, 10485760');
  t.match(await stale.text(), /offset/i);

  const headA = await head(url);
  t.equal(offsetOf(headA), 10 * MiB, 'HEAD on A: 10 MiB');
  const last = await patch(url, 10 * MiB, data.subarray(10 * MiB));
  t.equal(last.status, 204, 'A completes the upload from the right offset');
  t.equal(offsetOf(last), size);
  t.equal(await storedSha(root, id), sha256(data), 'the object is byte-exact');
  await nothingOrphaned(t, root, [id]);
});

t.test('Redis stopped for a few seconds: 503 with Retry-After naming Redis, /readyz 503, recovery without a restart', async (t) => {
  const size = 12 * MiB;
  const { root, a, b, data, url, id, onB } = await clusterUpload(t, 'outage', size);
  t.equal((await patch(url, 0, data.subarray(0, 5 * MiB))).status, 204, 'A stores 5 MiB before the outage (and caches the state)');
  t.equal(offsetOf(await head(onB)), 5 * MiB, 'B sees it (and caches it too)');
  const finished = [id];

  await redis.stop();
  t.teardown(() => redis.start());

  for (const [name, instance] of [
    ['A', a],
    ['B', b],
  ] as const) {
    let started = Date.now();
    const created = await fetch(`${instance.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': String(MiB) } });
    const createdBody = await created.text();
    t.equal(created.status, 503, `POST on ${name} while Redis is away: 503`);
    t.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms`);
    t.equal(created.headers.get('retry-after'), '3', 'with Retry-After');
    t.match(createdBody, /Redis/, `naming Redis: ${createdBody.trim()}`);
    t.equal(created.headers.get('location'), null, 'nothing created');

    started = Date.now();
    const target = instance === a ? url : onB;
    const patched = await patch(target, 5 * MiB, data.subarray(5 * MiB, 6 * MiB));
    const patchedBody = await patched.text();
    t.equal(patched.status, 503, `PATCH on ${name} (its state cached) while Redis is away: 503`);
    t.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms`);
    t.equal(patched.headers.get('retry-after'), '3', 'with Retry-After');
    t.match(patchedBody, /Redis/, `naming Redis: ${patchedBody.trim()}`);

    // /readyz caches its result for a few seconds.
    let ready: Response | undefined;
    await until(
      async () => {
        ready = await fetch(`${instance.url}/readyz`);
        return ready.status === 503;
      },
      `/readyz on ${name} to answer 503`,
      10_000,
      200,
    );
    const report = (await (ready as Response).json()) as { locations: Record<string, { ok: boolean; error?: string }> };
    t.equal(report.locations.redis?.ok, false, `/readyz on ${name}: 503, redis not ok`);
    t.match(report.locations.redis?.error, /Redis/, `naming Redis: ${report.locations.redis?.error}`);
    t.equal(report.locations.s3?.ok, true, 'the S3 location is fine');
  }

  await redis.start();
  // Without restarting the servers: each instance creates uploads again once it has reconnected.
  for (const [name, instance] of [
    ['A', a],
    ['B', b],
  ] as const) {
    let location: string | null = null;
    await until(
      async () => {
        const res = await fetch(`${instance.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': String(MiB) } });
        await res.arrayBuffer();
        if (res.status !== 201 && res.status !== 503) throw new Error(`POST on ${name} after the outage: ${res.status}`);
        location = res.headers.get('location');
        return res.status === 201;
      },
      `a POST on ${name} to answer 201 after Redis is back`,
      15_000,
      100,
    );
    const fresh = new URL(location as unknown as string, instance.url).toString();
    const small = randomData(MiB);
    const done = await patch(fresh, 0, small);
    t.equal(done.status, 204, `${name} takes uploads again without a restart`);
    t.equal(await storedSha(root, idOf(fresh)), sha256(small));
    finished.push(idOf(fresh));
    await until(async () => (await fetch(`${instance.url}/readyz`)).status === 200, `/readyz on ${name} to answer 200 again`, 10_000, 200);
  }

  // The upload from before the outage: nothing stored was affected. Redis came back empty (no
  // persistence): its version counters start again, and must not vouch for a cache from before.
  t.equal(offsetOf(await head(onB)), 5 * MiB, 'HEAD on B: still 5 MiB');
  t.equal((await patch(onB, 5 * MiB, data.subarray(5 * MiB, 8 * MiB))).status, 204, 'B: 5 to 8 MiB');
  t.equal((await patch(onB, 8 * MiB, data.subarray(8 * MiB, 10 * MiB))).status, 204, 'B: 8 to 10 MiB');
  const stale = await patch(url, 5 * MiB, randomData(MiB));
  t.equal(stale.status, 409, "A's offset from before the outage (5 MiB) is stale: 409");
  t.equal(stale.headers.get('upload-offset'), String(10 * MiB));
  await stale.arrayBuffer();
  const last = await patch(url, 10 * MiB, data.subarray(10 * MiB));
  t.equal(last.status, 204, 'A completes it');
  t.equal(offsetOf(last), size);
  t.equal(await storedSha(root, id), sha256(data), 'the upload created before the outage is byte-exact');
  await nothingOrphaned(t, root, finished);
});

t.test(
  'Redis restarted empty twice: state an instance cached while the upload had no version is not trusted after the next restart',
  async (t) => {
    const { root, a, b } = await cluster(t, 'restarts');
    const size = 3 * MiB;
    const data = randomData(size);
    const url = await createUpload(a.url, size);
    const id = idOf(url);
    const onB = `${b.url}/files/${id}`;
    const other = await createUpload(a.url, MiB);
    t.teardown(() => redis.start());

    /** Stop and start Redis (empty again: no persistence); wait until the instance answers a locked request on `probe`. */
    const restart = async (probe: string) => {
      await redis.stop();
      await redis.start();
      await headWithin(probe, 15_000);
    };

    // A reads the upload right after a restart: no version in Redis yet.
    await restart(url);
    t.equal(offsetOf(await head(url)), 0, 'HEAD on A after the first restart: 0 (A caches it with no version)');
    await headWithin(onB, 15_000);
    const moved = await patch(onB, 0, data.subarray(0, MiB));
    t.equal(moved.status, 204, 'B stores the first MiB (a version is set)');
    // The second restart loses that version too: "no version" again, as when A cached it.
    await restart(`${a.url}/files/${idOf(other)}`);
    await headWithin(onB, 15_000);

    const stale = await patch(url, 0, randomData(MiB));
    t.equal(stale.status, 409, "A's cached offset 0 is stale: 409, nothing written");
    t.equal(stale.headers.get('upload-offset'), String(MiB));
    await stale.arrayBuffer();
    const rest = await patch(url, MiB, data.subarray(MiB));
    t.equal(rest.status, 204, 'A completes it from the right offset');
    t.equal(offsetOf(rest), size);
    t.equal(await storedSha(root, id), sha256(data), 'the object is byte-exact');
    const small = randomData(MiB);
    t.equal((await patch(other, 0, small)).status, 204);
    t.equal(await storedSha(root, idOf(other)), sha256(small));
    await nothingOrphaned(t, root, [id, idOf(other)]);
  },
);
