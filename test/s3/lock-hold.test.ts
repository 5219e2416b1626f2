/**
 * The S3 store under a lock that can be lost (issue 21, point 3), below HTTP: a write whose
 * hold (LockHold) is found lost commits nothing more (no part, no tail, no completion, no
 * state), stops reading at once and fails with the loss; and `.info` is written only over the
 * version the writer read, where S3 supports conditional writes (If-Match), so a stale state
 * never overwrites a newer one. The test learns which kind of server it runs against (Swift's
 * s3api: no conditional PutObject; Ceph radosgw: If-Match with the bare ETag) and checks each.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { ListPartsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import t from 'tap';
import type { LockHold } from '../../src/stores/capabilities.js';
import { uploadKeys } from '../../src/stores/s3/keys.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { listKeys, objectSha256, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { createUploadIn, makeStore, recordCommands, s3Location } from '../helpers/store.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();
const verify = verifyClient(server);
const newId = () => randomBytes(16).toString('hex');
const LOST = Object.freeze({ status_code: 409, body: 'lost (test)\n' });

/** A hold that is lost when `lose()` is called, or when `verify` is asked and `fails()` says so. */
function testHold(fails: () => boolean = () => false) {
  const controller = new AbortController();
  let asked = 0;
  const hold: LockHold = {
    lost: controller.signal,
    async verify() {
      asked += 1;
      if (!controller.signal.aborted && fails()) controller.abort(LOST);
      if (controller.signal.aborted) throw controller.signal.reason;
    },
  };
  return { hold, lose: () => controller.abort(LOST), asked: () => asked };
}

/** A body fed by the test, 1 MiB at a time. */
function feeder(data: Buffer) {
  const body = new PassThrough({ highWaterMark: 64 * 1024 });
  let fed = 0;
  return {
    body,
    /** Feed up to `end`, waiting for the store to read each mebibyte. */
    async feed(end: number) {
      while (fed < end) {
        const piece = data.subarray(fed, Math.min(end, fed + MiB));
        fed += piece.length;
        if (!body.write(piece)) await Promise.race([new Promise((r) => body.once('drain', r)), new Promise((r) => setTimeout(r, 300))]);
      }
    },
    end: () => body.end(),
  };
}

async function partsOf(store: ReturnType<typeof makeStore>['store'], root: string, id: string): Promise<number> {
  const text = await store.bucket.readText(uploadKeys(root, id).info);
  const uploadId = text ? (JSON.parse(text) as { uploadId?: string }).uploadId : undefined;
  if (!uploadId) return 0;
  const res = await verify.send(new ListPartsCommand({ Bucket: server.bucket, Key: `${root}${id}`, UploadId: uploadId }));
  return res.Parts?.length ?? 0;
}

/** A store on a fresh root named after `name`, and a 12 MiB upload created in it. */
async function upload12MiB(name: string) {
  const root = uniqueRoot(name);
  const { store } = makeStore(s3Location(server, root));
  const id = newId();
  const size = 12 * MiB;
  await createUploadIn(store, id, size);
  return { root, store, id, size };
}

t.test(
  'a lock found lost when a streamed part fills: its last bytes never go out, nothing is stored, the write fails with the loss',
  async (t) => {
    const { root, store, id, size } = await upload12MiB('hold-fill');
    const data = randomData(size);
    let read = 0;
    // Lost once 5 MiB (the first part) have been read: the check before the part's last byte finds it.
    const { hold, asked } = testHold(() => read >= 5 * MiB);
    const body = feeder(data);
    const writing = store.writeBody(id, 0, body.body, { expectedBytes: size, maxBytes: size, hold, onProgress: (n) => (read += n) });
    const outcome = writing.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await body.feed(size);
    body.end();
    t.equal(await outcome, LOST, 'the write fails with the loss');
    t.ok(asked() >= 2, `the hold was asked before the commits (${asked()} times)`);
    t.ok(read <= 6 * MiB, `the body was not read on (${read} bytes read)`);
    const fresh = makeStore(s3Location(server, root)).store;
    t.equal((await fresh.getUpload(id)).offset, 0, 'a fresh read: offset 0');
    t.equal(await partsOf(store, root, id), 0, 'no part stored');
    t.notOk((await listKeys(verify, server.bucket, root)).includes(`${root}${id}.part`), 'no tail');
  },
);

