/**
 * Expiry of an upload while a PATCH to it is still receiving (a slow client past the
 * expiration): once the upload is removed, nothing of it may remain in the container, and
 * nothing the PATCH still writes may come back (a `.part` or staged blocks without `.info` are
 * found by no expiry, no HEAD and no DELETE).
 */
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { createUpload, head, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blocksOf, listBlobs, removeBlobs, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData } from '../helpers/bytes.js';
import { rawPatch } from '../helpers/raw-request.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);

async function instance(t: Test, root: string, extra: Record<string, string>) {
  const { url } = await startAppFor(t, azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb', ...extra }));
  return url;
}

for (const ending of ['the body ends', 'the client goes away'] as const) {
  t.test(`azure: an upload expired while a PATCH receives leaves nothing behind when ${ending}`, async (t) => {
    const root = `probe25-${randomBytes(4).toString('hex')}/`;
    t.teardown(() => removeBlobs(verify, root));
    const base = await instance(t, root, { TUS_UPLOAD_EXPIRATION: '2s', TUS_CLEANUP_SCHEDULE: '* * * * * *' });
    const url = await createUpload(base, 4 * MiB);
    const id = url.split('/').pop() as string;
    const data = randomData(MiB + 200);
    const p = rawPatch(url, 0, data.length);
    // A block staged, and bytes of the next one held, before the upload expires.
    await p.send(data.subarray(0, MiB + 100));
    await until(async () => !(await listBlobs(verify, root)).includes(`${root}${id}.info`), 'the upload to expire', 20_000, 100);
    if (ending === 'the body ends') await p.send(data.subarray(MiB + 100));
    else p.socket.destroy();
    await p.answered(20_000).catch(() => undefined);
    p.socket.destroy();
    t.equal((await head(url)).status, 404, 'the upload is gone');
    // The PATCH has answered (or its connection is closed and the app idle): what is left stays.
    await until(async () => (await head(url)).status === 404, 'HEAD 404');
    t.comment(JSON.stringify(await blocksOf(verify, `${root}${id}`)));
    t.same(await storedBlobs(verify, root), [], 'no blob of the expired upload is left (uncommitted ones included)');
  });
}
