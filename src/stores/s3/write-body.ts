/**
 * One request's body into one upload: read it once, cut it into parts, send them (streamed
 * or buffered, PART_CONCURRENCY at once), and when the body ends, early or not, keep every
 * byte that arrived: as parts, as the upload's last part (then complete it), or as the tail.
 * Parts count only up to the first failure; later ones stay in S3 as stored parts (see
 * countParts), never counted before the parts ahead of them exist.
 *
 * A request whose lock is lost (`hold`) keeps nothing more: it stops reading, its parts in
 * flight are aborted (a streamed part cut short is not stored), no remainder is kept, and it
 * fails with the loss. Every write that commits asks the hold first (S3Upload), and a streamed
 * part's last byte goes out only once the lock is confirmed: S3 stores a part only with all
 * its bytes, so that byte is the part's commit.
 */

import type { Readable } from 'node:stream';
import { ERRORS } from '@tus/utils';
import { bodyPieces, isBodyCut } from '../body-pieces.js';
import { BodyTooLong, type BodyWriteOptions, type LockHold } from '../capabilities.js';
import { coalesce } from '../coalesce.js';
import { type Reservation, withReservation } from '../part-memory.js';
import { type CutPart, PartCutter, type Remainder } from './part-cutter.js';
import type { PartSender, Send } from './part-sender.js';
import type { StreamedPart } from './streamed-part.js';
import type { S3Upload } from './upload.js';
import { isWholeObject, type Part } from './upload-state.js';

/** What the store's writeBody was given (capabilities.ts), and the location's part rules. */
export interface WriteOptions extends BodyWriteOptions {
  equalParts: boolean;
  maxUploadSize: number;
}

/** Returns the upload's offset afterwards. A failed part rejects (the parts before it count). */
export async function writeBody(upload: S3Upload, sender: PartSender, body: Readable, o: WriteOptions): Promise<number> {
  // Every byte held for a part is reserved against PART_MEMORY first (see PartMemory); what
  // the request still holds when it ends is given back here.
  return withReservation(sender.memory, (reservation) => write(upload, sender, body, o, reservation));
}

async function write(upload: S3Upload, sender: PartSender, body: Readable, o: WriteOptions, reservation: Reservation): Promise<number> {
  // The tail read back is the start of the first part.
  await reservation.cover(upload.countedTailBytes);
  const cutter = new PartCutter(
    {
      plan: upload.info.plan,
      size: upload.info.size,
      equalParts: o.equalParts,
      maxUploadSize: o.maxUploadSize,
      firstPart: upload.nextPart,
      start: upload.partsEnd,
      expectedBytes: o.expectedBytes,
      maxBytes: o.maxBytes,
      stored: upload.storedSizes,
      canBeWhole: upload.info.uploadId === undefined,
    },
    await upload.readTail(),
  );
  const lost = o.hold?.lost;
  // A lost lock aborts the S3 requests in flight too.
  const sendOf =
    (part: Readonly<CutPart>): Send =>
    (bytes, length, signal) => {
      const until = signal && lost ? AbortSignal.any([signal, lost]) : (signal ?? lost);
      return part.whole ? upload.sendWhole(bytes, length, until) : upload.sendPart(part.number, bytes, length, until);
    };
  const stop = o.stop && lost ? AbortSignal.any([o.stop, lost]) : (o.stop ?? lost);
  const pieces = coalesce(bodyPieces(body, stop, o.onProgress));
  const { sent, cut } = await sendParts(cutter, sender, sendOf, pieces, reservation, o.hold);

  const settled = await Promise.allSettled(sent);
  const accepted = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;
  if (lost?.aborted) {
    // What S3 accepted before the loss was known is stored; nothing more is.
    if (!accepted.some(isWholeObject)) upload.record(accepted);
    throw lost.reason;
  }
  if (accepted.some(isWholeObject)) {
    await upload.finishedWhole();
    return finish(upload, cutter.tooLarge, cut);
  }
  upload.record(accepted);
  if (failure) throw failure;

  const remainder = cutter.end();
  // Nothing arrived: nothing changes, unless the length this request declared (deferred
  // length) makes the bytes already held the whole upload.
  if (cutter.received === 0 && sent.length === 0 && remainder.kind !== 'last') return finish(upload, false, cut);
  await keepRemainder(upload, remainder, (part) => sender.dispatch(part, sendOf(part), undefined));
  return finish(upload, cutter.tooLarge, cut);
}

/**
 * Read the body through the cutter and start sending each part (streamed while it fills when
 * the request will fill it). Stops at the body's end, a failed part, or bytes past the limit;
 * a body that broke off is reported as `cut`, with everything before it kept in the cutter.
 */
async function sendParts(
  cutter: PartCutter,
  sender: PartSender,
  sendOf: (part: Readonly<CutPart>) => Send,
  pieces: AsyncIterable<Buffer>,
  reservation: Reservation,
  hold: LockHold | undefined,
): Promise<{ sent: Array<Promise<Part>>; cut: unknown }> {
  const sent: Array<Promise<Part>> = [];
  let failed = false;
  let streamed: StreamedPart | undefined;
  // A part's bytes are reserved before its first byte is read (the wait slows the client).
  const begin = async () => {
    await reservation.cover(cutter.current.length);
    streamed = cutter.willFill ? sender.startStream(cutter.current, sendOf(cutter.current)) : undefined;
  };
  let cut: unknown;
  try {
    await begin();
    for await (let chunk of pieces) {
      while (chunk.length > 0 && !failed && !cutter.tooLarge) {
        const { piece, rest } = cutter.take(chunk);
        chunk = rest;
        // The piece that fills a streamed part commits it: sent only while the lock is held.
        if (piece && streamed && cutter.full) await hold?.verify();
        if (piece) streamed?.append(piece);
        if (!cutter.full) continue;
        const part = cutter.next();
        const task = sender.hold(reservation.handOff(), sender.dispatch(part, sendOf(part), streamed));
        task.catch(() => {
          failed = true;
        });
        sent.push(task);
        await sender.room();
        await begin();
      }
      if (failed || cutter.tooLarge) break;
    }
  } catch (error) {
    // The body broke off (the client went away, or a shutdown ended it): keep what arrived.
    cut = isBodyCut(error) ? ERRORS.ABORTED : error;
  }
  // The body ended before the streamed part was full: abandon its S3 request (nothing of it
  // is stored) and keep its bytes like any remainder.
  if (streamed) {
    streamed.cut();
    await streamed.task.catch(() => {});
  }
  return { sent, cut };
}

/** What the bytes held at the end of the body become: the last part (then complete), a part, or the tail. */
async function keepRemainder(upload: S3Upload, remainder: Remainder, send: (part: CutPart) => Promise<Part>): Promise<void> {
  switch (remainder.kind) {
    case 'last': {
      const { part } = remainder;
      if (part.whole) {
        await send(part);
        await upload.finishedWhole();
        return;
      }
      if (part.length > 0 || upload.run.length === 0) upload.record([await send(part)]);
      await upload.complete();
      return;
    }
    case 'part':
      upload.record([await send(remainder.part)]);
      return;
    case 'tail':
      await upload.saveTail(remainder.part);
      return;
    case 'nothing':
      return;
  }
}

function finish(upload: S3Upload, tooLarge: boolean, cut: unknown): number {
  // A body longer than the upload (sent without Content-Length): what fitted is kept, the excess not read.
  if (tooLarge) throw new BodyTooLong(upload.offset);
  if (cut && cut !== ERRORS.ABORTED) throw cut;
  return upload.offset;
}
