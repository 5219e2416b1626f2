/**
 * S3 faults (issue 14, item 1): the real app talks to the S3 test server through a
 * fault-injecting proxy (test/helpers/fault-proxy.ts). Under each fault an upload either
 * completes byte-exact (retries) or fails with a clear answer and stays resumable once the
 * fault stops: HEAD never claims bytes S3 does not have, resuming completes byte-exact, and
 * afterwards nothing is orphaned in the bucket.
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { createUpload, head, patch, type RunningApp, startApp } from '../helpers/app.js';
import { sha256 } from '../helpers/bytes.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { assertClearFailures, type Failure, faultData, headOffset, resumeUntilComplete } from '../helpers/fault-resume.js';
import { idOf } from '../helpers/ids.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';

const server = s3TestServer();
const verify = verifyClient(server);

interface Rig {
  proxy: FaultProxy;
  app: RunningApp;
  root: string;
  close(): Promise<void>;
}

async function rig(t: Test, name: string, seed: number, extra: Record<string, string> = {}): Promise<Rig> {
  const proxy = await FaultProxy.start(server.endpoint, seed);
  const root = uniqueRoot(`fault-${name}`);
  const app = await startApp(
    s3LocationEnv(server, root, {
      STORAGE_S3_ENDPOINT: proxy.url,
      STORAGE_S3_MAX_ATTEMPTS: '3',
      STORAGE_S3_SOCKET_TIMEOUT: '2s',
      STORAGE_S3_CONNECTION_TIMEOUT: '2s',
      ...extra,
    }),
  );
  const r = {
    proxy,
    app,
    root,
    close: async () => {
      await app.close();
      await proxy.close();
    },
  };
  t.teardown(r.close);
  return r;
}

/** Bytes S3 really holds for the upload, in order from 0: the parts listed without a gap, then a tail that begins the next part. */
async function storedPrefix(root: string, id: string, partSize: number): Promise<number> {
  const keys = await listKeys(verify, server.bucket, `${root}${id}`);
  if (keys.includes(`${root}${id}`)) return Number.POSITIVE_INFINITY; // final object: everything
  const uploads = await verify.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: `${root}${id}` }));
  const { ListPartsCommand } = await import('@aws-sdk/client-s3');
  let bytes = 0;
  for (const u of uploads.Uploads ?? []) {
    if (u.Key !== `${root}${id}`) continue;
    const parts = await verify.send(new ListPartsCommand({ Bucket: server.bucket, Key: u.Key, UploadId: u.UploadId }));
    const sorted = (parts.Parts ?? []).sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    let run = 0;
    for (const p of sorted) {
      if (p.PartNumber !== run + 1) break;
      run += 1;
      bytes += p.Size ?? 0;
    }
    if (keys.includes(`${root}${id}.part`) && bytes % partSize === 0) {
      const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
      const tail = await verify.send(new HeadObjectCommand({ Bucket: server.bucket, Key: `${root}${id}.part` }));
      if (Number(tail.Metadata?.['tus-next-part']) === run + 1) bytes += tail.ContentLength ?? 0;
    }
  }
  return bytes;
}

/** A PATCH whose body has no Content-Length (chunked), so the server cannot plan its last part. */
function patchChunked(url: string, offset: number, body: Buffer): Promise<Response> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < body.length; i += MiB) controller.enqueue(body.subarray(i, i + MiB));
      controller.close();
    },
  });
  return fetch(url, {
    method: 'PATCH',
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
    body: stream,
    duplex: 'half',
  } as RequestInit);
}

const resume = resumeUntilComplete;

/** Failures are clear: a 5xx with a plain message naming S3, never a stack trace. */
const clear = (t: Test, failures: Failure[]) => assertClearFailures(t, failures, /S3/);

async function assertComplete(t: Test, r: Rig, url: string, data: Buffer): Promise<void> {
  t.equal(await headOffset(url), data.length, 'HEAD: complete');
  const stored = await objectSha256(verify, server.bucket, `${r.root}${idOf(url)}`);
  t.equal(stored.size, data.length, 'final object size');
  t.equal(stored.sha256, sha256(data), 'final object byte-exact');
}

