/**
 * Small files sent whole with their creation (issue 15 item 5): a POST whose body is the whole
 * upload costs ONE S3 request, a PutObject of the final object carrying the upload's state in
 * its own metadata (no `.info`). Everything works on such an upload (HEAD, GET, DELETE,
 * ownership, hooks, concatenation, checksums, tus-js-client's uploadDataDuringCreation), and a
 * body cut short or a PutObject that fails leaves `.info` and the bytes that arrived.
 * S3 requests are counted at a recording proxy between the server and the S3 test server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@tus/utils';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { intend } from '../../src/stores/creation-intent.js';
import { b64, createUpload, head, patch, type RunningApp, startApp, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { cutRequest } from '../helpers/cut-request.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { idOf } from '../helpers/ids.js';
import { startRedis } from '../helpers/redis.js';
import { headObject, listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { makeStore, recordCommands, s3Location, writeStream } from '../helpers/store.js';
import { uploadFile } from '../helpers/tus-client.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();
const verify = verifyClient(server);
const OCTETS = 'application/offset+octet-stream';
const METADATA = `filename ${b64('résumé "final".pdf')},filetype ${b64('application/pdf')},empty`;

interface Rig {
  proxy: FaultProxy;
  app: RunningApp;
  root: string;
}

async function rig(t: Test, name: string, extra: Record<string, string> = {}): Promise<Rig> {
  const proxy = await FaultProxy.start(server.endpoint);
  const root = uniqueRoot(name);
  const app = await startApp(s3LocationEnv(server, root, { STORAGE_S3_ENDPOINT: proxy.url, STORAGE_S3_MAX_ATTEMPTS: '2', ...extra }));
  t.teardown(async () => {
    await app.close();
    await proxy.close();
  });
  await fetch(`${app.url}/readyz`);
  return { proxy, app, root };
}

/** POST with the whole file as body; returns the answer and the absolute upload URL. */
async function postWhole(base: string, data: Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': String(data.length), 'Content-Type': OCTETS, 'Upload-Metadata': METADATA, ...headers },
    body: data as unknown as BodyInit,
  });
  const location = res.headers.get('location');
  return { res, url: location ? new URL(location, base).toString() : undefined };
}

/** Objects under the root but the readiness probe's. */
async function objectsIn(root: string): Promise<string[]> {
  return (await listKeys(verify, server.bucket, root)).filter((k) => !k.endsWith('.tus-readyz'));
}

/** S3 requests the proxy saw from `from` on, as "Operation key-suffix". */
function requestsSince(proxy: FaultProxy, from: number, root: string): string[] {
  return proxy.requests.slice(from).map((r) => `${r.op} ${r.key.replace(/^[^/]+\//, '').replace(root, '')}`);
}

t.test('a whole small file in its POST is one PutObject carrying the state; HEAD, GET and DELETE work on it', async (t) => {
  const { proxy, app, root } = await rig(t, 'small-one');
  for (const size of [1, 1000, 5 * 1024 * 1024, 7 * 1024 * 1024]) {
    const data = randomData(size);
    const before = proxy.requests.length;
    const { res, url } = await postWhole(app.url, data);
    t.equal(res.status, 201, `${size}: created`);
    t.equal(res.headers.get('upload-offset'), String(size));
    const id = idOf(url as string);
    t.same(requestsSince(proxy, before, root), [`PutObject ${id}`], `${size}: exactly one S3 request, the final object`);
    t.same(await listKeys(verify, server.bucket, root + id), [root + id], `${size}: no .info, no .part`);
    const meta = await headObject(verify, server.bucket, root + id);
    t.equal(meta.Metadata?.['tus-upload'], '1', 'the marker');
    t.equal(meta.ContentType, 'application/pdf');

    // A HEAD reads the state from the object (the cache is dropped on HEAD).
    const headBefore = proxy.requests.length;
    const h = await head(url as string);
    t.equal(h.status, 200);
    t.equal(h.headers.get('upload-offset'), String(size));
    t.equal(h.headers.get('upload-length'), String(size));
    t.equal(h.headers.get('upload-metadata'), METADATA, 'the client metadata exactly');
    t.same(requestsSince(proxy, headBefore, root), [`GetObject ${id}.info`, `HeadObject ${id}`], 'HEAD: .info missing, then the object');

    const get = await fetch(url as string, { headers: TUS });
    t.equal(get.status, 200);
    t.equal(get.headers.get('content-type'), 'application/pdf');
    t.equal(
      get.headers.get('content-disposition'),
      `attachment; filename="r?sum? \\"final\\".pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`,
    );
    t.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data), `${size}: GET byte-exact`);
  }

  // A second instance (no cache) finds it too, and terminates it.
  const data = randomData(4321);
  const { url } = await postWhole(app.url, data);
  const id = idOf(url as string);
  const other = await startApp(s3LocationEnv(server, root));
  t.teardown(() => other.close());
  const otherUrl = `${other.url}/files/${id}`;
  t.equal((await head(otherUrl)).headers.get('upload-offset'), '4321');
  const del = await fetch(otherUrl, { method: 'DELETE', headers: TUS });
  t.equal(del.status, 204, 'terminated');
  t.equal((await head(otherUrl)).status, 404);
  t.equal((await head(url as string)).status, 404, 'gone for the first instance too');
  t.same(await listKeys(verify, server.bucket, root + id), [], 'nothing left');
});

