/** SIGKILL mid-PATCH on azure with a key template: a new process answers HEAD from the staged blocks and the upload resumes byte-exact at its key. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import t from 'tap';
import { SERVER_NODE_FLAGS } from '../../scripts/runtime.mjs';
import { b64, createUpload, head, patch } from '../helpers/app.js';
import {
  azureLocationEnv,
  azureTestServer,
  blobSha256,
  blocksOf,
  listBlobs,
  removeBlobs,
  storedBlobs,
  verifyContainer,
} from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { freePort, launch, MAIN } from '../helpers/process.js';
import { rawPatch } from '../helpers/raw-request.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);
const PORT = await freePort();
const base = `http://127.0.0.1:${PORT}`;

async function start(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(...launch(undefined, process.execPath, [...SERVER_NODE_FLAGS, MAIN]), {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(PORT), ...env },
    stdio: 'ignore',
  });
  await until(
    async () => (await fetch(`${base}/files/`, { method: 'OPTIONS' }).catch(() => undefined)) !== undefined,
    'the server to listen',
  );
  return child;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

t.test('azure + key template: SIGKILL mid-PATCH, HEAD on a new process, resume byte-exact at the key', async (t) => {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  const env = azureLocationEnv(server, root, {
    STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb',
    STORAGE_AZURE_KEY_TEMPLATE: 'k/{id}/{metadata.filename}',
  });
  let child = await start(env);
  t.teardown(() => kill(child, 'SIGKILL'));
  const data = randomData(3 * MiB + 11);
  const url = await createUpload(base, data.length, { 'Upload-Metadata': `filename ${b64('a b.bin')}` });
  const id = url.split('/').pop() as string;
  const blob = `${root}k/${id}/a%20b.bin`;
  t.equal((await patch(url, 0, data.subarray(0, 100))).status, 204, 'a tail first');
  const p = rawPatch(url, 100, data.length - 100);
  await p.send(data.subarray(100, 2 * MiB + 500));
  // Block 0 staged (the tail's 100 bytes and the PATCH's first); the bytes after it are in memory (coalesced, block 1 streaming).
  await until(async () => (await blocksOf(verify, blob)).uncommitted >= 1, 'block 0 staged at the key');
  await kill(child, 'SIGKILL');
  p.socket.destroy();
  child = await start(env);
  const h = await head(url);
  t.equal(h.status, 200);
  const offset = Number(h.headers.get('upload-offset'));
  t.equal(offset, MiB, 'HEAD: the staged block; the stale tail (it began block 0) not counted');
  t.equal((await patch(url, offset, data.subarray(offset))).status, 204);
  t.same(await blobSha256(verify, blob), { sha256: sha256(data), size: data.length });
  t.same(await storedBlobs(verify, root), [`${root}${id}.info`, blob].sort(), 'the blob at its key and .info; no tail');
  t.notOk((await listBlobs(verify, root)).includes(`${root}${id}`), 'nothing at <root><id>');
});
