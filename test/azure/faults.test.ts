/**
 * Azure faults (issue 25, point 2; the S3 run is test/s3/faults.test.ts): the real app talks to
 * Azurite through the fault-injecting proxy (test/helpers/fault-proxy.ts, Azure dialect). Under
 * 500 InternalError, 503 ServerBusy and connection resets before and after Azurite answered, an
 * upload either completes byte-exact (the driver retries) or fails with a clear 5xx and stays
 * resumable: HEAD never claims bytes Azure does not hold, resuming completes byte-exact, and
 * afterwards no tail blob, stray blob or uncommitted block is left. (Merged with the azure
 * branch's fault tests, at the end: 500/503 and a reset on blocks retried, a block refused for
 * good chosen by its id, a commit whose answer is lost.)
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { blockIndex } from '../../src/stores/azure/block-size.js';
import { createUpload, head, patch, type RunningApp, startApp, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { type ClassifiedRequest, FaultProxy } from '../helpers/fault-proxy.js';
import { azureDialect } from '../helpers/fault-proxy-azure.js';
import { assertClearFailures, type Failure, faultData, headOffset, resumeUntilComplete } from '../helpers/fault-resume.js';
import { idOf } from '../helpers/ids.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';

const server = azureTestServer();
const container = verifyContainer(server);
const BLOCK = 4 * MiB;

interface Rig {
  proxy: FaultProxy;
  app: RunningApp;
  root: string;
}

/** The app on Azurite through a fresh fault proxy, 4 MiB blocks, three attempts per Azure request. */
async function rig(t: Test, name: string, seed: number, extra: Record<string, string> = {}): Promise<Rig> {
  const proxy = await FaultProxy.start(server.endpoint, seed, azureDialect);
  const root = uniqueRoot(`fault-${name}`);
  const endpoint = `${proxy.url}${new URL(server.endpoint).pathname}`;
  const app = await startApp(
    azureLocationEnv({ ...server, endpoint }, root, { STORAGE_AZURE_MAX_ATTEMPTS: '3', STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb', ...extra }),
  );
  t.teardown(async () => {
    await app.close();
    await proxy.close();
  });
  return { proxy, app, root };
}

const clear = (t: Test, failures: Failure[]) => assertClearFailures(t, failures, /Azure/);

async function assertComplete(t: Test, r: Rig, url: string, data: Buffer): Promise<void> {
  t.equal(await headOffset(url), data.length, 'HEAD: complete');
  t.same(
    await blobSha256(container, `${r.root}${idOf(url)}`),
    { sha256: sha256(data), size: data.length },
    'the committed blob is byte-exact',
  );
}

/** Nothing left behind: under the root only the blobs and `.info` of live uploads, none with staged blocks. */
async function assertNoOrphans(t: Test, r: Rig, live: string[]): Promise<void> {
  const names = live.map((url) => `${r.root}${idOf(url)}`);
  const allowed = new Set(names.flatMap((blob) => [blob, `${blob}.info`]));
  t.same(
    (await storedBlobs(container, r.root)).filter((name) => !allowed.has(name)),
    [],
    'no blob under the root but the committed blobs and .info of live uploads (no tail)',
  );
  for (const blob of names) t.equal((await blocksOf(container, blob)).uncommitted, 0, `no staged block left on ${blob}`);
}

t.test('a mix of 500 InternalError and 503 ServerBusy on every operation: retries complete byte-exact', async (t) => {
  const r = await rig(t, 'mix', 11);
  r.proxy.setRules([
    { fault: 'slowdown503', fraction: 0.15 },
    { fault: 'error500', fraction: 0.1 },
  ]);
  const data = faultData(13 * MiB, 1);
  const url = await createUpload(r.app.url, data.length);
  const failures = await resumeUntilComplete(url, data, 5 * MiB);
  clear(t, failures);
  r.proxy.clear();
  await assertComplete(t, r, url, data);
  t.ok(r.proxy.faulted().length >= 3, `faults injected: ${r.proxy.faulted().length} of ${r.proxy.requests.length} requests`);
  t.ok(r.proxy.seen('PutBlock').length >= 4, 'the bytes went to Azure as staged blocks');
  await assertNoOrphans(t, r, [url]);
});

t.test('connection resets before and after Azure answered, and latency, on blocks and state: byte-exact', async (t) => {
  const r = await rig(t, 'resets', 12);
  r.proxy.setRules([
    { op: 'PutBlock', fault: 'reset-after', count: 1 },
    { op: 'PutBlock', fault: 'reset-after', fraction: 0.2 },
    { op: ['PutBlock', 'PutBlobTail', 'PutBlobInfo', 'GetBlockList'], fault: 'reset-before', fraction: 0.15 },
    { fault: 'latency', fraction: 0.3, latencyMs: 50 },
  ]);
  const data = faultData(12 * MiB + 77, 2);
  const url = await createUpload(r.app.url, data.length);
  const failures = await resumeUntilComplete(url, data, 3 * MiB);
  clear(t, failures);
  r.proxy.clear();
  await assertComplete(t, r, url, data);
  const kinds = new Set(r.proxy.faulted().map((f) => f.fault));
  t.ok(kinds.has('reset-after') && kinds.has('reset-before'), `faults injected: ${[...kinds].join(', ')}`);
  await assertNoOrphans(t, r, [url]);
});

t.test('Put Block List succeeds on Azure but every answer is lost: the upload still ends complete and byte-exact', async (t) => {
  const r = await rig(t, 'commit-lost', 13);
  r.proxy.setRules([{ op: 'PutBlockList', fault: 'reset-after' }]);
  const data = faultData(11 * MiB, 3);
  const url = await createUpload(r.app.url, data.length);
  const res = await patch(url, 0, data);
  const body = await res.text();
  t.equal(r.proxy.seen('PutBlockList')[0]?.upstreamStatus, 201, 'Azure committed the block list');
  if (res.status !== 204) clear(t, [{ status: res.status, body }]);
  r.proxy.clear();
  await assertComplete(t, r, url, data);
  const get = await fetch(url);
  t.equal(get.status, 200, 'GET after the lost answer');
  t.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data), 'GET byte-exact');
  await assertNoOrphans(t, r, [url]);
});