t.test('uploads that are not sent whole with their creation go the usual way (.info first)', async (t) => {
  const { proxy, app, root } = await rig(t, 'small-usual');
  const data = randomData(3000);

  // Body shorter than Upload-Length.
  let before = proxy.requests.length;
  let res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '3000', 'Content-Type': OCTETS },
    body: data.subarray(0, 1000) as unknown as BodyInit,
  });
  t.equal(res.status, 201);
  let id = idOf(new URL(res.headers.get('location') as string, app.url).toString());
  t.same(
    requestsSince(proxy, before, root),
    [`PutObjectInfo ${id}.info`, `PutObjectTail ${id}.part`],
    'part of the file: .info at creation, then the tail',
  );
  const rest = await patch(`${app.url}/files/${id}`, 1000, data.subarray(1000));
  t.equal(rest.status, 204);
  t.equal((await objectSha256(verify, server.bucket, root + id)).sha256, sha256(data));

  // Deferred length.
  before = proxy.requests.length;
  res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Defer-Length': '1', 'Content-Type': OCTETS },
    body: data as unknown as BodyInit,
  });
  t.equal(res.status, 201);
  id = idOf(new URL(res.headers.get('location') as string, app.url).toString());
  t.equal(requestsSince(proxy, before, root)[0], `PutObjectInfo ${id}.info`, 'deferred length: .info first');

  // No body.
  const url = await createUpload(app.url, 3000);
  t.same(await listKeys(verify, server.bucket, root + idOf(url)), [`${root}${idOf(url)}.info`], 'creation without body: .info');

  // An empty upload: one PutObject too.
  before = proxy.requests.length;
  const empty = await createUpload(app.url, 0, { 'Upload-Metadata': METADATA });
  t.same(requestsSince(proxy, before, root), [`PutObject ${idOf(empty)}`], 'empty upload: one PutObject');
  const h = await head(empty);
  t.equal(h.headers.get('upload-offset'), '0');
  t.equal(h.headers.get('upload-length'), '0');
  t.equal(h.headers.get('upload-metadata'), METADATA);

  // Larger than one PutObject takes (two parts): the usual multipart way, .info before the parts.
  const big = randomData(12 * 1024 * 1024);
  before = proxy.requests.length;
  const { res: bigRes, url: bigUrl } = await postWhole(app.url, big);
  t.equal(bigRes.status, 201);
  const ops = requestsSince(proxy, before, root).map((r) => r.split(' ')[0]);
  t.same(ops.slice(0, 2), ['PutObjectInfo', 'CreateMultipartUpload'], 'a multipart upload is named by .info');
  t.equal((await objectSha256(verify, server.bucket, root + idOf(bigUrl as string))).sha256, sha256(big));
});

t.test('a foreign object at an upload key is not taken for an upload', async (t) => {
  const { app, root } = await rig(t, 'small-foreign');
  const id = randomBytes(16).toString('hex');
  await verify.send(
    new PutObjectCommand({ Bucket: server.bucket, Key: root + id, Body: 'not an upload', Metadata: { 'tus-upload': '2' } }),
  );
  t.equal((await head(`${app.url}/files/${id}`)).status, 404, 'HEAD 404');
  t.equal((await fetch(`${app.url}/files/${id}`, { headers: TUS })).status, 404, 'GET 404');
  // A state copied from another upload names another key.
  const { url } = await postWhole(app.url, randomData(10));
  const copied = (await headObject(verify, server.bucket, root + idOf(url as string))).Metadata;
  await verify.send(new PutObjectCommand({ Bucket: server.bucket, Key: root + id, Body: 'xxxxxxxxxx', Metadata: copied }));
  t.equal((await head(`${app.url}/files/${id}`)).status, 404, 'a state naming another upload: 404');
});

