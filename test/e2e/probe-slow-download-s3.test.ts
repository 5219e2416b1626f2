/**
 * The S3 twin of test/azure/probe-slow-download.test.ts: a download whose client stops reading
 * for longer than STORAGE_<LOC>_SOCKET_TIMEOUT. The S3 client's socket timeout takes the
 * back-pressure of a slow reader for an idle S3 and the client gets a body cut short.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { createUpload, patch, startAppFor } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { removeKeys, s3LocationEnv, s3TestServer, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();

async function appOn(t: Test, root: string, extra: Record<string, string> = {}): Promise<number> {
  const { url } = await startAppFor(t, s3LocationEnv(server, root, extra));
  return Number(new URL(url).port);
}

// Not fixed (a TODO, with its figures): the timeout is the AWS SDK's HTTP handler's own, on the
// socket of the GetObject whose body a paused client holds back; the client gets a body cut
// short (an error, never wrong bytes). docs/s3.md, "Downloads".
t.test(
  's3: a download paused by its client longer than SOCKET_TIMEOUT still delivers every byte',
  { todo: 'the S3 client socket timeout counts a paused reader (STORAGE_<LOC>_SOCKET_TIMEOUT, 120 s by default)' },
  async (t) => {
    const root = `probe25-${randomBytes(4).toString('hex')}/`;
    t.teardown(() => removeKeys(verifyClient(server), server.bucket, root));
    const data = randomData(48 * MiB);
    const url = await createUpload(`http://127.0.0.1:${await appOn(t, root)}`, data.length);
    t.equal((await patch(url, 0, data)).status, 204);
    const port = await appOn(t, root, { STORAGE_S3_SOCKET_TIMEOUT: '1s' });
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = 0;
    let closed = false;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => undefined);
    socket.write(`GET ${new URL(url).pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await until(() => received > MiB, 'the first MiB');
    socket.pause();
    const pausedAt = Date.now();
    await until(() => Date.now() - pausedAt > 3000, 'the pause', 10_000, 100);
    socket.resume();
    await until(() => closed, 'the response to end', 60_000);
    const all = Buffer.concat(chunks);
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
    t.equal(body.length, data.length, 'every byte arrived');
    t.equal(createHash('sha256').update(body).digest('hex'), sha256(data), 'byte-exact');
  },
);
