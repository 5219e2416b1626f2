/**
 * What bounds the throughput of the server in a 160 MiB container (docs/performance.md, "What
 * bounds the 160 MiB container"): the cgroup test's load (4 concurrent 1 GiB uploads and 50 small
 * ones, test/helpers/upload-load.ts) through servers outside any cgroup that differ only in the
 * budgets a limit chooses: part memory, the old generation's limit and the young generation's.
 * Each variant runs twice, in an order then its reverse, so that drift hits all alike; the best
 * of each is compared with the defaults. A measurement, not a test: it runs for minutes and
 * asserts nothing but that every upload completed, so `npm test` does not include it:
 *
 *   npx tap --timeout=3000 test/bench/container-budget.bench.ts
 *   BENCH_BUDGETS=defaults,sized,parts16 npx tap --timeout=3000 test/bench/container-budget.bench.ts
 */
import t from 'tap';
import { SERVER_NODE_FLAGS } from '../../scripts/runtime.mjs';
import { startProcess } from '../helpers/process.js';
import { removeKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { uploadLoad } from '../helpers/upload-load.js';

const heap = (oldMiB: number, semiMiB: number) => [
  ...SERVER_NODE_FLAGS,
  `--max-old-space-size=${oldMiB}`,
  `--max-semi-space-size=${semiMiB}`,
];
const parts = (size: string) => ({ STORAGE_S3_PART_MEMORY: size });

/** The variants: what a 160 MiB limit chooses (`sized`), the defaults, and one budget changed at a time. */
const BUDGETS: Record<string, { env: Record<string, string>; nodeOptions?: string[] }> = {
  defaults: { env: {} },
  sized: { env: parts('16mb'), nodeOptions: heap(64, 1) },
  parts16: { env: parts('16mb') },
  parts48: { env: parts('48mb'), nodeOptions: heap(64, 1) },
  old256: { env: parts('16mb'), nodeOptions: heap(256, 1) },
  semi4: { env: parts('16mb'), nodeOptions: heap(64, 4) },
  semi16: { env: parts('16mb'), nodeOptions: heap(64, 16) },
};

const s3 = s3TestServer();
const client = verifyClient(s3);
const chosen = (process.env.BENCH_BUDGETS ?? 'defaults,sized,parts16,parts48,old256,semi4').split(',');
const unknown = chosen.filter((name) => !(name in BUDGETS));
if (unknown.length > 0)
  throw new Error(`BENCH_BUDGETS: unknown ${unknown.join(', ')}; expected some of ${Object.keys(BUDGETS).join(', ')}`);

t.test(`MiB/s of each budget, best of two interleaved runs: ${chosen.join(', ')}`, async (t) => {
  const root = uniqueRoot('budgets');
  const rates: Record<string, number[]> = {};
  for (const name of [...chosen, ...[...chosen].reverse()]) {
    const budget = BUDGETS[name] as (typeof BUDGETS)[string];
    const server = await startProcess(s3LocationEnv(s3, `${root}${name}/`, budget.env), { nodeOptions: budget.nodeOptions });
    try {
      const done = await uploadLoad(server.url, { big: 4, bigSize: 1024 * MiB, small: 50 });
      t.equal(done.uploads.length, 54, `${name}: every upload completed`);
      rates[name] = [...(rates[name] ?? []), done.mibPerSecond];
    } finally {
      await server.stop();
      await removeKeys(client, s3.bucket, `${root}${name}/`);
    }
  }
  const best = (name: string) => Math.max(...(rates[name] ?? [0]));
  const base = chosen.includes('defaults') ? best('defaults') : undefined;
  for (const name of chosen) {
    const ratio = base ? ` (${(best(name) / base).toFixed(2)}x the defaults)` : '';
    t.comment(`${name.padEnd(8)} ${rates[name]?.map((r) => r.toFixed(1)).join(', ')} MiB/s${ratio}`);
  }
});
