// node bench/profile-summary.mjs <file.cpuprofile> [rows]: where a server's main thread spent
// its busy time (idle left out), by self time and by inclusive time, and a few groups that
// matter for an upload server. Profiles come from BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR".
import { readFileSync } from 'node:fs';

const [file, rowsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [rows]');
  process.exit(2);
}
const rows = Number(rowsArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const timeOf = new Map();
profile.samples.forEach((id, i) => {
  timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

const label = ({ functionName, url, lineNumber }) =>
  `${functionName || '(anonymous)'} ${url.replace(/.*node_modules\//, '').replace(/.*\/(dist|src)\//, '$1/')}:${lineNumber + 1}`;
const self = new Map();
const inclusive = new Map();
let busy = 0;
let idle = 0;
for (const [id, t] of timeOf) {
  const frame = nodes.get(id).callFrame;
  if (frame.functionName === '(idle)') {
    idle += t;
    continue;
  }
  busy += t;
  self.set(label(frame), (self.get(label(frame)) ?? 0) + t);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const key = label(nodes.get(cur).callFrame);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + t);
  }
}

const ms = (us) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
console.log(`${file}\nbusy ${ms(busy).trim()}, idle ${ms(idle).trim()} (main thread)\n`);
const groups = [
  ['socket writes (kernel copy to S3)', (k) => k.startsWith('writeBuffer ') || k.startsWith('writev ')],
  ['garbage collector', (k) => k.startsWith('(garbage collector)')],
  ['native, outside JS (socket reads, timers)', (k) => k.startsWith('(program)')],
  ['byte copies', (k) => k.startsWith('_copyActual ') || k.startsWith('copy ')],
  ['hashing', (k) => /digest|createHash|Hash\.|update node:internal\/crypto/.test(k)],
  ['module loading (start-up)', (k) => /modules\/(cjs|esm)|wrapSafe|compile/.test(k)],
];
console.log('Groups (self time):');
for (const [name, test] of groups) {
  const t = [...self].filter(([k]) => test(k)).reduce((sum, [, v]) => sum + v, 0);
  console.log(`${ms(t)} ${pct(t)}  ${name}`);
}
console.log('\nTop self time:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${ms(v)} ${pct(v)}  ${k}`);
console.log('\nTop inclusive time:');
for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${ms(v)} ${pct(v)}  ${k}`);