t.test('ownership: another subject gets 404 on a small file stored in one request', async (t) => {
  const secret = randomBytes(32).toString('hex');
  const token = (sub: string) =>
    new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret));
  const { proxy, app, root } = await rig(t, 'small-owner', { AUTH_JWT_SECRET: secret });
  const alice = { Authorization: `Bearer ${await token('alice')}` };
  const bob = { Authorization: `Bearer ${await token('bob')}` };
  const data = randomData(2048);
  const before = proxy.requests.length;
  const { res, url } = await postWhole(app.url, data, alice);
  t.equal(res.status, 201);
  const id = idOf(url as string);
  t.same(requestsSince(proxy, before, root), [`PutObject ${id}`], 'one request with authentication on');
  const fresh = await startApp({ ...s3LocationEnv(server, root), AUTH_JWT_SECRET: secret });
  t.teardown(() => fresh.close());
  for (const base of [app.url, fresh.url]) {
    const u = `${base}/files/${id}`;
    const mine = await fetch(u, { method: 'HEAD', headers: { ...TUS, ...alice } });
    t.equal(mine.status, 200);
    t.equal(mine.headers.get('upload-metadata'), METADATA, 'the owner is never shown');
    for (const method of ['HEAD', 'GET', 'DELETE', 'PATCH']) {
      const theirs = await fetch(u, {
        method,
        headers: { ...TUS, ...bob, ...(method === 'PATCH' ? { 'Upload-Offset': '2048', 'Content-Type': OCTETS } : {}) },
        ...(method === 'PATCH' ? { body: '' } : {}),
      });
      t.equal(theirs.status, 404, `${method} by another subject: 404`);
    }
    const got = await fetch(u, { headers: { ...TUS, ...alice } });
    t.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(data), 'the owner downloads it');
  }
});

t.test('hooks: post-create and post-finish payloads of a small file stored in one request', async (t) => {
  const receiver = await HookReceiver.start('small-hook-secret');
  t.teardown(() => receiver.close());
  const { proxy, app, root } = await rig(t, 'small-hooks', {
    HOOKS_HTTP_URL: receiver.url,
    HOOKS_HTTP_SECRET: 'small-hook-secret',
    HOOKS_ENABLED_EVENTS: 'post-create,post-finish',
    HOOKS_RETRY_DELAY: '50',
  });
  const data = randomData(999);
  const before = proxy.requests.length;
  const { res, url } = await postWhole(app.url, data);
  t.equal(res.status, 201);
  const id = idOf(url as string);
  await until(() => receiver.of('post-finish').length === 1 && receiver.of('post-create').length === 1, 'both hooks');
  const upload = (type: string) => receiver.of(type)[0]?.body.Event.Upload;
  const expected = {
    ID: id,
    Size: 999,
    SizeIsDeferred: false,
    MetaData: { filename: 'résumé "final".pdf', filetype: 'application/pdf', empty: '' },
    IsPartial: false,
    IsFinal: false,
    PartialUploads: null,
    Storage: { Type: 's3store', Bucket: server.bucket, Key: root + id },
  };
  t.same(upload('post-create'), { ...expected, Offset: 0 }, 'post-create');
  t.same(upload('post-finish'), { ...expected, Offset: 999 }, 'post-finish');
  // The upload: one PutObject; the rest is the hook outbox's record (written, then removed once delivered).
  const ours = requestsSince(proxy, before, root).filter((r) => !r.includes('.tus-hooks/'));
  t.same(ours, [`PutObject ${id}`], 'the upload itself is one request');
});

t.test('checksum on the POST: verified, then one request; a mismatch stores nothing', async (t) => {
  const { proxy, app, root } = await rig(t, 'small-checksum');
  const data = randomData(5000);
  const digest = createHash('sha1').update(data).digest('base64');
  let before = proxy.requests.length;
  const { res, url } = await postWhole(app.url, data, { 'Upload-Checksum': `sha1 ${digest}` });
  t.equal(res.status, 201);
  t.same(requestsSince(proxy, before, root), [`PutObject ${idOf(url as string)}`]);
  t.equal((await objectSha256(verify, server.bucket, root + idOf(url as string))).sha256, sha256(data));
  before = proxy.requests.length;
  const bad = await postWhole(app.url, data, { 'Upload-Checksum': `sha1 ${createHash('sha1').update('x').digest('base64')}` });
  t.equal(bad.res.status, 460);
  t.same(requestsSince(proxy, before, root), [], 'nothing stored');
});