/** Nothing orphaned: multipart uploads and objects under the root belong to the live uploads. */
async function assertNoOrphans(t: Test, r: Rig, live: string[]): Promise<void> {
  const ids = live.map(idOf);
  const keys = await listKeys(verify, server.bucket, r.root);
  const allowed = new Set(ids.flatMap((id) => [`${r.root}${id}`, `${r.root}${id}.info`]));
  t.same(
    keys.filter((k) => !allowed.has(k)),
    [],
    'no object under the root but the final objects and .info of live uploads',
  );
  const listed = await verify.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: r.root }));
  t.same(
    (listed.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`),
    [],
    'no multipart upload left open under the root (all completed ones finished, none leaked)',
  );
}

t.test('a mix of 500 InternalError and 503 SlowDown on every operation: retries complete byte-exact', async (t) => {
  const r = await rig(t, 'mix', 11);
  r.proxy.setRules([
    { fault: 'slowdown503', fraction: 0.2 },
    { fault: 'error500', fraction: 0.1 },
  ]);
  const data = faultData(13 * MiB, 1);
  const url = await createUpload(r.app.url, data.length);
  const failures = await resume(url, data, 4 * MiB);
  clear(t, failures);
  r.proxy.clear();
  await assertComplete(t, r, url, data);
  t.ok(r.proxy.faulted().length >= 3, `faults injected: ${r.proxy.faulted().length} of ${r.proxy.requests.length} requests`);
  await assertNoOrphans(t, r, [url]);
});

t.test('connection resets before and after S3 answered, stalls mid-body and latency on parts: byte-exact', async (t) => {
  const r = await rig(t, 'resets', 12);
  r.proxy.setRules([
    { op: 'UploadPart', fault: 'reset-after', count: 1 },
    { op: 'UploadPart', fault: 'reset-after', fraction: 0.2 },
    { op: ['UploadPart', 'PutObjectTail', 'PutObjectInfo', 'ListParts'], fault: 'reset-before', fraction: 0.15 },
    { op: 'UploadPart', fault: 'stall', count: 1, stallAfterBytes: 64 * 1024 },
    { fault: 'latency', fraction: 0.3, latencyMs: 50 },
  ]);
  const data = faultData(12 * MiB + 77, 2);
  const url = await createUpload(r.app.url, data.length);
  const failures = await resume(url, data, 3 * MiB);
  clear(t, failures);
  r.proxy.clear();
  await assertComplete(t, r, url, data);
  const kinds = new Set(r.proxy.faulted().map((f) => f.fault));
  t.ok(kinds.has('reset-after') && kinds.has('reset-before') && kinds.has('stall'), `faults injected: ${[...kinds].join(', ')}`);
  await assertNoOrphans(t, r, [url]);
});

t.test('CompleteMultipartUpload succeeds on S3 but every answer is lost: the upload still ends complete and byte-exact', async (t) => {
  const r = await rig(t, 'complete-lost', 13);
  r.proxy.setRules([{ op: 'CompleteMultipartUpload', fault: 'reset-after' }]);
  const data = faultData(11 * MiB, 3);
  const url = await createUpload(r.app.url, data.length);
  const res = await patch(url, 0, data);
  const body = await res.text();
  t.equal(r.proxy.seen('CompleteMultipartUpload')[0]?.upstreamStatus, 200, 'S3 completed the multipart upload');
  if (res.status !== 204) clear(t, [{ status: res.status, body }]);
  r.proxy.clear();
  await assertComplete(t, r, url, data);
  const get = await fetch(url);
  t.equal(get.status, 200, 'GET after the lost answer');
  t.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data), 'GET byte-exact');
  await assertNoOrphans(t, r, [url]);
});

t.test('a tail PutObject that fails after the parts succeeded: HEAD claims only the parts, resume completes', async (t) => {
  const r = await rig(t, 'tail-fails', 14);
  r.proxy.setRules([{ op: 'PutObjectTail', fault: 'error500' }]);
  const data = faultData(12 * MiB, 4);
  const url = await createUpload(r.app.url, data.length);
  // 7 MiB without a Content-Length: part 1 (5 MiB) is stored, the 2 MiB tail is refused on every attempt.
  const res = await patchChunked(url, 0, data.subarray(0, 7 * MiB));
  const body = await res.text();
  t.equal(res.status, 503, `PATCH fails: ${body.trim()}`);
  t.match(body, /can be resumed/, 'says the upload can be resumed');
  clear(t, [{ status: res.status, body }]);
  t.ok(
    r.proxy.seen('UploadPart').some((p) => p.part === 1 && p.status === 200),
    'part 1 stored',
  );
  const offset = await headOffset(url);
  const stored = await storedPrefix(r.root, idOf(url), 5 * MiB);
  t.ok(offset <= stored, `HEAD offset ${offset} claims no more than S3 holds (${stored})`);
  t.equal(offset, 5 * MiB, 'HEAD offset: the stored part');
  r.proxy.clear();
  t.same(await resume(url, data, 4 * MiB), [], 'resumed without failure');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [url]);
});

t.test('a part that fails for good while a later part of the same request is stored; resume from inside the gap', async (t) => {
  const r = await rig(t, 'gap', 15, { STORAGE_S3_STREAM_PARTS: 'false' });
  r.proxy.setRules([{ op: 'UploadPart', when: (q) => q.query.get('partNumber') === '2', fault: 'slowdown503' }]);
  const data = faultData(17 * MiB + 5, 5);
  const url = await createUpload(r.app.url, data.length);
  const res = await patch(url, 0, data.subarray(0, 16 * MiB));
  const body = await res.text();
  t.equal(res.status, 503, `PATCH fails: ${body.trim()}`);
  clear(t, [{ status: res.status, body }]);
  t.ok(
    r.proxy.seen('UploadPart').some((p) => p.part === 3 && p.status === 200),
    'part 3 of the same request was stored while part 2 failed',
  );
  const offset = await headOffset(url);
  t.equal(offset, 5 * MiB, 'HEAD offset ends at part 1: the gap is not claimed');
  t.ok(offset <= (await storedPrefix(r.root, idOf(url), 5 * MiB)), 'no more than S3 holds in order');
  r.proxy.clear();
  // Resume as a client would from the offset, in pieces that end inside the gap (7 MiB, then 9 MiB...).
  t.same(await resume(url, data, 2 * MiB), [], 'resumed without failure');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [url]);
});

t.test('CreateMultipartUpload retried under connection resets leaves no multipart upload behind', async (t) => {
  const r = await rig(t, 'create-resets', 16);
  // The first two CreateMultipartUpload happen on S3 but their answers are lost; the SDK retries.
  r.proxy.setRules([{ op: 'CreateMultipartUpload', fault: 'reset-after', count: 2 }]);
  const data = faultData(11 * MiB, 6);
  const url = await createUpload(r.app.url, data.length);
  const res = await patch(url, 0, data);
  t.equal(res.status, 204, `PATCH completes on the third attempt: ${await res.text()}`);
  t.equal(r.proxy.seen('CreateMultipartUpload').filter((c) => c.upstreamStatus === 200).length, 3, 'three created on S3');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [url]);

  // Every attempt's answer lost: the PATCH fails; the next one must not leave the earlier ones open either.
  r.proxy.setRules([{ op: 'CreateMultipartUpload', fault: 'reset-after' }]);
  const second = await createUpload(r.app.url, data.length);
  const failed = await patch(second, 0, data);
  const failedBody = await failed.text();
  t.not(failed.status, 204, 'PATCH fails when every CreateMultipartUpload answer is lost');
  clear(t, [{ status: failed.status, body: failedBody }]);
  t.equal(await headOffset(second), 0, 'HEAD: nothing claimed');
  r.proxy.clear();
  t.same(await resume(second, data, 11 * MiB), [], 'resumed without failure');
  await assertComplete(t, r, second, data);
  await assertNoOrphans(t, r, [url, second]);
});

t.test('UploadPartCopy and ListParts failing for good: a clear error, then the same requests succeed byte-exact', async (t) => {
  const r = await rig(t, 'copy', 17);
  const a = faultData(6 * MiB, 7);
  const b = faultData(5 * MiB + 9, 8);
  const partials: string[] = [];
  for (const data of [a, b]) {
    const url = await createUpload(r.app.url, data.length, { 'Upload-Concat': 'partial' });
    t.equal((await patch(url, 0, data)).status, 204, 'partial uploaded');
    partials.push(url);
  }
  const concat = () =>
    fetch(`${r.app.url}/files/`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Concat': `final;${partials.map((u) => new URL(u).pathname).join(' ')}` },
    });
  r.proxy.setRules([{ op: 'UploadPartCopy', fault: 'slowdown503' }]);
  const failed = await concat();
  const failedBody = await failed.text();
  t.equal(failed.status, 503, `concatenation fails: ${failedBody.trim()}`);
  clear(t, [{ status: failed.status, body: failedBody }]);
  t.match(failedBody, /UploadPartCopy.*SlowDown.*The final upload was not created: send the POST again\./s, 'says to send the POST again');
  t.notMatch(failedBody, /can be resumed/, 'not that a final upload that does not exist can be resumed');
  t.ok(r.proxy.seen('UploadPartCopy').length >= 3, 'UploadPartCopy was retried');
  r.proxy.clear();
  await assertNoOrphans(t, r, partials);

  const res = await concat();
  t.equal(res.status, 201, 'concatenation succeeds once the fault stops');
  const final = new URL(res.headers.get('location') as string, r.app.url).toString();
  await assertComplete(t, r, final, Buffer.concat([a, b]));

  // A fresh instance must read the parts of an unfinished upload: ListParts fails, then works.
  const data = faultData(11 * MiB, 9);
  const url = await createUpload(r.app.url, data.length);
  t.equal((await patch(url, 0, data.subarray(0, 5 * MiB))).status, 204, 'first part stored');
  const other = await startApp(s3LocationEnv(server, r.root, { STORAGE_S3_ENDPOINT: r.proxy.url, STORAGE_S3_MAX_ATTEMPTS: '2' }));
  t.teardown(() => other.close());
  r.proxy.setRules([{ op: 'ListParts', fault: 'error500' }]);
  const otherUrl = `${other.url}${new URL(url).pathname}`;
  const h = await head(otherUrl);
  const hBody = await h.text();
  t.equal(h.status, 503, 'HEAD on another instance fails while ListParts fails');
  clear(t, [{ status: h.status, body: hBody || 'S3 (HEAD has no body)' }]);
  r.proxy.clear();
  t.equal(await headOffset(otherUrl), 5 * MiB, 'then HEAD answers the stored offset');
  t.same(await resume(otherUrl, data, 6 * MiB), [], 'resumed on the other instance');
  await assertComplete(t, r, url, data);
  await assertNoOrphans(t, r, [...partials, final, url]);
});

t.test('concatenation-unfinished: UploadPartCopy failing while the final is assembled, then the final HEAD assembles it', async (t) => {
  const r = await rig(t, 'copy-late', 18);
  const a = faultData(5 * MiB + 3, 10);
  const b = faultData(6 * MiB, 11);
  const partials = [
    await createUpload(r.app.url, a.length, { 'Upload-Concat': 'partial' }),
    await createUpload(r.app.url, b.length, { 'Upload-Concat': 'partial' }),
  ];
  t.equal((await patch(partials[0] as string, 0, a)).status, 204, 'first partial finished');
  const res = await fetch(`${r.app.url}/files/`, {
    method: 'POST',
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Concat': `final;${partials.map((u) => new URL(u).pathname).join(' ')}` },
  });
  t.equal(res.status, 201, 'final upload recorded, waiting for the second partial');
  const final = new URL(res.headers.get('location') as string, r.app.url).toString();
  r.proxy.setRules([{ op: 'UploadPartCopy', fault: 'slowdown503' }]);
  t.equal((await patch(partials[1] as string, 0, b)).status, 204, 'second partial finished (its assembly fails behind it)');
  t.ok(r.proxy.seen('UploadPartCopy').length >= 1, 'the assembly was tried');
  const during = await head(final);
  t.not(during.status, 200, `HEAD of the final while the copies fail: ${during.status}, not a claim of bytes`);
  r.proxy.clear();
  await assertComplete(t, r, final, Buffer.concat([a, b]));
  await assertNoOrphans(t, r, [...partials, final]);
});
