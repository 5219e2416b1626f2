/**
 * scripts/tap-summary.mjs, the last lines of `npm test` and of CI: the counts come from tap's closing
 * lines, and every failed test is named by its path, so that a log cut to its tail still says which.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';

const run = promisify(execFile);

async function summarise(t: Test, tap: string): Promise<{ stdout: string; code: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'tap-summary-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'results.tap');
  await writeFile(file, tap);
  try {
    const { stdout } = await run(process.execPath, ['scripts/tap-summary.mjs', file]);
    return { stdout, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; code: number };
    return { stdout: failed.stdout, code: failed.code };
  }
}

const failing = [
  '# Subtest: test/e2e/a.test.ts',
  '    # Subtest: resumes after a cut',
  '        ok 1 - created',
  '        not ok 2 - offset after the cut # time=3ms',
  '          ---',
  '          found: 5',
  '          ...',
  '        not ok 3 - fast enough # TODO issue 24',
  '        1..3',
  '    not ok 1 - resumes after a cut # time=5ms',
  '    1..1',
  'not ok 1 - test/e2e/a.test.ts # time=6ms',
  '# Subtest: test/e2e/b.test.ts',
  '    ok 1 - fine',
  '    not ok 2 - timeout!',
  '    not ok 3 - counts \\# TODO items',
  'not ok 2 - test/e2e/b.test.ts',
  '# { total: 6, pass: 2, fail: 3, todo: 1 }',
  '# Subtest: test/after/secrets.after.ts',
  '    ok 1 - no secret',
  'ok 1 - test/after/secrets.after.ts',
  '# { total: 1, pass: 1 }',
  '',
].join('\n');

t.test('a failed run names its failed tests, deepest only, and ends with the counts of every tap run', async (t) => {
  const { stdout, code } = await summarise(t, failing);
  t.equal(code, 1);
  t.same(stdout.trimEnd().split('\n'), [
    'failed: test/e2e/a.test.ts > resumes after a cut > offset after the cut',
    'failed: test/e2e/b.test.ts > timeout!',
    'failed: test/e2e/b.test.ts > counts \\# TODO items',
    '3 passed, 3 failed',
  ]);
});

t.test('a passing run prints its counts alone; a TODO is not a failure', async (t) => {
  const tap = '# Subtest: x\n    ok 1 - a\n    not ok 2 - slow # TODO later\nok 1 - x\n# { total: 2, pass: 1, todo: 1 }\n';
  const { stdout, code } = await summarise(t, tap);
  t.equal(code, 0);
  t.equal(stdout, '1 passed, 0 failed\n');
});

t.test('a run that died before its closing counts is a failure', async (t) => {
  const { stdout, code } = await summarise(t, '# Subtest: x\n    ok 1 - a\n    ok 2 - b\n');
  t.equal(code, 1);
  t.equal(stdout, '2 passed, 1 failed\n');
});
