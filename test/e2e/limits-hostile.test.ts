/**
 * Limits a hostile client tried to get around (adversarial review of issue 12), over raw
 * sockets against the real app: a body trickled behind an answer that did not read it (a
 * 404, a probe, a DELETE, a 429) is cut like an upload's; OPTIONS with X-HTTP-Method-Override
 * is counted by the rate limiter like the method it becomes; behind a proxy named in
 * IP_TRUST_PROXY, a forged X-Forwarded-For entry does not give a client a fresh count;
 * a client that goes away while
 * its request waits (here for a slow pre-create hook) leaves no request, lock or open file
 * behind, on every driver (local, S3, Azure).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import t from 'tap';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { createUpload, rateLimit, startAppFor, TUS } from '../helpers/app.js';
import { everyDriver } from '../helpers/drivers.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { rawConnection } from '../helpers/raw-request.js';
import { until } from '../helpers/wait.js';

/** A raw connection that writes `head`, then one byte every `everyMs`: what it received, when it was closed. */
function trickle(url: string, head: string, everyMs: number) {
  const { socket, received, closedAt } = rawConnection(url);
  socket.write(head);
  const drip = setInterval(() => {
    if (!socket.destroyed) socket.write('x');
  }, everyMs);
  return {
    received,
    closedAt,
    stop: () => {
      clearInterval(drip);
      socket.destroy();
    },
  };
}

t.test('a body trickled behind an answer that did not read it is cut like an upload body', async (t) => {
  // 100 bytes a second due over 1 s; the clients bring about 4.
  const app = await startAppFor(t, {
    TUS_BODY_IDLE_TIMEOUT: '1s',
    TUS_BODY_MIN_RATE: '100b',
    ...rateLimit(3, '60'),
  });
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
  const app = await startAppFor(t, rateLimit(2, '60'));
  const overridden = () =>
    fetch(`${app.url}/files/`, { method: 'OPTIONS', headers: { ...TUS, 'X-HTTP-Method-Override': 'POST', 'Upload-Length': '1' } });
  t.equal((await overridden()).status, 201, 'the override makes it a creation');
  t.equal((await overridden()).status, 201);
  const third = await overridden();
  t.equal(third.status, 429);
  t.match(await third.text(), /^Too many requests from 127\.0\.0\.1: at most 2 per 60 s/);
  t.equal((await fetch(`${app.url}/files/`, { method: 'OPTIONS' })).status, 204, 'a plain OPTIONS is still not counted');
});

t.test('IP_TRUST_PROXY with the proxy addresses: a forged X-Forwarded-For entry does not escape the rate limiter', async (t) => {
  // The test client plays the proxy (127.0.0.1): what a proxy forwards is the client's own
  // X-Forwarded-For (forged) followed by the address the proxy saw (203.0.113.7).
  const app = await startAppFor(t, {
    ...rateLimit(2, '60'),
    IP_TRUST_PROXY: '127.0.0.1',
  });
  const from = (forged: string) =>
    fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-For': `${forged}, 203.0.113.7` },
    });
  t.equal((await from('198.51.100.1')).status, 201);
  t.equal((await from('198.51.100.2')).status, 201);
  const third = await from('198.51.100.3');
  t.equal(third.status, 429, 'the client is the address the trusted proxy saw');
  t.match(await third.text(), /^Too many requests from 203\.0\.113\.7: at most 2 per 60 s/);
  const other = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-For': '203.0.113.8' },
  });
  t.equal(other.status, 201, 'another client behind the proxy has its own count');
  const forwarded = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'up.example.com' },
  });
  t.match(forwarded.headers.get('location'), /^https:\/\/up\.example\.com\/files\/[0-9a-f]{32}$/, 'the Location follows the proxy');

  t.same(parseConfig({ IP_TRUST_PROXY: ' 10.0.0.0/8, loopback,fd00::/8 ,192.168.1.1' }).trustProxy, [
    '10.0.0.0/8',
    'loopback',
    'fd00::/8',
    '192.168.1.1',
  ]);
  t.equal(parseConfig({ IP_TRUST_PROXY: 'true' }).trustProxy, true);
  t.equal(parseConfig({}).trustProxy, false);
  for (const bad of ['10.0.0.0/33', 'proxy.example.com', '10.0.0.1,,nope']) {
    t.throws(() => parseConfig({ IP_TRUST_PROXY: bad }), ConfigError);
    try {
      parseConfig({ IP_TRUST_PROXY: bad });
    } catch (error) {
      t.match((error as ConfigError).problems, [/^IP_TRUST_PROXY=.*expected true, false or the proxies' addresses/]);
    }
  }
});

const HOOK_SECRET = 'limits-hostile-hook-secret-0123456789';
const drivers = everyDriver('hostile');

for (const [name, env] of drivers) {
  t.test(`${name}: a body whose client left while the request waited is not waited for forever`, async (t) => {
    const receiver = await HookReceiver.start(HOOK_SECRET);
    t.teardown(() => receiver.close());
    let answer: (() => void) | undefined;
    receiver.respond = () => new Promise((resolve) => (answer = () => resolve({})));
    const app = await startAppFor(t, {
      ...env(),
      HOOKS_HTTP_URL: receiver.url,
      HOOKS_HTTP_SECRET: HOOK_SECRET,
      HOOKS_ENABLED_EVENTS: 'pre-create',
      HOOKS_HTTP_TIMEOUT: '30s',
    });
    const { port } = new URL(app.url);
    const client = connect(Number(port), '127.0.0.1');
    client.on('error', () => undefined);
    client.write(
      'POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 50\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 50\r\n\r\nabcde',
    );
    // The creation waits for its pre-create hook; meanwhile the client goes away.
    await until(() => answer !== undefined, 'the pre-create hook', 5000);
    client.destroy();
    await until(
      () => new Promise<boolean>((resolve) => app.app.server.getConnections((_e, n) => resolve(n === 0))),
      'the server to see the client leave',
      5000,
    );
    (answer as () => void)();
    // The upload is created and its body (which ended long ago) stored: the request ends.
    await until(() => app.app.tusRequests.size === 0, 'the request to finish', 5000);
    const open = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(app.root);
      } catch {
        return false;
      }
    });
    t.same(open, [], 'no upload file left open');
  });
}
