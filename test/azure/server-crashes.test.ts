/**
 * Server crashes on an Azure location (issue 25, point 2; the S3 run is
 * test/s3/server-crashes.test.ts): the built server as its own process, killed with SIGKILL
 * after a seeded random number of bytes of a PATCH and right after the completing PATCH's last
 * byte, started again on the same container, the upload resumed from HEAD: the offset within
 * what was sent and acknowledged, the committed blob byte-exact, no tail blob, staged block or
 * temp file left. And a kill while Put Block List (the commit) is sent, and after Azure
 * committed the blob but before its answer arrived (held back at a TCP relay): the next
 * process finishes the upload, nothing left behind.
 *
 * SEED=<n> replays a run (the seed is printed); KILLS, SIZE and COMPLETION_DELAY_MS as in the S3 run.
 */
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import t, { type Test } from 'tap';
import { createUpload, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { sha256 } from '../helpers/bytes.js';
import { completeFromHead, killsThenComplete } from '../helpers/crash-kills.js';
import { startProcess } from '../helpers/process.js';
import { awaitHit, requestWatcher } from '../helpers/request-watcher.js';
import { uniqueRoot } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { seeded, seededData, sizeFromEnv } from '../helpers/seeded.js';
import { MiB } from '../helpers/sizes.js';

const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));
const KILLS = Number(process.env.KILLS ?? 2);
const SIZE = sizeFromEnv(process.env.SIZE, 12 * MiB + 77);
const COMPLETION_DELAY_MS = Number(process.env.COMPLETION_DELAY_MS ?? 300);
const CHUNK = { STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' };
const server = azureTestServer();
const container = verifyContainer(server);

/** What a completed upload leaves: its committed blob, byte-exact, and its `.info`; nothing staged, no tail. */
async function onlyTheBlob(t: Test, root: string, id: string, data: Buffer): Promise<void> {
  const blob = `${root}${id}`;
  t.same(await blobSha256(container, blob), { sha256: sha256(data), size: data.length }, 'the committed blob is byte-exact');
  t.same(await storedBlobs(container, root), [blob, `${blob}.info`], 'no tail or other blob left');
  t.equal((await blocksOf(container, blob)).uncommitted, 0, 'no staged block left uncommitted');
}

t.test('SIGKILL during PATCHes and during completion: a new process resumes byte-exact, nothing left behind', async (t) => {
  const random = seeded(SEED);
  const data = seededData(random, SIZE);
  const root = uniqueRoot('crash');
  const tempDir = scratchDir(t, 'tus-crash-temp-');
  // The smallest blocks (1 MiB), so that most kills land after some blocks were staged.
  const env = azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb', TUS_TEMP_DIR: tempDir });
  const { id, proc } = await killsThenComplete(t, env, data, random, { kills: KILLS, completionDelayMs: COMPLETION_DELAY_MS, seed: SEED });
  await onlyTheBlob(t, root, id, data);
  t.same(readdirSync(tempDir), [], 'TUS_TEMP_DIR is empty');
  t.equal(await proc.stop('SIGTERM'), 0);
});

/** Put Block List: `PUT <blob>?comp=blocklist`. */
const commitRequest = (chunk: string) => /(^|\r\n)PUT [^ ]+[?&]comp=blocklist[ &]/.test(chunk);

for (const mode of ['before', 'after'] as const) {
  t.test(`SIGKILL while Put Block List is ${mode === 'before' ? 'sent' : 'answered'}: the next process finishes the upload`, async (t) => {
    const root = uniqueRoot('ckill');
    const { hit, reached } = awaitHit('Put Block List');
    const relay = await requestWatcher(server.endpoint, mode, commitRequest, hit);
    t.teardown(() => relay.close());
    const endpoint = `${relay.endpoint}${new URL(server.endpoint).pathname}`;
    let proc = await startProcess(azureLocationEnv({ ...server, endpoint }, root, CHUNK));
    t.teardown(() => proc.stop('SIGKILL'));
    const data = seededData(seeded(SEED), 10 * MiB + 5);
    const url0 = await createUpload(proc.url, data.length);
    const id = url0.split('/').pop() as string;
    patch(url0, 0, data).catch(() => {});
    await reached;
    await proc.stop('SIGKILL');
    const committed = (await blocksOf(container, `${root}${id}`)).committed > 0;
    t.equal(committed, mode === 'after', mode === 'after' ? 'Azure committed the blob' : 'Azure never committed the blob');

    proc = await startProcess(azureLocationEnv(server, root, CHUNK));
    const url = `${proc.url}/files/${id}`;
    await completeFromHead(t, url, data, mode);
    await onlyTheBlob(t, root, id, data);
    const get = await fetch(url);
    t.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data), 'GET byte-exact');
    t.equal(await proc.stop('SIGTERM'), 0);
  });
}

t.test('SIGKILL while a DELETE removes the upload (its .info not yet deleted): the next DELETE leaves nothing behind', async (t) => {
  const root = uniqueRoot('dkill');
  const { hit, reached } = awaitHit('Delete Blob of .info');
  const relay = await requestWatcher(server.endpoint, 'before', (chunk) => /(^|\r\n)DELETE [^ ]+\.info[ ?]/.test(chunk), hit);
  t.teardown(() => relay.close());
  const endpoint = `${relay.endpoint}${new URL(server.endpoint).pathname}`;
  let proc = await startProcess(azureLocationEnv({ ...server, endpoint }, root, CHUNK));
  t.teardown(() => proc.stop('SIGKILL'));
  const data = seededData(seeded(SEED), 6 * MiB + 1);
  const url0 = await createUpload(proc.url, 10 * MiB);
  const id = url0.split('/').pop() as string;
  t.equal((await patch(url0, 0, data)).status, 204, 'a block staged and a tail kept');
  fetch(url0, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } }).catch(() => {});
  await reached;
  await proc.stop('SIGKILL');
  t.ok((await storedBlobs(container, root)).includes(`${root}${id}.info`), 'the kill left the .info');

  proc = await startProcess(azureLocationEnv(server, root, CHUNK));
  const url = `${proc.url}/files/${id}`;
  const again = await fetch(url, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } });
  t.ok([204, 404].includes(again.status), `the DELETE sent again: ${again.status}`);
  t.equal((await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } })).status, 404, 'the upload is gone');
  t.same(await storedBlobs(container, root), [], 'no blob, tail or .info left');
  t.same(await blocksOf(container, `${root}${id}`), { committed: 0, uncommitted: 0 }, 'no staged block left');
  t.equal(await proc.stop('SIGTERM'), 0);
});
