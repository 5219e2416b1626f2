/** Hostile-client probes of the azure driver (Azurite): block edges, deferred lengths, checksums, ranges, concatenation, termination. */
import { createHash, randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { planBlocks } from '../../src/stores/azure/block-size.js';
import { b64, createUpload, head, patch, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, listBlobs, removeBlobs, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { idOf } from '../helpers/ids.js';
import { MiB } from '../helpers/sizes.js';

const server = azureTestServer();
const verify = verifyContainer(server);

/** The app in-process on a fresh azure root; closed and its blobs removed with the test. */
async function azureApp(t: Test, extra: Record<string, string> = {}) {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  const { url } = await startAppFor(t, azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb', ...extra }));
  return { url, root };
}

const bytesOf = async (res: Response) => Buffer.from(await res.arrayBuffer());

for (const size of [MiB - 1, MiB, MiB + 1, 2 * MiB]) {
  t.test(`a body of ${size} bytes sent in one PATCH then cut at the block edges`, async (t) => {
    const { url: base, root } = await azureApp(t);
    const data = randomData(size);
    const url = await createUpload(base, size);
    const res = await patch(url, 0, data);
    t.equal(res.status, 204);
    t.equal(res.headers.get('upload-offset'), String(size));
    t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).sha256, sha256(data));
    t.same(await storedBlobs(verify, root), [`${root}${idOf(url)}`, `${root}${idOf(url)}.info`]);
    t.ok((await bytesOf(await fetch(url))).equals(data));
  });
}

t.test('deferred length: bytes, then the length declared by a PATCH with an empty body', async (t) => {
  const { url: base, root } = await azureApp(t);
  for (const size of [0, 5, MiB - 1, MiB, MiB + 1, 3 * MiB + 7]) {
    const data = randomData(size);
    const url = await createUpload(base, 'deferred');
    if (size > 0) {
      const first = await patch(url, 0, data);
      t.equal(first.status, 204, `${size}: bytes`);
      t.equal(first.headers.get('upload-offset'), String(size));
    }
    const declared = await patch(url, size, Buffer.alloc(0), { 'Upload-Length': String(size) });
    t.equal(declared.status, 204, `${size}: declared`);
    t.equal(declared.headers.get('upload-offset'), String(size));
    const h = await head(url);
    t.equal(h.headers.get('upload-length'), String(size), `${size}: HEAD length`);
    t.equal(h.headers.get('upload-offset'), String(size));
    t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).sha256, sha256(data), `${size}: the blob`);
    t.ok((await bytesOf(await fetch(url))).equals(data), `${size}: download`);
    t.notOk((await listBlobs(verify, root)).includes(`${root}${idOf(url)}.part`), `${size}: no tail`);
  }
});

t.test('deferred length declared with the last bytes, at and around block edges', async (t) => {
  const { url: base, root } = await azureApp(t);
  for (const [first, size] of [
    [MiB - 3, MiB],
    [MiB, MiB + 1],
    [MiB + 1, 2 * MiB],
    [100, 2 * MiB - 1],
    [0, MiB],
  ] as const) {
    const data = randomData(size);
    const url = await createUpload(base, 'deferred');
    if (first > 0) t.equal((await patch(url, 0, data.subarray(0, first))).status, 204);
    const last = await patch(url, first, data.subarray(first), { 'Upload-Length': String(size) });
    t.equal(last.status, 204, `${first}+${size - first}`);
    t.equal(last.headers.get('upload-offset'), String(size));
    t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).sha256, sha256(data), `${first}/${size}: the blob`);
  }
});

t.test('Upload-Length 0: created, HEAD, GET, and a deferred one declared 0', async (t) => {
  const { url: base, root } = await azureApp(t);
  const url = await createUpload(base, 0);
  const h = await head(url);
  t.equal(h.status, 200);
  t.equal(h.headers.get('upload-offset'), '0');
  const got = await fetch(url);
  t.equal(got.status, 200);
  t.equal((await bytesOf(got)).length, 0);
  const nothing = await patch(url, 0, Buffer.from('x'));
  t.equal(nothing.status, 413, 'a byte past a 0-byte upload');
  t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).size, 0);
});

t.test('a wrong Upload-Offset is 409 and changes nothing', async (t) => {
  const { url: base, root } = await azureApp(t);
  const data = randomData(MiB + 10);
  const url = await createUpload(base, data.length);
  t.equal((await patch(url, 0, data.subarray(0, 10))).status, 204);
  for (const offset of [0, 9, 11, MiB + 10])
    t.equal((await patch(url, offset, data.subarray(offset, offset + 5))).status, 409, `offset ${offset}`);
  t.equal((await head(url)).headers.get('upload-offset'), '10');
  t.equal((await patch(url, 10, data.subarray(10))).status, 204);
  t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).sha256, sha256(data));
});

