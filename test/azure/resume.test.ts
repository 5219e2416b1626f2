/**
 * Resuming on an Azure location (issue 25, point 2; the S3 run is test/s3/resume.test.ts): a
 * PATCH cut off inside a block keeps every byte that arrived and the next PATCH continues; a
 * server killed with SIGKILL mid-PATCH loses none of the blocks it staged, and a new process
 * lists them and finishes the upload byte-exact.
 */
import t from 'tap';
import { createUpload, head, patch, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { uploadOnAzure } from '../helpers/azure-app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { cutPatch, settledOffset } from '../helpers/cut-request.js';
import { startProcess } from '../helpers/process.js';
import { patchRequest } from '../helpers/raw-request.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const BLOCK = 4 * MiB;
const CHUNK = { STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' };

t.test('a PATCH cut off inside a block keeps every byte; the next PATCH resumes', async (t) => {
  const { container, root, data, url, blob } = await uploadOnAzure(t, 'cut', 14 * MiB + 77, CHUNK);

  const firstCut = 5 * MiB + 5; // one 4 MiB block and 1 MiB + 5 bytes of the next
  await cutPatch(url, 0, data, firstCut);
  t.equal(await settledOffset(url, firstCut), firstCut, 'HEAD reports every byte that arrived');
  t.ok((await blocksOf(container, blob)).uncommitted >= 1, 'the whole block is staged, not committed');

  const secondCut = 9 * MiB + 1; // the kept bytes go on into the next blocks
  await cutPatch(url, firstCut, data.subarray(firstCut), secondCut - firstCut);
  t.equal(await settledOffset(url, secondCut), secondCut, 'offset after the second cut');

  const res = await patch(url, secondCut, data.subarray(secondCut));
  t.equal(res.status, 204);
  t.equal(res.headers.get('upload-offset'), String(data.length));
  t.same(await blobSha256(container, blob), { sha256: sha256(data), size: data.length }, 'the committed blob is byte-exact');
  t.same(await storedBlobs(container, root), [blob, `${blob}.info`], 'no tail blob left');
  t.equal((await blocksOf(container, blob)).uncommitted, 0, 'no staged block left uncommitted');
});

t.test('a server killed with SIGKILL mid-PATCH: a new process lists the staged blocks and continues', async (t) => {
  const server = azureTestServer();
  const container = verifyContainer(server);
  const root = uniqueRoot('kill');
  const env = azureLocationEnv(server, root, CHUNK);
  const first = await startProcess(env);
  t.teardown(() => first.stop('SIGKILL'));
  const data = randomData(24 * MiB + 9);
  const url = await createUpload(first.url, data.length);
  const id = url.split('/').pop() as string;
  const blob = `${root}${id}`;

  // Stream the body and kill the server once Azure holds three staged blocks (14 MiB sent at most).
  const sent = await new Promise<number>((resolve) => {
    const req = patchRequest(url, 0, { 'Content-Length': String(data.length) });
    let written = 0;
    req.on('error', () => resolve(written));
    req.on('response', () => resolve(written));
    const pump = () => {
      if (written >= 14 * MiB) {
        until(async () => (await blocksOf(container, blob)).uncommitted >= 3, 'three blocks staged').then(
          () =>
            first.stop('SIGKILL').then(() => {
              req.destroy();
              resolve(written);
            }),
          () => resolve(written),
        );
        return;
      }
      req.write(data.subarray(written, written + MiB), () => {
        written += MiB;
        setImmediate(pump);
      });
    };
    pump();
  });
  const staged = (await blocksOf(container, blob)).uncommitted;
  t.ok(staged >= 3, `${staged} blocks staged when the process died`);

  const second = await startProcess(env);
  t.teardown(() => second.stop('SIGKILL'));
  const url2 = url.replace(first.url, second.url);
  const res = await head(url2);
  t.equal(res.status, 200, 'the new process knows the upload');
  const offset = Number(res.headers.get('upload-offset'));
  t.ok(offset >= 3 * BLOCK && offset <= sent, `offset ${offset} holds the staged blocks and no more than was sent (${sent})`);
  t.equal(offset % BLOCK, 0, 'whole blocks survive a SIGKILL; bytes only in memory are sent again');
  const done = await patch(url2, offset, data.subarray(offset));
  t.equal(done.status, 204);
  t.equal(done.headers.get('upload-offset'), String(data.length));
  t.same(await blobSha256(container, blob), { sha256: sha256(data), size: data.length }, 'byte-exact');
  t.same(await storedBlobs(container, root), [blob, `${blob}.info`], 'no tail or other blob left');
  t.equal((await blocksOf(container, blob)).uncommitted, 0, 'no staged block left uncommitted');
  t.equal(await second.stop('SIGTERM'), 0);
});

t.test('staged blocks discarded behind the server’s back: a fresh instance claims none of their bytes', async (t) => {
  // Azure discards uncommitted blocks a week after the last was staged; a commit of an empty
  // list and a delete does the same now.
  const { container, root, data, url, blob } = await uploadOnAzure(t, 'discarded', 10 * MiB + 3, CHUNK);
  t.equal((await patch(url, 0, data.subarray(0, 6 * MiB))).status, 204, 'one block staged, 2 MiB in the tail');
  await container.getBlockBlobClient(blob).commitBlockList([]);
  await container.getBlockBlobClient(blob).delete();
  t.same(await blocksOf(container, blob), { committed: 0, uncommitted: 0 }, 'the staged block is gone');

  const server = azureTestServer();
  const fresh = await startAppFor(t, azureLocationEnv(server, root, CHUNK));
  const freshUrl = `${fresh.url}${new URL(url).pathname}`;
  const res = await head(freshUrl);
  if (res.status === 404) return t.pass('the upload is gone, as an unknown id (as on S3 when its multipart upload is gone)');
  t.equal(res.status, 200, 'or it is known');
  t.equal(res.headers.get('upload-offset'), '0', 'with none of the discarded bytes claimed (the tail began the lost block’s successor)');
  const done = await patch(freshUrl, 0, data);
  t.equal(done.status, 204, 'and it completes from 0');
  t.same(await blobSha256(container, blob), { sha256: sha256(data), size: data.length }, 'byte-exact');
  t.same(await storedBlobs(container, root), [blob, `${blob}.info`], 'no tail left');
});
