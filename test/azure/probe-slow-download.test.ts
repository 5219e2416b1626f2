/**
 * A download whose client stops reading for a while (a paused browser download, a slow link):
 * the server stops reading Azure too (back-pressure), which is no stall of Azure's. The client
 * must get every byte once it reads again, not a body cut short.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createUpload, logDir, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, removeBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);

t.test('azure: a download paused by its client longer than SOCKET_TIMEOUT still delivers every byte', async (t) => {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  const config = parseConfig({ LOG_LEVEL: 'info', ...azureLocationEnv(server, root, { STORAGE_AZURE_SOCKET_TIMEOUT: '1s' }) });
  const logger = pino({ level: 'info' }, pino.destination({ dest: join(logDir, `probe-${process.pid}.log`), sync: true }));
  const app = await buildApp(config, { logger });
  const port = 19680 + (process.pid % 10);
  await app.listen({ host: '127.0.0.1', port });
  t.teardown(() => app.close());
  const base = `http://127.0.0.1:${port}`;
  const data = randomData(48 * MiB);
  const url = await createUpload(base, data.length);
  t.equal((await patch(url, 0, data)).status, 204);

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
  // The client stops reading for 3 s (three SOCKET_TIMEOUTs, Azure answering all along).
  socket.pause();
  const pausedAt = Date.now();
  await until(() => Date.now() - pausedAt > 3000, 'the pause', 10_000, 100);
  socket.resume();
  await until(() => closed, 'the response to end', 60_000);
  const all = Buffer.concat(chunks);
  const split = all.indexOf('\r\n\r\n');
  t.match(all.subarray(0, split).toString(), /^HTTP\/1\.1 200/);
  const body = all.subarray(split + 4);
  t.equal(body.length, data.length, 'every byte arrived');
  t.equal(createHash('sha256').update(body).digest('hex'), sha256(data), 'byte-exact');
});
