/**
 * tus-js-client in Node on an Azure location (issue 25, point 2; the S3 run is
 * test/s3/tus-js-client.test.ts): a file uploaded in chunks, and one interrupted and resumed
 * with findPreviousUploads; each committed blob is byte-exact with the file's metadata as its
 * content headers, and nothing else (no tail, no staged block) is left.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { blobProperties, blobSha256, blocksOf, storedBlobs } from '../helpers/azure.js';
import { type AzureApp, appOnAzure } from '../helpers/azure-app.js';
import { randomData, sha256File } from '../helpers/bytes.js';
import { idOf } from '../helpers/ids.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';
import { uploadFile, uploadInterruptedThenResume } from '../helpers/tus-client.js';

const SIZE = 24 * MiB + 5;

/** The upload at `url` is one committed blob with the file's bytes and type, and its `.info`; nothing else of it. */
async function committed(t: Test, on: AzureApp, url: string, expected: string): Promise<void> {
  const blob = `${on.root}${idOf(url)}`;
  t.same(await blobSha256(on.container, blob), { sha256: expected, size: SIZE }, 'the committed blob is byte-exact');
  t.equal((await blobProperties(on.container, blob)).contentType, 'application/octet-stream', "the blob's type is the metadata's filetype");
  t.same(await storedBlobs(on.container, blob), [blob, `${blob}.info`], 'no tail or other blob of the upload');
  t.equal((await blocksOf(on.container, blob)).uncommitted, 0, 'no staged block left uncommitted');
}

t.test('tus-js-client in Node against the Azure location', async (t) => {
  const on = await appOnAzure(t, 'client', { STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' });
  const dir = scratchDir(t, 'tus-azure-client-');
  const file = join(dir, 'data.bin');
  const handle = await open(file, 'w');
  await handle.write(randomData(SIZE));
  await handle.close();
  const expected = await sha256File(file);

  t.test(`${SIZE} bytes in 8 MiB chunks`, async (t) => {
    const url = await uploadFile(`${on.app.url}/files/`, file, { chunkSize: 8 * MiB });
    await committed(t, on, url, expected);
  });

  t.test('interrupted after 8 MiB, resumed with findPreviousUploads', async (t) => {
    const { url, resumedFrom } = await uploadInterruptedThenResume(`${on.app.url}/files/`, file, 8 * MiB, { chunkSize: 8 * MiB });
    t.ok(resumedFrom >= 8 * MiB, `resumed from ${resumedFrom}`);
    await committed(t, on, url, expected);
  });
});
