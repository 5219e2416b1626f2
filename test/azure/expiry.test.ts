/**
 * Expired uploads on an Azure location (issue 25, point 2): an unfinished upload with staged
 * blocks and a tail blob expires (410), and the cleanup, from the command line (`node
 * dist/main.js cleanup`, for cron jobs) and from TUS_CLEANUP_SCHEDULE, removes its `.info`, its
 * tail and its uncommitted blocks, and keeps a finished upload.
 */
import t, { type Test } from 'tap';
import { createUpload, head, patch, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData } from '../helpers/bytes.js';
import { idOf } from '../helpers/ids.js';
import { runToExit, startProcess } from '../helpers/process.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const container = verifyContainer(server);

/** An unfinished upload (one 4 MiB block staged, 1 MiB + 3 bytes in the tail) and a finished one at `base`. */
async function staleAndFinished(t: Test, base: string, root: string): Promise<{ stale: string; finished: string; gone: number }> {
  const staleUrl = await createUpload(base, 10 * MiB);
  t.equal((await patch(staleUrl, 0, randomData(5 * MiB + 3))).status, 204, 'part of the unfinished upload sent');
  const finishedUrl = await createUpload(base, 3);
  t.equal((await patch(finishedUrl, 0, Buffer.from('abc'))).status, 204, 'the other upload finished');
  const stale = `${root}${idOf(staleUrl)}`;
  const finished = `${root}${idOf(finishedUrl)}`;
  t.equal((await blocksOf(container, stale)).uncommitted, 1, 'the unfinished upload has a staged block');
  t.ok((await storedBlobs(container, root)).includes(`${stale}.info`), 'and its .info');
  // Until the server no longer answers 200: 410 once expired (404 once a scheduled cleanup removed it).
  let gone = 200;
  await until(
    async () => {
      gone = (await head(staleUrl)).status;
      return gone !== 200;
    },
    'the unfinished upload to expire',
    10_000,
    100,
  );
  return { stale, finished, gone };
}

/** After the cleanup: only the finished upload's blob and `.info`; nothing of the expired one, no staged block. */
async function onlyFinishedLeft(t: Test, root: string, stale: string, finished: string): Promise<void> {
  t.same(await storedBlobs(container, root), [finished, `${finished}.info`], 'no .info, tail or blob of the expired upload');
  t.same(await blocksOf(container, stale), { committed: 0, uncommitted: 0 }, 'no staged block of the expired upload');
}

t.test('`cleanup` from the command line removes an expired upload with its staged blocks and tail', async (t) => {
  const root = uniqueRoot('expire-cli');
  const env = azureLocationEnv(server, root, {
    STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb',
    TUS_UPLOAD_EXPIRATION: '2s',
    TUS_CLEANUP_SCHEDULE: 'off',
  });
  const proc = await startProcess(env);
  t.teardown(() => proc.stop('SIGKILL'));
  const { stale, finished, gone } = await staleAndFinished(t, proc.url, root);
  t.equal(gone, 410, 'the expired upload answers 410 Gone');
  t.ok((await storedBlobs(container, root)).includes(`${stale}.part`), 'the expired upload still has its tail before the cleanup');
  t.equal(await proc.stop('SIGTERM'), 0);
  const { code, output } = await runToExit(env, undefined, ['cleanup']);
  t.equal(code, 0, output);
  t.match(output, /"removed":\{"azure":1\}/, 'one upload removed from the azure location');
  await onlyFinishedLeft(t, root, stale, finished);
});

t.test('TUS_CLEANUP_SCHEDULE removes an expired upload on its own', async (t) => {
  const root = uniqueRoot('expire-cron');
  const app = await startAppFor(
    t,
    azureLocationEnv(server, root, {
      STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb',
      TUS_UPLOAD_EXPIRATION: '2s',
      TUS_CLEANUP_SCHEDULE: '* * * * * *',
    }),
  );
  const { stale, finished } = await staleAndFinished(t, app.url, root);
  await until(
    async () => !(await storedBlobs(container, root)).includes(`${stale}.info`),
    'the schedule to remove the expired upload',
    10_000,
    200,
  );
  await onlyFinishedLeft(t, root, stale, finished);
});
