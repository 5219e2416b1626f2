/**
 * A download whose client stops reading for a while (a paused browser download, a slow link):
 * the server stops reading Azure too (back-pressure), which is no stall of Azure's. The client
 * must get every byte once it reads again, not a body cut short.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import t, { type Test } from 'tap';
import { createUpload, patch, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, removeBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);

/** The app on `root` (more variables: `extra`), on its own port; closed with the test. */
async function appOn(t: Test, root: string, extra: Record<string, string> = {}): Promise<string> {
  const { url } = await startAppFor(t, azureLocationEnv(server, root, extra));
  return url;
}

/** `size` random bytes uploaded under `root` by an app with the default SOCKET_TIMEOUT: the bytes and the upload's path. */
async function uploaded(t: Test, root: string, size: number): Promise<{ data: Buffer; path: string }> {
  const data = randomData(size);
  const url = await createUpload(await appOn(t, root), data.length);
  t.equal((await patch(url, 0, data)).status, 204);
  return { data, path: new URL(url).pathname };
}

t.test('azure: a download paused by its client longer than SOCKET_TIMEOUT still delivers every byte', async (t) => {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  const { data, path } = await uploaded(t, root, 48 * MiB);
  const base = await appOn(t, root, { STORAGE_AZURE_SOCKET_TIMEOUT: '1s' });
  const port = Number(new URL(base).port);
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
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
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

t.test('azure: a download whose Azure body stalls while the client reads is still ended after SOCKET_TIMEOUT', async (t) => {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  // Between the app and Azurite: GETs of the upload's blob pass their first MiB, then nothing more.
  const upstream = new URL(server.endpoint);
  let stall = false;
  const held = new Set<ServerResponse>();
  const proxy = createServer((req, res) => {
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      const isData = req.method === 'GET' && !/\.(info|part)(\?|$)/.test(req.url ?? '');
      if (!stall || !isData) {
        up.pipe(res);
        return;
      }
      held.add(res);
      let passed = 0;
      up.on('data', (chunk: Buffer) => {
        if (passed >= MiB) return;
        res.write(chunk.subarray(0, MiB - passed));
        passed += Math.min(chunk.length, MiB - passed);
      });
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  t.teardown(() => {
    for (const res of held) res.destroy();
    return new Promise<void>((resolve) => proxy.close(() => resolve()));
  });
  const { data, path } = await uploaded(t, root, 8 * MiB);
  const base = await appOn(t, root, {
    STORAGE_AZURE_ENDPOINT: `http://127.0.0.1:${proxyPort}${upstream.pathname}`,
    STORAGE_AZURE_SOCKET_TIMEOUT: '1s',
  });
  stall = true;
  const started = Date.now();
  const res = await fetch(`${base}${path}`);
  t.equal(res.status, 200);
  const read = await res.arrayBuffer().then(
    (b) => b.byteLength,
    () => -1,
  );
  t.ok(read < data.length, `the body ended short (${read} bytes read): no hang`);
  t.ok(Date.now() - started < 15_000, 'within a few SOCKET_TIMEOUTs');
});