t.test('concatenation with partials sent whole with their creation', async (t) => {
  const { app, root } = await rig(t, 'small-concat');
  const a = randomData(3000);
  const b = randomData(6 * 1024 * 1024 + 5);
  const pa = await postWhole(app.url, a, { 'Upload-Concat': 'partial' });
  const pb = await postWhole(app.url, b, { 'Upload-Concat': 'partial' });
  t.equal(pa.res.status, 201);
  t.equal(pb.res.status, 201);
  for (const p of [pa, pb]) {
    t.same(await listKeys(verify, server.bucket, root + idOf(p.url as string)), [root + idOf(p.url as string)], 'partial: no .info');
    t.equal((await head(p.url as string)).headers.get('upload-concat'), 'partial');
  }
  const final = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Concat': `final;/files/${idOf(pa.url as string)} /files/${idOf(pb.url as string)}` },
  });
  t.equal(final.status, 201);
  const finalUrl = new URL(final.headers.get('location') as string, app.url).toString();
  const h = await head(finalUrl);
  t.equal(h.headers.get('upload-offset'), String(a.length + b.length));
  t.equal((await objectSha256(verify, server.bucket, root + idOf(finalUrl))).sha256, sha256(Buffer.concat([a, b])), 'final byte-exact');
});

t.test("tus-js-client's uploadDataDuringCreation: a small file in one POST, one S3 request", async (t) => {
  const { proxy, app, root } = await rig(t, 'small-client');
  const dir = scratchDir(t, 'tus-small-');
  const file = join(dir, 'small.bin');
  const data = randomData(300 * 1024);
  writeFileSync(file, data);
  const before = proxy.requests.length;
  const url = await uploadFile(`${app.url}/files/`, file, { uploadDataDuringCreation: true, chunkSize: 8 * 1024 * 1024 });
  const id = idOf(url);
  t.same(requestsSince(proxy, before, root), [`PutObject ${id}`], 'one S3 request');
  t.equal((await objectSha256(verify, server.bucket, root + id)).sha256, sha256(data));
  t.same(await listKeys(verify, server.bucket, root + id), [root + id]);
});

/** A POST whose headers announce the whole file but only `sent` bytes arrive before the socket ends. */
function cutPost(base: string, size: number, data: Buffer, sent: number): Promise<void> {
  const headers = { ...TUS, 'Upload-Length': String(size), 'Content-Type': OCTETS, 'Content-Length': String(size) };
  return cutRequest(`${base}/files/`, 'POST', headers, data, sent);
}

t.test('a POST cut short keeps .info and the bytes that arrived; the upload resumes byte-exact', async (t) => {
  const { proxy, app, root } = await rig(t, 'small-cut');
  const data = randomData(200_000);
  const before = proxy.requests.length;
  await cutPost(app.url, data.length, data, 70_000);
  await until(async () => (await objectsIn(root)).some((k) => k.endsWith('.part')), 'the tail to be kept');
  const keys = await objectsIn(root);
  const id = (keys[0] as string).slice(root.length).replace(/\.(info|part)$/, '');
  t.same(keys, [`${root}${id}.info`, `${root}${id}.part`], '.info and the tail');
  // (The streamed PutObject, if it reached S3 at all, was abandoned: nothing of it stored.)
  const stored = proxy.requests.slice(before).filter((r) => r.op !== 'PutObject' || r.upstreamStatus === 200);
  t.same(
    stored.map((r) => r.op),
    ['PutObjectInfo', 'PutObjectTail'],
    'then .info, then the tail',
  );
  const url = `${app.url}/files/${id}`;
  t.equal((await head(url)).headers.get('upload-offset'), '70000', 'every byte that arrived');
  const res = await patch(url, 70_000, data.subarray(70_000));
  t.equal(res.status, 204);
  t.equal((await objectSha256(verify, server.bucket, root + id)).sha256, sha256(data), 'byte-exact');
  t.same(await objectsIn(root), [root + id, `${root}${id}.info`], 'tail removed');
});

