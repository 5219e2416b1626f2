/**
 * The final upload of a concatenation, assembled inside S3: each partial of at least 5 MiB
 * is copied with UploadPartCopy (in slices of up to 5 GiB), never downloaded; only partials
 * (or remainders) below the 5 MiB part minimum are read and sent as bytes. A failed assembly
 * is undone by `undoAssembly`.
 */

import { Reservation } from '../part-memory.js';
import type { Bucket } from './bucket.js';
import { StoreError } from './errors.js';
import type { PartSender } from './part-sender.js';
import { MAX_PART_SIZE, MIN_PART_SIZE } from './part-size.js';
import type { S3Upload } from './upload.js';
import type { Part } from './upload-state.js';

export async function assemble(target: S3Upload, partials: readonly S3Upload[], bucket: Bucket, sender: PartSender): Promise<void> {
  const tasks: Array<Promise<Part>> = [];
  let pending: Buffer[] = [];
  let pendingSize = 0;
  // Bytes read back to be sent as parts count against PART_MEMORY like any part's.
  const reservation = new Reservation(sender.memory);
  const flush = () => {
    const body = Buffer.concat(pending, pendingSize);
    const number = tasks.length + 1;
    tasks.push(
      sender.hold(
        reservation.handOff(),
        sender.queue.add(() => target.sendPart(number, body, body.length)),
      ),
    );
    pending = [];
    pendingSize = 0;
  };
  try {
    await readAndCopy();
  } finally {
    reservation.release();
  }
  async function readAndCopy(): Promise<void> {
    for (const partial of partials) {
      const source = partial.info.key;
      const total = partial.info.size ?? 0;
      let pos = 0;
      while (pos < total) {
        const left = total - pos;
        if (pendingSize > 0 || left < MIN_PART_SIZE) {
          // Top up the pending bytes to a full part (or take a small remainder whole).
          const take = pendingSize > 0 ? Math.min(MIN_PART_SIZE - pendingSize, left) : left;
          await reservation.cover(pendingSize + take);
          pending.push(await bucket.readRange(source, pos, pos + take - 1));
          pendingSize += take;
          pos += take;
          if (pendingSize >= MIN_PART_SIZE) flush();
          continue;
        }
        let length = Math.min(left, MAX_PART_SIZE);
        if (left - length > 0 && left - length < MIN_PART_SIZE) length -= MIN_PART_SIZE;
        const number = tasks.length + 1;
        const start = pos;
        tasks.push(sender.queue.add(() => target.copyPart(number, source, start, start + length - 1)));
        pos += length;
      }
    }
    if (pendingSize > 0) flush();
  }
  if (tasks.length === 0) {
    await target.sendWhole(Buffer.alloc(0), 0);
    await target.finishedWhole();
    return;
  }
  target.record(await Promise.all(tasks));
  // Every part counts (each at least 5 MiB but the last): never complete an object short of bytes.
  if (target.partsEnd !== target.info.size) {
    throw new StoreError(500, `Concatenation of ${target.id}: the assembled parts hold ${target.partsEnd} of ${target.info.size} bytes.\n`);
  }
  await target.complete();
}

/**
 * Best effort: abort the multipart upload of a failed assembly and put back `before`, the state
 * of a final upload that was waiting for its partials (a new one's is removed by its caller,
 * concatenation.ts).
 */
export async function undoAssembly(target: S3Upload, bucket: Bucket, before: string | undefined): Promise<void> {
  try {
    if (target.info.uploadId && !target.finished) await bucket.abort(target.info.key, target.info.uploadId);
    if (target.finished || before === undefined) return;
    await bucket.putPrivate(target.keys.info, Buffer.from(before), Buffer.byteLength(before), { ContentType: 'application/json' });
  } catch (error) {
    bucket.warn({ key: target.keys.info, err: error }, 'a failed concatenation was not undone');
  }
}
