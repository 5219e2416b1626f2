#!/usr/bin/env node
// `npm start` (and the Docker image's CMD): run the server the way users run it.
// 1. On a Node older than 22.12, fetch Node 24 once (scripts/runtime.mjs) and run this script under it.
// 2. On a fresh clone, install the dependencies and build dist/ (server and demo bundle) when it
//    is missing or older than src/ (npm runs under the same Node, so no EBADENGINE warning).
// 3. Replace this process with `node <SERVER_NODE_FLAGS> dist/main.js` (process.execve: same PID,
//    so signals reach the server itself; a child process where execve is missing, Node < 22.15).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isSupported, runtimeNode, SERVER_NODE_FLAGS } from './runtime.mjs';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
// npm and the server below run under the Node running this script.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };

/** Run `bin args` as a child with this terminal, pass on SIGINT/SIGTERM, exit with its status. */
function runChild(bin, childArgs, childEnv) {
  const child = spawn(bin, childArgs, { stdio: 'inherit', env: childEnv });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
}

if (!isSupported()) {
  let node;
  try {
    node = runtimeNode();
  } catch (error) {
    console.error(`tus-s3-server: ${error.message}`);
    process.exit(1);
  }
  console.error(`tus-s3-server: running under ${node} (Node ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()})`);
  runChild(node, [new URL(import.meta.url).pathname, ...args], { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` });
} else {
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
      const p = join(dir, e.name);
      return Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const main = join(root, 'dist/main.js');
  const src = join(root, 'src');
  const demo = join(root, 'dist/public/demo.js');
  if (existsSync(src) && (!existsSync(main) || !existsSync(demo) || newest(src) > statSync(main).mtimeMs)) {
    if (!existsSync(join(root, 'node_modules/typescript'))) {
      console.error('tus-s3-server: installing dependencies (first start) ...');
      execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
    }
    console.error('tus-s3-server: building dist/ (the server and the demo page) ...');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit', env });
  }
  const serverArgs = [...SERVER_NODE_FLAGS, main, ...args];
  if (typeof process.execve === 'function') process.execve(process.execPath, [process.execPath, ...serverArgs], env);
  else runChild(process.execPath, serverArgs, env);
}
