import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { uploadKeys } from '../../src/stores/s3/keys.js';
import { S3Upload } from '../../src/stores/s3/upload.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { listKeys, objectSha256, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { createUploadIn, makeStore, recordCommands, s3Location, writeBody, writeStream } from '../helpers/store.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();
const verify = verifyClient(server);
const newId = () => randomBytes(16).toString('hex');

/**
 * What the minimal IAM policy allows (docs/s3.md), plus ListMultipartUploads: the best-effort sweep
 * of orphaned multipart uploads, which that policy may deny (then it warns once and stops).
 * Calls outside this set must never be sent.
 */
const ALLOWED = new Set([
  'ListMultipartUploads',
  'PutObject',
  'GetObject',
  'HeadObject',
  'DeleteObject',
  'ListObjectsV2',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
  'ListParts',
]);

t.test('a part that fails once is retried on its own and the upload completes; parts in flight stay within the limit', async (t) => {
  const root = uniqueRoot('retry');
  const { store, client } = makeStore(s3Location(server, root, { STORAGE_S3_PART_CONCURRENCY: '3' }));
  const commands = recordCommands(client);
  let failures = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const attempts = new Map<number, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'UploadPartCommand') return next(args);
      const part = (args.input as { PartNumber: number }).PartNumber;
      attempts.set(part, (attempts.get(part) ?? 0) + 1);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (part === 3 && failures === 0) {
          failures += 1;
          await new Promise((r) => setTimeout(r, 50));
          throw Object.assign(new Error('injected transient failure'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
        }
        return await next(args);
      } finally {
        inFlight -= 1;
      }
    },
    { step: 'deserialize', name: 'injectFailure' },
  );
  const id = newId();
  const data = randomData(48 * MiB + 11);
  await createUploadIn(store, id, data.length);
  t.equal(await writeBody(store, id, 0, data), data.length);
  t.equal(failures, 1, 'the failure was injected');
  t.equal(attempts.get(3), 2, 'part 3 was sent twice');
  t.ok(
    [...attempts].filter(([n]) => n !== 3).every(([, a]) => a === 1),
    'every other part once',
  );
  t.ok(maxInFlight <= 3, `at most 3 parts in flight (saw ${maxInFlight})`);
  t.ok(maxInFlight >= 2, `parts do go in parallel (saw ${maxInFlight})`);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data));
  t.same(
    [...new Set(commands.map((c) => c.name))].filter((n) => !ALLOWED.has(n)),
    [],
    'only calls the minimal policy allows',
  );
});

t.test('with STREAM_PARTS=false each part carries a signed SHA-256 payload hash, so S3 refuses a corrupted part', async (t) => {
  const root = uniqueRoot('digest');
  const buffered = { STORAGE_S3_STREAM_PARTS: 'false' };
  const { store, client } = makeStore(s3Location(server, root, buffered));
  const hashes: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers: Record<string, string> };
      if (context.commandName === 'UploadPartCommand') hashes.push(request.headers['x-amz-content-sha256'] ?? '');
      return next(args);
    },
    { step: 'finalizeRequest', name: 'watchHash', priority: 'low' },
  );
  const id = newId();
  const data = randomData(11 * MiB);
  await createUploadIn(store, id, data.length);
  await writeBody(store, id, 0, data);
  t.equal(hashes.length, 2);
  t.ok(
    hashes.every((h) => /^[0-9a-f]{64}$/.test(h)),
    `x-amz-content-sha256 is a real digest, not UNSIGNED-PAYLOAD: ${hashes}`,
  );

  // And the server does refuse a body that does not match its signed hash.
  const corrupting = makeStore(s3Location(server, root, { ...buffered, STORAGE_S3_MAX_ATTEMPTS: '1' }));
  corrupting.client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { body: Buffer };
      if (context.commandName === 'UploadPartCommand' && Buffer.isBuffer(request.body)) {
        const bad = Buffer.from(request.body);
        bad[12345] = (bad[12345] ?? 0) ^ 0xff;
        request.body = bad;
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'corrupt', priority: 'low' },
  );
  const id2 = newId();
  await createUploadIn(corrupting.store, id2, 12 * MiB);
  const refused = await writeBody(corrupting.store, id2, 0, randomData(12 * MiB)).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.match(refused, { status_code: 502, body: /UploadPart.*(BadDigest|XAmzContentSHA256Mismatch)/ }, 'S3 refused the corrupted part');
});

