#!/usr/bin/env node
// `npm start`: install dependencies on a fresh clone, build dist/ (server and demo bundle) when it is missing or older than src/, then run the server.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
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
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  }
  console.error('tus-s3-server: building dist/ (the server and the demo page) ...');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}
await import(main);