t.test('Put Block failing for good mid-request: a clear 503, HEAD claims only the staged blocks, resume completes', async (t) => {
  const r = await rig(t, 'block-fails', 14);
  // The third block (bytes 8 MiB to 12 MiB) is refused on every attempt.
  let blocks = 0;
  r.proxy.setRules([{ op: 'PutBlock', when: () => ++blocks >= 3, fault: 'slowdown503' }]);
  const data = faultData(14 * MiB + 5, 4);
  const url = await createUpload(r.app.url, data.length);
  const res = await patch(url, 0, data);
  const body = await res.text();
  t.equal(res.status, 503, `PATCH fails: ${body.trim()}`);
  t.match(body, /resum|again/i, 'says the upload can be resumed or sent again');
  clear(t, [{ status: res.status, body }]);
  const offset = await headOffset(url);
  const staged = (await blocksOf(container, `${r.root}${idOf(url)}`)).uncommitted;
  t.ok(offset <= staged * BLOCK, `HEAD offset ${offset} claims no more than the ${staged} staged blocks`);
  t.equal(offset % BLOCK, 0, 'HEAD offset: whole blocks only');
  r.proxy.clear();
  t.same(await resumeUntilComplete(url, data, 6 * MiB), [], 'resumed without failure');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [url]);
});

