/**
 * One request's body into one upload: read it once, cut it into blocks, stage them
 * (streamed while their bytes arrive when the request will fill them, PART_CONCURRENCY at once
 * per location), and when the body ends, early or not, keep every byte
 * that arrived: as blocks, or as the tail; commit the blob once every byte is staged. Blocks
 * count only up to the first failure; later ones stay staged and count once the gap is staged
 * again (their index fixes their bytes). A request whose lock is lost (`hold`) stops reading and
 * keeps nothing more.
 */
import type { Readable } from 'node:stream';
import { ERRORS } from '@tus/utils';
import { bodyPieces, isBodyCut } from '../body-pieces.js';
import { BodyTooLong, type BodyWriteOptions, type LockHold } from '../capabilities.js';
import { coalesce } from '../coalesce.js';
import { type Reservation, withReservation } from '../part-memory.js';
import { BlockCutter } from './block-cutter.js';
import type { BlockStager, Stage } from './block-stager.js';
import type { StreamedBlock } from './streamed-block.js';
import type { AzureUpload } from './upload.js';

/** What the store's writeBody was given (capabilities.ts). */
export type WriteOptions = BodyWriteOptions;

interface Staged {
  index: number;
  length: number;
}

/** Returns the upload's offset afterwards. */
export async function writeBody(upload: AzureUpload, stager: BlockStager, body: Readable, o: WriteOptions): Promise<number> {
  return withReservation(stager.memory, (reservation) => write(upload, stager, body, o, reservation));
}

async function write(upload: AzureUpload, stager: BlockStager, body: Readable, o: WriteOptions, reservation: Reservation): Promise<number> {
  // The tail read back is the start of the first block.
  await reservation.cover(upload.countedTailBytes);
  const { plan, size } = upload.info;
  const options = { plan, size, firstIndex: upload.nextBlock, expectedBytes: o.expectedBytes, maxBytes: o.maxBytes };
  const cutter = new BlockCutter(options, await upload.readTail());
  const lost = o.hold?.lost;
  const stop = o.stop && lost ? AbortSignal.any([o.stop, lost]) : (o.stop ?? lost);
  const pieces = coalesce(bodyPieces(body, stop, o.onProgress));
  const { sent, cut } = await stageBlocks(upload, cutter, stager, pieces, reservation, o.hold);

  const settled = await Promise.allSettled(sent);
  upload.record(settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
  if (lost?.aborted) throw lost.reason;
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  const rest = cutter.rest();
  if (rest.bytes.length > 0) await upload.saveTail(rest.index, rest.bytes);
  if (upload.completionDue) await upload.complete();
  // A body longer than the upload (sent without Content-Length): what fitted is kept, the rest not read.
  if (cutter.tooLarge) throw new BodyTooLong(upload.offset);
  if (cut && cut !== ERRORS.ABORTED) throw cut;
  return upload.offset;
}

/**
 * Read the body through the cutter and stage each block: while its bytes arrive when the request
 * will fill it (and there is room), otherwise once full; its bytes are reserved before the first
 * is read. Stops at the body's end, a failed block, or bytes past the limit; a body that broke
 * off is reported as `cut`, with everything before it kept in the cutter.
 */
async function stageBlocks(
  upload: AzureUpload,
  cutter: BlockCutter,
  stager: BlockStager,
  pieces: AsyncIterable<Buffer>,
  reservation: Reservation,
  hold: LockHold | undefined,
): Promise<{ sent: Array<Promise<Staged>>; cut: unknown }> {
  const sent: Array<Promise<Staged>> = [];
  let failed = false;
  let streamed: StreamedBlock | undefined;
  const lost = hold?.lost;
  const stageOf =
    (index: number, length: number): Stage =>
    (bytes, signal) =>
      upload.stage(index, bytes, length, signal && lost ? AbortSignal.any([signal, lost]) : (signal ?? lost));
  const begin = async () => {
    await reservation.cover(cutter.current.length);
    const { current } = cutter;
    streamed = cutter.willFill ? stager.startStream(current, stageOf(current.index, current.length)) : undefined;
  };
  // A full block (the tail alone can fill the upload's last) is staged before more is read.
  const flush = async () => {
    while (cutter.full) {
      const block = cutter.next();
      const task = stager.dispatch(reservation.handOff(), block, streamed, stageOf(block.index, block.length));
      const staged = task.then(() => ({ index: block.index, length: block.length }));
      staged.catch(() => {
        failed = true;
      });
      sent.push(staged);
      await stager.room();
      await begin();
    }
  };
  let cut: unknown;
  try {
    await begin();
    await flush();
    for await (let chunk of pieces) {
      while (chunk.length > 0 && !failed && !cutter.tooLarge) {
        const { piece, rest } = cutter.take(chunk);
        chunk = rest;
        // The piece that fills a streamed block commits it: sent only while the lock is held.
        if (piece && streamed && cutter.full) await hold?.verify();
        if (piece) streamed?.append(piece);
        await flush();
      }
      if (failed || cutter.tooLarge) break;
    }
  } catch (error) {
    // The body broke off (the client went away, or a shutdown ended it): keep what arrived.
    cut = isBodyCut(error) ? ERRORS.ABORTED : error;
  }
  // The body ended before the streamed block was full: abandon its Put Block (Azure stores
  // nothing of it) and keep its bytes as the tail.
  if (streamed && !streamed.full) {
    streamed.cut();
    await streamed.task.catch(() => {});
  }
  return { sent, cut };
}
