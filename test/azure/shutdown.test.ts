/**
 * SIGTERM on an Azure location (the S3 run is test/s3/shutdown.test.ts): in the middle of a
 * large PATCH the server stops taking requests, keeps what the running upload received (whole
 * blocks staged, the rest in the tail), exits 0, and a new process resumes byte-exact.
 */
import t from 'tap';
import { createUpload, head, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { startProcess } from '../helpers/process.js';
import { patchRequest } from '../helpers/raw-request.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const BLOCK = 4 * MiB;
const server = azureTestServer();
const container = verifyContainer(server);

t.test('SIGTERM in the middle of a large PATCH: bytes received are saved, exit 0, the upload resumes', async (t) => {
  const root = uniqueRoot('sigterm');
  const env = { ...azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' }), SHUTDOWN_TIMEOUT: '20s' };
  const first = await startProcess(env);
  t.teardown(() => first.stop('SIGKILL'));
  const data = randomData(24 * MiB + 13);
  const url = await createUpload(first.url, data.length);
  const id = url.split('/').pop() as string;
  const blob = `${root}${id}`;

  let sent = 0;
  const exited = new Promise<number | null>((resolve) => first.child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => {
    const req = patchRequest(url, 0, { 'Content-Length': String(data.length) });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    const pump = () => {
      if (sent >= 14 * MiB) {
        // Once Azure holds three staged blocks (12 MiB), stop the server.
        void until(async () => (await blocksOf(container, blob)).uncommitted >= 3, 'three blocks staged').then(() =>
          first.child.kill('SIGTERM'),
        );
        return;
      }
      req.write(data.subarray(sent, sent + MiB), () => {
        sent += MiB;
        setTimeout(pump, 20);
      });
    };
    pump();
  });
  t.equal(await exited, 0, 'exit code 0 after saving');
  t.match(first.output(), /stopping: saving what running uploads received/);

  const second = await startProcess(env);
  t.teardown(() => second.stop('SIGKILL'));
  const url2 = url.replace(first.url, second.url);
  const offset = Number((await head(url2)).headers.get('upload-offset'));
  t.ok(offset > 3 * BLOCK && offset <= sent, `offset ${offset}: more than the staged blocks, every byte received kept (sent ${sent})`);
  const done = await patch(url2, offset, data.subarray(offset));
  t.equal(done.status, 204);
  t.same(await blobSha256(container, blob), { sha256: sha256(data), size: data.length }, 'the committed blob is byte-exact');
  t.same(await storedBlobs(container, root), [blob, `${blob}.info`], 'no tail left');
  t.equal((await blocksOf(container, blob)).uncommitted, 0, 'no staged block left uncommitted');
  t.equal(await second.stop('SIGTERM'), 0);
});
