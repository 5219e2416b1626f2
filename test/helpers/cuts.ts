/**
 * Client cuts (issue 14, item 2), on any location: one upload cut off at seeded random points.
 * Each cut is a PATCH whose connection ends after N bytes of the announced body; the client then
 * asks HEAD and continues from the offset it answers, which must never claim more than was sent
 * nor go back below an acknowledged offset. SEED, CUTS and SIZE (bytes, or "64MiB") come from
 * the environment (the seed is printed).
 */
import { randomInt } from 'node:crypto';
import type { Test } from 'tap';
import { createUpload, patch } from './app.js';
import { sha256 } from './bytes.js';
import { cutRequest, settledOffset } from './cut-request.js';
import { patchHeaders } from './raw-request.js';
import { seeded, seededData, sizeFromEnv } from './seeded.js';
import { MiB } from './sizes.js';

const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));
const CUTS = Number(process.env.CUTS ?? 10);
const SIZE = sizeFromEnv(process.env.SIZE, 24 * MiB + 321);

/**
 * Absolute cut points (bytes of the upload received when the connection ends), strictly
 * increasing, of every kind: inside the first part, at part edges (parts of `part` bytes: S3's
 * parts, Azure's blocks; exactly on one, one byte either side), inside parts, and in the final
 * request (the last byte missing).
 */
export function cutPoints(random: () => number, count: number, length: number, part: number): number[] {
  const at = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));
  const edges = Math.max(1, Math.floor((length - 1) / part));
  const points = new Set<number>();
  const add = (p: number) => {
    if (p > 0 && p < length) points.add(p);
  };
  add(at(1, Math.min(part, length)));
  add(Math.min(part, length - 1));
  add(at(part + 1, Math.max(part + 2, length - part)));
  add(length - 1);
  add(at(Math.max(1, length - part), length));
  const any = () => {
    const kind = Math.floor(random() * 3);
    if (kind === 0) return at(1, Math.min(part, length)); // inside the first part
    if (kind === 1) return (1 + Math.floor(random() * edges)) * part + Math.floor(random() * 3) - 1; // at a part edge
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

/** The cuts on the location at `base`, parts of `part` bytes; the upload completed after the last. */
export async function runCuts(
  t: Test,
  base: string,
  label: string,
  part: number,
): Promise<{ id: string; data: Buffer; offsets: number[] }> {
  const random = seeded(SEED);
  const data = seededData(random, SIZE);
  const points = cutPoints(random, CUTS, SIZE, part);
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