t.test('a lock lost mid-part (found by a renewal): the S3 request is aborted, nothing is stored, the body is not read on', async (t) => {
  const { root, store, id, size } = await upload12MiB('hold-mid');
  const data = randomData(size);
  const { hold, lose } = testHold();
  let read = 0;
  const body = feeder(data);
  const writing = store.writeBody(id, 0, body.body, { expectedBytes: size, maxBytes: size, hold, onProgress: (n) => (read += n) });
  const outcome = writing.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  await body.feed(3 * MiB);
  await until(() => read >= 3 * MiB, 'the store to read 3 MiB', 10_000);
  lose();
  const started = Date.now();
  t.equal(await outcome, LOST, 'the write fails with the loss');
  t.ok(Date.now() - started < 2000, `at once (${Date.now() - started} ms), the body still open`);
  await body.feed(size);
  body.end();
  t.equal(read, 3 * MiB, 'nothing read after the loss');
  const fresh = makeStore(s3Location(server, root)).store;
  t.equal((await fresh.getUpload(id)).offset, 0, 'a fresh read: offset 0');
  t.equal(await partsOf(store, root, id), 0, 'no part stored');
});

t.test('a lock lost before the end of a short body: what arrived is not kept as the tail', async (t) => {
  const root = uniqueRoot('hold-tail');
  const { store, client } = makeStore(s3Location(server, root));
  const commands = recordCommands(client);
  const id = newId();
  const size = 12 * MiB;
  await createUploadIn(store, id, size);
  const data = randomData(2 * MiB);
  const { hold, lose } = testHold();
  const body = feeder(data);
  const writing = store.writeBody(id, 0, body.body, { expectedBytes: 2 * MiB, maxBytes: size, hold });
  await body.feed(2 * MiB);
  lose();
  body.end();
  t.equal(
    await writing.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    LOST,
  );
  t.notOk(
    commands.some((c) => c.name === 'PutObject' && String(c.input.Key).endsWith('.part')),
    'no tail PutObject',
  );
  const fresh = makeStore(s3Location(server, root)).store;
  t.equal((await fresh.getUpload(id)).offset, 0, 'a fresh read: offset 0');
});

t.test('a hold that stays held changes nothing: the upload completes byte-exact', async (t) => {
  const { root, store, id, size } = await upload12MiB('hold-kept');
  const data = randomData(size);
  const { hold, asked } = testHold();
  const body = feeder(data);
  const writing = store.writeBody(id, 0, body.body, { expectedBytes: size, maxBytes: size, hold });
  await body.feed(size);
  body.end();
  t.equal(await writing, size);
  // Before: the multipart upload and its .info, each part's first and last byte, the completion.
  t.ok(asked() >= 6, `the hold was asked before each commit (${asked()} times)`);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data));
});

/** Whether this S3 server honours If-Match on PutObject (in either form of the ETag). */
async function conditionalPuts(root: string): Promise<boolean> {
  const key = `${root}probe-if-match`;
  const put = await verify.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: 'one' }));
  const etag = (put.ETag ?? '').replace(/"/g, '');
  for (const form of [`"${etag}"`, etag]) {
    try {
      await verify.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: 'two', IfMatch: form }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 501) return false;
    }
  }
  return false;
}

t.test('.info is written over the version the writer read (If-Match where S3 supports it): a stale writer fails', async (t) => {
  const root = uniqueRoot('if-match');
  const conditional = await conditionalPuts(root);
  t.comment(`this S3 server ${conditional ? 'honours' : 'does not support'} If-Match on PutObject`);
  // Two instances without shared versions: each caches the state it read.
  const a = makeStore(s3Location(server, root));
  const b = makeStore(s3Location(server, root));
  const commands = recordCommands(a.client);
  const id = newId();
  await createUploadIn(a.store, id, undefined);
  await b.store.getUpload(id);
  await b.store.declareUploadLength(id, 10 * MiB);
  const stale = await a.store.declareUploadLength(id, 20 * MiB).then(
    () => undefined,
    (e: unknown) => e as { status_code: number; body: string },
  );
  const stored = JSON.parse((await a.store.bucket.readText(uploadKeys(root, id).info)) as string) as { size: number };
  const conditionalTries = commands.filter((c) => c.name === 'PutObject' && c.input.IfMatch !== undefined);
  if (conditional) {
    t.equal(stale?.status_code, 409, "A's write over a state it did not read: 409");
    t.match(stale?.body, /changed by another request/);
    t.equal(stored.size, 10 * MiB, "B's state stays");
    t.ok(conditionalTries.length >= 1, 'sent with If-Match');
    // A reads the upload again and can write.
    a.store.invalidate(id);
    await a.store.getUpload(id);
    const fresh = makeStore(s3Location(server, root)).store;
    t.equal((await fresh.getUpload(id)).size, 10 * MiB);
  } else {
    t.equal(stale, undefined, 'without conditional writes the last writer wins (the Redis lock is the only guard)');
    t.equal(stored.size, 20 * MiB);
    // Learnt once: later state writes go unconditional at once.
    const before = conditionalTries.length;
    await a.store.declareUploadLength(id, 30 * MiB).catch(() => undefined);
    const after = commands.filter((c) => c.name === 'PutObject' && c.input.IfMatch !== undefined).length;
    t.equal(after, before, `If-Match tried ${before} time(s), then no more`);
  }
});
