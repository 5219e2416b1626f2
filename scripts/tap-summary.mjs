#!/usr/bin/env node
// Print "N passed, M failed" from a raw TAP log written by `tap --reporter=tap`.
// tap's own closing counts ("# { total: 92, pass: 90, fail: 2 }", one per tap run) are used; if the run died
// before printing it, the test points in the log are counted instead.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.tap/results.tap';
let text = '';
try {
  text = readFileSync(file, 'utf8');
} catch {
  console.log('0 passed, 1 failed');
  console.error(`no TAP results at ${file}: the test run did not start`);
  process.exit(1);
}
// One closing count per tap invocation (the main run, then the log check): add them up.
const summaries = [...text.matchAll(/^# \{ (.*) \}$/gm)];
let passed = 0;
let failed = 0;
if (summaries.length > 0) {
  for (const summary of summaries) {
    const fields = Object.fromEntries(summary[1].split(',').map((kv) => kv.split(':').map((s) => s.trim())));
    passed += Number(fields.pass ?? 0);
    failed += Number(fields.fail ?? 0);
  }
} else {
  passed = (text.match(/^\s*ok \d+/gm) ?? []).length;
  failed = (text.match(/^\s*not ok \d+/gm) ?? []).length;
  failed = Math.max(failed, 1); // an unfinished run is a failure
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
