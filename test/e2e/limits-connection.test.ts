/**
 * Slow and oversized clients, over real sockets: request headers too large (431) or too slow
 * (SERVER_HEADERS_TIMEOUT, 408), a request body that stops sending or trickles
 * (TUS_BODY_IDLE_TIMEOUT, TUS_BODY_MIN_RATE: cut, what arrived kept, on every driver; a body
 * keeping the pace, one waiting for a lock and a slow S3 are not cut), and
 * per-IP rate limiting (429).
 */
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import t, { type Test } from 'tap';
import { createUpload, head, patch, rateLimit, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { patchConnection, patchHead, rawConnection } from '../helpers/raw-request.js';
import { objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();

t.test('request headers larger than SERVER_MAX_HEADER_SIZE: 431 in plain text', async (t) => {
  const app = await startAppFor(t, { SERVER_MAX_HEADER_SIZE: '4kb' });
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'Upload-Metadata': `a ${'A'.repeat(5000)}` },
  });
  t.equal(res.status, 431);
  t.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(
    await res.text(),
    'The request headers are larger than this server accepts (4096 bytes in all, SERVER_MAX_HEADER_SIZE); send smaller headers, such as less Upload-Metadata\n',
  );
  const fits = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'Upload-Metadata': `a ${'A'.repeat(3000)}` },
  });
  t.equal(fits.status, 201, 'under the limit');
});

