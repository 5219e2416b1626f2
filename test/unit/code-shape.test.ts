/**
 * The code's shape (docs/architecture.md, "Code shape"): short functions and files, one side
 * table of request state (and one of connection state), one extension of Fastify's types,
 * driver names compared only in the driver registry. Measured by scripts/code-shape.mjs.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { LIMITS, measure } from '../../scripts/code-shape.mjs';
import { scratchDir } from '../helpers/scratch.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
process.chdir(ROOT);
const report = measure('src');

t.test('no function in src/ has more than 60 lines of its own', async (t) => {
  t.equal(LIMITS.functionLines, 60);
  t.same(report.longFunctions, [], 'functions over the limit');
});

t.test('no file in src/ has more than 350 lines, none in src/http/ more than 250', async (t) => {
  t.same([LIMITS.fileLines, LIMITS.httpFileLines], [350, 250]);
  t.same(report.longFiles, [], 'files over the limit');
});

t.test('one side table of request state, one of connection state', async (t) => {
  t.same(
    report.sideTables.map((table) => table.file),
    ['src/http/connection-state.ts', 'src/tus/web-request.ts'],
  );
  t.match(readFileSync('src/tus/web-request.ts', 'utf8'), /new WeakMap<Request, WebRequestContext>/);
  t.match(readFileSync('src/http/connection-state.ts', 'utf8'), /new WeakMap<Socket, ConnectionState>/);
});

t.test("one extension of Fastify's types", async (t) => {
  t.same(
    report.fastifyAugmentations.map((a) => a.file),
    ['src/http/fastify-additions.ts'],
  );
});

t.test('driver names are compared only in the driver registry', async (t) => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
    });
  const comparisons = files('src').flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        /[!=]==?\s*['"](s3|local|azure|gcs)['"]|['"](s3|local|azure|gcs)['"]\s*[!=]==?/.test(line) ? [`${file}:${i + 1}`] : [],
      ),
  );
  t.same(comparisons, []);
});

t.test('the measure itself finds what it looks for', async (t) => {
  // A file of its own: a 61-line function, a WeakMap and an augmentation are all reported.
  const dir = scratchDir(t, 'shape-');
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');
  writeFileSync(
    join(dir, 'x.ts'),
    `export function long() {\n${lines(59)}\n}\nconst m = new WeakMap<object, number>();\ndeclare module 'fastify' {}\n` +
      `function outer() {\n${lines(30)}\n  return () => {\n${lines(40)}\n  };\n}\n`,
  );
  const probe = measure(dir);
  t.same(
    probe.longFunctions.map((f) => [f.name, f.own]),
    [['long', 61]],
    'the outer of two nested functions does not count the inner one',
  );
  t.equal(probe.sideTables.length, 1);
  t.equal(probe.fastifyAugmentations.length, 1);
});
