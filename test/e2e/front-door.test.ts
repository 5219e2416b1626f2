/** What the front door refuses before anything is created or spooled, and downloads of an upload still being assembled. */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import t from 'tap';
import { createUpload, head, startAppFor, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { everyDriver } from '../helpers/drivers.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';
import { createUploadIn, makeStore, s3Location, writeBody } from '../helpers/store.js';
import { metric } from '../helpers/wait.js';

const OCTET = { 'Content-Type': 'application/offset+octet-stream' };
const server = s3TestServer();
const sha1 = (data: string) => `sha1 ${createHash('sha1').update(data).digest('base64')}`;

const locations = everyDriver('frontdoor', server);

for (const [name, env] of locations) {
  t.test(`${name}: refused before anything is created or spooled`, async (t) => {
    const tempDir = scratchDir(t, 'tus-spool-');
    const app = await startAppFor(t, { ...env(), TUS_TEMP_DIR: tempDir, FILES_MAX_UPLOAD_SIZE: '64mb' });
    const created = () => metric(app.url, `tus_uploads_total{event="created",location="${name}"}`);

    const before = await created();
    const tooLong = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...OCTET, 'Upload-Length': '3' },
      body: 'abcdef',
    });
    t.equal(tooLong.status, 413, 'creation-with-upload with a body longer than Upload-Length');
    t.match(await tooLong.text(), /longer than Upload-Length \(3 bytes\); nothing was created/);
    t.equal(tooLong.headers.get('location'), null);
    const elsewhere = await fetch(`${app.url}/files/abc`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
    t.equal(elsewhere.status, 404, 'POST to an upload URL creates nothing');
    t.match(await elsewhere.text(), /created with POST to \/files\//);
    t.equal(await created(), before, 'no upload was created');

    const unknown = await fetch(`${app.url}/files/0123456789abcdef0123456789abcdef`, {
      method: 'PATCH',
      headers: { ...TUS, ...OCTET, 'Upload-Offset': '0', 'Upload-Checksum': sha1('abc') },
      body: 'abc',
    });
    t.equal(unknown.status, 404, 'a checksum PATCH to an unknown upload: 404, nothing spooled');
    const url = await createUpload(app.url, 5);
    const stale = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...OCTET, 'Upload-Offset': '2', 'Upload-Checksum': sha1('abc') },
      body: 'abc',
    });
    t.equal(stale.status, 409, 'a checksum PATCH at the wrong offset: 409 before spooling');
    t.equal(stale.headers.get('upload-offset'), '0');
    const long = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...OCTET, 'Upload-Offset': '0', 'Upload-Checksum': sha1('abcdefgh') },
      body: 'abcdefgh',
    });
    t.equal(long.status, 413, 'a checksum body longer than the upload can take: 413 before spooling');
    t.equal((await head(url)).headers.get('upload-offset'), '0', 'nothing stored');
    t.same(readdirSync(tempDir), [], 'no spool file left');
    t.equal(await metric(app.url, 'tus_temp_bytes'), 0);
  });
}

t.test('one id parser, from the path alone: no method reaches another upload through a suffix or the query', async (t) => {
  const app = await startAppFor(t, {});
  const url = await createUpload(app.url, 5);
  const id = url.split('/').pop() as string;
  for (const target of [`${app.url}/files/${id}.json`, `${app.url}/files/decoy?x=/${id}`, `${app.url}/files/x%2F..%2F${id}`]) {
    for (const method of ['DELETE', 'HEAD', 'PATCH']) {
      const res = await fetch(target, {
        method,
        headers: { ...TUS, ...OCTET, 'Upload-Offset': '0' },
        ...(method === 'PATCH' ? { body: 'x' } : {}),
      });
      t.equal(res.status, 404, `${method} ${target.slice(app.url.length)}`);
    }
  }
  const still = await head(url);
  t.equal(still.status, 200, 'the upload and its state are untouched');
  t.equal(still.headers.get('upload-length'), '5');
  t.same(readdirSync(app.root).sort(), [id, `${id}.json`].sort());
});

t.test('concatenation-unfinished with deferred partials cannot pass the maximum upload size', async (t) => {
  const app = await startAppFor(t, { FILES_MAX_UPLOAD_SIZE: '1000' });
  const partials = [
    await createUpload(app.url, 'deferred', { 'Upload-Concat': 'partial' }),
    await createUpload(app.url, 'deferred', { 'Upload-Concat': 'partial' }),
  ];
  const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${partials.join(' ')}` } });
  t.equal(res.status, 201, 'the lengths are not known yet');
  const final = new URL(res.headers.get('location') as string, app.url).toString();
  for (const url of partials) {
    const done = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, ...OCTET, 'Upload-Offset': '0', 'Upload-Length': '800' },
      body: Buffer.alloc(800, 1),
    });
    t.equal(done.status, 204);
  }
  const h = await head(final);
  t.equal(h.status, 413, 'the final upload can never be completed');
  t.match(await (await fetch(final, { method: 'HEAD', headers: TUS })).text(), '');
  t.equal((await fetch(final)).status, 400, 'and cannot be downloaded');
});

t.test('s3: GET while every byte is stored but the object is not assembled: 503 with Retry-After; HEAD finishes it', async (t) => {
  const root = uniqueRoot('assemble');
  const { store, client } = makeStore(s3Location(server, root, { STORAGE_S3_MAX_ATTEMPTS: '1' }));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'CompleteMultipartUploadCommand') {
        throw Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'failComplete' },
  );
  const id = randomBytes(16).toString('hex');
  const data = randomData(11 * MiB);
  await createUploadIn(store, id, data.length);
  const failed = await writeBody(store, id, 0, data).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.match(failed, { status_code: 503 }, 'the completion failed');

  const app = await startAppFor(t, s3LocationEnv(server, root));
  const url = `${app.url}/files/${id}`;
  const early = await fetch(url);
  t.equal(early.status, 503, 'not a 500 with S3 details');
  t.equal(early.headers.get('retry-after'), '1');
  t.match(await early.text(), /still being assembled/);
  t.equal((await head(url)).headers.get('upload-offset'), String(data.length), 'HEAD (under the lock) completes it');
  const res = await fetch(url);
  t.equal(res.status, 200);
  t.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(data));
  t.same(await listKeys(verifyClient(server), server.bucket, root), [`${root}${id}`, `${root}${id}.info`]);
});