t.test('streamed parts: sent while the body arrives, a failed one re-sent signed, a cut one aborted and its bytes kept', async (t) => {
  const root = uniqueRoot('stream');
  const { store, client } = makeStore(s3Location(server, root));
  const sent: Array<{ part: number; hash: string; streamed: boolean; at: number }> = [];
  let failOnce = true;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'UploadPartCommand') return next(args);
      const request = args.request as { headers: Record<string, string>; body: unknown };
      const part = (args.input as { PartNumber: number }).PartNumber;
      const streamed = request.body instanceof Readable;
      sent.push({ part, hash: request.headers['x-amz-content-sha256'] ?? '', streamed, at: Date.now() });
      if (part === 2 && failOnce) {
        failOnce = false;
        // Fail in the middle of the stream: some of its bytes already gone with the attempt.
        if (request.body instanceof Readable) for await (const _ of request.body) break;
        throw Object.assign(new Error('injected failure'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'watchParts', priority: 'low' },
  );

  // A body that arrives slowly: the first part must be on its way before the body is complete.
  const id = newId();
  const data = randomData(12 * MiB + 5);
  await createUploadIn(store, id, data.length);
  const body = new PassThrough();
  const writing = writeStream(store, id, 0, body, data.length);
  body.write(data.subarray(0, 3 * MiB));
  // Part 1 goes out while only 3 of its 5 MiB have arrived (the rest is not written yet).
  await until(() => sent.length >= 1, 'part 1 to be sent');
  const earlyRequests = sent.length;
  const lastWrite = Date.now();
  body.end(data.subarray(3 * MiB));
  t.equal(await writing, data.length);
  t.equal(earlyRequests, 1, 'part 1 was being sent after 3 of its 5 MiB had arrived');
  t.ok(sent[0] && sent[0].at < lastWrite, 'before the rest of the body was written');
  const first = sent.filter((s) => s.hash === 'UNSIGNED-PAYLOAD');
  t.ok(first.length >= 2 && first.every((s) => s.streamed), `streamed parts carry UNSIGNED-PAYLOAD: ${JSON.stringify(sent)}`);
  const resent = sent.filter((s) => s.part === 2);
  t.equal(resent.length, 2, 'part 2 failed once and was sent again');
  t.match(resent[1], { streamed: false, hash: /^[0-9a-f]{64}$/ }, 're-sent from its buffer with a signed SHA-256');
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data));

  // A body cut in the middle of a streamed part: that part's request is aborted, nothing of it
  // is stored as a part, and every byte that arrived is kept.
  const cutId = newId();
  const cutData = randomData(14 * MiB);
  await createUploadIn(store, cutId, cutData.length);
  const cut = new PassThrough();
  const cutWriting = writeStream(store, cutId, 0, cut, cutData.length);
  cut.write(cutData.subarray(0, 7 * MiB));
  // The store has taken in all 7 MiB before the body breaks off.
  await until(() => cut.readableLength === 0 && cut.writableLength === 0, 'the store to read the 7 MiB');
  cut.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
  t.equal(await cutWriting, 7 * MiB, 'the offset counts every byte that arrived');
  const keys = await listKeys(verify, server.bucket, root);
  t.ok(keys.includes(`${root}${cutId}.part`), 'the 2 MiB past part 1 are kept in .part');
  const fresh = makeStore(s3Location(server, root)).store;
  t.equal((await fresh.readUpload(cutId)).offset, 7 * MiB, 'another instance agrees');
  t.equal(await writeBody(fresh, cutId, 7 * MiB, cutData.subarray(7 * MiB)), cutData.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${cutId}`)).sha256, sha256(cutData));
});

t.test('a slow client streaming its part does not hold up the full parts of other uploads', async (t) => {
  const root = uniqueRoot('slow');
  // One part upload in flight at a time for this location.
  const { store } = makeStore(s3Location(server, root, { STORAGE_S3_PART_CONCURRENCY: '1' }));
  const slowId = newId();
  const slowData = randomData(10 * MiB);
  await createUploadIn(store, slowId, slowData.length);
  const slowBody = new PassThrough();
  const slow = writeStream(store, slowId, 0, slowBody, slowData.length);
  slowBody.write(slowData.subarray(0, MiB)); // then the client stalls, in the middle of part 1
  await until(() => store.partsInFlight === 1, 'the slow part to stream');

  const fastId = newId();
  const fastData = randomData(12 * MiB + 7);
  await createUploadIn(store, fastId, fastData.length);
  const fast = writeBody(store, fastId, 0, fastData);
  const winner = await Promise.race([fast.then(() => 'fast'), new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
  t.equal(winner, 'fast', 'the fast upload finished while the slow one still holds its part');
  t.equal((await objectSha256(verify, server.bucket, `${root}${fastId}`)).sha256, sha256(fastData));

  slowBody.end(slowData.subarray(MiB));
  t.equal(await slow, slowData.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${slowId}`)).sha256, sha256(slowData));
});

