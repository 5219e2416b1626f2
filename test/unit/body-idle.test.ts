/**
 * watchBodyIdle (TUS_BODY_IDLE_TIMEOUT, TUS_BODY_MIN_RATE) over a real socket: a body that keeps
 * the pace is not cut, not even across a stretch in which this process stood still (a long GC
 * pause, a starved CPU: the bytes that arrived meanwhile are not read yet); one that stops is.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { watchBodyIdle } from '../../src/http/body-idle.js';
import { until } from '../helpers/wait.js';

/** A server whose requests' bodies are watched and read; and a client sending one byte every `everyMs`. */
async function pacedBody(t: Test, idleMs: number, everyMs: number) {
  let cut = false;
  let received = 0;
  let incoming: IncomingMessage | undefined;
  const server = createServer((req) => {
    incoming = req;
    watchBodyIdle(req, { idleMs, minRate: 0 }, () => {
      cut = true;
    });
    req.on('data', (d: Buffer) => {
      received += d.length;
    });
    req.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = request({ port, host: '127.0.0.1', method: 'PUT', headers: { 'Content-Length': '100000' } });
  client.on('error', () => undefined);
  client.flushHeaders();
  const sending = setInterval(() => client.write('x'), everyMs);
  t.teardown(() => {
    clearInterval(sending);
    client.destroy();
    server.closeAllConnections();
    server.close();
  });
  await until(() => received >= 3, 'the first bytes to arrive');
  return { cut: () => cut, received: () => received, stopSending: () => clearInterval(sending), incoming: () => incoming };
}

/** Hold this process's event loop (as a long GC pause or a starved CPU would). */
function standStill(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

t.test('the process standing still for three idle timeouts does not cut a body that keeps the pace', async (t) => {
  const body = await pacedBody(t, 400, 50);
  standStill(1200);
  const before = body.received();
  await until(() => body.received() >= before + 10, 'more bytes after the stall', 5000);
  t.equal(body.cut(), false, 'not cut');
  t.equal(body.incoming()?.destroyed, false, 'the request still runs');
});

t.test('a body that stops sending is cut after the idle timeout', async (t) => {
  const body = await pacedBody(t, 400, 50);
  body.stopSending();
  await until(() => body.cut(), 'the silent body to be cut', 5000);
  t.equal(body.incoming()?.destroyed, true, 'the request destroyed');
});

t.test('a server that lags at every tick still cuts a silent body', async (t) => {
  const body = await pacedBody(t, 400, 50);
  body.stopSending();
  // Hold the event loop 100 ms in every 110: each watchdog tick (every 40 ms) comes late.
  const started = Date.now();
  while (!body.cut() && Date.now() - started < 5000) {
    standStill(100);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.ok(body.cut(), `cut after ${Date.now() - started} ms of constant lag`);
});
