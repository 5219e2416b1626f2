/**
 * Per-upload ownership and the limits a token's claims set, over real HTTP on every driver:
 * another subject's upload answers exactly like an unknown id on every method, concatenation
 * included; the owner is never shown nor forgeable; read-only, locations, size, types and
 * id prefix claims hold; tus-js-client uploads with a bearer token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { Metadata } from '@tus/utils';
import { type JWTPayload, SignJWT } from 'jose';
import t from 'tap';
import { b64, startApp, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { everyDriver } from '../helpers/drivers.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchFile } from '../helpers/scratch.js';
import { uploadFile } from '../helpers/tus-client.js';

const SECRET = randomBytes(32).toString('hex');
const token = (payload: JWTPayload) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
const bearer = (value: string) => ({ Authorization: `Bearer ${value}` });

/** What a client can observe of an answer, minus what differs between any two requests. */
async function observed(res: Response) {
  const headers = [...res.headers.entries()].filter(([name]) => !['date', 'x-request-id', 'connection', 'keep-alive'].includes(name));
  return { status: res.status, body: await res.text(), headers: Object.fromEntries(headers) };
}

const drivers = everyDriver('ownership');

for (const [driver, env] of drivers) {
  t.test(`${driver}: another subject's upload does not exist for them`, async (t) => {
    const app = await startAppFor(t, { ...env(), AUTH_JWT_SECRET: SECRET });
    const alice = bearer(await token({ sub: 'alice' }));
    const bob = bearer(await token({ sub: 'bob' }));
    // Alice tries to forge the owner key: it is dropped, she stays the owner.
    const created = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...alice, 'Upload-Length': '6', 'Upload-Metadata': `filename ${b64('a.txt')},tus-owner ${b64('bob')}` },
    });
    t.equal(created.status, 201);
    const url = created.headers.get('location') as string;
    const unknown = url.replace(/[^/]+$/, 'ffffffffffffffffffffffffffffffff');
    const patchBody = (headers: Record<string, string>) => ({
      method: 'PATCH',
      headers: { ...TUS, ...headers, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    t.equal((await fetch(url, patchBody(alice))).status, 204, 'the owner writes');

    const mine = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...alice } });
    t.equal(mine.status, 200);
    t.equal(mine.headers.get('upload-offset'), '3');
    t.same(Metadata.parse(mine.headers.get('upload-metadata') as string), { filename: 'a.txt' }, 'no owner key in Upload-Metadata');

    const requests: Array<[string, (target: string) => RequestInit]> = [
      ['HEAD', () => ({ method: 'HEAD', headers: { ...TUS, ...bob } })],
      ['PATCH', () => patchBody(bob)],
      ['DELETE', () => ({ method: 'DELETE', headers: { ...TUS, ...bob } })],
      ['GET', () => ({ method: 'GET', headers: { ...bob } })],
    ];
    for (const [method, init] of requests) {
      const theirs = await observed(await fetch(url, init(url)));
      const none = await observed(await fetch(unknown, init(unknown)));
      t.equal(theirs.status, 404, `${method}: 404`);
      t.same(theirs, none, `${method}: the same answer as an unknown id`);
    }
    // Concatenation with Alice's partial, by Bob: as if the partial did not exist.
    const partial = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...alice, 'Upload-Length': '2', 'Upload-Concat': 'partial' },
    });
    const partialUrl = partial.headers.get('location') as string;
    const unknownPartial = partialUrl.replace(/[^/]+$/, 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee');
    const final = async (partials: string, who: Record<string, string>) =>
      fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, ...who, 'Upload-Concat': `final;${partials}` } });
    const bobsFinal = await final(partialUrl, bob);
    const bobsBody = await bobsFinal.text();
    t.equal(bobsFinal.status, 400);
    t.equal(bobsBody, (await (await final(unknownPartial, bob)).text()).replace(unknownPartial, partialUrl), 'same as an unknown partial');
    t.equal((await final(partialUrl, alice)).status, 201, 'the owner may concatenate her partial');

    // Nothing Bob did changed Alice's upload; she finishes and downloads it.
    t.equal((await fetch(url, { method: 'HEAD', headers: { ...TUS, ...alice } })).headers.get('upload-offset'), '3');
    const rest = await fetch(url, { ...patchBody(alice), headers: { ...patchBody(alice).headers, 'Upload-Offset': '3' }, body: 'def' });
    t.equal(rest.status, 204);
    const download = await fetch(url, { headers: alice });
    t.equal(await download.text(), 'abcdef');
  });
}

