/**
 * Client cuts (issue 14, item 2): one upload, cut off at seeded random points. Each cut is a
 * PATCH whose connection ends after N bytes of the announced body; the client then asks HEAD
 * and continues from the offset it answers. Every time: the offset never claims more than was
 * sent and never goes back below an acknowledged offset; the upload completes byte-exact; no
 * tail object, multipart upload or temp file is left.
 *
 * The cuts themselves: test/helpers/cuts.ts (test/azure/client-cuts.test.ts runs them on Azure).
 * SEED=<n> replays a run (the seed is printed); CUTS and SIZE (bytes, or "64MiB") make the long
 * run: `CUTS=50 SIZE=64MiB npx tap test/s3/client-cuts.test.ts`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t from 'tap';
import { startAppFor } from '../helpers/app.js';
import { sha256 } from '../helpers/bytes.js';
import { runCuts } from '../helpers/cuts.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';

/** S3's part size (the store's default): cuts land on and beside part edges. */
const PART = 5 * MiB;

t.test('s3: seeded cuts, each resumed after HEAD', async (t) => {
  const server = s3TestServer();
  const client = verifyClient(server);
  const root = uniqueRoot('cuts');
  const tempDir = scratchDir(t, 'tus-cuts-temp-');
  const app = await startAppFor(t, s3LocationEnv(server, root, { TUS_TEMP_DIR: tempDir }));
  const started = Date.now();
  const { id, data, offsets } = await runCuts(t, app.url, 's3', PART);
  t.comment(`offsets after each cut: ${offsets.join(' ')} (${Date.now() - started} ms)`);
  const stored = await objectSha256(client, server.bucket, `${root}${id}`);
  t.same(stored, { sha256: sha256(data), size: data.length }, 'the object is byte-exact');
  t.same(await listKeys(client, server.bucket, root), [`${root}${id}`, `${root}${id}.info`], 'no tail object (.part) left');
  const mpu = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
  t.same(mpu.Uploads ?? [], [], 'no multipart upload left under the root');
  t.same(readdirSync(tempDir), [], 'no temp file left in TUS_TEMP_DIR');
});

t.test('local: seeded cuts, each resumed after HEAD', async (t) => {
  const tempDir = scratchDir(t, 'tus-cuts-temp-');
  const app = await startAppFor(t, { TUS_TEMP_DIR: tempDir });
  const { id, data } = await runCuts(t, app.url, 'local', PART);
  const { sha256File } = await import('../helpers/bytes.js');
  t.equal(await sha256File(join(app.root, id)), sha256(data), 'the file is byte-exact');
  const leftovers = readdirSync(app.root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp'));
  t.same(leftovers, [], 'no temporary record left in the upload directory');
  t.same(readdirSync(tempDir), [], 'no temp file left in TUS_TEMP_DIR');
});
