import t from 'tap';
import { createUpload, head, patch } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { cutPatch, settledOffset } from '../helpers/cut-request.js';
import { startProcess } from '../helpers/process.js';
import { patchRequest } from '../helpers/raw-request.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { uploadOnS3 } from '../helpers/s3-app.js';
import { MiB } from '../helpers/sizes.js';
import { partsStored, until } from '../helpers/wait.js';

const server = s3TestServer();
const client = verifyClient(server);

t.test('a PATCH cut off in the middle of a part keeps every byte; the next PATCH resumes', async (t) => {
  const { root, data, url, id } = await uploadOnS3(t, server, 'cut', 20 * MiB + 77);

  const firstCut = 7 * MiB + 5; // one 5 MiB part plus 2 MiB + 5 bytes of the next
  await cutPatch(url, 0, data, firstCut);
  t.equal(await settledOffset(url, firstCut), firstCut, 'HEAD reports the true offset after the cut');
  t.ok((await listKeys(client, server.bucket, root)).includes(`${root}${id}.part`), 'the tail is kept as .part');

  const secondCut = 12 * MiB + 1; // the .part merges into the next part
  await cutPatch(url, firstCut, data.subarray(firstCut), secondCut - firstCut);
  t.equal(await settledOffset(url, secondCut), secondCut, 'offset after the second cut');

  const res = await patch(url, secondCut, data.subarray(secondCut));
  t.equal(res.status, 204);
  t.equal(res.headers.get('upload-offset'), String(data.length));
  const stored = await objectSha256(client, server.bucket, `${root}${id}`);
  t.equal(stored.sha256, sha256(data), 'final bytes are right');
  t.same(await listKeys(client, server.bucket, root), [`${root}${id}`, `${root}${id}.info`], 'no .part left');
});

t.test('a server killed with SIGKILL mid-upload: a new process continues the upload', async (t) => {
  const root = uniqueRoot('kill');
  const env = s3LocationEnv(server, root);
  const first = await startProcess(env);
  t.teardown(() => first.stop('SIGKILL'));
  const data = randomData(40 * MiB + 9);
  const url = await createUpload(first.url, data.length);
  const id = url.split('/').pop() as string;

  // Stream the body slowly and kill the server once about 22 MiB are out.
  await new Promise<void>((resolve) => {
    const req = patchRequest(url, 0, { 'Content-Length': String(data.length) });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    let sent = 0;
    const step = MiB;
    const pump = () => {
      if (sent >= 22 * MiB) {
        // Once S3 has at least three whole parts, kill the server without warning.
        until(async () => (await partsStored(first.url)) >= 3, 'three parts stored').then(() => {
          first.child.kill('SIGKILL');
          req.destroy();
          resolve();
        }, resolve);
        return;
      }
      req.write(data.subarray(sent, sent + step), () => {
        sent += step;
        setTimeout(pump, 10);
      });
    };
    pump();
  });

  const second = await startProcess(env);
  t.teardown(() => second.stop('SIGKILL'));
  const url2 = url.replace(first.url, second.url);
  const res = await head(url2);
  t.equal(res.status, 200, 'the new process knows the upload');
  const offset = Number(res.headers.get('upload-offset'));
  t.ok(offset >= 15 * MiB && offset <= 22 * MiB, `offset ${offset} holds the parts the first process finished`);
  t.equal(offset % (5 * MiB), 0, 'whole parts survive a SIGKILL; the bytes only in memory are sent again');
  const done = await patch(url2, offset, data.subarray(offset));
  t.equal(done.status, 204);
  t.equal(done.headers.get('upload-offset'), String(data.length));
  t.equal((await objectSha256(client, server.bucket, `${root}${id}`)).sha256, sha256(data));
  t.equal(await second.stop('SIGTERM'), 0);
});