t.test('server-side encryption with aws:kms and aws:kms:dsse: the parameters on every object written', async (t) => {
  for (const sse of ['aws:kms', 'aws:kms:dsse']) {
    const root = uniqueRoot('kms');
    const location = s3Location(server, root, {
      STORAGE_S3_SERVER_SIDE_ENCRYPTION: sse,
      STORAGE_S3_SERVER_SIDE_ENCRYPTION_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/test',
      STORAGE_S3_ACL: 'public-read',
    });
    const { store, client } = makeStore(location);
    const commands = recordCommands(client);
    // The Swift test server has no KMS: answer the calls here, after recording what was sent.
    client.middlewareStack.add(
      (_next, context) => async () => {
        const outputs: Record<string, unknown> = {
          CreateMultipartUploadCommand: { UploadId: 'kms-upload' },
          UploadPartCommand: { ETag: '"etag"' },
        };
        return { output: { $metadata: {}, ...((outputs[String(context.commandName)] as object) ?? {}) }, response: {} };
      },
      { step: 'initialize', name: 'fakeKms', priority: 'low' },
    );
    const id = newId();
    await createUploadIn(store, id, 11 * MiB, { filetype: 'image/png' });
    await writeBody(store, id, 0, randomData(11 * MiB));
    const writes = commands.filter((c) => c.name === 'PutObject' || c.name === 'CreateMultipartUpload');
    t.ok(writes.length >= 3, `${sse}: .info twice and the multipart upload`);
    for (const c of writes) {
      t.equal(c.input.ServerSideEncryption, sse, `${sse} on ${c.name} ${c.input.Key}`);
      t.equal(c.input.SSEKMSKeyId, 'arn:aws:kms:us-east-1:111122223333:key/test');
      t.equal(c.input.ACL, String(c.input.Key).endsWith('.info') ? undefined : 'public-read', 'ACL on the final object only');
    }
    const create = commands.find((c) => c.name === 'CreateMultipartUpload');
    t.equal(create?.input.ContentType, 'image/png');
  }
});

t.test('deferred length: parts grow so 5 TiB fits in 10,000 parts; the length set later completes the upload', async (t) => {
  const root = uniqueRoot('defer');
  const { store } = makeStore(s3Location(server, root));
  const id = newId();
  await createUploadIn(store, id, undefined);
  const data = randomData(13 * MiB + 5);
  t.equal(await writeBody(store, id, 0, data.subarray(0, 7 * MiB)), 7 * MiB);
  t.equal((await store.getUpload(id)).sizeIsDeferred, true);
  await store.declareUploadLength(id, data.length);
  t.equal(await writeBody(store, id, 7 * MiB, data.subarray(7 * MiB)), data.length);
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data));
  const fresh = await S3Upload.load(store.bucket, uploadKeys(store.location.root, id));
  t.equal(fresh.finished, true, 'a fresh read sees the upload finished');
});

