import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { b64, createUpload, head, patch, startApp, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { cutPatch, settledOffset } from '../helpers/cut-request.js';
import { lastSegment } from '../helpers/ids.js';

t.test('tus over real HTTP with the local store', async (t) => {
  const server = await startApp({ FILES_MAX_UPLOAD_SIZE: '64mb' });
  t.teardown(() => server.close());
  const { url: base, root } = server;

  t.test('OPTIONS advertises the protocol without needing Tus-Resumable', async (t) => {
    const res = await fetch(`${base}/files/`, { method: 'OPTIONS' });
    t.equal(res.status, 204);
    t.equal(res.headers.get('tus-version'), '1.0.0');
    t.equal(res.headers.get('tus-max-size'), String(64 * 1024 * 1024));
    t.match(res.headers.get('tus-extension'), /creation.*creation-with-upload.*creation-defer-length.*termination.*expiration/);
  });

  t.test('create, HEAD, PATCH in several chunks, then the bytes on disk', async (t) => {
    const data = randomData(3 * 1024 * 1024 + 17);
    const url = await createUpload(base, data.length, {
      'Upload-Metadata': `filename ${b64('a b.bin')},filetype ${b64('application/x-test')}`,
    });
    t.match(url, new RegExp(`^${base}/files/[0-9a-f]{32}$`), 'Location is absolute under /files/');
    let res = await head(url);
    t.equal(res.status, 200);
    t.equal(res.headers.get('upload-offset'), '0');
    t.equal(res.headers.get('upload-length'), String(data.length));
    t.equal(res.headers.get('cache-control'), 'no-store');
    t.equal(res.headers.get('tus-resumable'), '1.0.0');
    t.match(res.headers.get('upload-metadata'), `filename ${b64('a b.bin')}`);
    const chunk = 1024 * 1024;
    for (let offset = 0; offset < data.length; offset += chunk) {
      res = await patch(url, offset, data.subarray(offset, offset + chunk));
      t.equal(res.status, 204, `PATCH at ${offset}`);
      t.equal(res.headers.get('upload-offset'), String(Math.min(offset + chunk, data.length)));
    }
    res = await head(url);
    t.equal(res.headers.get('upload-offset'), String(data.length));
    t.equal(sha256(await readFile(join(root, lastSegment(url)))), sha256(data), 'stored bytes are the sent bytes');
  });

  t.test('a PATCH cut off mid-body keeps every byte received, and the upload resumes', async (t) => {
    const data = randomData(4 * 1024 * 1024);
    const url = await createUpload(base, data.length);
    const sent = 1024 * 1024 + 12345;
    await cutPatch(url, 0, data, sent);
    const offset = await settledOffset(url, sent);
    t.equal(offset, sent, 'HEAD reports every byte that arrived');
    const res = await patch(url, offset, data.subarray(offset));
    t.equal(res.status, 204);
    t.equal(res.headers.get('upload-offset'), String(data.length));
    t.equal(sha256(await readFile(join(root, lastSegment(url)))), sha256(data));
  });

  t.test('DELETE terminates: the upload and its state are gone, then 404', async (t) => {
    const url = await createUpload(base, 10);
    await patch(url, 0, Buffer.from('hello'));
    const res = await fetch(url, { method: 'DELETE', headers: TUS });
    t.equal(res.status, 204);
    t.equal(res.headers.get('tus-resumable'), '1.0.0');
    await t.rejects(stat(join(root, lastSegment(url))), { code: 'ENOENT' });
    await t.rejects(stat(join(root, `${lastSegment(url)}.json`)), { code: 'ENOENT' });
    t.equal((await head(url)).status, 404);
    t.equal((await patch(url, 5, Buffer.from('world'))).status, 404);
  });

  t.test('unknown ids answer 404', async (t) => {
    for (const method of ['HEAD', 'PATCH', 'DELETE']) {
      const res = await fetch(`${base}/files/0123456789abcdef0123456789abcdef`, {
        method,
        headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
        ...(method === 'PATCH' ? { body: 'x' } : {}),
      });
      t.equal(res.status, 404, method);
    }
  });

  t.test('a mismatched Upload-Offset answers 409 and stores nothing', async (t) => {
    const url = await createUpload(base, 10);
    const res = await patch(url, 3, Buffer.from('abc'));
    t.equal(res.status, 409);
    t.equal((await head(url)).headers.get('upload-offset'), '0');
  });

  t.test('a missing or unsupported Tus-Resumable answers 412 with Tus-Version', async (t) => {
    const url = await createUpload(base, 10);
    for (const version of [undefined, '0.2.2', '2.0.0']) {
      const headers: Record<string, string> = version ? { 'Tus-Resumable': version } : {};
      for (const [method, target] of [
        ['POST', `${base}/files/`],
        ['HEAD', url],
        ['PATCH', url],
        ['DELETE', url],
      ] as const) {
        const res = await fetch(target, {
          method,
          headers: { ...headers, 'Upload-Length': '1', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
        });
        t.equal(res.status, 412, `${method} with Tus-Resumable ${version}`);
        t.equal(res.headers.get('tus-version'), '1.0.0');
        if (method !== 'HEAD') t.match(await res.text(), /Tus-Resumable/);
      }
    }
    t.equal((await head(url)).status, 200, 'the upload was not touched');
  });

  t.test('413 above the maximum size, on POST and for a body beyond Upload-Length', async (t) => {
    const res = await fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': String(64 * 1024 * 1024 + 1) } });
    t.equal(res.status, 413);
    t.match(
      await res.text(),
      /^Upload-Length 67108865 is larger than the largest upload allowed here \(67108864 bytes\); nothing was created\n$/,
    );
    const url = await createUpload(base, 4);
    const over = await patch(url, 0, Buffer.from('too long'));
    t.equal(over.status, 413);
    t.equal((await head(url)).headers.get('upload-offset'), '0', 'nothing stored past the length');
  });

  t.test('every location is also mounted under its name', async (t) => {
    const url = await createUpload(base, 1, {}, '/files/local/');
    t.match(url, /\/files\/local\/[0-9a-f]{32}$/);
    t.equal((await patch(url, 0, Buffer.from('x'))).status, 204);
  });
});

t.test('PUBLIC_URL gives the Location host and path prefix', async (t) => {
  const server = await startApp({ PUBLIC_URL: 'https://uploads.example.com/api', TUS_PATH: '/tus' });
  t.teardown(() => server.close());
  const res = await fetch(`${server.url}/tus`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '5' } });
  t.equal(res.status, 201);
  t.match(res.headers.get('location'), /^https:\/\/uploads\.example\.com\/api\/tus\/[0-9a-f]{32}$/);
});
