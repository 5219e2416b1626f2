#!/usr/bin/env node
// Print "N passed, M failed" from a raw TAP log written by `tap --reporter=tap`.
// tap's own closing counts ("# { total: 92, pass: 90, fail: 2 }", one per tap run) are used; if the run died
// before printing it, the test points in the log are counted instead. Failed tests are named first, one
// line each (file > subtest > assertion), so that a log cut to its last lines (CI's) still says which.
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

/** Every failed test point (not TODO, not SKIP) as its path of subtest names, leaves only. */
function failedTests(tap) {
  const stack = [];
  const failures = [];
  for (const line of tap.split('\n')) {
    const subtest = /^( *)# Subtest: (.*)$/.exec(line);
    if (subtest) {
      const depth = subtest[1].length / 4;
      stack.length = depth;
      stack[depth] = subtest[2];
      continue;
    }
    const point = /^( *)not ok \d+ - (.*)$/.exec(line);
    // A directive is an unescaped `#` (tap writes a `#` inside a name as `\#`).
    if (!point || /(?<!\\)# (TODO|SKIP)\b/i.test(point[2])) continue;
    const depth = point[1].length / 4;
    failures.push([...stack.slice(0, depth), point[2].replace(/ # time=.*$/, '')]);
  }
  // A subtest that failed because a child did repeats its child's path: keep the deepest.
  const within = (inner, outer) => inner.length > outer.length && outer.every((name, i) => inner[i] === name);
  return failures.filter((path) => !failures.some((other) => within(other, path))).map((path) => path.join(' > '));
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
const failures = [...new Set(failedTests(text))];
for (const path of failures.slice(0, 30)) console.log(`failed: ${path}`);
if (failures.length > 30) console.log(`failed: … and ${failures.length - 30} more (${file})`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