t.test('termination aborts the multipart upload and deletes .info and .part; then 404', async (t) => {
  const root = uniqueRoot('term');
  const { store, client } = makeStore(s3Location(server, root));
  const commands = recordCommands(client);
  const id = newId();
  await createUploadIn(store, id, 30 * MiB);
  await writeBody(store, id, 0, randomData(7 * MiB));
  await writeBody(store, id, 7 * MiB, randomData(2 * MiB));
  t.same(await listKeys(verify, server.bucket, root), [`${root}${id}.info`, `${root}${id}.part`]);
  await store.remove(id);
  t.ok(commands.some((c) => c.name === 'AbortMultipartUpload'));
  t.same(await listKeys(verify, server.bucket, root), [], 'nothing left under the root');
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (error: unknown) => error,
    );
  t.match(await failure(store.getUpload(id)), { status_code: 404 });
  t.match(await failure(store.readUpload(id)), { status_code: 404 });

  const done = newId();
  await createUploadIn(store, done, 3);
  await writeBody(store, done, 0, Buffer.from('abc'));
  await store.remove(done);
  t.same(await listKeys(verify, server.bucket, root), [], 'a finished upload is removed with its object');
});

t.test('every object stays under STORAGE_<LOC>_ROOT', async (t) => {
  const root = `${uniqueRoot('root')}nested/deeper/`;
  const { store } = makeStore(s3Location(server, `/${root}`));
  const id = newId();
  await createUploadIn(store, id, 20 * MiB);
  await writeBody(store, id, 0, randomData(8 * MiB));
  await writeBody(store, id, 8 * MiB, randomData(12 * MiB));
  const all = await listKeys(verify, server.bucket, '');
  const mine = all.filter((k) => k.includes(id));
  t.same(mine, [`${root}${id}`, `${root}${id}.info`]);
});

t.test('ACL public-read and AES256 encryption are accepted by the server', async (t) => {
  const root = uniqueRoot('sse');
  const location = s3Location({ ...server, endpoint: server.sseEndpoint }, root, {
    STORAGE_S3_ACL: 'public-read',
    STORAGE_S3_SERVER_SIDE_ENCRYPTION: 'AES256',
  });
  const { store } = makeStore(location);
  for (const size of [1000, 12 * MiB + 3]) {
    const id = newId();
    const data = randomData(size);
    await createUploadIn(store, id, size, { filename: 'a.txt', filetype: 'text/plain' });
    await writeBody(store, id, 0, data.subarray(0, Math.min(size, 3 * MiB)));
    if (size > 3 * MiB) await writeBody(store, id, 3 * MiB, data.subarray(3 * MiB));
    // Encrypted objects read back (decrypted) through the encrypting proxy.
    const reader = verifyClient({ ...server, endpoint: server.sseEndpoint });
    t.equal((await objectSha256(reader, server.bucket, `${root}${id}`)).sha256, sha256(data), `${size} bytes`);
  }
});

t.test('expired uploads are removed by listing .info objects', async (t) => {
  const root = uniqueRoot('expire');
  const { store } = makeStore(s3Location(server, root), { expiration: 1 });
  const stale = newId();
  const finished = newId();
  await createUploadIn(store, stale, 20 * MiB);
  await writeBody(store, stale, 0, randomData(6 * MiB));
  await createUploadIn(store, finished, 2);
  await writeBody(store, finished, 0, Buffer.from('ok'));
  // Expiration is 1 ms: wait until that much time has passed since the last creation.
  const created = Date.now();
  await until(() => Date.now() > created + 1, 'the expiration to pass');
  t.equal(await store.deleteExpired(), 1);
  t.same(await listKeys(verify, server.bucket, root), [`${root}${finished}`, `${root}${finished}.info`], 'finished uploads stay');
});

t.test('concatenation is assembled inside S3: UploadPartCopy for partials of 5 MiB and more', async (t) => {
  const root = uniqueRoot('concat');
  const { store, client } = makeStore(s3Location(server, root));
  const sizes = [6 * MiB, 2 * MiB, 12 * MiB + 7, 1];
  const datas = sizes.map((s) => randomData(s));
  const ids: string[] = [];
  for (const data of datas) {
    const id = newId();
    await createUploadIn(store, id, data.length, { 'tus-concat': 'partial' });
    await writeBody(store, id, 0, data);
    ids.push(id);
  }
  const commands = recordCommands(client);
  const finalId = newId();
  t.equal(
    await store.concatenate(finalId, ids, { filename: 'f.bin' }),
    sizes.reduce((a, b) => a + b),
  );
  t.equal((await objectSha256(verify, server.bucket, `${root}${finalId}`)).sha256, sha256(Buffer.concat(datas)));
  const copies = commands.filter((c) => c.name === 'UploadPartCopy');
  const reads = commands.filter((c) => c.name === 'GetObject');
  t.ok(copies.length >= 2, `${copies.length} parts copied server-side`);
  const readBytes = reads.reduce((total, c) => {
    const [, a, b] = /bytes=(\d+)-(\d+)/.exec(String(c.input.Range)) ?? [];
    return total + Number(b) - Number(a) + 1;
  }, 0);
  t.ok(readBytes <= 2 * 5 * MiB, `only small pieces are read back (${readBytes} bytes)`);
  t.same(
    [...new Set(commands.map((c) => c.name))].filter((n) => !ALLOWED.has(n)),
    [],
  );
});

