/**
 * A PATCH whose client pauses (within TUS_BODY_IDLE_TIMEOUT) for longer than the location's
 * SOCKET_TIMEOUT while a block is streamed to Azure: the idle is the client's, not Azure's.
 * The PATCH must succeed, byte-exact.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createUpload, head, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, removeBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { rawPatch } from '../helpers/raw-request.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);

t.test(
  'azure: a client pausing mid-block longer than SOCKET_TIMEOUT (within TUS_BODY_IDLE_TIMEOUT) still uploads byte-exact',
  async (t) => {
    const root = `probe25-${randomBytes(4).toString('hex')}/`;
    t.teardown(() => removeBlobs(verify, root));
    const app = await startAppFor(
      t,
      azureLocationEnv(server, root, {
        STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb',
        STORAGE_AZURE_SOCKET_TIMEOUT: '1s',
        STORAGE_AZURE_MAX_ATTEMPTS: '2',
        TUS_BODY_IDLE_TIMEOUT: '60s',
      }),
    );
    const data = randomData(2 * MiB);
    const url = await createUpload(app.url, data.length);
    const p = rawPatch(url, 0, data.length);
    await p.send(data.subarray(0, MiB / 2));
    const pausedAt = Date.now();
    await until(() => Date.now() - pausedAt > 4000, 'the pause', 10_000, 100);
    await p.send(data.subarray(MiB / 2)).catch(() => undefined);
    const answer = await p.answered(30_000);
    p.socket.destroy();
    t.equal(answer.status, 204, `the PATCH: ${answer.status}`);
    t.equal(Number((await head(url)).headers.get('upload-offset')), data.length);
    t.equal((await blobSha256(verify, `${root}${url.split('/').pop()}`)).sha256, sha256(data));
  },
);
