/**
 * Issue 21, point 3: a lock lost mid-request. Two server processes share one S3 location (and,
 * in a second round, one Azure location on Azurite) and a private Redis (startRedis). Instance A streams a PATCH at 1 MiB/s; 2.5 s in, A's lock goes
 * (Redis killed and started again empty, or every key deleted while A stays connected); then
 * instance B HEADs the upload and PATCHes other bytes, as a client's retry through another
 * instance would, finishing the upload or sending 2 MiB. A must stop writing, commit nothing
 * more, and never answer 2xx. Checked, whatever the timing: at most one of the two PATCHes is
 * answered 2xx, and every acknowledged byte is in the final object where its answer said (the
 * upload is then finished from HEAD's offset and the stored object compared).
 *
 * After a restart A's instance reconnects and checks its locks at once. With the keys deleted
 * under a live connection, and TUS_LOCK_TTL=60s (a renewal every 20 s), nothing tells A but its
 * own check before the last byte of a part or of the single PutObject: the test shows that
 * check is what stops it (without it, A answers 204 for all its bytes).
 */
import { GetObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { createUpload, headWithin, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, listBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { twoInstances } from '../helpers/cluster.js';
import { idOf, offsetOf } from '../helpers/ids.js';
import type { ServerProcess } from '../helpers/process.js';
import { patchHead, rawConnection, statusAndOffset } from '../helpers/raw-request.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

/** A's client sends this many bytes per second. */
const RATE = MiB;
/** Redis is killed this long after A's body began. */
const KILL_AFTER = 2500;
const redis = await startRedis();
t.teardown(() => redis.close());

/** What the scenario needs of a location's store, to set it up and to read back what it holds. */
interface Store {
  driver: 's3' | 'azure';
  env(root: string, extra: Record<string, string>): Record<string, string>;
  /** Bytes start..end-1 of the upload's stored object. */
  range(root: string, id: string, start: number, end: number): Promise<Buffer>;
  whole(root: string, id: string): Promise<{ sha256: string; size: number }>;
  /** Everything under the root but the readiness probe's object, uncommitted blobs included. */
  names(root: string): Promise<string[]>;
  /** Bytes left in flight somewhere: multipart uploads (S3), staged blocks not committed (Azure). */
  leftovers(root: string, id: string): Promise<string[]>;
}

function s3Store(): Store {
  const server = s3TestServer();
  const verify = verifyClient(server);
  return {
    driver: 's3',
    env: (root, extra) => s3LocationEnv(server, root, extra),
    async range(root, id, start, end) {
      const res = await verify.send(
        new GetObjectCommand({ Bucket: server.bucket, Key: `${root}${id}`, Range: `bytes=${start}-${end - 1}` }),
      );
      return Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    },
    whole: (root, id) => objectSha256(verify, server.bucket, `${root}${id}`),
    names: async (root) => (await listKeys(verify, server.bucket, root)).filter((key) => key !== `${root}.tus-readyz`),
    async leftovers(root) {
      const { Uploads = [] } = await verify.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
      return Uploads.map((u) => `multipart upload of ${u.Key}`);
    },
  };
}

function azureStore(): Store {
  const server = azureTestServer();
  const container = verifyContainer(server);
  return {
    driver: 'azure',
    env: (root, extra) => azureLocationEnv(server, root, extra),
    async range(root, id, start, end) {
      const res = await container.getBlobClient(`${root}${id}`).download(start, end - start);
      const chunks: Buffer[] = [];
      for await (const chunk of res.readableStreamBody as AsyncIterable<Buffer>) chunks.push(chunk);
      return Buffer.concat(chunks);
    },
    whole: (root, id) => blobSha256(container, `${root}${id}`),
    names: async (root) => (await listBlobs(container, root)).filter((name) => name !== `${root}.tus-readyz`),
    async leftovers(root, id) {
      const { uncommitted } = await blocksOf(container, `${root}${id}`);
      return uncommitted > 0 ? [`${uncommitted} staged blocks of ${root}${id} not committed`] : [];
    },
  };
}

async function cluster(
  t: Test,
  store: Store,
  name: string,
  extra: Record<string, string>,
): Promise<{ root: string; a: ServerProcess; b: ServerProcess }> {
  const root = uniqueRoot(`lock-lost-${store.driver}-${name}`);
  const env = store.env(root, { REDIS: redis.url, ...extra });
  const [a, b] = await twoInstances(t, env);
  return { root, a, b };
}

/**
 * A PATCH on a raw socket whose body goes out at `rate` bytes per second (64 KiB at a time)
 * until it is all sent, the answer arrives or the connection closes.
 */
function slowPatch(base: string, id: string, offset: number, data: Buffer, rate: number) {
  const url = `${base}/files/${id}`;
  const { socket, received } = rawConnection(url, 'latin1');
  let sent = 0;
  socket.write(patchHead(url, offset, data.length));
  const started = Date.now();
  const sending = (async () => {
    const piece = 64 * 1024;
    while (sent < data.length && !socket.destroyed && !received().includes('\r\n\r\n')) {
      const due = started + ((sent + piece) / rate) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
      if (socket.destroyed || received().includes('\r\n\r\n')) break;
      const next = data.subarray(sent, sent + piece);
      await new Promise<void>((resolve) => socket.write(next, () => resolve()));
      sent += next.length;
    }
  })();
  return {
    socket,
    started,
    sent: () => sent,
    sending,
    async answered(timeoutMs: number): Promise<{ status: number; offset: number; body: string }> {
      await until(() => received().includes('\r\n\r\n') || socket.destroyed, 'the slow PATCH to be answered', timeoutMs);
      // The body (a plain-text reason) follows the headers; wait for it a little.
      await until(() => socket.destroyed || /\r\n\r\n[\s\S]*\n$/.test(received()), 'the answer body', 2000).catch(() => undefined);
      return { ...statusAndOffset(received()), body: received().split('\r\n\r\n')[1] ?? '' };
    },
  };
}

/** HEAD until it answers 200 (503 while an instance reconnects to Redis). */
const headUntil200 = async (url: string): Promise<Response> => (await headWithin(url, 30_000, 50)).res;

interface Exchange {
  who: string;
  /** The offset the request began at, and the bytes it sent from there. */
  start: number;
  data: Buffer;
  status: number;
  /** Upload-Offset of its answer (-1: none). */
  offset: number;
}

/**
 * How A's lock goes: `restart`, Redis killed and started again empty (A's connection drops
 * and comes back: A can check its locks at the reconnection); `deleted`, the keys vanish
 * while A stays connected (as with a failover to a replica that never had them), with a TTL
 * long enough that no renewal comes before A's part is full: A learns of the loss only when
 * it asks, before the part's last byte.
 */
type Loss = 'restart' | 'deleted';

/**
 * The reported scenario; `bLength`: bytes B sends after its HEAD (from HEAD's offset).
 * Returns the two exchanges, with the upload finished afterwards from HEAD's offset.
 */
async function scenario(t: Test, store: Store, name: string, loss: Loss, size: number, bLength: (offset: number, size: number) => number) {
  const { root, a, b } = await cluster(t, store, name, loss === 'deleted' ? { TUS_LOCK_TTL: '60s' } : {});
  const url = await createUpload(a.url, size);
  const id = idOf(url);
  const onB = `${b.url}/files/${id}`;
  const dataA = randomData(size);
  const dataB = randomData(size);

  const slow = slowPatch(a.url, id, 0, dataA, RATE);
  t.teardown(() => slow.socket.destroy());
  await until(
    async () => (await redisCommand(redis, 'EXISTS', `tus:${store.driver}:lock:${id}`)) === 1,
    "A's PATCH to hold the lock",
    5000,
  );
  await new Promise((r) => setTimeout(r, Math.max(0, slow.started + KILL_AFTER - Date.now())));
  if (loss === 'restart') {
    await redis.stop('SIGKILL');
    await redis.start();
    t.comment(`Redis killed and started again empty ${Date.now() - slow.started} ms into A's body (${slow.sent()} bytes sent)`);
  } else {
    await redisCommand(redis, 'FLUSHALL');
    t.comment(`every Redis key deleted (A still connected) ${Date.now() - slow.started} ms into A's body (${slow.sent()} bytes sent)`);
  }
  t.equal(await redisCommand(redis, 'EXISTS', `tus:${store.driver}:lock:${id}`), 0, "A's lock is gone");

  // B: HEAD, then other bytes from the offset it says.
  const headed = await headUntil200(onB);
  const fromB = offsetOf(headed);
  t.comment(`HEAD on B: offset ${fromB}, ${Date.now() - slow.started} ms in`);
  const bodyB = dataB.subarray(fromB, fromB + bLength(fromB, size));
  const answerB = await patch(onB, fromB, bodyB);
  const textB = await answerB.text();
  const exchangeB: Exchange = { who: 'B', start: fromB, data: bodyB, status: answerB.status, offset: offsetOf(answerB) };
  t.comment(`B: ${answerB.status} Upload-Offset ${answerB.headers.get('upload-offset')} ${textB.trim()}`);

  const answerA = await slow.answered(30_000);
  const exchangeA: Exchange = { who: 'A', start: 0, data: dataA, status: answerA.status, offset: answerA.offset };
  t.comment(`A: ${answerA.status} Upload-Offset ${answerA.offset} after ${slow.sent()} bytes sent: ${answerA.body.trim()}`);
  slow.socket.destroy();

  const acknowledged = [exchangeA, exchangeB].filter((e) => e.status >= 200 && e.status < 300);
  t.ok(acknowledged.length <= 1, `at most one of the two PATCHes is answered 2xx (A ${exchangeA.status}, B ${exchangeB.status})`);
  t.equal(exchangeB.status, 204, 'B, which holds the lock now, is answered 204');
  t.not(exchangeA.status >= 200 && exchangeA.status < 300, true, 'A, whose lock was lost, is not answered 2xx');
  t.ok([409, 503].includes(exchangeA.status), `A is answered 409 or 503: ${exchangeA.status}`);
  t.match(answerA.body, /HEAD/, 'telling the client to HEAD and resume');
  t.match(a.output(), /upload lock lost/, "A's log says the lock was lost");

  // The upload is finished by B's client from where HEAD says it is.
  const now = offsetOf(await headUntil200(onB));
  for (const e of acknowledged) {
    t.ok(now >= e.offset, `HEAD after both: offset ${now}, not below what ${e.who} was told (${e.offset})`);
  }
  if (now < size) {
    const rest = await patch(onB, now, dataB.subarray(now));
    t.equal(rest.status, 204, 'the rest, from HEAD, completes the upload');
    t.equal(offsetOf(rest), size);
  }
  const object = await store.whole(root, id);
  t.equal(object.size, size, 'the object has the upload length');
  // Every acknowledged byte is where its answer said; the rest of the object is B's client's.
  for (const e of acknowledged) {
    const stored = e.offset > e.start ? await store.range(root, id, e.start, e.offset) : Buffer.alloc(0);
    t.equal(sha256(stored), sha256(e.data.subarray(0, e.offset - e.start)), `bytes ${e.start}..${e.offset} are ${e.who}'s (sha256)`);
  }
  if (acknowledged.every((e) => e.who === 'B')) t.equal(object.sha256, sha256(dataB), "the object is exactly B's client's bytes");
  t.same(await store.leftovers(root, id), [], 'no bytes left in flight (multipart uploads, staged blocks)');
  t.same(await store.names(root), [`${root}${id}`, `${root}${id}.info`].sort(), 'the store holds the object and its .info, nothing else');
  return { a: exchangeA, b: exchangeB };
}

// 8 MiB, as reported: with 5 MiB parts, a body of the whole upload is one PutObject of the
// final object (on Azure: blocks of 5 MiB, the first staged while it arrives, the rest a tail).
// 12 MiB: a multipart upload (5 + 7 MiB), A's first part full 5 s in.
for (const store of [s3Store(), azureStore()]) {
  for (const [loss, size] of [
    ['restart', 8 * MiB],
    ['deleted', 8 * MiB],
    ['deleted', 12 * MiB],
  ] as const) {
    const how = `${store.driver}, ${size / MiB} MiB, ${loss === 'restart' ? 'Redis restarted empty' : 'Redis keys deleted under A'}`;
    t.test(`run 1 (${how}): B finishes the upload while A, its lock lost, still streams`, async (t) => {
      await scenario(t, store, `${loss}-finish`, loss, size, (offset, all) => all - offset);
    });

    t.test(`run 2 (${how}): B sends 2 MiB while A, its lock lost, still streams; B's 2 MiB stay`, async (t) => {
      await scenario(t, store, `${loss}-two`, loss, size, () => 2 * MiB);
    });
  }
}