t.test('deferred length declared by a PATCH without a body completes the upload', async (t) => {
  const root = uniqueRoot('defer0');
  const { store } = makeStore(s3Location(server, root));
  for (const size of [3 * MiB, 12 * MiB + 1]) {
    const id = newId();
    await createUploadIn(store, id, undefined);
    const data = randomData(size);
    t.equal(await writeBody(store, id, 0, data), size);
    await store.declareUploadLength(id, size);
    t.equal(await writeBody(store, id, size, Buffer.alloc(0)), size);
    t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data), `${size} bytes`);
    t.same(await listKeys(verify, server.bucket, `${root}${id}`), [`${root}${id}`, `${root}${id}.info`]);
  }
});

t.test('PART_MEMORY bounds every byte of parts held: streamed parts, full parts and tails of all uploads together', async (t) => {
  const root = uniqueRoot('memory');
  const limit = 15 * MiB;
  const { store, client } = makeStore(s3Location(server, root, { STORAGE_S3_PART_MEMORY: '15mb', STORAGE_S3_PART_CONCURRENCY: '60' }));
  // Bytes of part bodies (UploadPart, PutObject of tails and whole uploads) in S3 requests at once,
  // from the moment a request starts (a streamed part starts before its bytes arrive).
  let inRequests = 0;
  let maxInRequests = 0;
  let maxHeld = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName;
      const length = Number((args.input as { ContentLength?: number }).ContentLength ?? 0);
      if (name !== 'UploadPartCommand' && name !== 'PutObjectCommand') return next(args);
      inRequests += length;
      maxInRequests = Math.max(maxInRequests, inRequests);
      maxHeld = Math.max(maxHeld, store.sender.memory.held);
      try {
        return await next(args);
      } finally {
        inRequests -= length;
      }
    },
    { step: 'initialize', name: 'measureHeld' },
  );
  // Six uploads at once, each streamed in 64 KiB pieces: each would stream a 5 MiB part
  // (30 MiB) if streams were not counted against the budget.
  const uploads = Array.from({ length: 6 }, (_, i) => ({ id: newId(), data: randomData(17 * MiB + 1000 * i) }));
  for (const u of uploads) await createUploadIn(store, u.id, u.data.length);
  const sampler = setInterval(() => {
    maxHeld = Math.max(maxHeld, store.sender.memory.held);
  }, 2);
  try {
    const offsets = await Promise.all(
      uploads.map(async (u) => {
        const pieces: Buffer[] = [];
        for (let i = 0; i < u.data.length; i += 64 * 1024) pieces.push(u.data.subarray(i, i + 64 * 1024));
        return writeStream(store, u.id, 0, Readable.from(pieces), u.data.length);
      }),
    );
    t.same(
      offsets,
      uploads.map((u) => u.data.length),
    );
  } finally {
    clearInterval(sampler);
  }
  t.ok(maxInRequests > 5 * MiB, `parts did go in parallel (${(maxInRequests / MiB).toFixed(1)} MiB in requests at once)`);
  t.ok(maxInRequests <= limit, `part bytes in S3 requests at once: ${(maxInRequests / MiB).toFixed(1)} MiB <= 15 MiB`);
  t.ok(maxHeld <= limit, `reserved at most ${(maxHeld / MiB).toFixed(1)} MiB`);
  t.equal(store.sender.memory.held, 0, 'everything given back');
  for (const u of uploads) {
    t.equal((await objectSha256(verify, server.bucket, `${root}${u.id}`)).sha256, sha256(u.data), `${u.id} byte-exact`);
  }
});
