/**
 * Two server processes sharing one Azure location and one Redis (issue 25: "several instances
 * with Redis" works on Azure as on S3; the S3 run is test/cluster/two-instances.test.ts):
 * tus-js-client through HAProxy in round robin, each upload's PATCHes on both instances, with
 * chunks that leave bytes in the tail between requests; and instance A killed with SIGKILL
 * mid-PATCH, B resuming once the lock's TTL expired from the blocks A staged. Every test ends
 * with the committed blob byte-exact and nothing else under the root.
 */
import t, { type Test } from 'tap';
import { createUpload, headWithin, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { twoInstances } from '../helpers/cluster.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { idOf, offsetOf } from '../helpers/ids.js';
import { rawPatch } from '../helpers/raw-request.js';
import { startRedis } from '../helpers/redis.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { tusUpload } from '../helpers/tus-client.js';
import { until } from '../helpers/wait.js';

const LOCK_TTL = 3000;
const LOCK_TIMEOUT = 10_000;
const BLOCK = 4 * MiB;
const server = azureTestServer();
const container = verifyContainer(server);
const redis = await startRedis();
t.teardown(() => redis.close());

/** Two instances on a fresh root, sharing the Azure location and Redis (stopped with the test). */
async function cluster(t: Test, name: string) {
  const root = uniqueRoot(`az-cluster-${name}`);
  const env = azureLocationEnv(server, root, {
    STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb',
    REDIS: redis.url,
    TUS_LOCK_TTL: `${LOCK_TTL}ms`,
    TUS_LOCK_TIMEOUT: `${LOCK_TIMEOUT}ms`,
  });
  const [a, b] = await twoInstances(t, env);
  return { root, a, b };
}

/** Only the committed blobs and `.info` of the finished uploads under the root; no staged block left. */
async function nothingOrphaned(t: Test, root: string, finished: string[]): Promise<void> {
  t.same(
    await storedBlobs(container, root),
    finished.flatMap((id) => [`${root}${id}`, `${root}${id}.info`]).sort(),
    `the container holds the blob and .info of the ${finished.length} finished upload(s), nothing else`,
  );
  for (const id of finished) t.equal((await blocksOf(container, `${root}${id}`)).uncommitted, 0, `no staged block left on ${id}`);
}

t.test('tus-js-client through HAProxy in round robin: 3 MiB chunks on 4 MiB blocks, on both instances, byte-exact', async (t) => {
  const { root, a, b } = await cluster(t, 'lb');
  const haproxy = await startHaproxy({ backends: [a.url, b.url], balance: 'roundrobin' });
  t.teardown(() => haproxy.stop());
  const data = randomData(16 * MiB + 5);
  const u = await tusUpload(data, { endpoint: `${haproxy.url}/files/`, chunkSize: 3 * MiB });
  const id = idOf(u.url as string);
  t.same(await blobSha256(container, `${root}${id}`), { sha256: sha256(data), size: data.length }, 'the committed blob is byte-exact');
  await until(
    () => haproxy.requests().filter((r) => r.method === 'PATCH' && r.path.endsWith(id)).length === 6,
    'HAProxy to log the 6 PATCHes',
  );
  const patches = haproxy.requests().filter((r) => r.method === 'PATCH' && r.path.endsWith(id));
  t.same(
    patches.map((r) => r.status),
    Array(6).fill(204),
    'every PATCH answered 204 (no 409, 423 or retry)',
  );
  t.same(
    new Set(patches.map((r) => r.server)),
    new Set(['s1', 's2']),
    `PATCHes on both instances: ${patches.map((r) => r.server).join(' ')}`,
  );
  await nothingOrphaned(t, root, [id]);
});

t.test('instance A killed (SIGKILL) mid-PATCH: B resumes from the blocks A staged once the lock TTL expires', async (t) => {
  const { root, a, b } = await cluster(t, 'kill');
  const data = randomData(14 * MiB + 3);
  const url = await createUpload(a.url, data.length);
  const id = idOf(url);
  const stalled = rawPatch(url, 0, data.length);
  t.teardown(() => stalled.socket.destroy());
  await stalled.send(data.subarray(0, 9 * MiB));
  await until(async () => (await blocksOf(container, `${root}${id}`)).uncommitted >= 2, 'A to stage two blocks', 20_000);
  await a.stop('SIGKILL');
  const onB = `${b.url}/files/${id}`;
  const { res, waited } = await headWithin(onB, LOCK_TTL + LOCK_TIMEOUT);
  t.ok(waited < LOCK_TIMEOUT, `HEAD on B answered within TUS_LOCK_TIMEOUT (${waited} ms): no 423`);
  t.equal(offsetOf(res), 2 * BLOCK, 'offset 8 MiB: the two blocks A staged; what A held in memory is not counted');
  const rest = await patch(onB, 2 * BLOCK, data.subarray(2 * BLOCK));
  t.equal(rest.status, 204);
  t.equal(offsetOf(rest), data.length);
  t.same(await blobSha256(container, `${root}${id}`), { sha256: sha256(data), size: data.length }, 'the committed blob is byte-exact');
  await nothingOrphaned(t, root, [id]);
});