/** An S3 location under a fresh root named after `name` with JWT auth, and alice's and bob's bearer headers. */
async function s3WithOwners(name: string) {
  const server = s3TestServer();
  const root = uniqueRoot(name);
  const env = { ...s3LocationEnv(server, root), AUTH_JWT_SECRET: SECRET };
  return { server, root, env, alice: bearer(await token({ sub: 'alice' })), bob: bearer(await token({ sub: 'bob' })) };
}

/**
 * An upload's state (`<root><id>.info`) read and overwritten behind the server's back, in the
 * S3 bucket or the Azure container of `env`.
 */
function stateBehindTheBack(driver: 's3' | 'azure', env: Record<string, string>, id: string) {
  if (driver === 's3') {
    const server = s3TestServer();
    const client = verifyClient(server);
    const Key = `${env.STORAGE_S3_ROOT}${id}.info`;
    return {
      read: async () => (await (await client.send(new GetObjectCommand({ Bucket: server.bucket, Key }))).Body?.transformToString()) ?? '',
      write: async (text: string) => void (await client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body: text }))),
    };
  }
  const blob = verifyContainer(azureTestServer()).getBlockBlobClient(`${env.STORAGE_AZURE_ROOT}${id}.info`);
  return {
    read: async () => (await blob.downloadToBuffer()).toString('utf8'),
    write: async (text: string) => void (await blob.upload(text, Buffer.byteLength(text))),
  };
}

for (const driver of ['s3', 'azure'] as const) {
  t.test(`${driver}: an upload whose owner cannot be read: 503, never passed on unchecked`, async (t) => {
    const root = uniqueRoot('owner-unreadable');
    const location = driver === 's3' ? s3LocationEnv(s3TestServer(), root) : azureLocationEnv(azureTestServer(), root);
    const env = { ...location, AUTH_JWT_SECRET: SECRET };
    const alice = bearer(await token({ sub: 'alice' }));
    const bob = bearer(await token({ sub: 'bob' }));
    const first = await startApp(env);
    const created = await fetch(`${first.url}/files/`, { method: 'POST', headers: { ...TUS, ...alice, 'Upload-Length': '6' } });
    const id = (created.headers.get('location') as string).split('/').pop() as string;
    await first.close();
    // A fresh instance has nothing cached, and the state is unreadable.
    const app = await startAppFor(t, env);
    const state = stateBehindTheBack(driver, env, id);
    const saved = await state.read();
    await state.write('{ not json');
    const res = await fetch(`${app.url}/files/${id}`, { method: 'DELETE', headers: { ...TUS, ...bob } });
    t.equal(res.status, 503);
    t.match(await res.text(), /could not be read to check who owns it/);
    t.equal(res.headers.get('retry-after'), '3');
    await state.write(saved);
    t.equal((await fetch(`${app.url}/files/${id}`, { method: 'HEAD', headers: { ...TUS, ...alice } })).status, 200, 'still there');
    t.equal((await fetch(`${app.url}/files/${id}`, { method: 'DELETE', headers: { ...TUS, ...bob } })).status, 404);
  });
}

