import t from 'tap';
import { createUpload, head, patch, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { startProcess } from '../helpers/process.js';
import { patchRequest } from '../helpers/raw-request.js';
import { objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { partsStored, until } from '../helpers/wait.js';

const server = s3TestServer();

t.test('SIGTERM in the middle of a large PATCH: bytes received are saved, exit 0, the upload resumes', async (t) => {
  const root = uniqueRoot('sigterm');
  const env = { ...s3LocationEnv(server, root), SHUTDOWN_TIMEOUT: '20s' };
  const first = await startProcess(env);
  t.teardown(() => first.stop('SIGKILL'));
  const data = randomData(40 * MiB + 13);
  const url = await createUpload(first.url, data.length);
  const id = url.split('/').pop() as string;

  let sent = 0;
  const exited = new Promise<number | null>((resolve) => first.child.once('exit', (code) => resolve(code)));
  let refused: number | string | undefined;
  let probe: Promise<void> | undefined;
  await new Promise<void>((resolve) => {
    const req = patchRequest(url, 0, { 'Content-Length': String(data.length) });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    const pump = () => {
      if (sent >= 17 * MiB) {
        // Once S3 has three whole parts (15 MiB), stop the server.
        void until(async () => (await partsStored(first.url)) >= 3, 'three parts stored').then(() => {
          first.child.kill('SIGTERM');
          probe = (async () => {
            await until(() => /stopping: saving what running uploads received/.test(first.output()), 'the server to start draining');
            // A new request while draining: 503 (or refused once the listener is closed).
            refused = await fetch(`${first.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } }).then(
              (r) => r.status,
              (e: Error) => (e.cause as { code?: string } | undefined)?.code ?? e.message,
            );
          })();
        });
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
  await probe;
  // 503 while draining; once the process has closed, the connection is refused or reset.
  t.ok(
    refused === 503 || refused === 'ECONNREFUSED' || refused === 'ECONNRESET' || refused === 'UND_ERR_SOCKET',
    `new requests refused while stopping (${refused})`,
  );
  t.match(first.output(), /stopping: saving what running uploads received/);

  const second = await startProcess(env);
  t.teardown(() => second.stop('SIGKILL'));
  const url2 = url.replace(first.url, second.url);
  const offset = Number((await head(url2)).headers.get('upload-offset'));
  t.ok(offset > 15 * MiB && offset <= sent, `offset ${offset}: every byte received before SIGTERM was kept (sent ${sent})`);
  const done = await patch(url2, offset, data.subarray(offset));
  t.equal(done.status, 204);
  t.equal((await objectSha256(verifyClient(server), server.bucket, `${root}${id}`)).sha256, sha256(data));
  t.equal(await second.stop('SIGTERM'), 0);
});
