/**
 * The infrastructure of the multi-instance tests, on its own: Redis with a password (the shared
 * one scripts/redis-server.sh starts, and a private one a test can stop and start again), and
 * HAProxy in front of two tiny Node HTTP servers standing for two instances, both with the
 * helper's configuration and with docker/haproxy.cfg itself: round robin, a 20 MiB request body
 * streamed to the instance while the client is still sending it, the /readyz health check.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { randomData, sha256 } from '../helpers/bytes.js';
import { checkHaproxyConfig, type RunningHaproxy, runHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { freePort, RedisReplyError, redisCommand, redisCommands, redisTestServer, startRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const ROOT = resolve(import.meta.dirname, '../..');

t.test('the shared test Redis answers only with its password, without persistence', async (t) => {
  const redis = redisTestServer();
  t.equal(redis.host, '127.0.0.1');
  t.ok(redis.password.length >= 16, 'a password is set');
  const [noAuth] = await redisCommands(redis, [['PING']]);
  t.ok(noAuth instanceof RedisReplyError && noAuth.code === 'NOAUTH', 'PING without AUTH: NOAUTH');
  const [wrong, after] = await redisCommands(redis, [['AUTH', 'not-the-password'], ['PING']]);
  t.ok(wrong instanceof RedisReplyError && wrong.code === 'WRONGPASS', 'a wrong password: WRONGPASS');
  t.ok(after instanceof RedisReplyError && after.code === 'NOAUTH', 'and still NOAUTH after it');
  t.same(await redisCommands(redis, [['AUTH', redis.password], ['PING']]), ['OK', 'PONG'], 'the password: PONG');
  t.equal(await redisCommand(redis, 'PING'), 'PONG');
  t.same(await redisCommand(redis, 'CONFIG', 'GET', 'save'), ['save', ''], "--save ''");
  t.same(await redisCommand(redis, 'CONFIG', 'GET', 'appendonly'), ['appendonly', 'no'], '--appendonly no');
  t.same(await redisCommand(redis, 'CONFIG', 'GET', 'bind'), ['bind', '127.0.0.1'], 'bound to 127.0.0.1');
});

t.test('a private Redis: password, stopped (connection refused), started again on the same port, empty', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const [noAuth] = await redisCommands(redis, [['GET', 'k']]);
  t.ok(noAuth instanceof RedisReplyError && noAuth.code === 'NOAUTH', 'its password is required');
  t.equal(await redisCommand(redis, 'SET', 'k', 'v'), 'OK');
  t.equal(await redisCommand(redis, 'GET', 'k'), 'v');
  const pid = redis.pid;
  t.ok(pid, 'running');

  await redis.stop();
  t.equal(redis.running(), false);
  await t.rejects(redisCommand(redis, 'PING'), { code: 'ECONNREFUSED' }, 'stopped: connection refused');

  await redis.start();
  t.not(redis.pid, pid, 'a new process');
  t.equal(await redisCommand(redis, 'PING'), 'PONG', 'the same URL works again');
  t.equal(await redisCommand(redis, 'GET', 'k'), null, 'nothing kept: no persistence');

  await redis.stop('SIGKILL');
  await t.rejects(redisCommand(redis, 'PING'), { code: 'ECONNREFUSED' }, 'killed: connection refused');
  await redis.start();
  t.equal(await redisCommand(redis, 'PING'), 'PONG', 'back after a crash');
});

/** A tiny HTTP server standing for one instance: names itself, counts the body bytes as they arrive. */
interface Instance {
  name: string;
  server: Server;
  address: string;
  requests: string[];
  /** Body bytes received so far by the request in progress (or the last one). */
  received: number;
  ready: boolean;
}

async function instance(name: string): Promise<Instance> {
  const inst: Instance = { name, server: createServer(), address: '', requests: [], received: 0, ready: true };
  inst.server.on('request', (req: IncomingMessage, res) => {
    if (req.url === '/readyz') {
      res.statusCode = inst.ready ? 200 : 503;
      res.end();
      return;
    }
    inst.requests.push(`${req.method} ${req.url}`);
    inst.received = 0;
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      inst.received += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      res.setHeader('x-instance', name);
      res.end(JSON.stringify({ instance: name, bytes: inst.received, sha256: hash.digest('hex') }));
    });
  });
  inst.server.listen(0, '127.0.0.1');
  await once(inst.server, 'listening');
  inst.address = `127.0.0.1:${(inst.server.address() as { port: number }).port}`;
  return inst;
}

