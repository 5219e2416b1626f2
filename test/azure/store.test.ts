import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { uploadNames } from '../../src/stores/azure/info-blob.js';
import { AzureUpload } from '../../src/stores/azure/upload.js';
import { azureTestServer, blobProperties, blobSha256, blocksOf, listBlobs, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { azureLocation, createIn, makeAzureStore, writeAll } from '../helpers/azure-store.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);
const newId = () => randomBytes(16).toString('hex');
/** 1 MiB blocks: the smallest, so a few MiB make several blocks. */
const SMALL_BLOCKS = { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb' };

t.test('three PATCHes of odd sizes make one committed block blob with its content type and disposition', async (t) => {
  const root = uniqueRoot('az-write');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  const data = randomData(3 * MiB + 333);
  await createIn(store, id, data.length, { filename: 'photo.png', filetype: 'image/png' });
  const cuts = [MiB + 100, 2 * MiB + 7, data.length];
  let offset = 0;
  for (const end of cuts) {
    offset = await writeAll(store, id, offset, data.subarray(offset, end));
    t.equal(offset, end);
    if (end < data.length) t.equal((await blocksOf(verify, `${root}${id}`)).committed, 0, 'nothing committed before the last byte');
  }
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data));
  const props = await blobProperties(verify, `${root}${id}`);
  t.equal(props.contentType, 'image/png');
  t.match(props.contentDisposition, /^inline; filename="?photo\.png"?/);
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 4, uncommitted: 0 }, 'three 1 MiB blocks and the rest');
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`], 'no tail left');
  const fresh = await AzureUpload.load(store.container, uploadNames(root, id));
  t.equal(fresh.finished, true, 'a fresh read sees it finished');
  t.equal(fresh.offset, data.length);
});

t.test('a body cut mid-block keeps every byte (blocks plus tail); a new store instance resumes from them', async (t) => {
  const root = uniqueRoot('az-cut');
  const location = azureLocation(server, root, SMALL_BLOCKS);
  const store = makeAzureStore(location);
  const id = newId();
  const data = randomData(4 * MiB + 99);
  await createIn(store, id, data.length);
  const cut = 2 * MiB + 12345;
  const body = new PassThrough();
  const writing = store.writeBody(id, 0, body, { expectedBytes: data.length, maxBytes: Number.MAX_SAFE_INTEGER });
  body.write(data.subarray(0, cut));
  await until(() => body.readableLength === 0 && body.writableLength === 0, 'the store to read what was sent');
  // The connection dies: 'close' without 'end'.
  body.destroy();
  t.equal(await writing, cut, 'the cut request answers the bytes it stored');
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 2 }, 'two full blocks staged');
  t.ok((await listBlobs(verify, root)).includes(`${root}${id}.part`), 'the rest is kept in the tail blob');

  // A restart: nothing cached, the offset rebuilt from the staged blocks and the tail.
  const restarted = makeAzureStore(location);
  t.equal((await restarted.getUpload(id)).offset, cut, 'HEAD after a restart answers every byte that arrived');
  t.equal(await writeAll(restarted, id, cut, data.subarray(cut)), data.length);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data), 'the committed blob is the data');
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`]);
});

t.test('deferred length: blocks staged before the length is known, the length declared by a PATCH without a body commits', async (t) => {
  const root = uniqueRoot('az-defer');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  for (const size of [MiB / 2, 2 * MiB, 3 * MiB + 1]) {
    const id = newId();
    await createIn(store, id, undefined);
    const data = randomData(size);
    t.equal(await writeAll(store, id, 0, data), size);
    t.equal((await store.getUpload(id)).sizeIsDeferred, true);
    await store.declareUploadLength(id, size);
    t.equal(await writeAll(store, id, size, Buffer.alloc(0)), size);
    t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data), `${size} bytes`);
    t.same(await storedBlobs(verify, `${root}${id}`), [`${root}${id}`, `${root}${id}.info`]);
  }
});

t.test('an empty upload is a committed empty blob at once', async (t) => {
  const root = uniqueRoot('az-empty');
  const store = makeAzureStore(azureLocation(server, root));
  const id = newId();
  t.equal((await createIn(store, id, 0)).offset, 0);
  t.equal((await blobSha256(verify, `${root}${id}`)).size, 0);
  t.equal((await store.readUpload(id)).offset, 0);
});

