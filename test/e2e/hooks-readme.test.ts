/** The example hook receiver of docs/hooks.md (once the README's), run as written (only its port and `processOnce` supplied): it verifies, rejects and receives. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { b64, createUpload, patch, startAppFor, TUS } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';
import { scratchDir } from '../helpers/scratch.js';
import { until } from '../helpers/wait.js';

const SECRETS = { HOOKS_HTTP_SECRET: 'readme-receiver-secret-0d6a27' } as const;
const readme = readFileSync(new URL('../../docs/hooks.md', import.meta.url), 'utf8');

t.test('the receiver of docs/hooks.md checks signatures, rejects uploads without a filename and gets post-finish', async (t) => {
  const code = /<!-- hooks:receiver -->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!code) throw new Error('docs/hooks.md has no hooks:receiver block');
  t.match(code, /\.listen\(8081\)/);
  const port = await freePort();
  const file = join(scratchDir(t, 'tus-receiver-'), 'receiver.mjs');
  writeFileSync(
    file,
    `const processOnce = (key, upload) => console.log(JSON.stringify({ key, id: upload.ID }));\n${code.replace('.listen(8081)', `.listen(${port}, '127.0.0.1')`)}`,
  );
  const child = spawn(process.execPath, [file], {
    env: { PATH: process.env.PATH ?? '', ...SECRETS },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  await until(
    async () =>
      fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).then(
        () => true,
        () => false,
      ),
    'receiver up',
  );
  const unsigned = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{"Type":"post-finish"}' });
  t.equal(unsigned.status, 401, 'an unsigned request is refused');

  const app = await startAppFor(t, { HOOKS_HTTP_URL: `http://127.0.0.1:${port}/`, ...SECRETS });
  const refused = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '2' } });
  t.equal(refused.status, 422);
  t.equal(await refused.text(), 'a filename is required');
  const url = await createUpload(app.url, 2, { 'Upload-Metadata': `filename ${b64('ok.txt')}` });
  t.equal((await patch(url, 0, Buffer.from('ok'))).status, 204);
  await until(() => output.includes(url.split('/').pop() as string), 'post-finish processed');
  const line = JSON.parse(output.trim().split('\n').at(-1) as string);
  t.match(line, { key: /^[0-9a-f-]{36}$/, id: url.split('/').pop() });
  child.kill('SIGTERM');
  await once(child, 'exit');
});