t.test('a body cut short answered with its offset (201): a fresh store finds the upload there', async (t) => {
  const root = uniqueRoot('small-cut-store');
  const { store, client } = makeStore(s3Location(server, root));
  const commands = recordCommands(client);
  const id = randomBytes(16).toString('hex');
  const upload = new Upload({ id, offset: 0, size: 100_000, metadata: { filename: 'x' } });
  intend(upload, { wholeBody: true });
  await store.create(upload);
  t.same(
    commands.map((c) => c.name),
    [],
    'nothing written at creation',
  );
  const data = randomData(100_000);
  const body = new PassThrough();
  const writing = writeStream(store, id, 0, body, data.length);
  body.write(data.subarray(0, 30_000));
  body.end(); // ends early: as a body the drain or a stop ended
  t.equal(await writing, 30_000, 'the offset the POST answers');
  t.same(
    commands.map((c) => `${c.name} ${String(c.input.Key).slice(root.length)}`),
    [`PutObject ${id}`, `PutObject ${id}.info`, `PutObject ${id}.part`],
    'the abandoned streamed PutObject, then .info and the tail',
  );
  const { store: fresh } = makeStore(s3Location(server, root));
  const found = await fresh.getUpload(id);
  t.equal(found.offset, 30_000);
  t.same(found.metadata, { filename: 'x' });
  store.close();
  fresh.close();
});

t.test('a PutObject that fails keeps .info and every byte; a HEAD finishes the upload once S3 is back', async (t) => {
  const { proxy, app, root } = await rig(t, 'small-fail');
  proxy.setRules([{ op: 'PutObject', fault: 'error500' }]);
  const data = randomData(50_000);
  const { res } = await postWhole(app.url, data);
  t.ok(res.status >= 500, `the POST fails (${res.status})`);
  t.equal(res.headers.get('location'), null, 'no upload URL was given');
  const keys = await objectsIn(root);
  t.equal(keys.length, 2, '.info and the tail');
  const id = (keys[0] as string).slice(root.length).replace(/\.(info|part)$/, '');
  t.same(keys, [`${root}${id}.info`, `${root}${id}.part`]);
  proxy.clear();
  const h = await head(`${app.url}/files/${id}`);
  t.equal(h.headers.get('upload-offset'), String(data.length));
  t.equal((await objectSha256(verify, server.bucket, root + id)).sha256, sha256(data), 'the HEAD wrote the final object from the tail');
  t.same(await objectsIn(root), [root + id, `${root}${id}.info`], 'tail removed');
  const get = await fetch(`${app.url}/files/${id}`, { headers: TUS });
  t.equal(get.headers.get('content-type'), 'application/pdf');
  t.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data));

  // A PutObject that fails once is retried and the upload is stored whole, still without .info.
  proxy.setRules([{ op: 'PutObject', fault: 'error500', count: 1 }]);
  const again = await postWhole(app.url, data);
  t.equal(again.res.status, 201);
  const againId = idOf(again.url as string);
  t.same(await listKeys(verify, server.bucket, root + againId), [root + againId]);
  t.equal((await head(again.url as string)).headers.get('upload-offset'), String(data.length));
});

t.test('two instances sharing Redis: a small file stored in one request, terminated by the other instance', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const { proxy, app, root } = await rig(t, 'small-redis', { REDIS: redis.url });
  const other = await startApp({ ...s3LocationEnv(server, root), REDIS: redis.url });
  t.teardown(() => other.close());
  const data = randomData(777);
  const before = proxy.requests.length;
  const { res, url } = await postWhole(app.url, data);
  t.equal(res.status, 201);
  const id = idOf(url as string);
  t.same(requestsSince(proxy, before, root), [`PutObject ${id}`], 'one S3 request with Redis on');
  // The first instance has it cached; the other reads it from the object, then terminates it.
  const otherGet = await fetch(`${other.url}/files/${id}`, { headers: TUS });
  t.equal(sha256(Buffer.from(await otherGet.arrayBuffer())), sha256(data), 'the other instance serves it');
  t.equal((await fetch(`${other.url}/files/${id}`, { method: 'DELETE', headers: TUS })).status, 204);
  // The first instance's cached state is stale (its version changed): read again, gone.
  const get = await fetch(url as string, { headers: TUS });
  t.equal(get.status, 404, 'GET on the first instance: 404, not its stale cache');
  t.equal((await head(url as string)).status, 404);
});
