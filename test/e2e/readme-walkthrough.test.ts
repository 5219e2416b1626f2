/** The curl walk-throughs (tus in docs/protocol.md, the IETF draft in docs/ietf-draft.md; once the README's), run as written, on every driver (local, S3, Azure); their output must match the page's. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import { startApp } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer } from '../helpers/azure.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const block = (page: string, marker: string) => {
  const text = readFileSync(new URL(`../../${page}`, import.meta.url), 'utf8');
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (!m?.[1]) throw new Error(`${page} has no ${marker} block`);
  return m[1];
};

for (const [title, page, prefix] of [
  ['the curl walk-through of docs/protocol.md gives the output it shows', 'docs/protocol.md', 'walkthrough'],
  ['the IETF draft walk-through of docs/ietf-draft.md gives the output it shows', 'docs/ietf-draft.md', 'ietf-walkthrough'],
] as const)
  t.test(title, async (t) => {
    const script = block(page, `${prefix}:script`);
    const expected = block(page, `${prefix}:output`);
    for (const [name, env] of [
      ['local', {}],
      ['s3', s3LocationEnv(s3TestServer(), uniqueRoot('readme'))],
      ['azure', azureLocationEnv(azureTestServer(), uniqueRoot('readme'))],
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
