/**
 * Run by scripts/test.sh after every other test: no configured secret (S3 secrets, metrics
 * tokens, Authorization values) appears in any log the test run wrote (.tap/logs).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const dir = process.env.TEST_LOG_DIR;
const secrets = [
  process.env.S3_TEST_SECRET || 'testing',
  'reading',
  'not-the-secret',
  'tok-one',
  'tok-two',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
];

t.test('no secret in the logs of the whole test run', async (t) => {
  if (!dir) {
    t.fail('TEST_LOG_DIR is not set: run this through npm test');
    return;
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.log'));
  t.ok(files.length >= 5, `${files.length} log files to check`);
  let lines = 0;
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    lines += text.split('\n').length;
    for (const secret of secrets)
      t.notOk(text.includes(secret), `${f} does not contain a configured secret (${secret.slice(0, 2)}…)`, { skip: false });
  }
  t.ok(lines > 100, `${lines} log lines read`);
});
