/**
 * Regression tests for two ways the S3 store once lost or corrupted acknowledged bytes; each
 * forces the interleaving that caused it (issue 10).
 */
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import t from 'tap';
import { uploadKeys } from '../../src/stores/s3/keys.js';
import { S3Upload } from '../../src/stores/s3/upload.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { listKeys, objectSha256, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { createUploadIn, makeStore, s3Location, writeBody } from '../helpers/store.js';

const server = s3TestServer();
const verify = verifyClient(server);
const newId = () => randomBytes(16).toString('hex');

/** UploadPart fails for good (503 SlowDown, as after all of S3's retries) for the part numbers in `failing()`; every attempt is recorded. */
function failParts(client: S3Client, failing: () => ReadonlySet<number>): Array<{ part: number; length: number; failed: boolean }> {
  const seen: Array<{ part: number; length: number; failed: boolean }> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'UploadPartCommand') return next(args);
      const input = args.input as { PartNumber: number; ContentLength: number };
      const fail = failing().has(input.PartNumber);
      seen.push({ part: input.PartNumber, length: input.ContentLength, failed: fail });
      if (fail)
        throw Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
      return next(args);
    },
    { step: 'initialize', name: 'failParts' },
  );
  return seen;
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('tail race: no cleanup removes a tail a later request stored (deferred length, 1 MiB PATCHes)', async (t) => {
  const root = uniqueRoot('tailrace');
  const { store, client } = makeStore(s3Location(server, root));
  // While the requests run, every DeleteObject of a tail is held back until the test lets it
  // go: a cleanup that lands late, after the next request stored its tail.
  const held: Array<() => void> = [];
  let holding = true;
  let tailDeletes = 0;
  let tailDeletesDone = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = String((args.input as { Key?: string }).Key);
      if (context.commandName === 'DeleteObjectCommand' && key.endsWith('.part')) {
        tailDeletes += 1;
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
        try {
          return await next(args);
        } finally {
          tailDeletesDone += 1;
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'lateTailDelete' },
  );
  const id = newId();
  await createUploadIn(store, id, undefined);
  const data = randomData(8 * MiB + 3);
  // Deferred-length parts are 6 MiB: six 1 MiB requests fill part 1 from the tail, the seventh starts a new tail.
  let offset = 0;
  for (let i = 0; i < 7; i++) {
    const piece = data.subarray(offset, offset + MiB);
    offset = await writeBody(store, id, offset, piece);
  }
  t.equal(offset, 7 * MiB, 'seven 1 MiB requests acknowledged');
  // Let any late deletes land now, after the new tail was stored, and wait until they did.
  holding = false;
  for (const release of held.splice(0)) release();
  await until(() => tailDeletesDone === tailDeletes, 'the late deletes');
  const fresh = makeStore(s3Location(server, root)).store;
  t.equal((await fresh.readUpload(id)).offset, 7 * MiB, 'a fresh read still finds the acknowledged 7th mebibyte');
  await fresh.declareUploadLength(id, data.length);
  t.equal(await writeBody(fresh, id, 7 * MiB, data.subarray(7 * MiB)), data.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data), 'the object is byte-exact');
  t.same(await listKeys(verify, server.bucket, root), [`${root}${id}`, `${root}${id}.info`], 'the tail is removed at completion');
  t.equal(tailDeletes, 0, 'no tail was deleted while the upload was receiving');
});

t.test('part failures with a different part plan on retry never make the offset claim bytes S3 does not have', async (t) => {
  const root = uniqueRoot('gap');
  const { store, client } = makeStore(s3Location(server, root));
  // Parts that fail for good (as after all of S3's retries), by number, for the next request.
  let failing = new Set<number>();
  const seen = failParts(client, () => failing);
  const id = newId();
  const data = randomData(32 * MiB);
  await createUploadIn(store, id, data.length);

  // Request A: 16 MiB from 0 (parts 5, 5, 6 MiB); part 2 fails, part 3 (bytes 10-16 MiB) is stored.
  failing = new Set([2]);
  const a = await writeBody(store, id, 0, data.subarray(0, 16 * MiB)).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.match(a, { status_code: 503 }, 'request A failed with the S3 error');
  t.ok(
    seen.some((s) => s.part === 3 && !s.failed && s.length === 6 * MiB),
    `A stored part 3 as 6 MiB beyond the gap: ${JSON.stringify(seen)}`,
  );
  const afterA = (await store.readUpload(id)).offset;
  t.equal(afterA, 5 * MiB, 'only part 1 counts after A');

  // Request B: the client resends 16 MiB from 5 MiB; part 3 fails now, part 4 is stored.
  failing = new Set([3]);
  seen.length = 0;
  const b = await writeBody(store, id, afterA, data.subarray(afterA, afterA + 16 * MiB)).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.match(b, { status_code: 503 }, 'request B failed with the S3 error');
  const fresh = makeStore(s3Location(server, root)).store;
  const afterB = (await fresh.readUpload(id)).offset;
  t.ok(afterB <= afterA + 16 * MiB, `the offset (${afterB}) never exceeds the bytes sent (${afterA + 16 * MiB})`);

  // The client carries on from what the server reports; the object must be byte-exact.
  failing = new Set();
  t.equal(await writeBody(fresh, id, afterB, data.subarray(afterB)), data.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data), 'the object is byte-exact');
  const done = await S3Upload.load(fresh.bucket, uploadKeys(fresh.location.root, id));
  t.equal(done.finished, true);
});