t.test('a wrong Upload-Checksum stores nothing', async (t) => {
  const { url: base, root } = await azureApp(t);
  const data = randomData(MiB + 100);
  const url = await createUpload(base, data.length);
  const id = idOf(url);
  const wrong = createHash('sha1').update('other').digest('base64');
  const bad = await patch(url, 0, data, { 'Upload-Checksum': `sha1 ${wrong}` });
  t.equal(bad.status, 460);
  t.equal((await head(url)).headers.get('upload-offset'), '0');
  t.same(await storedBlobs(verify, root), [`${root}${id}.info`], 'no block, no tail');
  const small = await patch(url, 0, data.subarray(0, 50), { 'Upload-Checksum': `sha1 ${wrong}` });
  t.equal(small.status, 460);
  t.same(await storedBlobs(verify, root), [`${root}${id}.info`], 'no tail');
  const right = createHash('sha1').update(data).digest('base64');
  t.equal((await patch(url, 0, data, { 'Upload-Checksum': `sha1 ${right}` })).status, 204);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data));
});

t.test('ranged downloads', async (t) => {
  const { url: base } = await azureApp(t);
  const data = randomData(1000);
  const url = await createUpload(base, data.length);
  t.equal((await patch(url, 0, data)).status, 204);
  const get = (range: string) => fetch(url, { headers: { Range: range } });
  let r = await get('bytes=-5');
  t.equal(r.status, 206);
  t.equal(r.headers.get('content-range'), 'bytes 995-999/1000');
  t.ok((await bytesOf(r)).equals(data.subarray(995)));
  // RFC 9110 14.1.2: a suffix longer than the representation selects all of it.
  r = await get('bytes=-5000');
  t.equal(r.status, 206, 'a suffix longer than the upload is satisfiable');
  t.equal(r.headers.get('content-range'), 'bytes 0-999/1000');
  t.ok((await bytesOf(r)).equals(data));
  r = await get('bytes=-1000');
  t.equal(r.status, 206);
  t.ok((await bytesOf(r)).equals(data));
  r = await get('bytes=-1001');
  t.equal(r.status, 206);
  t.ok((await bytesOf(r)).equals(data));
  r = await get('bytes=990-5000');
  t.equal(r.status, 206);
  t.equal(r.headers.get('content-range'), 'bytes 990-999/1000');
  t.ok((await bytesOf(r)).equals(data.subarray(990)));
  r = await get('bytes=1000-');
  t.equal(r.status, 416);
  t.equal(r.headers.get('content-range'), 'bytes */1000');
  await r.arrayBuffer();
  r = await get('bytes=0-1,5-6');
  t.ok(r.status === 206 || r.status === 200);
  const body = await bytesOf(r);
  if (r.status === 206) t.ok(body.equals(data.subarray(0, 2)) || body.toString().includes('multipart'));
  r = await get('bytes=999-999');
  t.equal(r.status, 206);
  t.ok((await bytesOf(r)).equals(data.subarray(999)));
  r = await get('bytes=-0');
  t.equal(r.status, 416);
  await r.arrayBuffer();
});