t.test('Get Block List failing on a fresh instance: HEAD answers 503, then the stored offset, and the upload resumes there', async (t) => {
  const r = await rig(t, 'list-fails', 15);
  const data = faultData(11 * MiB, 5);
  const url = await createUpload(r.app.url, data.length);
  t.equal((await patch(url, 0, data.subarray(0, 2 * BLOCK))).status, 204, 'two blocks stored');
  const endpoint = `${r.proxy.url}${new URL(server.endpoint).pathname}`;
  const other = await startApp(
    azureLocationEnv({ ...server, endpoint }, r.root, { STORAGE_AZURE_MAX_ATTEMPTS: '2', STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' }),
  );
  t.teardown(() => other.close());
  r.proxy.setRules([{ op: 'GetBlockList', fault: 'error500' }]);
  const otherUrl = `${other.url}${new URL(url).pathname}`;
  const h = await head(otherUrl);
  t.equal(h.status, 503, 'HEAD on another instance fails while Get Block List fails');
  t.ok(r.proxy.seen('GetBlockList').length >= 2, 'Get Block List was retried');
  r.proxy.clear();
  t.equal(await headOffset(otherUrl), 2 * BLOCK, 'then HEAD answers the stored offset');
  t.same(await resumeUntilComplete(otherUrl, data, 6 * MiB), [], 'resumed on the other instance');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [url]);
});

t.test('every block staged but the commit refused: GET answers 503 with Retry-After, HEAD commits it', async (t) => {
  const r = await rig(t, 'assemble', 16, { STORAGE_AZURE_MAX_ATTEMPTS: '1' });
  r.proxy.setRules([{ op: 'PutBlockList', fault: 'error500' }]);
  const data = faultData(9 * MiB + 7, 6);
  const url = await createUpload(r.app.url, data.length);
  const failed = await patch(url, 0, data);
  const body = await failed.text();
  t.not(failed.status, 204, `the completing PATCH fails while Put Block List fails: ${failed.status}`);
  clear(t, [{ status: failed.status, body }]);
  t.equal((await blocksOf(container, `${r.root}${idOf(url)}`)).committed, 0, 'nothing committed');
  r.proxy.clear();
  // A fresh instance: nothing cached, every byte staged, the blob not committed.
  const app = await startApp(azureLocationEnv(server, r.root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' }));
  t.teardown(() => app.close());
  const fresh = `${app.url}${new URL(url).pathname}`;
  const early = await fetch(fresh);
  t.equal(early.status, 503, 'GET: not a 500 with Azure details, not a short blob');
  t.ok(early.headers.get('retry-after'), 'with Retry-After');
  t.match(await early.text(), /still being (assembled|committed).*retry/i, 'says to retry in a moment');
  t.equal(await headOffset(fresh), data.length, 'HEAD (under the lock) commits it');
  const res = await fetch(fresh);
  t.equal(res.status, 200);
  t.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(data), 'GET byte-exact');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [url]);
});

t.test('Put Block From URL failing for good: the concatenation fails clearly and creates nothing, then succeeds', async (t) => {
  const r = await rig(t, 'copy', 17);
  const a = faultData(5 * MiB + 3, 7);
  const b = faultData(4 * MiB, 8);
  const partials: string[] = [];
  for (const data of [a, b]) {
    const url = await createUpload(r.app.url, data.length, { 'Upload-Concat': 'partial' });
    t.equal((await patch(url, 0, data)).status, 204, 'partial uploaded');
    partials.push(url);
  }
  const concat = () =>
    fetch(`${r.app.url}/files/`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Concat': `final;${partials.map((u) => new URL(u).pathname).join(' ')}` },
    });
  r.proxy.setRules([{ op: 'PutBlockFromURL', fault: 'slowdown503' }]);
  const failed = await concat();
  const failedBody = await failed.text();
  t.equal(failed.status, 503, `concatenation fails: ${failedBody.trim()}`);
  clear(t, [{ status: failed.status, body: failedBody }]);
  t.match(failedBody, /send the POST again/, 'says to send the POST again');
  t.notMatch(failedBody, /can be resumed/, 'not that a final upload that does not exist can be resumed');
  t.ok(r.proxy.seen('PutBlockFromURL').length >= 3, 'Put Block From URL was retried');
  r.proxy.clear();
  await assertNoOrphans(t, r, partials);

  const res = await concat();
  t.equal(res.status, 201, 'concatenation succeeds once the fault stops');
  const final = new URL(res.headers.get('location') as string, r.app.url).toString();
  await assertComplete(t, r, final, Buffer.concat([a, b]));
  await assertNoOrphans(t, r, [...partials, final]);
});

// The same faults on 1 MiB blocks, each rule matched by the request itself (the block's id).
const isPutBlock = (req: ClassifiedRequest) => req.method === 'PUT' && req.query.get('comp') === 'block';
const isCommit = (req: ClassifiedRequest) => req.method === 'PUT' && req.query.get('comp') === 'blocklist';

/** The app with an azure location reached through a fault proxy in front of Azurite (1 MiB blocks). */
async function appBehindProxy(t: Test, name: string, extra: Record<string, string> = {}) {
  const upstream = new URL(server.endpoint);
  const proxy = await FaultProxy.start(upstream.origin, 1, azureDialect);
  t.teardown(() => proxy.close());
  const root = uniqueRoot(name);
  const env = azureLocationEnv(server, root, {
    STORAGE_AZURE_ENDPOINT: `${proxy.url}${upstream.pathname}`,
    STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb',
    ...extra,
  });
  const app = await startAppFor(t, env);
  return { proxy, root, app };
}

t.test('500 and 503 answers to blocks are retried by the SDK: the PATCH succeeds, the blob is right', async (t) => {
  const { proxy, root, app } = await appBehindProxy(t, 'az-retry');
  proxy.setRules([
    { when: isPutBlock, fault: 'error500', count: 1 },
    { when: isPutBlock, fault: 'slowdown503', count: 1 },
    { when: isPutBlock, fault: 'reset-before', count: 1 },
  ]);
  const data = randomData(3 * MiB + 5);
  const url = await createUpload(app.url, data.length);
  const res = await patch(url, 0, data);
  t.equal(res.status, 204);
  t.equal(proxy.faulted().length, 3, 'every fault was met');
  const id = url.split('/').pop() as string;
  t.equal((await blobSha256(container, `${root}${id}`)).sha256, sha256(data));
});