t.test('SERVER_HEADERS_TIMEOUT: a client that never finishes its headers is answered 408 and dropped', async (t) => {
  const app = await startAppFor(t, { SERVER_HEADERS_TIMEOUT: '1500' });
  t.equal(app.app.server.requestTimeout, 0, 'no limit on a whole request (uploads are long)');
  t.equal(app.app.server.headersTimeout, 1500);
  const slow = rawConnection(app.url);
  const silent = rawConnection(app.url);
  const started = Date.now();
  slow.socket.write('POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n');
  // One more header byte every 200 ms: activity, but the headers never end.
  const drip = setInterval(() => slow.socket.write('X'), 200);
  t.teardown(() => clearInterval(drip));
  await until(() => slow.closedAt() !== undefined, 'the slow-headers connection to be closed', 6000);
  clearInterval(drip);
  const elapsed = (slow.closedAt() as number) - started;
  t.ok(elapsed >= 1400 && elapsed < 4000, `closed after ${elapsed} ms (timeout 1500 ms)`);
  t.match(slow.received(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  t.match(slow.received(), /Content-Type: text\/plain; charset=utf-8\r\n/);
  t.match(
    slow.received(),
    /\r\n\r\nThe request headers did not arrive within 1500 ms \(SERVER_HEADERS_TIMEOUT\); the connection is closed\n$/,
  );
  await until(() => silent.closedAt() !== undefined, 'a connection that sends nothing to be closed', 6000);
});

interface Driver {
  name: string;
  env(): Record<string, string>;
}
/** An app with `env`, an upload of `size` random bytes there, and a raw PATCH announcing them all, its head sent. */
async function patchBegun(t: Test, env: Record<string, string>, size: number) {
  const app = await startAppFor(t, env);
  const data = randomData(size);
  const url = await createUpload(app.url, data.length);
  return { app, data, url, client: patchConnection(url, size) };
}

const drivers: Driver[] = [
  { name: 'local', env: () => ({}) },
  { name: 's3', env: () => s3LocationEnv(server, uniqueRoot('idle')) },
  { name: 'azure', env: () => azureLocationEnv(azureTestServer(), uniqueRoot('idle')) },
];

for (const driver of drivers) {
  t.test(`${driver.name}: TUS_BODY_IDLE_TIMEOUT cuts a body that stops sending; what arrived is kept`, async (t) => {
    const { data, url, client } = await patchBegun(t, { ...driver.env(), TUS_BODY_IDLE_TIMEOUT: '1500' }, 100);
    client.socket.write(data.subarray(0, 10));
    const lastByte = Date.now();
    await until(() => client.closedAt() !== undefined, 'the idle body to be cut off', 8000);
    const idle = (client.closedAt() as number) - lastByte;
    t.ok(idle >= 1400 && idle < 3500, `cut ${idle} ms after its last byte (timeout 1500 ms)`);
    t.equal((await head(url)).headers.get('upload-offset'), '10', 'the 10 bytes sent are stored');
    const rest = await patch(url, 10, data.subarray(10));
    t.equal(rest.status, 204, 'the client resumes');
    const done = await fetch(url);
    t.equal(sha256(Buffer.from(await done.arrayBuffer())), sha256(data));
  });

  t.test(`${driver.name}: TUS_BODY_MIN_RATE cuts a body that trickles; one that keeps the pace is not cut`, async (t) => {
    // 200 bytes a second over 1.5 s: 300 bytes due per stretch.
    const begun = await patchBegun(t, { ...driver.env(), TUS_BODY_IDLE_TIMEOUT: '1500', TUS_BODY_MIN_RATE: '200' }, 4000);
    const { app, data, url: slowUrl, client: slow } = begun;
    // 10 bytes every 200 ms: 50 bytes a second.
    let sent = 0;
    const trickle = setInterval(() => {
      if (slow.closedAt() !== undefined) return;
      slow.socket.write(data.subarray(sent, sent + 10));
      sent += 10;
    }, 200);
    t.teardown(() => clearInterval(trickle));
    const started = Date.now();
    await until(() => slow.closedAt() !== undefined, 'the trickling body to be cut off', 8000);
    clearInterval(trickle);
    const after = (slow.closedAt() as number) - started;
    t.ok(after >= 1400 && after < 3500, `cut after ${after} ms although it never stopped sending`);
    const offset = Number((await head(slowUrl)).headers.get('upload-offset'));
    t.ok(offset > 0 && offset <= sent && sent - offset <= 20, `what arrived is kept: ${offset} of the ${sent} bytes written`);

    const paceUrl = await createUpload(app.url, 2000);
    const paced = patchConnection(paceUrl, 2000);
    // 100 bytes every 200 ms: 500 bytes a second, for 4 s.
    let written = 0;
    const steady = setInterval(() => {
      if (written >= 2000) return;
      paced.socket.write(data.subarray(written, written + 100));
      written += 100;
    }, 200);
    t.teardown(() => clearInterval(steady));
    await until(() => paced.received().includes('\r\n\r\n') || paced.closedAt() !== undefined, 'the paced answer', 15000);
    clearInterval(steady);
    t.match(paced.received(), /^HTTP\/1\.1 204 No Content\r\n/);
    t.match(paced.received(), /Upload-Offset: 2000\r\n/i);
    paced.socket.destroy();
  });

  t.test(`${driver.name}: with TUS_BODY_MIN_RATE=0 a slow but steady body is not cut`, async (t) => {
    // One byte every 500 ms: 10 s in all, four times the idle timeout. Each gap is a fifth of the
    // timeout: with a third (1.5 s), a loaded machine once stretched a gap past it on every driver.
    const { data, client } = await patchBegun(t, { ...driver.env(), TUS_BODY_IDLE_TIMEOUT: '2500', TUS_BODY_MIN_RATE: '0' }, 20);
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < data.length) client.socket.write(data.subarray(sent, ++sent));
    }, 500);
    t.teardown(() => clearInterval(drip));
    await until(() => client.received().includes('\r\n\r\n') || client.closedAt() !== undefined, 'the answer', 25000);
    clearInterval(drip);
    t.match(client.received(), /^HTTP\/1\.1 204 No Content\r\n/);
    t.match(client.received(), /Upload-Offset: 20\r\n/i);
    t.equal(client.closedAt(), undefined, 'the connection stays open (keep-alive)');
    client.socket.destroy();
  });

  t.test(`${driver.name}: a body the server does not read yet (waiting for the upload's lock) is not idle`, async (t) => {
    const app = await startAppFor(t, { ...driver.env(), TUS_BODY_IDLE_TIMEOUT: '1500', TUS_BODY_MIN_RATE: '0' });
    const url = await createUpload(app.url, 16 * MiB);
    // A holds the lock, sending one byte every 400 ms; B asks for the lock, which A releases
    // only 3 s later: B's body waits unread in the server's buffers, its client blocked.
    const a = patchConnection(url, 100);
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < 100) a.socket.write(Buffer.alloc(1, sent++));
    }, 400);
    t.teardown(() => clearInterval(drip));
    // (No HEAD meanwhile: it would take the lock from A.)
    await until(() => sent >= 3, 'A to be sending', 5000);
    const b = rawConnection(url);
    const bStarted = Date.now();
    b.socket.write(patchHead(url, 0, 8 * MiB));
    b.socket.write(randomData(8 * MiB));
    await until(() => b.received().includes('\r\n\r\n') || b.closedAt() !== undefined, "B's answer", 15000);
    clearInterval(drip);
    const waited = Date.now() - bStarted;
    t.ok(waited >= 2000, `B waited ${waited} ms for the lock, longer than the idle timeout`);
    t.match(b.received(), /^HTTP\/1\.1 409 Conflict\r\n/, 'B is answered (its offset is stale now), not cut off');
    a.socket.destroy();
    b.socket.destroy();
  });

  t.test(`${driver.name}: a checksum body that stops sending is cut; nothing is stored, the spool is removed`, async (t) => {
    const tempDir = scratchDir(t, 'tus-idle-spool-');
    const app = await startAppFor(t, { ...driver.env(), TUS_BODY_IDLE_TIMEOUT: '1500', TUS_TEMP_DIR: tempDir });
    const url = await createUpload(app.url, 100);
    const client = patchConnection(url, 100, 'Upload-Checksum: sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=\r\n');
    client.socket.write(Buffer.alloc(10, 1));
    await until(() => readdirSync(tempDir).length === 1, 'the spool to begin', 5000);
    await until(() => client.closedAt() !== undefined, 'the idle body to be cut off', 8000);
    await until(() => readdirSync(tempDir).length === 0, 'the spool to be removed', 5000);
    t.equal((await head(url)).headers.get('upload-offset'), '0', 'an unverifiable body stores nothing');
  });
}