t.test('concatenation of partials whose sizes are not block multiples', async (t) => {
  const { url: base, root } = await azureApp(t);
  const parts = [randomData(MiB + 1), randomData(3), randomData(0), randomData(2 * MiB - 1)];
  const urls: string[] = [];
  for (const part of parts) {
    const url = await createUpload(base, part.length, { 'Upload-Concat': 'partial' });
    if (part.length) t.equal((await patch(url, 0, part)).status, 204);
    urls.push(url);
  }
  const final = await fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}` } });
  t.equal(final.status, 201);
  const furl = new URL(final.headers.get('location') ?? '', base).toString();
  const whole = Buffer.concat(parts);
  t.equal((await head(furl)).headers.get('upload-offset'), String(whole.length));
  t.equal((await blobSha256(verify, `${root}${idOf(furl)}`)).sha256, sha256(whole));
  t.ok((await bytesOf(await fetch(furl))).equals(whole));
  t.equal((await fetch(furl, { method: 'DELETE', headers: TUS })).status, 204);
  t.notOk(
    (await listBlobs(verify, root)).some((n) => n.includes(idOf(furl))),
    'the final removed',
  );
  t.ok((await bytesOf(await fetch(urls[0] as string))).equals(parts[0] as Buffer), 'the partial stays');
});

t.test('metadata values in a key template, on azure', async (t) => {
  const { url: base, root } = await azureApp(t, { STORAGE_AZURE_KEY_TEMPLATE: 'k/{metadata.name}/{id}/{metadata.Name}' });
  const values = [
    '../',
    '%2e%2e',
    '..',
    '.',
    '...',
    'a.',
    'x\u0000y\u0001',
    '\u202Eevil\u202C.txt',
    'é'.repeat(500),
    '',
    'a/b/../c',
    'a\\b',
    ' ',
    'x?y#z&w=%',
  ];
  for (const value of values) {
    const data = randomData(100);
    const meta = value === '' ? 'name ,Name eA==' : `name ${b64(value)},Name ${b64(value.toUpperCase())}`;
    const res = await fetch(`${base}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': String(data.length), 'Upload-Metadata': meta, 'Content-Type': 'application/offset+octet-stream' },
      body: data as unknown as BodyInit,
    });
    t.equal(res.status, 201, JSON.stringify(value));
    const url = new URL(res.headers.get('location') ?? '', base).toString();
    const id = idOf(url);
    t.equal((await head(url)).headers.get('upload-offset'), '100', `${JSON.stringify(value)}: HEAD`);
    t.ok((await bytesOf(await fetch(url))).equals(data), `${JSON.stringify(value)}: download`);
    const names = (await listBlobs(verify, root)).filter((n) => n.includes(`/${id}/`));
    t.equal(names.length, 1, `${JSON.stringify(value)}: one blob: ${names.join(', ')}`);
    t.equal((await blobSha256(verify, names[0] as string)).sha256, sha256(data));
    t.ok(!(names[0] as string).split('/').some((s) => s === '.' || s === '..' || s === ''), `segments ${names[0]}`);
    t.equal((await fetch(url, { method: 'DELETE', headers: TUS })).status, 204);
    t.notOk(
      (await listBlobs(verify, root)).some((n) => n.includes(id)),
      `${JSON.stringify(value)}: all removed`,
    );
  }
});

t.test("deferred length at the edges of its first block (the deferred plan's own size)", async (t) => {
  const { url: base, root } = await azureApp(t);
  const B = planBlocks(undefined, MiB, 0).base;
  for (const [first, size] of [
    [B - 3, B],
    [B, B],
    [B, B + 1],
    [B - 1, B + 1],
    [B + 1, 2 * B],
    [2 * B, 2 * B],
  ] as const) {
    const data = randomData(size);
    const url = await createUpload(base, 'deferred');
    const one = await patch(url, 0, data.subarray(0, first));
    t.equal(one.status, 204);
    t.equal((await head(url)).headers.get('upload-offset'), String(first), `${first}: HEAD`);
    const last = await patch(url, first, data.subarray(first), { 'Upload-Length': String(size) });
    t.equal(last.status, 204, `${first}+${size - first}`);
    t.equal(last.headers.get('upload-offset'), String(size));
    t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).sha256, sha256(data), `${first}/${size}: the blob`);
    t.notOk((await listBlobs(verify, root)).includes(`${root}${idOf(url)}.part`), 'no tail left');
  }
});

t.test('a length declared below the offset, or twice, is refused and changes nothing', async (t) => {
  const { url: base, root } = await azureApp(t);
  const data = randomData(MiB + 5);
  const url = await createUpload(base, 'deferred');
  t.equal((await patch(url, 0, data.subarray(0, MiB))).status, 204);
  const below = await patch(url, MiB, Buffer.alloc(0), { 'Upload-Length': String(MiB - 1) });
  t.equal(below.status, 400, 'below the offset');
  t.equal((await head(url)).headers.get('upload-defer-length'), '1');
  t.equal((await patch(url, MiB, data.subarray(MiB), { 'Upload-Length': String(data.length) })).status, 204);
  const again = await patch(url, data.length, Buffer.alloc(0), { 'Upload-Length': String(data.length + 1) });
  t.equal(again.status, 400, 'a second length');
  t.equal((await head(url)).headers.get('upload-length'), String(data.length));
  t.equal((await blobSha256(verify, `${root}${idOf(url)}`)).sha256, sha256(data));
});