t.test('a block refused on every attempt: 503 naming Azure, the blocks before it kept; the upload resumes', async (t) => {
  const { proxy, root, app } = await appBehindProxy(t, 'az-refused', { STORAGE_AZURE_MAX_ATTEMPTS: '2' });
  const data = randomData(4 * MiB + 77);
  const url = await createUpload(app.url, data.length);
  // Blocks 0 and 1 go through, every later one fails (blocks are staged in parallel: chosen by id, not by order).
  proxy.setRules([{ when: (req) => isPutBlock(req) && (blockIndex(req.query.get('blockid') ?? '') ?? 0) >= 2, fault: 'slowdown503' }]);
  const failed = await patch(url, 0, data);
  t.equal(failed.status, 503);
  t.match(await failed.text(), /Azure refused PutBlock .*the upload can be resumed/);
  proxy.clear();
  const offset = Number((await head(url)).headers.get('upload-offset'));
  t.equal(offset, 2 * MiB, 'the blocks Azure accepted count');
  const done = await patch(url, offset, data.subarray(offset));
  t.equal(done.status, 204);
  const id = url.split('/').pop() as string;
  t.equal((await blobSha256(container, `${root}${id}`)).sha256, sha256(data));
  t.same(await storedBlobs(container, root), [`${root}${id}`, `${root}${id}.info`]);
});

t.test('a commit whose answer is lost is retried and succeeds: the blob is committed once, right', async (t) => {
  const { proxy, root, app } = await appBehindProxy(t, 'az-lost-commit');
  proxy.setRules([{ when: isCommit, fault: 'reset-after', count: 1 }]);
  const data = randomData(2 * MiB + 1);
  const url = await createUpload(app.url, data.length, { 'Upload-Metadata': `filetype ${Buffer.from('image/png').toString('base64')}` });
  const res = await patch(url, 0, data);
  t.equal(res.status, 204);
  t.equal(proxy.faulted().length, 1, 'the commit answer was lost once');
  const id = url.split('/').pop() as string;
  t.equal((await blobSha256(container, `${root}${id}`)).sha256, sha256(data));
  t.equal((await head(url)).headers.get('upload-offset'), String(data.length));
});

t.test(
  'an Azure that accepts connections and never answers: each attempt is abandoned after SOCKET_TIMEOUT, the request answers 503',
  async (t) => {
    // Reads whatever it is sent and never answers, keeping the connection open.
    const sockets = new Set<Socket>();
    const hole = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    hole.listen(0, '127.0.0.1');
    await once(hole, 'listening');
    t.teardown(() => {
      for (const socket of sockets) socket.destroy();
      hole.close();
    });
    const { port } = hole.address() as AddressInfo;
    const app = await startAppFor(
      t,
      azureLocationEnv({ ...server, endpoint: `http://127.0.0.1:${port}/${server.account}` }, uniqueRoot('fault-hole'), {
        STORAGE_AZURE_SOCKET_TIMEOUT: '1s',
        STORAGE_AZURE_MAX_ATTEMPTS: '2',
      }),
    );
    const started = Date.now();
    const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10' } });
    const body = await res.text();
    const took = Date.now() - started;
    t.equal(res.status, 503, `the creation fails clearly: ${body.trim()}`);
    t.ok(took >= 2000 && took < 15_000, `after two abandoned attempts of 1 s, not hanging (${took} ms)`);
    t.ok(sockets.size >= 2, `each attempt on a connection of its own (${sockets.size})`);
  },
);

t.test(
  'a length declared once the last bytes wait in the tail, their block refused: HEAD still commits, nothing claimed unstored',
  async (t) => {
    const r = await rig(t, 'late-length', 19);
    const data = faultData(10 * MiB + 5, 7);
    const url = await createUpload(r.app.url, 'deferred');
    // Blocks 0 and 1 (8 MiB) staged, 2 MiB and 5 bytes in the tail.
    t.equal((await patch(url, 0, data)).status, 204);
    t.equal((await blocksOf(container, `${r.root}${idOf(url)}`)).uncommitted, 2, 'two blocks staged, the rest in the tail');
    // The length, with an empty body: the tail alone is the last block, and Azure refuses it for good.
    r.proxy.setRules([{ op: 'PutBlock', fault: 'slowdown503' }]);
    const declared = await patch(url, data.length, Buffer.alloc(0), { 'Upload-Length': String(data.length) });
    t.equal(declared.status, 503, `the declaration's completion fails clearly: ${(await declared.text()).trim()}`);
    r.proxy.clear();
    // The client's HEAD must not be told "complete" of a blob that is never committed.
    await assertComplete(t, r, url, data);
    await assertNoOrphans(t, r, [url]);
  },
);
