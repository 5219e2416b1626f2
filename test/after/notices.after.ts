/**
 * Run by scripts/test.sh after every other test: no runtime notice reached the run's output,
 * that is the AWS SDK's Node-version notice (NodeVersionSupportWarning: printed on a Node the
 * SDK will stop supporting) and npm's EBADENGINE. Read: tap's stderr of the whole run
 * (.tap/stderr.log, where every in-process test's warnings go) and every server process's
 * output (TEST_LOG_DIR, copied by test/helpers/process.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '../..');
const NOTICES = /NodeVersionSupportWarning|EBADENGINE/;

const files = [
  join(ROOT, '.tap/stderr.log'),
  ...(process.env.TEST_LOG_DIR && existsSync(process.env.TEST_LOG_DIR)
    ? readdirSync(process.env.TEST_LOG_DIR).map((f) => join(process.env.TEST_LOG_DIR as string, f))
    : []),
].filter((f) => existsSync(f));

t.test('no runtime notice in the output of the run', async (t) => {
  t.ok(files.length > 1, `${files.length} outputs read`);
  const hits = files.filter((f) => NOTICES.test(readFileSync(f, 'utf8')));
  t.same(hits, [], 'no NodeVersionSupportWarning or EBADENGINE');
});
