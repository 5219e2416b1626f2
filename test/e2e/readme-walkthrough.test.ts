/** The README's curl walk-throughs (tus, and the IETF draft), run as written, on both drivers; their output must match the README's. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import { startApp } from '../helpers/app.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const block = (marker: string) => {
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!m?.[1]) throw new Error(`README has no ${marker} block`);
  return m[1];
};

for (const [title, prefix] of [
  ['the README curl walk-through gives the output the README shows', 'walkthrough'],
  ['the README IETF draft walk-through gives the output the README shows', 'ietf-walkthrough'],
] as const)
  t.test(title, async (t) => {
    const script = block(`${prefix}:script`);
    const expected = block(`${prefix}:output`);
    for (const [name, env] of [
      ['local', {}],
      ['s3', s3LocationEnv(s3TestServer(), uniqueRoot('readme'))],
    ] as const) {
      const app = await startApp(env);
      try {
        const { stdout } = await promisify(execFile)('bash', ['-c', script], { env: { ...process.env, TUS: `${app.url}/files` } });
        t.equal(stdout, expected, name);
      } finally {
        await app.close();
      }
    }
  });
