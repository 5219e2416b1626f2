/** The variable tables (docs/configuration.md, where the README's moved) are checked against the config schema, so they cannot drift. */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { KNOWN_SUFFIXES, serverSchema } from '../../src/config/schema.js';

const readme = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
const rows = new Set<string>([...readme.matchAll(/^\| `([A-Z_<>]+)`/gm)].map((m) => m[1] as string));
// "| `STORAGE_<LOC>_KEY` / `_SECRET` |" documents two suffixes in one row.
for (const m of readme.matchAll(/^\| `STORAGE_<LOC>_([A-Z_]+)` \/ `_([A-Z_]+)`/gm)) {
  rows.add(`STORAGE_<LOC>_${m[1]}`);
  rows.add(`STORAGE_<LOC>_${m[2]}`);
}

t.test('every server variable has a row in docs/configuration.md', async (t) => {
  for (const name of [...Object.keys(serverSchema.shape), 'CONFIG_PATH', 'STORAGE_LOCATIONS']) t.ok(rows.has(name), name);
});

t.test('every storage variable has a row in docs/configuration.md', async (t) => {
  for (const suffix of new Set([...KNOWN_SUFFIXES.local, ...KNOWN_SUFFIXES.s3, ...KNOWN_SUFFIXES.azure]))
    t.ok(rows.has(`STORAGE_<LOC>_${suffix}`), `STORAGE_<LOC>_${suffix}`);
});

t.test('no row of docs/configuration.md names a variable the schema does not read', async (t) => {
  const known = new Set([
    ...Object.keys(serverSchema.shape),
    'CONFIG_PATH',
    'STORAGE_LOCATIONS',
    ...[...KNOWN_SUFFIXES.local, ...KNOWN_SUFFIXES.s3, ...KNOWN_SUFFIXES.azure].map((s) => `STORAGE_<LOC>_${s}`),
  ]);
  t.same(
    [...rows].filter((r) => !known.has(r)),
    [],
  );
});

t.test("every variable of the README's overview is one the schema reads", async (t) => {
  const known = new Set([
    ...Object.keys(serverSchema.shape),
    'CONFIG_PATH',
    'STORAGE_LOCATIONS',
    ...[...KNOWN_SUFFIXES.local, ...KNOWN_SUFFIXES.s3, ...KNOWN_SUFFIXES.azure].map((s) => `STORAGE_<LOC>_${s}`),
  ]);
  const overview = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const named = overview
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split(' | ')[0] ?? '').matchAll(/`([A-Z_<>]+)`/g)].map((m) => m[1] as string))
    .map((name) => (name.startsWith('_') ? `STORAGE_<LOC>${name}` : name));
  t.ok(named.length >= 10, `${named.length} variables named`);
  t.same(
    named.filter((name) => !known.has(name)),
    [],
  );
});
