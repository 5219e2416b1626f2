/**
 * Hostile upload ids and file names on every driver: URLs sent exactly as written (no client
 * normalises them) with dot segments, encoded dots and slashes, NUL, overlong ids, another
 * upload's state file and an id in the query string are each 404 and touch nothing; `filename`
 * metadata with path segments never reaches an object key or a path. Generated ids are
 * @tus/server's Uid.rand: 16 random bytes (128 bits) as 32 hex characters.
 */
import { request } from 'node:http';
import t from 'tap';
import { b64, createUpload, head, patch, startAppFor, TUS } from '../helpers/app.js';
import { azureTestServer, listBlobs, verifyContainer } from '../helpers/azure.js';
import { everyDriver, storedUnder } from '../helpers/drivers.js';
import { listKeys, s3TestServer, verifyClient } from '../helpers/s3.js';

const server = s3TestServer();

/** Send `method path` as is (fetch and URL would resolve dot segments first). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${base}/`, { method, path, headers: { ...TUS, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const drivers = everyDriver('hostile', server);

for (const [name, env] of drivers) {
  t.test(`${name}: hostile ids are 404 on every method and touch nothing`, async (t) => {
    const e = env();
    const app = await startAppFor(t, e);
    const stored = () => storedUnder(name, e, app.root);

    const url = await createUpload(app.url, 5);
    t.equal((await patch(url, 0, Buffer.from('abc'))).status, 204);
    const id = url.split('/').pop() as string;
    t.match(id, /^[0-9a-f]{32}$/, 'a generated id: 32 hex characters, 128 random bits');
    const before = await stored();

    const targets = [
      `/files/..`,
      `/files/../files/..%2F${id}`,
      `/files/%2e%2e`,
      `/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd`,
      `/files/%2E%2E%2F${id}`,
      `/files/x%2F..%2F${id}`,
      `/files/${id}%2F`,
      `/files/${id}%00`,
      `/files/%00${id}`,
      `/files/${'a'.repeat(201)}`,
      `/files/${id}.json`,
      `/files/${id}.info`,
      `/files/${id}.part`,
      `/files/decoy?x=/${id}`,
      `/files/decoy#/${id}`,
      `/files/decoy;/${id}`,
    ];
    for (const target of targets) {
      for (const method of ['HEAD', 'PATCH', 'DELETE', 'GET']) {
        const body = method === 'PATCH' ? 'xy' : undefined;
        const headers: Record<string, string> =
          method === 'PATCH' ? { 'Upload-Offset': '3', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '2' } : {};
        const res = await raw(app.url, method, target, headers, body);
        t.equal(res.status, 404, `${method} ${target}`);
      }
      const post = await raw(app.url, 'POST', target, { 'Upload-Length': '1' });
      t.equal(post.status, 404, `POST ${target}`);
    }
    t.same(await stored(), before, 'no object or file was added, changed in number or removed');
    const still = await head(url);
    t.equal(still.status, 200, 'the upload is untouched');
    t.equal(still.headers.get('upload-offset'), '3');
    t.equal((await patch(url, 3, Buffer.from('de'))).status, 204, 'and can be finished');
  });

  t.test(`${name}: filename metadata never reaches an object key or a path`, async (t) => {
    const e = env();
    const app = await startAppFor(t, e);
    const names = ['../../etc/passwd', '..\\..\\windows\\win.ini', '/abs/olute', 'a/../../b', '%2e%2e%2fx', 'x\u0000y'];
    const ids: string[] = [];
    for (const filename of names) {
      const url = await createUpload(app.url, 2, { 'Upload-Metadata': `filename ${b64(filename)},name ${b64(filename)}` });
      t.equal((await patch(url, 0, Buffer.from('ok'))).status, 204);
      ids.push(url.split('/').pop() as string);
      const download = await fetch(url);
      t.equal(await download.text(), 'ok');
      const disposition = download.headers.get('content-disposition') ?? '';
      t.notMatch(disposition, /[\\/]|\.\./, `no path in Content-Disposition: ${disposition}`);
    }
    const state = name === 'local' ? '.json' : '.info';
    t.same(await storedUnder(name, e, app.root), ids.flatMap((id) => [id, `${id}${state}`]).sort(), `only <id> and <id>${state}`);
    if (name !== 'local') {
      const everywhere =
        name === 's3' ? await listKeys(verifyClient(server), server.bucket, '') : await listBlobs(verifyContainer(azureTestServer()), '');
      t.same(
        everywhere.filter((key) => /passwd|win\.ini|olute|(^|\/)b$/.test(key)),
        [],
        `no key anywhere in the ${name === 's3' ? 'bucket' : 'container'} is named after the metadata`,
      );
    }
  });
}
