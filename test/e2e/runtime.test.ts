/**
 * The runtime (issue 22): every test runs under a supported Node (24 on these machines, fetched
 * by scripts/test.sh when the machine's own is older), the servers the tests start run under the
 * same binary with the server's flags, `npm start`'s launcher on an older Node runs the server
 * under the fetched Node 24 without EBADENGINE, the built server refuses an older Node by name,
 * and the AWS SDK has no Node-version notice to print.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { isSupported, SERVER_NODE_FLAGS } from '../../scripts/runtime.mjs';
import { createS3Client } from '../../src/stores/s3/client.js';
import { createUpload, patch } from '../helpers/app.js';
import { freePort, launch, MAIN, startProcess } from '../helpers/process.js';
import { scratchDir } from '../helpers/scratch.js';
import { until } from '../helpers/wait.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** A Node older than 22.12 on this machine (the system's own on these Debian machines), or undefined. */
function olderNode(): string | undefined {
  for (const candidate of [process.env.TEST_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!candidate || !existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
    if (!isSupported(version)) return candidate;
  }
  return undefined;
}

const OLD_NODE = olderNode();
const NO_OLD_NODE = OLD_NODE ? false : 'no Node older than 22.12 on this machine (set TEST_OLD_NODE to one)';

t.test('the tests run under a supported Node', async (t) => {
  t.ok(isSupported(), `Node ${process.version} is at least 22.12`);
  t.comment(`tests run under Node ${process.version} (${process.execPath})`);
});

t.test("a server process the tests start runs under the tests' own Node, with the server's flags", async (t) => {
  const server = await startProcess({}, { cwd: scratchDir(t, 'tus-runtime-') });
  t.teardown(() => server.stop('SIGKILL'));
  await until(() => /tus-s3-server ready/.test(server.output()), 'the ready line', 10_000);
  const ready = JSON.parse(
    server
      .output()
      .split('\n')
      .find((l) => l.includes('tus-s3-server ready')) as string,
  ) as { node: string };
  t.equal(ready.node, process.version, 'the ready line names the Node version');
  const cmdline = readFileSync(`/proc/${server.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  t.equal(cmdline[0], process.execPath, 'the same binary as the tests');
  t.same(cmdline.slice(1, -1), [...SERVER_NODE_FLAGS], `with ${SERVER_NODE_FLAGS.join(' ')}`);
  // tap adds its loader to every spawn's NODE_OPTIONS (with source maps of every module: 18 MiB
  // of heap); the helpers drop it so that tests, the memory cgroup's above all, measure the
  // server as deployed.
  t.ok(process.env.NODE_OPTIONS?.includes('processinfo'), "this test runs under tap's loader (what the helpers drop)");
  const environ = readFileSync(`/proc/${server.child.pid}/environ`, 'utf8').split('\0');
  t.notOk(
    environ.some((v) => v.startsWith('NODE_OPTIONS=')),
    "the server runs without the test runner's NODE_OPTIONS",
  );
});

t.test('the AWS SDK has no Node-version notice for this runtime', async (t) => {
  const warnings: string[] = [];
  const listen = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', listen);
  t.teardown(() => process.off('warning', listen));
  const client = createS3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:1',
    forcePathStyle: true,
    keepAlive: true,
    maxSockets: 1,
    maxAttempts: 1,
    connectionTimeout: 100,
    socketTimeout: 100,
    checksumCalculation: 'WHEN_REQUIRED',
  } as unknown as Parameters<typeof createS3Client>[0]);
  await client.config.region();
  // process.emitWarning delivers on the next tick.
  await new Promise((r) => setImmediate(r));
  client.destroy();
  t.same(
    warnings.filter((w) => /NodeVersionSupportWarning|require node/i.test(w)),
    [],
    'no NodeVersionSupportWarning',
  );
});

t.test('the built server refuses a Node older than 22.12 and says what to use', { skip: NO_OLD_NODE }, async (t) => {
  const old = OLD_NODE as string;
  const child = spawn(...launch(undefined, old, [MAIN]), { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.on('data', (d) => (output += d));
  const [code] = (await once(child, 'exit')) as [number];
  t.equal(code, 2);
  t.match(output, /refusing to start on Node v\d+\.\d+\.\d+: Node 22\.12 or newer is required/);
});

t.test('`npm start` on an older Node runs the server under the fetched Node 24, without EBADENGINE', { skip: NO_OLD_NODE }, async (t) => {
  const old = OLD_NODE as string;
  const port = await freePort();
  const cwd = scratchDir(t, 'tus-npm-start-');
  // The launcher itself, as `npm start` runs it (npm's own process adds nothing but its banner).
  const child = spawn(...launch(undefined, old, [join(ROOT, 'scripts/start.mjs')]), {
    cwd,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), STORAGE_LOCAL_ROOT: join(cwd, 'uploads') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  // Awaits the exit, so that the scratch directory (registered earlier, removed later) is no longer in use.
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  });
  await until(() => /tus-s3-server ready/.test(output) || child.exitCode !== null, 'the server started by npm start', 60_000);
  const ready = output.split('\n').find((l) => l.includes('tus-s3-server ready'));
  t.ok(ready, `the server is ready:\n${output.slice(-2000)}`);
  t.match(JSON.parse(ready as string).node, /^v24\./, 'the server runs under Node 24');
  t.match(output, /tus-s3-server: running under \S+ \(Node v24\.\d+\.\d+\)/, 'one line says which Node runs it');
  t.notMatch(output, /EBADENGINE/, 'no EBADENGINE');
  const url = await createUpload(`http://127.0.0.1:${port}`, 5);
  t.equal((await patch(url, 0, Buffer.from('hello'))).status, 204, 'it serves');
  // SIGTERM to the launcher reaches the server, which stops cleanly.
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  t.equal(code, 0, 'SIGTERM: the launcher and the server exit 0');
  t.match(output, /"msg":"stopped"/, 'the server stopped gracefully');
});