async function twoInstances(t: Test): Promise<[Instance, Instance]> {
  const a = await instance('a');
  const b = await instance('b');
  t.teardown(() => {
    a.server.close();
    b.server.close();
    a.server.closeAllConnections();
    b.server.closeAllConnections();
  });
  return [a, b];
}

/** Sequential requests on one keep-alive client (to /files/0, /files/1, ... or always `path`): which instance answered each. */
async function answeredBy(url: string, count: number, path?: string): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}${path ?? `/files/${i}`}`);
    names.push(res.headers.get('x-instance') ?? `status ${res.status}`);
    await res.arrayBuffer();
  }
  return names;
}

/**
 * A 20 MiB PUT through the proxy: the first 4 KiB, then up to half, then the rest, each only
 * after the instance has received everything sent so far. A proxy that buffered the body
 * (HAProxy's `option http-buffer-request`, nginx's default `proxy_request_buffering on`) would
 * hold the first pieces back and the wait would time out.
 */
async function streamedUpload(t: Test, url: string, instances: Instance[]): Promise<void> {
  const size = 20 * 1024 * 1024;
  const data = randomData(size);
  const req = request(`${url}/files/streamed`, { method: 'PUT', headers: { 'Content-Length': String(size) } });
  const answer = once(req, 'response') as Promise<[IncomingMessage]>;
  const seen = () => Math.max(...instances.map((i) => (i.requests.at(-1) === 'PUT /files/streamed' ? i.received : 0)));
  let sent = 0;
  for (const upTo of [4096, size / 2]) {
    req.write(data.subarray(sent, upTo));
    sent = upTo;
    await until(() => seen() === sent, `the instance to receive the first ${sent} bytes while the client is still sending`, 10_000);
    t.pass(`the instance received ${sent} of ${size} bytes before the client sent more`);
  }
  req.end(data.subarray(sent));
  const [res] = await answer;
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  t.equal(res.statusCode, 200);
  const body = JSON.parse(Buffer.concat(chunks).toString());
  t.equal(body.bytes, size, 'the whole 20 MiB arrived: no body size limit');
  t.equal(body.sha256, sha256(data), 'byte-exact');
}

t.test("HAProxy with the tests' configuration", async (t) => {
  const [a, b] = await twoInstances(t);
  const proxy = await startHaproxy({ backends: [`http://${a.address}`, `http://${b.address}`] });
  t.teardown(() => proxy.stop());

  t.test('round robin: consecutive requests alternate between the instances', async (t) => {
    const names = await answeredBy(proxy.url, 8);
    for (let i = 1; i < names.length; i++) t.not(names[i], names[i - 1], `request ${i + 1} went to the other instance`);
    t.same(names.filter((n) => n === 'a').length, 4);
    t.same(names.filter((n) => n === 'b').length, 4);
    // HAProxy's own log and header name the server (s1 = the first backend).
    await until(() => proxy.requests().length >= 8, 'the request log');
    t.same(
      proxy.requests().map((r) => r.server),
      names.map((n) => (n === 'a' ? 's1' : 's2')),
    );
  });

  t.test('a 20 MiB body is streamed to the instance, not buffered', (t) => streamedUpload(t, proxy.url, [a, b]));

  t.test('balance uri: one path always goes to the same instance', async (t) => {
    const sticky = await startHaproxy({ backends: [a.address, b.address], balance: 'uri' });
    t.teardown(() => sticky.stop());
    for (const path of ['/files/one', '/files/two']) {
      const names = await answeredBy(sticky.url, 5, path);
      t.equal(new Set(names).size, 1, `${path}: the same instance five times (${names[0]})`);
    }
    const spread = new Set(await answeredBy(sticky.url, 16));
    t.same([...spread].sort(), ['a', 'b'], 'different upload ids are spread over both instances');
  });
});

