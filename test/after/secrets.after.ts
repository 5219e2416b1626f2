/**
 * Run by scripts/test.sh after every other test: no secret the test run configured appears
 * in any log it wrote. Logs: TEST_LOG_DIR (.tap/logs), where test/helpers/app.ts writes each
 * in-process server's pino log (app-<pid>.log) and test/helpers/process.ts copies each server
 * process's stdout and stderr (process-<pid>-<child>.log).
 *
 * The secrets are the actual values the run configures, never ordinary words:
 * - the S3 test server's secret (S3_TEST_SECRET, or .s3-test/env written by scripts/s3-server.sh);
 * - the Azure test server's account key (AZURE_TEST_KEY, or .azure-test/env written by scripts/azurite-server.sh);
 * - every variable of this run's environment named *_SECRET, *_TOKEN(S) or *_PASSWORD;
 * - every literal a test passes as a *_SECRET or METRICS_TOKENS setting (test/**\/*.ts).
 * A value is searched as a whole token (not inside a longer word), and reported by where it
 * came from, never by its value.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = process.env.TEST_LOG_DIR;
/** Shorter values cannot be told apart from ordinary text (config.test.ts's "x" and "shh" are only parsed, never served). */
const MIN_LENGTH = 6;

interface Secret {
  /** Where the value came from (printed instead of the value). */
  source: string;
  value: string;
}

function s3TestSecret(): Secret | undefined {
  if (process.env.S3_TEST_SECRET) return { source: 'S3_TEST_SECRET', value: process.env.S3_TEST_SECRET };
  const file = join(ROOT, '.s3-test/env');
  if (!existsSync(file)) return undefined;
  const value = /^S3_TEST_SECRET=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
  return value ? { source: 'S3_TEST_SECRET in .s3-test/env', value } : undefined;
}

function azureTestKey(): Secret | undefined {
  if (process.env.AZURE_TEST_KEY) return { source: 'AZURE_TEST_KEY', value: process.env.AZURE_TEST_KEY };
  const file = join(ROOT, '.azure-test/env');
  if (!existsSync(file)) return undefined;
  const value = /^AZURE_TEST_KEY=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
  return value ? { source: 'AZURE_TEST_KEY in .azure-test/env', value } : undefined;
}

function environmentSecrets(): Secret[] {
  return Object.entries(process.env)
    .filter(([name, value]) => value && /_(SECRET|TOKENS?|PASSWORD|ACCOUNT_KEY)$/.test(name))
    .flatMap(([name, value]) => (value as string).split(',').map((v) => ({ source: `$${name}`, value: v.trim() })));
}

function testFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(folder, e.name)) : e.name.endsWith('.ts') ? [join(folder, e.name)] : [],
  );
}

/** Literals such as `STORAGE_S3_SECRET: 'not-the-secret'` or `METRICS_TOKENS: 'a,b'` in the tests. */
function configuredInTests(): Secret[] {
  const found: Secret[] = [];
  for (const file of testFiles(join(ROOT, 'test'))) {
    if (file.startsWith(join(ROOT, 'test/after'))) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b([A-Z0-9_]*_SECRET|METRICS_TOKENS)['"]?\s*:\s*(['"`])([^'"`$]*)\2/g)) {
      const line = text.slice(0, m.index).split('\n').length;
      for (const value of (m[3] as string).split(','))
        found.push({ source: `${m[1]} at ${relative(ROOT, file)}:${line}`, value: value.trim() });
    }
  }
  return found;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Lines (1-based) where `secret` appears as a whole token. */
function leaks(text: string, secret: string): number[] {
  const re = new RegExp(`(?<![A-Za-z0-9])${escapeRegExp(secret)}(?![A-Za-z0-9])`);
  return text.split('\n').flatMap((line, i) => (re.test(line) ? [i + 1] : []));
}

const s3 = s3TestSecret();
const azure = azureTestKey();
const secrets = [...(s3 ? [s3] : []), ...(azure ? [azure] : []), ...environmentSecrets(), ...configuredInTests()].filter(
  (s, i, all) => s.value.length >= MIN_LENGTH && all.findIndex((o) => o.value === s.value) === i,
);

t.test('the secrets to look for', async (t) => {
  t.ok(s3, 'the S3 test secret is known (S3_TEST_SECRET or .s3-test/env)');
  t.comment(`looking for: ${secrets.map((s) => s.source).join('; ')}`);
  t.ok(
    secrets.some((s) => s.source.startsWith('METRICS_TOKENS')),
    'the metrics tokens configured by the tests are found',
  );
  t.ok(
    secrets.some((s) => /^STORAGE_\w+_SECRET at test\//.test(s.source)),
    'the S3 secrets configured by the tests are found',
  );
});

t.test('the search finds a secret where a log would leak it, and not inside other words', async (t) => {
  t.same(leaks('{"level":30}\n{"secretAccessKey":"tok-7Qf2"}\n', 'tok-7Qf2'), [2], 'a JSON value');
  t.same(leaks('STORAGE_S3_SECRET=testing\n', 'testing'), [1], 'NAME=value');
  t.same(leaks('Authorization: Bearer metrics-token\n', 'metrics-token'), [1], 'a header');
  t.same(leaks('"msg":"protesting attestings"\n', 'testing'), [], 'inside longer words');
});

t.test('no secret in the logs of the whole test run', async (t) => {
  if (!dir) {
    t.fail('TEST_LOG_DIR is not set: run this through npm test');
    return;
  }
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')) : [];
  if (files.length === 0) {
    t.fail(`no log files in ${dir}: nothing was checked (run the whole suite through npm test)`);
    return;
  }
  t.ok(
    files.some((f) => f.startsWith('app-')),
    'logs of in-process servers (test/helpers/app.ts)',
  );
  t.ok(
    files.some((f) => f.startsWith('process-')),
    'logs of server processes (test/helpers/process.ts)',
  );
  let lines = 0;
  const found: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    lines += text.split('\n').length;
    for (const secret of secrets) for (const line of leaks(text, secret.value)) found.push(`${f}:${line} holds ${secret.source}`);
  }
  t.ok(lines > 100, `${lines} log lines in ${files.length} files read`);
  t.same(found, [], `none of ${secrets.length} secrets appears`);
});