t.test('many tiny PATCHes spend no block: their bytes wait in the tail until a block is full', async (t) => {
  const root = uniqueRoot('az-tiny');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  const data = randomData(MiB + 40);
  await createIn(store, id, data.length);
  let offset = 0;
  for (let i = 0; i < 30; i++) offset = await writeAll(store, id, offset, data.subarray(offset, offset + 1));
  t.equal(offset, 30);
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 0 }, 'thirty PATCHes, no block staged');
  t.equal((await blobProperties(verify, `${root}${id}.part`)).contentLength, 30, 'the tail holds them');
  offset = await writeAll(store, id, offset, data.subarray(offset, MiB + 1));
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 1 }, 'one block once a block is full');
  t.equal(await writeAll(store, id, offset, data.subarray(offset)), data.length);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data));
});

t.test('PART_MEMORY bounds the block bytes held by all uploads together; blocks are staged in parallel', async (t) => {
  const root = uniqueRoot('az-memory');
  const limit = 4 * MiB;
  const store = makeAzureStore(azureLocation(server, root, { ...SMALL_BLOCKS, STORAGE_AZURE_PART_MEMORY: '4mb' }));
  // Bytes in Put Block requests at once, and the budget reserved, seen at every block.
  let inRequests = 0;
  let maxInRequests = 0;
  let maxHeld = 0;
  const stage = store.container.stageBlock.bind(store.container);
  store.container.stageBlock = async (name, id, body, length, signal) => {
    inRequests += length;
    maxInRequests = Math.max(maxInRequests, inRequests);
    maxHeld = Math.max(maxHeld, store.stager.memory.held);
    try {
      return await stage(name, id, body, length, signal);
    } finally {
      inRequests -= length;
    }
  };
  const uploads = Array.from({ length: 6 }, (_, i) => ({ id: newId(), data: randomData(5 * MiB + 1000 * i) }));
  for (const u of uploads) await createIn(store, u.id, u.data.length);
  const offsets = await Promise.all(uploads.map((u) => writeAll(store, u.id, 0, u.data, 64 * 1024)));
  t.same(
    offsets,
    uploads.map((u) => u.data.length),
  );
  t.ok(maxInRequests > MiB, `blocks did go in parallel (${(maxInRequests / MiB).toFixed(1)} MiB in requests at once)`);
  t.ok(maxInRequests <= limit, `block bytes in requests at once: ${(maxInRequests / MiB).toFixed(1)} MiB <= 4 MiB`);
  t.ok(maxHeld <= limit, `reserved at most ${(maxHeld / MiB).toFixed(1)} MiB`);
  t.equal(store.stager.memory.held, 0, 'everything given back');
  for (const u of uploads) t.equal((await blobSha256(verify, `${root}${u.id}`)).sha256, sha256(u.data), `${u.id} byte-exact`);
});

t.test('a block the request will fill is staged while its bytes arrive; one left short is abandoned and kept as the tail', async (t) => {
  const root = uniqueRoot('az-stream');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const started: number[] = [];
  const stage = store.container.stageBlock.bind(store.container);
  store.container.stageBlock = (name, id, body, length, signal) => {
    started.push(length);
    return stage(name, id, body, length, signal);
  };
  const id = newId();
  const data = randomData(2 * MiB + 10);
  await createIn(store, id, data.length);
  const body = new PassThrough();
  const writing = store.writeBody(id, 0, body, { expectedBytes: data.length, maxBytes: Number.MAX_SAFE_INTEGER });
  body.write(data.subarray(0, MiB / 2));
  await until(() => started.length === 1, 'the first Put Block to start with half of its bytes');
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 0 }, 'not staged before its last byte');
  // The rest of block 0 and half of block 1, then the connection dies.
  body.write(data.subarray(MiB / 2, MiB + MiB / 2));
  await until(async () => (await blocksOf(verify, `${root}${id}`)).uncommitted === 1, 'block 0 staged');
  await until(() => body.readableLength === 0 && body.writableLength === 0, 'the store to read what was sent');
  body.destroy();
  t.equal(await writing, MiB + MiB / 2, 'every byte that arrived is kept');
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 1 }, 'the short block was not staged');
  t.equal((await blobProperties(verify, `${root}${id}.part`)).contentLength, MiB / 2, 'its bytes are the tail');
  t.equal(await writeAll(store, id, MiB + MiB / 2, data.subarray(MiB + MiB / 2)), data.length);
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data));
});
