/** Hostile timing on the azure driver (Azurite): DELETE during a PATCH, two PATCHes at once on one instance and on two sharing Redis. */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { createUpload, head, patch, startAppFor, TUS } from '../helpers/app.js';
import {
  azureLocationEnv,
  azureTestServer,
  blobSha256,
  blocksOf,
  listBlobs,
  removeBlobs,
  storedBlobs,
  verifyContainer,
} from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { idOf } from '../helpers/ids.js';
import { rawPatch } from '../helpers/raw-request.js';
import { serverEnv } from '../helpers/server-env.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);

async function instance(t: Test, root: string, extra: Record<string, string> = {}) {
  const { url } = await startAppFor(t, azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb', ...extra }));
  return url;
}

function freshRoot(t: Test): string {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  return root;
}

const offsetOf = async (url: string) => Number((await head(url)).headers.get('upload-offset'));

t.test('DELETE during a PATCH: 204, then nothing of the upload remains, staged blocks included', async (t) => {
  const root = freshRoot(t);
  const base = await instance(t, root);
  const data = randomData(4 * MiB);
  const url = await createUpload(base, data.length);
  const id = idOf(url);
  const p = rawPatch(url, 0, data.length);
  await p.send(data.subarray(0, 1.5 * MiB));
  await until(async () => (await blocksOf(verify, `${root}${id}`)).uncommitted >= 1, 'block 0 staged');
  const deleted = await fetch(url, { method: 'DELETE', headers: TUS });
  t.equal(deleted.status, 204);
  await p.answered().catch(() => undefined);
  p.socket.destroy();
  t.same(await listBlobs(verify, `${root}${id}`), [], 'no blob of the upload');
  t.equal((await head(url)).status, 404);
  // Whatever the PATCH still had in flight must not bring a blob back.
  t.same(await storedBlobs(verify, root), [], 'nothing under the root');
});

t.test("two PATCHes at once on one instance: the stored bytes are the first one's, the offset honest", async (t) => {
  const root = freshRoot(t);
  const base = await instance(t, root);
  const first = randomData(3 * MiB);
  const second = randomData(3 * MiB);
  const url = await createUpload(base, first.length);
  const id = idOf(url);
  const p = rawPatch(url, 0, first.length);
  await p.send(first.subarray(0, 1.5 * MiB));
  await until(async () => (await blocksOf(verify, `${root}${id}`)).uncommitted >= 1, 'block 0 staged');
  const other = await patch(url, 0, second);
  t.ok([409, 423, 204].includes(other.status), `the second PATCH: ${other.status}`);
  t.comment(`second: ${other.status} ${await other.text()}`);
  await p.answered().catch(() => undefined);
  p.socket.destroy();
  const offset = await offsetOf(url);
  t.comment(`offset ${offset} answer ${p.answer().split('\r\n')[0]}`);
  // Whoever won, the bytes up to the offset are one client's: finish with that client's bytes.
  const winner = other.status === 204 ? second : first;
  if (offset < winner.length) t.equal((await patch(url, offset, winner.subarray(offset))).status, 204);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(winner), `the blob is one client's bytes (offset was ${offset})`);
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`]);
});

t.test('two instances sharing Redis: PATCHes at once to one upload, on both', async (t) => {
  const redis = serverEnv('.redis-test', 'REDIS_TEST_URL').REDIS_TEST_URL as string;
  const root = freshRoot(t);
  const env = { REDIS: redis, TUS_LOCK_TTL: '3000ms', TUS_LOCK_TIMEOUT: '10000ms' };
  const a = await instance(t, root, env);
  const b = await instance(t, root, env);
  const first = randomData(3 * MiB + 5);
  const second = randomData(3 * MiB + 5);
  let url = '';
  await until(async () => {
    url = await createUpload(a, first.length).catch(() => '');
    return url !== '' && (await head(url.replace(a, b))).status === 200;
  }, 'both instances connected to Redis');
  const id = idOf(url);
  const onB = url.replace(a, b);
  const p = rawPatch(url, 0, first.length);
  await p.send(first.subarray(0, 1.5 * MiB));
  await until(async () => (await blocksOf(verify, `${root}${id}`)).uncommitted >= 1, 'block 0 staged');
  const other = await patch(onB, 0, second);
  t.ok([409, 423, 204].includes(other.status), `the second PATCH, on B: ${other.status}`);
  t.comment(`second: ${other.status} ${await other.text()}`);
  await p.send(first.subarray(1.5 * MiB)).catch(() => undefined);
  await p.answered().catch(() => undefined);
  p.socket.destroy();
  let offset = 0;
  await until(async () => {
    const h = await head(onB);
    offset = Number(h.headers.get('upload-offset'));
    return h.status === 200;
  }, 'HEAD on B');
  const winner = other.status === 204 ? second : first;
  if (offset < winner.length) t.equal((await patch(onB, offset, winner.subarray(offset))).status, 204);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(winner), `the blob is one client's bytes (offset was ${offset})`);
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`]);
});

t.test('expiry of an upload whose tail exists removes the tail, the blocks and .info', async (t) => {
  const root = freshRoot(t);
  const base = await instance(t, root, { TUS_UPLOAD_EXPIRATION: '1s', TUS_CLEANUP_SCHEDULE: '* * * * * *' });
  const url = await createUpload(base, 4 * MiB);
  const id = idOf(url);
  t.equal((await patch(url, 0, randomData(MiB + 77))).status, 204);
  t.ok((await listBlobs(verify, root)).includes(`${root}${id}.part`), 'a tail');
  await until(async () => (await listBlobs(verify, `${root}${id}`)).length === 0, 'the upload to expire', 20_000, 250);
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 0 });
  t.equal((await head(url)).status, 404);
});

t.test('two instances sharing Redis: DELETE on B while A receives a PATCH leaves nothing', async (t) => {
  const redis = serverEnv('.redis-test', 'REDIS_TEST_URL').REDIS_TEST_URL as string;
  const root = freshRoot(t);
  const env = { REDIS: redis, TUS_LOCK_TTL: '3000ms', TUS_LOCK_TIMEOUT: '10000ms' };
  const a = await instance(t, root, env);
  const b = await instance(t, root, env);
  const data = randomData(4 * MiB);
  let url = '';
  await until(async () => {
    url = await createUpload(a, data.length).catch(() => '');
    return url !== '' && (await head(url.replace(a, b))).status === 200;
  }, 'both instances connected to Redis');
  const id = idOf(url);
  const p = rawPatch(url, 0, data.length);
  await p.send(data.subarray(0, 1.5 * MiB));
  await until(async () => (await blocksOf(verify, `${root}${id}`)).uncommitted >= 1, 'block 0 staged');
  const deleted = await fetch(url.replace(a, b), { method: 'DELETE', headers: TUS });
  t.equal(deleted.status, 204, 'DELETE on B');
  await p.send(data.subarray(1.5 * MiB, 2.5 * MiB)).catch(() => undefined);
  await p.answered().catch(() => undefined);
  p.socket.destroy();
  t.equal((await head(url)).status, 404, 'gone on A');
  t.same(await storedBlobs(verify, root), [], 'nothing of the upload is left');
});