t.test('an upload whose multipart upload S3 no longer has: 404 like an unknown id, not 503 forever', async (t) => {
  const { server, root, env, alice, bob } = await s3WithOwners('owner-gone');
  const first = await startApp(env);
  const created = await fetch(`${first.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, ...alice, 'Upload-Length': String(6 * 1024 * 1024) },
  });
  const id = (created.headers.get('location') as string).split('/').pop() as string;
  const sent = await fetch(`${first.url}/files/${id}`, {
    method: 'PATCH',
    headers: { ...TUS, ...alice, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: randomData(5 * 1024 * 1024 + 1) as unknown as BodyInit,
  });
  t.equal(sent.status, 204);
  await first.close();
  // A lifecycle rule (or an operator) aborts the multipart upload behind the server's back.
  const client = verifyClient(server);
  const { Uploads = [] } = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
  t.equal(Uploads.length, 1);
  for (const u of Uploads) await client.send(new AbortMultipartUploadCommand({ Bucket: server.bucket, Key: u.Key, UploadId: u.UploadId }));
  const app = await startAppFor(t, env);
  const unknown = `${app.url}/files/ffffffffffffffffffffffffffffffff`;
  for (const method of ['HEAD', 'DELETE', 'GET']) {
    const theirs = await observed(await fetch(`${app.url}/files/${id}`, { method, headers: { ...TUS, ...bob } }));
    t.same(theirs, await observed(await fetch(unknown, { method, headers: { ...TUS, ...bob } })), `${method}: as an unknown id`);
    t.equal(theirs.status, 404, method);
  }
});

t.test('owners are qualified by the kind of token and the issuer', async (t) => {
  const STATIC = randomBytes(16).toString('hex');
  const app = await startAppFor(t, {
    AUTH_JWT_SECRET: SECRET,
    AUTH_STATIC_TOKENS: `ci:${createHash('sha256').update(STATIC).digest('hex')}`,
  });
  const create = async (who: Record<string, string>) =>
    (await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, ...who, 'Upload-Length': '1' } })).headers.get(
      'location',
    ) as string;
  const headAs = async (url: string, who: Record<string, string>) =>
    (await fetch(url, { method: 'HEAD', headers: { ...TUS, ...who } })).status;
  const ciUpload = await create(bearer(STATIC));
  t.equal(await headAs(ciUpload, bearer(STATIC)), 200);
  t.equal(await headAs(ciUpload, bearer(await token({ sub: 'token:ci' }))), 404, 'a JWT whose sub spells the static subject');
  const fromA = await create(bearer(await token({ sub: 'sam', iss: 'issuer-a' })));
  t.equal(await headAs(fromA, bearer(await token({ sub: 'sam', iss: 'issuer-a' }))), 200);
  t.equal(await headAs(fromA, bearer(await token({ sub: 'sam', iss: 'issuer-b' }))), 404, 'the same sub from another issuer');
  t.equal(await headAs(fromA, bearer(await token({ id: 'sam', iss: 'issuer-a' }))), 200, "Directus's id is the same subject");
});

t.test('claims narrow what a token may do', async (t) => {
  const server = s3TestServer();
  const root = uniqueRoot('claims');
  const s3 = s3LocationEnv(server, root);
  const app = await startAppFor(t, {
    AUTH_JWT_SECRET: SECRET,
    STORAGE_LOCATIONS: 'local,s3',
    STORAGE_LOCAL_DRIVER: 'local',
    ...Object.fromEntries(Object.entries(s3).filter(([k]) => k !== 'STORAGE_LOCATIONS')),
  });
  const post = async (who: string, headers: Record<string, string>, path = '/files/s3/') =>
    fetch(`${app.url}${path}`, { method: 'POST', headers: { ...TUS, ...bearer(who), ...headers } });

  t.test('read_only: no create, change or delete; reading its own uploads works', async (t) => {
    const writer = await token({ sub: 'carol' });
    const reader = await token({ sub: 'carol', tus: { read_only: true } });
    const created = await post(writer, { 'Upload-Length': '2' });
    const url = created.headers.get('location') as string;
    const refused = await post(reader, { 'Upload-Length': '2' });
    t.equal(refused.status, 403);
    t.match(await refused.text(), /read-only/);
    const patched = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...bearer(reader), 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'xy',
    });
    t.equal(patched.status, 403);
    t.equal((await fetch(url, { method: 'DELETE', headers: { ...TUS, ...bearer(reader) } })).status, 403);
    t.equal((await fetch(url, { method: 'HEAD', headers: { ...TUS, ...bearer(reader) } })).status, 200);
  });

  t.test('locations', async (t) => {
    const s3Only = await token({ sub: 'dave', tus: { locations: ['s3'] } });
    const local = await post(s3Only, { 'Upload-Length': '2' }, '/files/local/');
    t.equal(local.status, 403);
    t.match(await local.text(), /may not use the location "local"; it may use: s3/);
    t.equal((await post(s3Only, { 'Upload-Length': '2' }, '/files/')).status, 403, 'the default mount is the local location');
    t.equal((await post(s3Only, { 'Upload-Length': '2' })).status, 201);
  });

  t.test('max_size', async (t) => {
    const small = await token({ sub: 'erin', tus: { max_size: 10 } });
    t.equal((await post(small, { 'Upload-Length': '10' })).status, 201);
    const big = await post(small, { 'Upload-Length': '11' });
    t.equal(big.status, 413);
    const deferred = await post(small, { 'Upload-Defer-Length': '1' });
    t.equal(deferred.status, 400);
    t.match(await deferred.text(), /limits uploads to 10 bytes: declare Upload-Length/);
    // The same subject's unlimited token makes a partial of unknown length; the limited one may not finalise it.
    const unlimited = await token({ sub: 'erin' });
    const partial = await post(unlimited, { 'Upload-Defer-Length': '1', 'Upload-Concat': 'partial' });
    t.equal(partial.status, 201);
    const final = await post(small, { 'Upload-Concat': `final;${partial.headers.get('location')}` });
    t.equal(final.status, 400);
    t.match(await final.text(), /every partial upload must have its length declared/);
  });

  t.test('types', async (t) => {
    const images = await token({ sub: 'frank', tus: { types: ['image/*'] } });
    t.equal((await post(images, { 'Upload-Length': '2', 'Upload-Metadata': `filetype ${b64('image/png')}` })).status, 201);
    const text = await post(images, { 'Upload-Length': '2', 'Upload-Metadata': `filetype ${b64('text/plain')}` });
    t.equal(text.status, 415);
    t.match(await text.text(), /text\/plain/);
    // contentType is served as Content-Type too, so it is checked too; on partials as well.
    const smuggled = await post(images, {
      'Upload-Length': '2',
      'Upload-Metadata': `type ${b64('image/png')},contentType ${b64('text/html')}`,
    });
    t.equal(smuggled.status, 415);
    t.match(await smuggled.text(), /text\/html/);
    const partial = await post(images, {
      'Upload-Length': '2',
      'Upload-Concat': 'partial',
      'Upload-Metadata': `contentType ${b64('text/html')}`,
    });
    t.equal(partial.status, 415);
  });

  t.test('an SVG without a filename downloads as an attachment, never inline', async (t) => {
    const images = await token({ sub: 'frank', tus: { types: ['image/*'] } });
    const created = await post(images, { 'Upload-Length': '5', 'Upload-Metadata': `filetype ${b64('image/svg+xml')}` });
    const url = created.headers.get('location') as string;
    await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...bearer(images), 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: '<svg>',
    });
    const download = await fetch(url, { headers: bearer(images) });
    t.equal(download.headers.get('content-type'), 'image/svg+xml');
    t.equal(download.headers.get('content-disposition'), 'attachment');
    const id = url.split('/').pop() as string;
    const object = await verifyClient(server).send(new HeadObjectCommand({ Bucket: server.bucket, Key: `${root}${id}` }));
    t.equal(object.ContentDisposition, 'attachment', 'the S3 object too');
  });

  t.test('prefix: the ids, and so the object keys, start with it', async (t) => {
    const prefixed = await token({ sub: 'grace', tus: { prefix: 'user-42-' } });
    const created = await post(prefixed, { 'Upload-Length': '3' });
    const url = created.headers.get('location') as string;
    const id = url.split('/').pop() as string;
    t.match(id, /^user-42-[0-9a-f]{32}$/);
    await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...bearer(prefixed), 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'xyz',
    });
    const keys = await listKeys(verifyClient(server), server.bucket, `${root}user-42-`);
    t.ok(keys.includes(`${root}${id}`), `object ${root}${id} stored under the prefix`);
    const bad = await post(await token({ sub: 'grace', tus: { prefix: '../etc' } }), { 'Upload-Length': '3' });
    t.equal(bad.status, 401);
    t.match(await bad.text(), /prefix claim must be up to 64 letters, digits, _ or -/);
  });
});

t.test('tus-js-client (Node) uploads 12 MiB to S3 with a bearer token', async (t) => {
  const app = await startAppFor(t, { ...s3LocationEnv(s3TestServer(), uniqueRoot('auth-client')), AUTH_JWT_SECRET: SECRET });
  const data = randomData(12 * 1024 * 1024);
  const file = scratchFile(t, 'auth-client.bin');
  writeFileSync(file, data);
  const headers = bearer(await token({ sub: 'node-client' }));
  const url = await uploadFile(`${app.url}/files/`, file, { headers, chunkSize: 5 * 1024 * 1024 });
  const download = await fetch(url, { headers });
  t.equal(download.status, 200);
  t.equal(sha256(new Uint8Array(await download.arrayBuffer())), sha256(data));
  const anonymous = uploadFile(`${app.url}/files/`, file, { retryDelays: [] });
  await t.rejects(anonymous, /response code: 401/, 'without the token the client is refused');
});