t.test('a request that ends inside a part stored by an earlier failed request: no stale tail is counted or read back', async (t) => {
  const root = uniqueRoot('absorb');
  const { store, client } = makeStore(s3Location(server, root));
  let failing = new Set<number>();
  failParts(client, () => failing);
  const id = newId();
  const data = randomData(40 * MiB);
  await createUploadIn(store, id, data.length);
  // 25 MiB from 0: part 3 fails for good; parts 4 and 5 (15-25 MiB) are stored beyond the gap.
  failing = new Set([3]);
  await writeBody(store, id, 0, data.subarray(0, 25 * MiB)).catch(() => undefined);
  failing = new Set();
  let offset = (await store.readUpload(id)).offset;
  t.equal(offset, 10 * MiB);
  // A short request leaves a tail in part 3; the next fills part 3 and ends inside part 4.
  offset = await writeBody(store, id, offset, data.subarray(offset, offset + 3_000_000));
  t.equal(offset, 10 * MiB + 3_000_000);
  offset = await writeBody(store, id, offset, data.subarray(offset, offset + 7_000_000));
  const fresh = makeStore(s3Location(server, root)).store;
  t.equal(offset, 25 * MiB, 'parts 4 and 5 count once part 3 exists; the bytes inside part 4 are not kept again as a tail');
  t.equal((await fresh.readUpload(id)).offset, offset, 'a fresh read agrees');
  // The client carries on from the answer, without a HEAD, as tus-js-client does.
  t.equal(await writeBody(store, id, offset, data.subarray(offset)), data.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data), 'the object is byte-exact');
});

t.test('a multipart upload whose id .info could not record: the request fails, nothing is acknowledged and lost', async (t) => {
  const root = uniqueRoot('infofail');
  const { store, client } = makeStore(s3Location(server, root, { STORAGE_S3_MAX_ATTEMPTS: '1' }));
  let failInfo = false;
  const aborted: string[] = [];
  const created: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string; Body?: unknown; UploadId?: string };
      if (context.commandName === 'AbortMultipartUploadCommand') aborted.push(String(input.UploadId));
      if (context.commandName === 'CreateMultipartUploadCommand') {
        const out = await next(args);
        created.push(String((out.output as { UploadId?: string }).UploadId));
        return out;
      }
      if (failInfo && context.commandName === 'PutObjectCommand' && String(input.Key).endsWith('.info')) {
        throw Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'failInfo' },
  );
  const id = newId();
  const data = randomData(12 * MiB);
  await createUploadIn(store, id, data.length);
  failInfo = true;
  const answer = await writeBody(store, id, 0, data.subarray(0, 6 * MiB)).then(
    (offset) => offset,
    (error: unknown) => error,
  );
  failInfo = false;
  const stored = (await makeStore(s3Location(server, root)).store.readUpload(id)).offset;
  if (typeof answer === 'number') t.ok(answer <= stored, `an acknowledged offset (${answer}) is one a fresh read finds (${stored})`);
  else t.match(answer, { status_code: 503 }, 'the request fails with the S3 error');
  t.ok(created.length >= 1, `multipart uploads were created (${created.length})`);
  t.same(aborted.sort(), [...created].sort(), 'every multipart upload .info does not name is aborted, not orphaned');
  // And the upload goes on from what is stored.
  t.equal(await writeBody(store, id, stored, data.subarray(stored)), data.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data));
});
