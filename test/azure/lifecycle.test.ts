/** The azure store's uploads from the side: concatenation, ranged reads, termination, expiry, exclusive creation, records. */
import { randomBytes } from 'node:crypto';
import { Upload } from '@tus/utils';
import t from 'tap';
import { intend } from '../../src/stores/creation-intent.js';
import { UploadIdTaken } from '../../src/stores/exclusive-create.js';
import { azureTestServer, blobProperties, blobSha256, blocksOf, listBlobs, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { azureLocation, createIn, makeAzureStore, writeAll } from '../helpers/azure-store.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);
const newId = () => randomBytes(16).toString('hex');
const SMALL_BLOCKS = { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb' };

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (error: unknown) => error,
  );

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

t.test('concatenation stages the partials inside Azure and commits the final blob with its headers', async (t) => {
  const root = uniqueRoot('az-concat');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const datas = [2 * MiB + 3, 0, 1, MiB].map((s) => randomData(s));
  const ids: string[] = [];
  for (const data of datas) {
    const id = newId();
    await createIn(store, id, data.length, { 'tus-concat': 'partial' });
    if (data.length > 0) await writeAll(store, id, 0, data);
    ids.push(id);
  }
  const finalId = newId();
  const total = datas.reduce((sum, d) => sum + d.length, 0);
  t.equal(await store.concatenate(finalId, ids, { filename: 'all.txt', filetype: 'text/plain' }), total);
  t.equal((await blobSha256(verify, `${root}${finalId}`)).sha256, sha256(Buffer.concat(datas)));
  t.equal((await blobProperties(verify, `${root}${finalId}`)).contentType, 'text/plain');
  t.same(await blocksOf(verify, `${root}${finalId}`), { committed: 3, uncommitted: 0 }, 'one block per non-empty partial');
  const upload = await store.getUpload(finalId);
  t.equal(upload.offset, total, 'the final upload is finished');
});

t.test('ranged reads of a finished upload; an unfinished one is refused', async (t) => {
  const root = uniqueRoot('az-range');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  const data = randomData(2 * MiB + 10);
  await createIn(store, id, data.length);
  await writeAll(store, id, 0, data.subarray(0, MiB + 5));
  t.match(await failure(store.openRange(id, 0, 9)), { status_code: 503 }, 'not committed yet');
  await writeAll(store, id, MiB + 5, data.subarray(MiB + 5));
  t.same(await readAll(await store.openRange(id, 0, 9)), data.subarray(0, 10));
  t.same(await readAll(await store.openRange(id, MiB - 3, MiB + 3)), data.subarray(MiB - 3, MiB + 4), 'across a block boundary');
  t.same(await readAll(await store.openRange(id, data.length - 1, data.length - 1)), data.subarray(data.length - 1));
});

t.test('termination removes the blob, its staged blocks, the tail and .info; then 404', async (t) => {
  const root = uniqueRoot('az-term');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  await createIn(store, id, 10 * MiB);
  await writeAll(store, id, 0, randomData(2 * MiB + 7));
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 2 });
  t.same(await listBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`, `${root}${id}.part`]);
  await store.remove(id);
  t.same(await listBlobs(verify, root), [], 'nothing left, uncommitted blobs included');
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 0 }, 'no staged block left');
  t.match(await failure(store.getUpload(id)), { status_code: 404 });
  t.match(await failure(store.readUpload(id)), { status_code: 404 });

  const done = newId();
  await createIn(store, done, 3);
  await writeAll(store, done, 0, Buffer.from('abc'));
  await store.remove(done);
  t.same(await listBlobs(verify, root), [], 'a finished upload is removed with its blob');
});

t.test('expiry removes unfinished uploads with their staged blocks and keeps finished ones', async (t) => {
  const root = uniqueRoot('az-expire');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS), { expiration: 1 });
  const stale = newId();
  const finished = newId();
  await createIn(store, stale, 20 * MiB);
  await writeAll(store, stale, 0, randomData(MiB + 1));
  await createIn(store, finished, 2);
  await writeAll(store, finished, 0, Buffer.from('ok'));
  const created = Date.now();
  await until(() => Date.now() > created + 1, 'the expiration to pass');
  t.equal(await store.deleteExpired(), 1);
  t.same(await listBlobs(verify, root), [`${root}${finished}`, `${root}${finished}.info`], 'finished uploads stay');
  t.same(await blocksOf(verify, `${root}${stale}`), { committed: 0, uncommitted: 0 }, 'no staged block of the expired upload');
});

t.test('an exclusive creation of an id taken is refused and changes nothing', async (t) => {
  const root = uniqueRoot('az-excl');
  const store = makeAzureStore(azureLocation(server, root));
  const id = newId();
  const exclusive = (size: number) => {
    const upload = new Upload({ id, offset: 0, size });
    intend(upload, { exclusive: true });
    return store.create(upload);
  };
  await exclusive(5);
  await writeAll(store, id, 0, Buffer.from('12'));
  t.ok((await failure(exclusive(9))) instanceof UploadIdTaken, 'UploadIdTaken');
  store.invalidate(id);
  const upload = await store.getUpload(id);
  t.equal(upload.size, 5, 'the first upload is untouched');
  t.equal(upload.offset, 2);
});

t.test('records (the hooks outbox) live under <root>.tus-<kind>/ and are not uploads', async (t) => {
  const root = uniqueRoot('az-rec');
  const store = makeAzureStore(azureLocation(server, root), { expiration: 1 });
  await store.putRecord('hooks', 'a-1', '{"x":1}');
  await store.putRecord('hooks', 'b_2', '{"y":2}');
  t.same((await store.listRecords('hooks')).sort(), ['a-1', 'b_2']);
  t.equal(await store.readRecord('hooks', 'a-1'), '{"x":1}');
  t.equal(await store.readRecord('hooks', 'none'), undefined);
  t.equal(await store.deleteExpired(), 0, 'expiry does not see records');
  await store.deleteRecord('hooks', 'a-1');
  t.same(await store.listRecords('hooks'), ['b_2']);
  t.same(await storedBlobs(verify, root), [`${root}.tus-hooks/b_2.json`]);
});

t.test('setMetadata replaces the metadata; the probe writes under the root', async (t) => {
  const root = uniqueRoot('az-meta');
  const store = makeAzureStore(azureLocation(server, root));
  const id = newId();
  await createIn(store, id, 4, { a: '1' });
  await store.setMetadata(id, { a: '1', 'tus-concat-finals': 'x' });
  store.invalidate(id);
  t.same((await store.getUpload(id)).metadata, { a: '1', 'tus-concat-finals': 'x' });
  await store.probe(AbortSignal.timeout(5000));
  t.ok((await listBlobs(verify, root)).includes(`${root}.tus-readyz`));
});
