/**
 * The azure store under a lock that can be lost, below HTTP: a write whose hold (LockHold) is
 * found lost stages, keeps and commits nothing more and fails with the loss; and `.info` is
 * written only over the version the writer read (If-Match), so a stale state never overwrites a newer one.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import t from 'tap';
import type { LockHold } from '../../src/stores/capabilities.js';
import { azureTestServer, blocksOf, listBlobs, verifyContainer } from '../helpers/azure.js';
import { azureLocation, createIn, makeAzureStore, writeAll } from '../helpers/azure-store.js';
import { randomData } from '../helpers/bytes.js';
import { uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);
const newId = () => randomBytes(16).toString('hex');
const LOST = Object.freeze({ status_code: 409, body: 'lost (test)\n' });
const SMALL_BLOCKS = { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb' };

/** A hold lost when `lose()` is called, or when `verify` is asked and `fails(asked)` says so. */
function testHold(fails: (asked: number) => boolean = () => false) {
  const controller = new AbortController();
  let asked = 0;
  const hold: LockHold = {
    lost: controller.signal,
    async verify() {
      asked += 1;
      if (!controller.signal.aborted && fails(asked)) controller.abort(LOST);
      if (controller.signal.aborted) throw controller.signal.reason;
    },
  };
  return { hold, lose: () => controller.abort(LOST) };
}

t.test('a hold lost mid-body: reading stops, no more block, no tail, no commit; the write fails with the loss', async (t) => {
  const root = uniqueRoot('az-hold');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  const data = randomData(4 * MiB);
  await createIn(store, id, data.length);
  const { hold, lose } = testHold();
  const body = new PassThrough();
  const writing = store.writeBody(id, 0, body, { expectedBytes: data.length, maxBytes: data.length, hold });
  writing.catch(() => undefined);
  body.write(data.subarray(0, 2 * MiB + 100));
  await until(async () => (await blocksOf(verify, `${root}${id}`)).uncommitted === 2, 'two blocks staged');
  lose();
  body.write(data.subarray(2 * MiB + 100));
  body.end();
  t.same(await writing.catch((e: unknown) => e), LOST, 'the write fails with the loss');
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 2 }, 'nothing staged or committed after the loss');
  t.notOk((await listBlobs(verify, root)).includes(`${root}${id}.part`), 'no tail kept');
});

t.test('a hold found lost before the last block: the blob is never committed', async (t) => {
  const root = uniqueRoot('az-hold-last');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  const data = randomData(2 * MiB);
  await createIn(store, id, data.length);
  // The first block's check passes, every later one finds the lock lost.
  const { hold } = testHold((asked) => asked > 1);
  t.same(await store.writeBody(id, 0, PassThrough.from([data]), { maxBytes: data.length, hold }).catch((e: unknown) => e), LOST);
  t.equal((await blocksOf(verify, `${root}${id}`)).committed, 0, 'no commit');
});

t.test('.info is written only over the version read: a writer whose view is stale gets 409 and changes nothing', async (t) => {
  const root = uniqueRoot('az-ifmatch');
  const location = azureLocation(server, root);
  const a = makeAzureStore(location);
  const b = makeAzureStore(location);
  const id = newId();
  await createIn(a, id, 10);
  await writeAll(a, id, 0, Buffer.from('12345'));
  await b.setMetadata(id, { by: 'b' });
  const stale = await a.setMetadata(id, { by: 'a' }).catch((e: unknown) => e);
  t.match(stale, { status_code: 409 }, "A's .info version is stale: refused");
  a.invalidate(id);
  t.same((await a.getUpload(id)).metadata, { by: 'b' }, "B's state stands");
});

t.test('a streamed block whose lock is found lost before its last byte is never staged', async (t) => {
  const root = uniqueRoot('az-hold-stream');
  const store = makeAzureStore(azureLocation(server, root, SMALL_BLOCKS));
  const id = newId();
  const data = randomData(2 * MiB);
  await createIn(store, id, data.length);
  // The check when block 0's Put Block starts passes; the one before its last byte finds the lock lost.
  const { hold } = testHold((asked) => asked > 1);
  const written = store.writeBody(id, 0, PassThrough.from([data]), { expectedBytes: data.length, maxBytes: data.length, hold });
  t.same(await written.catch((e: unknown) => e), LOST);
  t.same(await blocksOf(verify, `${root}${id}`), { committed: 0, uncommitted: 0 }, 'the streamed block was abandoned');
});
