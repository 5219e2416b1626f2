/**
 * Client cuts (issue 14, item 2): one upload, cut off at seeded random points. Each cut is a
 * PATCH whose connection ends after N bytes of the announced body; the client then asks HEAD
 * and continues from the offset it answers. Every time: the offset never claims more than was
 * sent and never goes back below an acknowledged offset; the upload completes byte-exact; no
 * tail object, multipart upload or temp file is left.
 *
 * SEED=<n> replays a run (the seed is printed); CUTS and SIZE (bytes, or "64MiB") make the long
 * run: `CUTS=50 SIZE=64MiB npx tap test/s3/client-cuts.test.ts`.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { createUpload, patch, startAppFor } from '../helpers/app.js';
import { sha256 } from '../helpers/bytes.js';
import { cutRequest, settledOffset } from '../helpers/cut-request.js';
import { patchHeaders } from '../helpers/raw-request.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { seeded, seededData, sizeFromEnv } from '../helpers/seeded.js';
import { MiB } from '../helpers/sizes.js';

const PART = 5 * MiB;

const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));
const CUTS = Number(process.env.CUTS ?? 10);
const SIZE = sizeFromEnv(process.env.SIZE, 24 * MiB + 321);

/**
 * Absolute cut points (bytes of the upload received when the connection ends), strictly
 * increasing, of every kind: inside the first 5 MiB, at part edges (exactly on one, one byte
 * either side), inside parts, and in the final request (the last byte missing).
 */
export function cutPoints(random: () => number, count: number, length: number): number[] {
  const at = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const edges = Math.max(1, Math.floor((length - 1) / PART));
  const points = new Set<number>();
  const add = (p: number) => {
    if (p > 0 && p < length) points.add(p);
  };
  add(at(1, Math.min(PART, length)));
  add(Math.min(PART, length - 1));
  add(at(PART + 1, Math.max(PART + 2, length - PART)));
  add(length - 1);
  add(at(Math.max(1, length - PART), length));
  const any = () => {
    const kind = Math.floor(random() * 3);
    if (kind === 0) return at(1, Math.min(PART, length)); // inside the first 5 MiB
    if (kind === 1) return (1 + Math.floor(random() * edges)) * PART + Math.floor(random() * 3) - 1; // at a part edge
    return at(1, length); // anywhere, mostly inside parts
  };
  let guard = 0;
  while (points.size < Math.min(count, length - 1) && guard++ < count * 100) add(any());
  return [...points].sort((a, b) => a - b);
}

/**
 * A PATCH from `offset` announcing the rest of the upload, whose connection ends after `sent`
 * bytes. With `checksum`, it declares an Upload-Checksum of the whole announced rest (the
 * server spools such a body to TUS_TEMP_DIR first).
 */
async function cut(url: string, offset: number, rest: Uint8Array, sent: number, checksum: boolean): Promise<void> {
  const headers = patchHeaders(offset, { 'Content-Length': String(rest.length) });
  if (checksum) headers['Upload-Checksum'] = `sha256 ${Buffer.from(sha256(rest), 'hex').toString('base64')}`;
  await cutRequest(url, 'PATCH', headers, rest, sent);
}

async function runCuts(t: Test, base: string, label: string): Promise<{ id: string; data: Buffer; offsets: number[] }> {
  const random = seeded(SEED);
  const data = seededData(random, SIZE);
  const points = cutPoints(random, CUTS, SIZE);
  t.comment(`${label}: SEED=${SEED} CUTS=${points.length} SIZE=${SIZE} cut points ${points.join(' ')}`);
  const url = await createUpload(base, data.length);
  const id = url.split('/').pop() as string;
  let acknowledged = 0;
  let offset = 0;
  const offsets: number[] = [];
  for (const [i, point] of points.entries()) {
    if (point <= offset) continue;
    // Every third cut carries a checksum: its body goes through a spool file in TUS_TEMP_DIR.
    const checksum = i % 3 === 2;
    await cut(url, offset, data.subarray(offset), point - offset, checksum);
    const now = await settledOffset(url);
    offsets.push(now);
    if (now > point || now < acknowledged) {
      t.fail(`cut ${i} at ${point} (from ${offset}, checksum ${checksum}): HEAD says ${now}, last acknowledged ${acknowledged}`);
      break;
    }
    if (checksum && now !== offset) t.fail(`cut ${i}: a body failing its checksum moved the offset ${offset} -> ${now}`);
    acknowledged = now;
    offset = now;
  }
  t.pass(`${offsets.length} cuts: every HEAD offset was at most the bytes sent and at least the last acknowledged one`);
  const done = await patch(url, offset, data.subarray(offset));
  t.equal(done.status, 204, 'the rest completes from the last HEAD offset');
  t.equal(done.headers.get('upload-offset'), String(data.length));
  return { id, data, offsets };
}

t.test('s3: seeded cuts, each resumed after HEAD', async (t) => {
  const server = s3TestServer();
  const client = verifyClient(server);
  const root = uniqueRoot('cuts');
  const tempDir = mkdtempSync(join(tmpdir(), 'tus-cuts-temp-'));
  const app = await startAppFor(t, s3LocationEnv(server, root, { TUS_TEMP_DIR: tempDir }));
  const started = Date.now();
  const { id, data, offsets } = await runCuts(t, app.url, 's3');
  t.comment(`offsets after each cut: ${offsets.join(' ')} (${Date.now() - started} ms)`);
  const stored = await objectSha256(client, server.bucket, `${root}${id}`);
  t.same(stored, { sha256: sha256(data), size: data.length }, 'the object is byte-exact');
  t.same(await listKeys(client, server.bucket, root), [`${root}${id}`, `${root}${id}.info`], 'no tail object (.part) left');
  const mpu = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
  t.same(mpu.Uploads ?? [], [], 'no multipart upload left under the root');
  t.same(readdirSync(tempDir), [], 'no temp file left in TUS_TEMP_DIR');
});

t.test('local: seeded cuts, each resumed after HEAD', async (t) => {
  const tempDir = mkdtempSync(join(tmpdir(), 'tus-cuts-temp-'));
  const app = await startAppFor(t, { TUS_TEMP_DIR: tempDir });
  const { id, data } = await runCuts(t, app.url, 'local');
  const { sha256File } = await import('../helpers/bytes.js');
  t.equal(await sha256File(join(app.root, id)), sha256(data), 'the file is byte-exact');
  const leftovers = readdirSync(app.root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp'));
  t.same(leftovers, [], 'no temporary record left in the upload directory');
  t.same(readdirSync(tempDir), [], 'no temp file left in TUS_TEMP_DIR');
});
