/**
 * Limits a hostile client tried to get around (adversarial review of issue 12), over raw
 * sockets against the real app: a body trickled behind an answer that did not read it (a
 * 404, a probe, a DELETE, a 429) is cut like an upload's; OPTIONS with X-HTTP-Method-Override
 * is counted by the rate limiter like the method it becomes.
 */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { createUpload, startApp, TUS } from '../helpers/app.js';
import { until } from '../helpers/wait.js';

/** A raw connection that writes `head`, then one byte every `everyMs`: what it received, when it was closed. */
function trickle(url: string, head: string, everyMs: number) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  let received = '';
  let closedAt: number | undefined;
  socket.on('data', (d) => {
    received += d;
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closedAt = Date.now();
  });
  socket.write(head);
  const drip = setInterval(() => {
    if (!socket.destroyed) socket.write('x');
  }, everyMs);
  return {
    received: () => received,
    closedAt: () => closedAt,
    stop: () => {
      clearInterval(drip);
      socket.destroy();
    },
  };
}

t.test('a body trickled behind an answer that did not read it is cut like an upload body', async (t) => {
  // 100 bytes a second due over 1 s; the clients bring about 4.
  const app = await startApp({
    TUS_BODY_IDLE_TIMEOUT: '1s',
    TUS_BODY_MIN_RATE: '100b',
    RATE_LIMITER_ENABLED: 'true',
    RATE_LIMITER_POINTS: '3',
    RATE_LIMITER_DURATION: '60',
  });
  t.teardown(() => app.close());
  const upload = new URL(await createUpload(app.url, 10)).pathname;
  const body = 'Content-Length: 1000000\r\n\r\n';
  const clients = {
    probe: trickle(app.url, `GET /healthz HTTP/1.1\r\nHost: x\r\n${body}`, 250),
    unknownRoute: trickle(app.url, `POST /nowhere HTTP/1.1\r\nHost: x\r\n${body}`, 250),
    tusDelete: trickle(app.url, `DELETE ${upload} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n${body}`, 250),
  };
  for (const client of Object.values(clients)) t.teardown(client.stop);
  const started = Date.now();
  for (const [name, client] of Object.entries(clients)) {
    await until(() => client.closedAt() !== undefined, `the ${name} connection to be cut`, 6000);
    const after = (client.closedAt() as number) - started;
    t.ok(after >= 900 && after < 4000, `${name}: cut after ${after} ms`);
  }
  t.match(clients.probe.received(), /^HTTP\/1\.1 200 OK\r\n/, 'the probe was answered first');
  t.match(clients.unknownRoute.received(), /^HTTP\/1\.1 404 Not Found\r\n/);
  t.match(clients.tusDelete.received(), /^HTTP\/1\.1 204 No Content\r\n/);

  // The rate limiter answers before any route: its 429 must not hold a trickling body either.
  // (The creation, the unknown route and the DELETE took the three points.)
  const limited = trickle(app.url, `POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 1000000\r\n${body}`, 250);
  t.teardown(limited.stop);
  const limitedAt = Date.now();
  await until(() => limited.closedAt() !== undefined, 'the rate-limited connection to be cut', 6000);
  const after = (limited.closedAt() as number) - limitedAt;
  t.ok(after >= 900 && after < 4000, `429: cut after ${after} ms`);
  t.match(limited.received(), /^HTTP\/1\.1 429 Too Many Requests\r\n/);
});

t.test('OPTIONS with X-HTTP-Method-Override is rate limited like the method it becomes', async (t) => {
  const app = await startApp({ RATE_LIMITER_ENABLED: 'true', RATE_LIMITER_POINTS: '2', RATE_LIMITER_DURATION: '60' });
  t.teardown(() => app.close());
  const overridden = () =>
    fetch(`${app.url}/files/`, { method: 'OPTIONS', headers: { ...TUS, 'X-HTTP-Method-Override': 'POST', 'Upload-Length': '1' } });
  t.equal((await overridden()).status, 201, 'the override makes it a creation');
  t.equal((await overridden()).status, 201);
  const third = await overridden();
  t.equal(third.status, 429);
  t.match(await third.text(), /^Too many requests from 127\.0\.0\.1: at most 2 per 60 s/);
  t.equal((await fetch(`${app.url}/files/`, { method: 'OPTIONS' })).status, 204, 'a plain OPTIONS is still not counted');
});
