import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { randomData, sha256File } from '../helpers/bytes.js';
import { listKeys, objectSha256, s3TestServer, verifyClient } from '../helpers/s3.js';
import { appOnS3 } from '../helpers/s3-app.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';
import { uploadFile, uploadInterruptedThenResume } from '../helpers/tus-client.js';

const server = s3TestServer();
const client = verifyClient(server);

t.test('tus-js-client in Node against the S3 location', async (t) => {
  const { root, app } = await appOnS3(t, server, 'client');
  const dir = scratchDir(t, 'tus-s3-client-');
  const file = join(dir, '200mib.bin');
  const handle = await open(file, 'w');
  for (let i = 0; i < 200; i++) await handle.write(randomData(MiB));
  await handle.close();
  const expected = await sha256File(file);

  t.test('200 MiB in 16 MiB chunks', async (t) => {
    const url = await uploadFile(`${app.url}/files/`, file, { chunkSize: 16 * MiB });
    const id = url.split('/').pop() as string;
    const stored = await objectSha256(client, server.bucket, `${root}${id}`);
    t.equal(stored.size, 200 * MiB);
    t.equal(stored.sha256, expected);
  });

  t.test('interrupted after 48 MiB, resumed with findPreviousUploads', async (t) => {
    const { url, resumedFrom } = await uploadInterruptedThenResume(`${app.url}/files/`, file, 48 * MiB, { chunkSize: 16 * MiB });
    t.ok(resumedFrom >= 48 * MiB, `resumed from ${resumedFrom}`);
    const id = url.split('/').pop() as string;
    t.equal((await objectSha256(client, server.bucket, `${root}${id}`)).sha256, expected);
    t.same(await listKeys(client, server.bucket, `${root}${id}`), [`${root}${id}`, `${root}${id}.info`]);
  });
});
