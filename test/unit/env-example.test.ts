import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { KNOWN_SUFFIXES, serverSchema } from '../../src/config/schema.js';

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const documented = (name: string) => new RegExp(`^#? ?${name}=`, 'm').test(example);

t.test('.env.example lists every variable the config schema reads', async (t) => {
  for (const name of [...Object.keys(serverSchema.shape), 'STORAGE_LOCATIONS', 'CONFIG_PATH']) t.ok(documented(name), name);
  for (const suffix of KNOWN_SUFFIXES.local) t.ok(documented(`STORAGE_LOCAL_${suffix}`), `STORAGE_LOCAL_${suffix}`);
  for (const suffix of KNOWN_SUFFIXES.s3) t.ok(documented(`STORAGE_S3_${suffix}`), `STORAGE_S3_${suffix}`);
  for (const suffix of KNOWN_SUFFIXES.azure) t.ok(documented(`STORAGE_AZURE_${suffix}`), `STORAGE_AZURE_${suffix}`);
});

t.test('.env.example as written is a valid configuration equal to the defaults', async (t) => {
  const env = Object.fromEntries(
    example
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  t.same(parseConfig(env), parseConfig({}));
});
