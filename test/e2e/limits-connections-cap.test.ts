/**
 * SERVER_MAX_CONNECTIONS_PER_IP and SERVER_MAX_CONNECTIONS against the built server as its own
 * process: connections that send half a header (each would be held until SERVER_HEADERS_TIMEOUT)
 * from one address are reset as they arrive once the cap is reached, while /healthz, /metrics
 * and uploads from other addresses are served; the refusals are counted in /metrics. Other
 * clients are other loopback addresses (127.0.0.0/8 is all loopback on Linux), as `localAddress`.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { startProcess } from '../helpers/process.js';
import { until } from '../helpers/wait.js';

interface HalfHeader {
  socket: Socket;
  connectedAt: number;
  closedAt?: number;
}

/** A connection from `from` that sends the first lines of a request and never finishes its headers. */
function halfHeader(url: string, from: string): Promise<HalfHeader> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: hostname, port: Number(port), localAddress: from });
    const c: HalfHeader = { socket, connectedAt: started };
    socket.on('error', () => undefined);
    socket.once('close', () => {
      c.closedAt = Date.now();
      // Reset before the client saw its connection complete (loopback is that quick).
      resolve(c);
    });
    socket.once('connect', () => {
      c.connectedAt = Date.now();
      socket.write('POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Le');
      resolve(c);
    });
  });
}

/** A request over a connection of its own from `from`: the status and body, or the error that ended it. */
function send(
  url: string,
  path: string,
  from: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string } | { error: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const req = request(
      { host: hostname, port: Number(port), path, method, localAddress: from, agent: false, headers: { connection: 'close', ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
      },
    );
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

function sample(metrics: string, name: string): number | undefined {
  for (const line of metrics.split('\n')) if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  return undefined;
}

/** Open `n` half-header connections from `from`, one after another, and wait until each has been kept or reset. */
async function flood(url: string, from: string, n: number): Promise<{ kept: HalfHeader[]; reset: HalfHeader[] }> {
  const all: HalfHeader[] = [];
  for (let i = 0; i < n; i++) all.push(await halfHeader(url, from));
  // A reset comes within milliseconds of the connection; 1 s without one: kept.
  await until(
    () => all.every((c) => c.closedAt !== undefined || Date.now() - c.connectedAt > 1000),
    'every connection kept or reset',
    10_000,
  );
  return { kept: all.filter((c) => c.closedAt === undefined), reset: all.filter((c) => c.closedAt !== undefined) };
}

t.test('SERVER_MAX_CONNECTIONS_PER_IP: a flood of half headers from one address is reset; other clients are served', async (t) => {
  const server = await startProcess({ SERVER_MAX_CONNECTIONS_PER_IP: '5', SERVER_MAX_CONNECTIONS: '50' });
  t.teardown(() => server.stop());
  const before = await send(server.url, '/metrics', '127.0.0.2');
  t.equal('status' in before && sample(before.body, 'tus_connections_refused_total{reason="per_address"}'), 0, 'counted from 0');

  const { kept, reset } = await flood(server.url, '127.0.0.3', 15);
  t.teardown(() => {
    for (const c of kept) c.socket.destroy();
  });
  t.equal(kept.length, 5, 'five connections from 127.0.0.3 are kept (waiting for their headers)');
  t.equal(reset.length, 10, 'the ten beyond the cap are reset');
  for (const c of reset)
    t.ok((c.closedAt as number) - c.connectedAt < 500, `reset ${(c.closedAt as number) - c.connectedAt} ms after connecting`);

  const health = await send(server.url, '/healthz', '127.0.0.2');
  t.same(health, { status: 200, body: '{"status":"ok"}' }, '/healthz from another address answers');
  const created = await send(server.url, '/files/', '127.0.0.2', 'POST', { 'Tus-Resumable': '1.0.0', 'Upload-Length': '1' });
  t.equal('status' in created && created.status, 201, 'another client uploads');
  const capped = await send(server.url, '/healthz', '127.0.0.3');
  t.ok('error' in capped, `the flooding address itself is capped (${JSON.stringify(capped)})`);

  const metrics = await send(server.url, '/metrics', '127.0.0.2');
  if (!('status' in metrics)) throw new Error(`/metrics: ${metrics.error}`);
  t.equal(sample(metrics.body, 'tus_connections_refused_total{reason="per_address"}'), 11, 'every reset counted');
  t.equal(sample(metrics.body, 'tus_connections_refused_total{reason="total"}'), 0);
  const open = sample(metrics.body, 'tus_connections_open') as number;
  t.ok(open >= 6 && open <= 9, `${open} connections open: the five kept, this one, and at most a few closing`);
  t.match(
    server.output(),
    /"reason":"per_address","address":"127\.0\.0\.3".*"msg":"connection refused: 5 connections from 127\.0\.0\.3 are open \(SERVER_MAX_CONNECTIONS_PER_IP=5\)/,
    'the first refusal is logged',
  );
  t.equal(server.output().match(/connection refused: /g)?.length, 1, 'one line for the burst, not one per connection');

  // Connections closed are no longer counted.
  for (const c of kept) c.socket.destroy();
  let again: Awaited<ReturnType<typeof send>> = { error: '' };
  await until(
    async () => {
      again = await send(server.url, '/healthz', '127.0.0.3');
      return 'status' in again;
    },
    '127.0.0.3 to be served again',
    5000,
  );
  t.equal('status' in again && again.status, 200);
});

t.test('SERVER_MAX_CONNECTIONS: the last connections are kept for addresses with none open (health checks)', async (t) => {
  // Behind a load balancer: every client is one address, so no per-address cap.
  const server = await startProcess({ SERVER_MAX_CONNECTIONS_PER_IP: '0', SERVER_MAX_CONNECTIONS: '12' });
  t.teardown(() => server.stop());
  // 12 in all, the last 2 (a tenth, rounded up) for addresses with none open: 127.0.0.3 gets 10
  // (less any connection the start-up check of the helper still holds open from 127.0.0.1).
  const { kept, reset } = await flood(server.url, '127.0.0.3', 20);
  t.teardown(() => {
    for (const c of kept) c.socket.destroy();
  });
  t.ok(kept.length === 10 || kept.length === 9, `${kept.length} kept`);
  t.equal(reset.length, 20 - kept.length);
  for (const c of reset)
    t.ok((c.closedAt as number) - c.connectedAt < 500, `reset ${(c.closedAt as number) - c.connectedAt} ms after connecting`);

  const health = await send(server.url, '/healthz', '127.0.0.2');
  t.same(health, { status: 200, body: '{"status":"ok"}' }, '/healthz from an address with no connection open answers');
  const more = await flood(server.url, '127.0.0.3', 3);
  t.equal(more.reset.length, 3, 'the flooding address gets none of the reserve');

  const metrics = await send(server.url, '/metrics', '127.0.0.4');
  if (!('status' in metrics)) throw new Error(`/metrics: ${metrics.error}`);
  t.equal(sample(metrics.body, 'tus_connections_refused_total{reason="total"}'), reset.length + 3, 'every reset counted');
  t.equal(sample(metrics.body, 'tus_connections_refused_total{reason="per_address"}'), 0);
  const open = sample(metrics.body, 'tus_connections_open') as number;
  t.ok(open >= 11 && open <= 12, `${open} connections open`);
  t.match(
    server.output(),
    /"msg":"connection refused: 10 connections are open \(SERVER_MAX_CONNECTIONS=12, the last 2 kept for addresses with none open\)/,
  );
  t.match(server.output(), /"maxConnections":12,"maxConnectionsPerIp":0,.*"msg":"connection limits"/);
});
