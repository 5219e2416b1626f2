import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startApp } from '../helpers/app.js';
import { randomData, sha256, sha256File } from '../helpers/bytes.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';
import { uploadFile, uploadInterruptedThenResume } from '../helpers/tus-client.js';

t.test('tus-js-client in Node against the local store', async (t) => {
  const server = await startApp();
  t.teardown(() => server.close());
  const dir = scratchDir(t, 'tus-client-');
  const data = randomData(50 * MiB);
  const file = join(dir, 'fifty.bin');
  await writeFile(file, data);
  const expected = sha256(data);

  t.test('a 50 MiB file in 8 MiB chunks', async (t) => {
    const url = await uploadFile(`${server.url}/files/`, file, { chunkSize: 8 * MiB });
    t.equal(await sha256File(join(server.root, url.split('/').pop() as string)), expected);
  });

  t.test('an interrupted upload resumes with findPreviousUploads', async (t) => {
    const { url, resumedFrom } = await uploadInterruptedThenResume(`${server.url}/files/`, file, 16 * MiB, { chunkSize: 8 * MiB });
    t.ok(resumedFrom >= 16 * MiB, `resumed from ${resumedFrom}, not from 0`);
    t.equal(await sha256File(join(server.root, url.split('/').pop() as string)), expected);
  });
});
