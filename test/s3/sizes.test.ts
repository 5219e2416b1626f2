import t from 'tap';
import { b64, createUpload, head, patch } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { headObject, listKeys, objectSha256, partCountOf, s3TestServer, verifyClient } from '../helpers/s3.js';
import { appOnS3 } from '../helpers/s3-app.js';
import { MiB } from '../helpers/sizes.js';

const server = s3TestServer();
const client = verifyClient(server);

// [size, parts when sent in one PATCH, parts when sent in 3 MiB PATCHes]
const cases: Array<[number, number, number]> = [
  [0, 1, 1],
  [1, 1, 1],
  [5 * MiB - 1, 1, 1],
  [5 * MiB, 1, 1],
  [5 * MiB + 1, 1, 1],
  [64 * MiB + 3, 12, 11],
];

t.test('sizes around the part limits, in one PATCH and in 3 MiB PATCHes', async (t) => {
  const { root, app } = await appOnS3(t, server, 'sizes');
  const metadata = `filename ${b64('résumé "final".pdf')},filetype ${b64('application/pdf')}`;

  for (const [size, onePatchParts, chunkedParts] of cases) {
    for (const chunk of [size, 3 * MiB]) {
      const label = `${size} bytes in ${chunk === size ? 'one PATCH' : '3 MiB PATCHes'}`;
      t.test(label, async (t) => {
        const data = randomData(size);
        const url = await createUpload(app.url, size, { 'Upload-Metadata': metadata });
        const id = url.split('/').pop() as string;
        for (let offset = 0; offset < size; offset += Math.max(chunk, 1)) {
          const res = await patch(url, offset, data.subarray(offset, offset + Math.max(chunk, 1)));
          t.equal(res.status, 204, `PATCH at ${offset}`);
          const expected = Math.min(size, offset + Math.max(chunk, 1));
          t.equal(res.headers.get('upload-offset'), String(expected));
          if (expected < size) t.equal((await head(url)).headers.get('upload-offset'), String(expected), 'HEAD agrees between PATCHes');
        }
        t.equal((await head(url)).headers.get('upload-offset'), String(size));
        const stored = await objectSha256(client, server.bucket, `${root}${id}`);
        t.equal(stored.size, size, 'size');
        t.equal(stored.sha256, sha256(data), 'sha256');
        const meta = await headObject(client, server.bucket, `${root}${id}`);
        t.equal(meta.ContentType, 'application/pdf');
        t.equal(
          meta.ContentDisposition,
          `attachment; filename="r?sum? \\"final\\".pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`,
        );
        t.equal(partCountOf(meta.ETag), chunk === size ? onePatchParts : chunkedParts, 'part count');
        // An empty upload is one PutObject carrying its state in the object's metadata: no .info.
        const keys = size === 0 ? [`${root}${id}`] : [`${root}${id}`, `${root}${id}.info`];
        t.same(await listKeys(client, server.bucket, `${root}${id}`), keys, 'no .part left');
      });
    }
  }
});
