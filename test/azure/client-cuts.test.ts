/**
 * Client cuts on an Azure location (issue 25, point 2; the S3 and local runs are
 * test/s3/client-cuts.test.ts): one upload cut off at seeded random points, on, beside and
 * between block edges, each resumed from the offset HEAD answers; then the committed blob is
 * byte-exact, no tail blob (`.part`) or other blob is left, no staged block is left uncommitted,
 * and nothing is left in TUS_TEMP_DIR.
 *
 * SEED=<n> replays a run (the seed is printed); CUTS and SIZE as in the S3 run.
 */
import { readdirSync } from 'node:fs';
import t from 'tap';
import { startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, blocksOf, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { sha256 } from '../helpers/bytes.js';
import { runCuts } from '../helpers/cuts.js';
import { uniqueRoot } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';

/** The block size the location is given (STORAGE_<LOC>_TUS__CHUNK_SIZE): cuts land on and beside block edges. */
const BLOCK = 4 * MiB;

t.test('azure: seeded cuts, each resumed after HEAD', async (t) => {
  const server = azureTestServer();
  const container = verifyContainer(server);
  const root = uniqueRoot('cuts');
  const tempDir = scratchDir(t, 'tus-cuts-temp-');
  const app = await startAppFor(t, azureLocationEnv(server, root, { TUS_TEMP_DIR: tempDir, STORAGE_AZURE_TUS__CHUNK_SIZE: '4mb' }));
  const started = Date.now();
  const { id, data, offsets } = await runCuts(t, app.url, 'azure', BLOCK);
  t.comment(`offsets after each cut: ${offsets.join(' ')} (${Date.now() - started} ms)`);
  const blob = `${root}${id}`;
  t.same(await blobSha256(container, blob), { sha256: sha256(data), size: data.length }, 'the committed blob is byte-exact');
  t.same(await storedBlobs(container, root), [blob, `${blob}.info`], 'no tail blob (.part) or other blob left');
  const blocks = await blocksOf(container, blob);
  t.equal(blocks.uncommitted, 0, 'no staged block left uncommitted');
  t.ok(blocks.committed >= Math.ceil(data.length / BLOCK), `committed as blocks (${blocks.committed})`);
  t.same(readdirSync(tempDir), [], 'no temp file left in TUS_TEMP_DIR');
});