/** docker/haproxy.cfg with what only works inside Docker replaced: the bind address and the replicas found by DNS. */
function dockerConfig(port: number, backends: string[]): string {
  const text = readFileSync(resolve(ROOT, 'docker/haproxy.cfg'), 'utf8');
  const bind = /^ {2}bind :1080$/m;
  const template = /^ {2}server-template tus- .*$/m;
  if (!bind.test(text) || !template.test(text))
    throw new Error('docker/haproxy.cfg: the bind or server-template line this test replaces has changed');
  return text
    .replace(bind, `  bind 127.0.0.1:${port}`)
    .replace(template, backends.map((address, i) => `  server tus-${i + 1} ${address} check`).join('\n'))
    .replace(/ resolvers docker init-addr \S+/, '')
    .replace(/^ {2}default-server inter 2s/m, '  default-server inter 200ms');
}

t.test('docker/haproxy.cfg', async (t) => {
  const check = await checkHaproxyConfig(resolve(ROOT, 'docker/haproxy.cfg'));
  t.match(check, /Configuration file is valid/, 'haproxy -c accepts it as shipped');
  const warnings = check.split('\n').filter((l) => l.includes('[WARNING]'));
  t.ok(
    warnings.every((w) => /could not resolve address 'tus'/.test(w)),
    'its only warnings: the replicas\u2019 name resolves inside Docker only',
  );
  const text = readFileSync(resolve(ROOT, 'docker/haproxy.cfg'), 'utf8');
  t.match(text, /^ {2}no option http-buffer-request$/m, 'request buffering off');
  t.match(text, /^ {2}timeout client 10m$/m);
  t.match(text, /^ {2}timeout server 10m$/m);
  t.match(text, /^ {2}option httpchk GET \/readyz$/m, 'health check on /readyz');
  t.notMatch(text, /http-request deny .*req\.body_size|tune\.http\.maxhdr|req\.len/, 'no body size limit');

  const [a, b] = await twoInstances(t);
  const port = await freePort();
  const proxy: RunningHaproxy = await runHaproxy(dockerConfig(port, [a.address, b.address]), port);
  t.teardown(() => proxy.stop());
  // Both instances pass the health check before traffic is counted (rise 2).
  await until(async () => new Set(await answeredBy(proxy.url, 2)).size === 2, 'both instances up');

  t.test('round robin', async (t) => {
    const names = await answeredBy(proxy.url, 6);
    for (let i = 1; i < names.length; i++) t.not(names[i], names[i - 1], `request ${i + 1} went to the other instance`);
  });

  t.test('a 20 MiB body is streamed to the instance', (t) => streamedUpload(t, proxy.url, [a, b]));

  t.test('an instance whose /readyz fails gets no requests, and gets them again once ready', async (t) => {
    b.ready = false;
    await until(async () => (await answeredBy(proxy.url, 4)).every((n) => n === 'a'), 'b taken out (fall 2)');
    t.same(await answeredBy(proxy.url, 6), ['a', 'a', 'a', 'a', 'a', 'a'], 'only the ready instance');
    b.ready = true;
    await until(async () => (await answeredBy(proxy.url, 2)).includes('b'), 'b back (rise 2)');
    t.pass('back in rotation');
  });
});

t.test('scripts/haproxy.sh: docker/haproxy.cfg in front of instances on this machine, stopped by PID', async (t) => {
  const run = promisify(execFile);
  const [a, b] = await twoInstances(t);
  const port = await freePort();
  const env = { ...process.env, HAPROXY_TEST_DIR: join(ROOT, `.tap/haproxy-${process.pid}`) };
  const script = join(ROOT, 'scripts/haproxy.sh');
  t.teardown(async () => {
    await run('bash', [script, 'stop'], { env });
    rmSync(env.HAPROXY_TEST_DIR, { recursive: true, force: true });
  });
  const { stdout } = await run('bash', [script, 'start', String(port), a.address, b.address], { env });
  t.equal(stdout.trim(), `http://127.0.0.1:${port}`, 'prints its URL');
  const url = stdout.trim();
  await until(async () => new Set(await answeredBy(url, 2)).size === 2, 'both instances up');
  const names = await answeredBy(url, 4);
  for (let i = 1; i < names.length; i++) t.not(names[i], names[i - 1], `request ${i + 1} went to the other instance`);
  t.match((await run('bash', [script, 'status'], { env })).stdout, /^haproxy running \(pid \d+\)/);
  await run('bash', [script, 'stop'], { env });
  t.equal((await run('bash', [script, 'status'], { env })).stdout.trim(), 'haproxy stopped');
  await t.rejects(fetch(url), 'the port is closed');
});
