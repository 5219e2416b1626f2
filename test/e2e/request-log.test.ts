/**
 * A request that never gets its answer still gets its one log line and its count (issue 21,
 * point 10): a PATCH whose client goes away mid-body (the connection closed, as when curl is
 * killed) is logged once with `outcome: aborted`, status 499 and the bytes it stored, counted
 * in tus_http_requests_total, and not mistaken for a client error before a request was read;
 * a body cut by TUS_BODY_IDLE_TIMEOUT is logged `outcome: timeout` (408), one ended by a shutdown
 * `outcome: shutdown` (503). On local disk and S3.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { createUpload, head, logDir, startAppFor } from '../helpers/app.js';
import { everyDriver } from '../helpers/drivers.js';
import { metric, until } from '../helpers/wait.js';

interface LogLine {
  reqId?: string;
  msg?: string;
  time: number;
  [key: string]: unknown;
}

async function logLines(since: number): Promise<LogLine[]> {
  const text = await readFile(join(logDir, `app-${process.pid}.log`), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => l.time >= since);
}

/**
 * A PATCH over a raw connection announcing `declared` bytes; `sent` of them arrive. Then the
 * client closes the connection (`close`), or holds it open without sending more (`stall`).
 * Resolves with the socket once the bytes are on their way.
 */
async function halfPatch(url: string, requestId: string, declared: number, sent: number, then: 'close' | 'stall') {
  const { pathname, port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const head = [
    `PATCH ${pathname} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Tus-Resumable: 1.0.0',
    'Upload-Offset: 0',
    'Content-Type: application/offset+octet-stream',
    `Content-Length: ${declared}`,
    `X-Request-Id: ${requestId}`,
  ].join('\r\n');
  await new Promise<void>((resolve) => socket.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`), randomBytes(sent)]), () => resolve()));
  if (then === 'close') socket.destroy();
  return socket;
}

const locations = everyDriver('reqlog');

for (const [name, env] of locations) {
  t.test(`${name}: a PATCH whose client goes away mid-body is logged once, aborted, with its bytes, and counted`, async (t) => {
    const app = await startAppFor(t, env());
    const since = Date.now();
    const url = await createUpload(app.url, 1000);
    const requestId = `cut-${name}-${randomBytes(4).toString('hex')}`;
    await halfPatch(url, requestId, 1000, 400, 'close');

    const ours = async () => (await logLines(since)).filter((l) => l.reqId === requestId && l.msg === 'request');
    await until(async () => (await ours()).length > 0, 'the request line of the abandoned PATCH');
    t.equal((await head(url)).headers.get('upload-offset'), '400', 'the bytes that arrived are kept');
    const sample = `tus_http_requests_total{method="PATCH",status="499",location="${name}"}`;
    t.equal(await metric(app.url, sample), 1, 'counted in tus_http_requests_total as 499');
    t.equal(await metric(app.url, `tus_received_bytes_total{location="${name}"}`), 400, 'its bytes counted');

    const lines = await ours();
    t.equal(lines.length, 1, 'exactly one line');
    t.match(lines[0], { method: 'PATCH', status: 499, outcome: 'aborted', location: name, bytes: 400 });
    t.type(lines[0]?.durationMs, 'number');
    const misread = (await logLines(since)).filter((l) => l.msg === 'client error before a request was read');
    t.same(misread, [], 'not logged as a client error before a request was read');
  });
}

t.test('a body cut by TUS_BODY_IDLE_TIMEOUT is logged once with outcome timeout (408), its bytes kept', async (t) => {
  const app = await startAppFor(t, { TUS_BODY_IDLE_TIMEOUT: '400ms', TUS_BODY_MIN_RATE: '0' });
  const since = Date.now();
  const url = await createUpload(app.url, 1000);
  const requestId = `stall-${randomBytes(4).toString('hex')}`;
  const socket = await halfPatch(url, requestId, 1000, 300, 'stall');
  t.teardown(() => socket.destroy());
  const ours = async () => (await logLines(since)).filter((l) => l.reqId === requestId && l.msg === 'request');
  await until(async () => (await ours()).length > 0, 'the request line of the stalled PATCH');
  t.equal((await head(url)).headers.get('upload-offset'), '300');
  t.equal(await metric(app.url, 'tus_http_requests_total{method="PATCH",status="408",location="local"}'), 1);
  const lines = await ours();
  t.equal(lines.length, 1, 'exactly one line');
  t.match(lines[0], { method: 'PATCH', status: 408, outcome: 'timeout', bytes: 300 });
});

t.test('a body ended by a shutdown is logged once with outcome shutdown (503), its bytes kept and counted', async (t) => {
  const app = await startAppFor(t, {});
  const since = Date.now();
  const url = await createUpload(app.url, 1000);
  const requestId = `drained-${randomBytes(4).toString('hex')}`;
  const socket = await halfPatch(url, requestId, 1000, 200, 'stall');
  t.teardown(() => socket.destroy());
  // The store has read the 200 bytes (the file holds them) before the shutdown ends the body.
  const file = join(app.root, new URL(url).pathname.split('/').pop() as string);
  await until(async () => (await readFile(file)).length === 200, 'the bytes sent to be written');
  t.equal(await app.app.tusRequests.drain(10_000), true, 'the request is saved');
  const ours = async () => (await logLines(since)).filter((l) => l.reqId === requestId && l.msg === 'request');
  await until(async () => (await ours()).length > 0, 'the request line of the drained PATCH');
  t.equal(await metric(app.url, 'tus_http_requests_total{method="PATCH",status="503",location="local"}'), 1);
  t.equal(await metric(app.url, 'tus_received_bytes_total{location="local"}'), 200, 'its bytes counted');
  const lines = await ours();
  t.equal(lines.length, 1, 'exactly one line');
  t.match(lines[0], { method: 'PATCH', status: 503, outcome: 'shutdown', bytes: 200 });
  t.notOk(lines[0]?.clientError, 'the server cut it, not the client');
});

t.test('an answered request says so, and a parser error mid-body belongs to its request', async (t) => {
  const app = await startAppFor(t, {});
  const since = Date.now();
  const url = await createUpload(app.url, 10, { 'X-Request-Id': 'answered-post' });
  // A chunked body with a broken chunk size: the parser fails while the PATCH is read.
  const { pathname, port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  const received: Buffer[] = [];
  socket.on('data', (d: Buffer) => received.push(d));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `PATCH ${pathname} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nTransfer-Encoding: chunked\r\nX-Request-Id: bad-chunk\r\n\r\n3\r\nabc\r\nzz\r\n`,
  );
  const ours = async (id: string) => (await logLines(since)).filter((l) => l.reqId === id && l.msg === 'request');
  await until(async () => (await ours('bad-chunk')).length > 0, 'the request line of the broken PATCH');
  t.match((await ours('answered-post'))[0], { method: 'POST', status: 201, outcome: 'answered' });
  const lines = await ours('bad-chunk');
  t.equal(lines.length, 1);
  t.match(lines[0], { method: 'PATCH', outcome: 'aborted', clientError: 'HPE_INVALID_CHUNK_SIZE' });
  await until(() => socket.destroyed || socket.readableEnded, 'the connection closed');
  t.notMatch(Buffer.concat(received).toString(), /not valid HTTP/, 'no second answer written over the request');
  const misread = (await logLines(since)).filter((l) => l.msg === 'client error before a request was read');
  t.same(misread, []);
});