/** An HTTP proxy in front of the S3 test server that holds every request with a body for `delayMs` after receiving it. */
async function slowS3(target: string, delayMs: number): Promise<{ url: string; delayed: () => number; close(): Promise<void> }> {
  const upstream = new URL(target);
  let delayed = 0;
  const proxy: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === 'PUT' || req.method === 'POST') {
      delayed++;
      await new Promise((r) => setTimeout(r, delayMs));
    }
    const headers = { ...req.headers };
    delete headers.expect;
    delete headers['transfer-encoding'];
    if (body.length > 0 || req.method === 'PUT' || req.method === 'POST') headers['content-length'] = String(body.length);
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    forward.end(body);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const { port } = proxy.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    delayed: () => delayed,
    close: () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

t.test('s3: a slow S3 (parts and completion held 2 s each) does not count as an idle body', async (t) => {
  const proxy = await slowS3(server.endpoint, 2000);
  t.teardown(() => proxy.close());
  const root = uniqueRoot('idle-slow');
  const app = await startAppFor(t, {
    ...s3LocationEnv(server, root, { STORAGE_S3_ENDPOINT: proxy.url, STORAGE_S3_PART_CONCURRENCY: '1' }),
    TUS_BODY_IDLE_TIMEOUT: '1500',
  });
  const data = randomData(12 * MiB);
  const url = await createUpload(app.url, data.length);
  const before = proxy.delayed();
  const started = Date.now();
  const res = await patch(url, 0, data);
  t.equal(res.status, 204, 'the body waited while S3 was slow, and the completion after it');
  t.equal(res.headers.get('upload-offset'), String(data.length));
  t.ok(proxy.delayed() - before >= 3, `${proxy.delayed() - before} S3 writes held (parts and completion)`);
  t.ok(Date.now() - started >= 6000, 'held longer than the idle timeout several times over');
  const id = url.split('/').pop() as string;
  t.same(await objectSha256(verifyClient(server), server.bucket, `${root}${id}`), { sha256: sha256(data), size: data.length });
});

t.test('RATE_LIMITER_*: per client address, 429 with Retry-After in plain text; OPTIONS and probes not counted', async (t) => {
  const app = await startAppFor(t, rateLimit(3, '60'));
  for (let i = 0; i < 5; i++) {
    t.equal((await fetch(`${app.url}/files/`, { method: 'OPTIONS' })).status, 204, 'OPTIONS is not counted');
    t.equal((await fetch(`${app.url}/healthz`)).status, 200, '/healthz is not counted');
  }
  for (let i = 0; i < 3; i++)
    t.equal((await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } })).status, 201);
  const limited = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } });
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('content-type'), 'text/plain; charset=utf-8');
  const retry = Number(limited.headers.get('retry-after'));
  t.ok(retry >= 59 && retry <= 60, `Retry-After ${retry}`);
  t.equal(
    await limited.text(),
    `Too many requests from 127.0.0.1: at most 3 per 60 s (RATE_LIMITER_POINTS, RATE_LIMITER_DURATION); retry in ${retry} s\n`,
  );
  t.equal((await fetch(`${app.url}/files/x`, { method: 'HEAD', headers: TUS })).status, 429, 'every tus method counts');
  t.equal((await fetch(`${app.url}/readyz`)).status, 200, '/readyz is not counted');
  t.equal(readdirSync(app.root).filter((f) => f.endsWith('.json')).length, 3, 'the refused creation created nothing');
  const spoofed = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-For': '203.0.113.9' },
  });
  t.equal(spoofed.status, 429, 'X-Forwarded-For is ignored without IP_TRUST_PROXY');
});

t.test('RATE_LIMITER_*: with IP_TRUST_PROXY the forwarded address is the client', async (t) => {
  const app = await startAppFor(t, {
    ...rateLimit(2, '1m'),
    IP_TRUST_PROXY: 'true',
  });
  const from = (ip: string) =>
    fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-For': ip } });
  t.equal((await from('203.0.113.1')).status, 201);
  t.equal((await from('203.0.113.1')).status, 201);
  const third = await from('203.0.113.1');
  t.equal(third.status, 429);
  t.match(await third.text(), /^Too many requests from 203\.0\.113\.1: at most 2 per 60 s/);
  t.equal((await from('203.0.113.2')).status, 201, 'another client behind the proxy has its own count');
});

t.test('rate limiting is off by default', async (t) => {
  const app = await startAppFor(t, {});
  for (let i = 0; i < 60; i++) t.equal((await fetch(`${app.url}/files/x`, { method: 'HEAD', headers: TUS })).status, 404);
});