t.test('concatenations: all partials empty, and one partial listed twice', async (t) => {
  const { url: base, root } = await azureApp(t);
  const make = async (bytes: Buffer) => {
    const url = await createUpload(base, bytes.length, { 'Upload-Concat': 'partial' });
    if (bytes.length) t.equal((await patch(url, 0, bytes)).status, 204);
    return url;
  };
  const finalOf = async (urls: string[]) => {
    const res = await fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}` } });
    return { status: res.status, url: new URL(res.headers.get('location') ?? '', base).toString() };
  };
  const empty = await finalOf([await make(Buffer.alloc(0)), await make(Buffer.alloc(0))]);
  t.equal(empty.status, 201);
  t.equal((await head(empty.url)).headers.get('upload-offset'), '0');
  t.equal((await blobSha256(verify, `${root}${idOf(empty.url)}`)).size, 0);
  const a = randomData(MiB + 3);
  const au = await make(a);
  const twice = await finalOf([au, au]);
  if (twice.status === 201) {
    t.equal((await blobSha256(verify, `${root}${idOf(twice.url)}`)).sha256, sha256(Buffer.concat([a, a])));
  } else t.comment(`a partial listed twice: ${twice.status}`);
});

t.test('creation with upload and a wrong Upload-Checksum stores no byte', async (t) => {
  const { url: base, root } = await azureApp(t);
  const data = randomData(MiB + 9);
  const wrong = createHash('sha1').update('other').digest('base64');
  const res = await fetch(`${base}/files/`, {
    method: 'POST',
    headers: {
      ...TUS,
      'Upload-Length': String(data.length),
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Checksum': `sha1 ${wrong}`,
    },
    body: data as unknown as BodyInit,
  });
  t.comment(`creation with a wrong checksum: ${res.status}`);
  const location = res.headers.get('location');
  if (location) {
    const url = new URL(location, base).toString();
    t.equal((await head(url)).headers.get('upload-offset'), '0', 'no byte counted');
    t.same(await storedBlobs(verify, root), [`${root}${idOf(url)}.info`], 'no block, no tail');
  } else t.same(await storedBlobs(verify, root), [], 'nothing stored');
});

t.test('If-Range with a validator the server never sent: the Range is ignored, the whole upload answered (RFC 9110 13.1.5)', async (t) => {
  const { url: base } = await azureApp(t);
  const data = randomData(1000);
  const url = await createUpload(base, data.length);
  t.equal((await patch(url, 0, data)).status, 204);
  const plain = await fetch(url, { headers: { Range: 'bytes=2-3' } });
  t.equal(plain.status, 206);
  await plain.arrayBuffer();
  t.equal(plain.headers.get('etag'), null, 'downloads carry no ETag');
  t.equal(plain.headers.get('last-modified'), null, 'nor Last-Modified: no If-Range can match');
  for (const validator of ['"abc"', 'Sat, 01 Jan 2000 00:00:00 GMT', 'W/"abc"']) {
    const r = await fetch(url, { headers: { Range: 'bytes=2-3', 'If-Range': validator } });
    t.equal(r.status, 200, `If-Range: ${validator}`);
    t.equal(r.headers.get('content-range'), null);
    t.ok((await bytesOf(r)).equals(data), 'the whole upload');
  }
});

t.test('concatenation of partials at templated keys holding the characters a template keeps raw', async (t) => {
  const { url: base, root } = await azureApp(t, { STORAGE_AZURE_KEY_TEMPLATE: 'c/{id}/{metadata.filename}' });
  const names = ["it's (1)*!.bin", '-_.~', '\u00e9\u0301\u05d0\u0661', "''"];
  const parts: Buffer[] = [];
  const urls: string[] = [];
  for (const name of names) {
    const bytes = randomData(MiB + names.indexOf(name));
    const url = await createUpload(base, bytes.length, { 'Upload-Concat': 'partial', 'Upload-Metadata': `filename ${b64(name)}` });
    t.equal((await patch(url, 0, bytes)).status, 204, name);
    parts.push(bytes);
    urls.push(url);
  }
  const final = await fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}` } });
  t.equal(final.status, 201, await final.text());
  const url = new URL(final.headers.get('location') ?? '', base).toString();
  const whole = Buffer.concat(parts);
  t.ok((await bytesOf(await fetch(url))).equals(whole), 'the final upload is the partials in order');
  const blob = (await listBlobs(verify, `${root}c/${idOf(url)}/`))[0] ?? '';
  t.equal((await blobSha256(verify, blob)).sha256, sha256(whole));
});

t.test('concatenation of a partial past one copy slice (100 MiB): copied in two slices, byte-exact', async (t) => {
  const { url: base, root } = await azureApp(t, { STORAGE_AZURE_TUS__CHUNK_SIZE: '16mb' });
  const big = randomData(100 * MiB + 3);
  const small = randomData(5);
  const urls: string[] = [];
  for (const part of [small, big, small]) {
    const url = await createUpload(base, part.length, { 'Upload-Concat': 'partial' });
    t.equal((await patch(url, 0, part)).status, 204);
    urls.push(url);
  }
  const final = await fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}` } });
  t.equal(final.status, 201);
  const url = new URL(final.headers.get('location') ?? '', base).toString();
  const whole = Buffer.concat([small, big, small]);
  t.same(await blobSha256(verify, `${root}${idOf(url)}`), { sha256: sha256(whole), size: whole.length });
  const tailRange = await fetch(url, { headers: { Range: `bytes=${100 * MiB}-${100 * MiB + 9}` } });
  t.equal(tailRange.status, 206);
  t.ok((await bytesOf(tailRange)).equals(whole.subarray(100 * MiB, 100 * MiB + 10)), 'the bytes across the slice edge');
});
