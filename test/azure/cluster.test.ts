/**
 * Two server processes sharing one azure location and the shared test Redis: the Redis locker and
 * the versions of each instance's cached state work on Azure as on S3 (test/cluster/ for S3).
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createUpload, head, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { twoInstances } from '../helpers/cluster.js';
import { idOf, offsetOf } from '../helpers/ids.js';
import { redisTestServer } from '../helpers/redis.js';
import { MiB } from '../helpers/sizes.js';

const server = azureTestServer();
const verify = verifyContainer(server);
const redis = redisTestServer();

function clusterEnv(name: string) {
  const root = `t-${name}-${randomBytes(4).toString('hex')}/`;
  // A prefix of this test's own in the shared Redis.
  const env = azureLocationEnv(server, root, {
    REDIS: redis.url,
    REDIS_PREFIX: `tus-${name}-${randomBytes(4).toString('hex')}:`,
    STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb',
  });
  return { root, env };
}

t.test("a stale cache: a PATCH to A at A's cached offset, after the upload moved on through B, gets 409", async (t) => {
  const { root, env } = clusterEnv('az-stale');
  const [a, b] = await twoInstances(t, env);
  const data = randomData(5 * MiB + 5);
  const url = await createUpload(a.url, data.length);
  const id = idOf(url);
  const onB = `${b.url}/files/${id}`;

  t.equal((await patch(url, 0, data.subarray(0, 2 * MiB + 1))).status, 204, 'A stores the first bytes (and caches the offset)');
  const second = await patch(onB, 2 * MiB + 1, data.subarray(2 * MiB + 1, 4 * MiB));
  t.equal(second.status, 204, 'B stores the next ones');
  t.equal(offsetOf(second), 4 * MiB);

  const stale = await patch(url, 2 * MiB + 1, randomData(MiB));
  t.equal(stale.status, 409, "A's stale offset: 409, nothing written");
  t.equal(stale.headers.get('upload-offset'), String(4 * MiB), 'with the stored offset');

  t.equal(offsetOf(await head(url)), 4 * MiB, 'HEAD on A');
  const last = await patch(url, 4 * MiB, data.subarray(4 * MiB));
  t.equal(last.status, 204, 'A completes the upload from the right offset');
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data), 'the blob is byte-exact');
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`]);
});

t.test('PATCHes alternating between the instances, each resuming where the other left off', async (t) => {
  const { root, env } = clusterEnv('az-alternate');
  const [a, b] = await twoInstances(t, env);
  const data = randomData(6 * MiB + 3);
  const url = await createUpload(a.url, data.length);
  const id = idOf(url);
  const on = (instance: { url: string }) => `${instance.url}/files/${id}`;
  const step = MiB + 12_345;
  let offset = 0;
  for (let turn = 0; offset < data.length; turn++) {
    const res = await patch(on(turn % 2 === 0 ? b : a), offset, data.subarray(offset, offset + step));
    t.equal(res.status, 204, `PATCH ${turn} on ${turn % 2 === 0 ? 'B' : 'A'}`);
    offset = offsetOf(res);
  }
  t.equal(offset, data.length);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data));
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`]);
});
