/**
 * One request's body into one upload: read it once, cut it into parts, send them (streamed
 * or buffered, PART_CONCURRENCY at once), and when the body ends, early or not, keep every
 * byte that arrived: as parts, as the upload's last part (then complete it), or as the tail.
 * Parts count only up to the first failure; later ones stay in S3 as stored parts (see
 * countParts), never counted before the parts ahead of them exist.
 */

import type { Readable } from 'node:stream';
import { ERRORS } from '@tus/utils';
import { BodyCut, bodyPieces } from '../body-pieces.js';
import { type CutPart, PartCutter } from './part-cutter.js';
import type { PartSender, Send } from './part-sender.js';
import type { StreamedPart } from './streamed-part.js';
import type { S3Upload } from './upload.js';
import type { Part } from './upload-state.js';

export interface WriteOptions {
  /** Body bytes the request announces (Content-Length), if known. */
  expectedBytes: number | undefined;
  /** Body bytes accepted at most. */
  maxBytes: number;
  /** Aborted when the request must stop reading (a newer request for the upload wants the lock). */
  stop: AbortSignal | undefined;
  equalParts: boolean;
  maxUploadSize: number;
}

/** Returns the upload's offset afterwards. A failed part rejects (the parts before it count). */
export async function writeBody(upload: S3Upload, sender: PartSender, body: Readable, o: WriteOptions): Promise<number> {
  const tail = await upload.readTail();
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
    tail,
  );
  const sendOf =
    (part: Readonly<CutPart>): Send =>
    (bytes, length, signal) =>
      part.whole ? upload.sendWhole(bytes, length, signal) : upload.sendPart(part.number, bytes, length, signal);
  const sent: Array<Promise<Part>> = [];
  let failed = false;
  let streamed: StreamedPart | undefined;
  const begin = () => {
    streamed = cutter.willFill ? sender.startStream(cutter.current, sendOf(cutter.current)) : undefined;
  };

  let cut: unknown;
  begin();
  try {
    for await (let chunk of bodyPieces(body, o.stop)) {
      while (chunk.length > 0 && !failed && !cutter.tooLarge) {
        const { piece, rest } = cutter.take(chunk);
        chunk = rest;
        if (piece) streamed?.append(piece);
        if (!cutter.full) continue;
        const part = cutter.next();
        const task = sender.dispatch(part, sendOf(part), streamed);
        task.catch(() => {
          failed = true;
        });
        sent.push(task);
        await sender.room();
        begin();
      }
      if (failed || cutter.tooLarge) break;
    }
  } catch (error) {
    // The body broke off (the client went away, or a shutdown ended it): keep what arrived.
    cut = error instanceof BodyCut || isConnectionError(error) ? ERRORS.ABORTED : error;
  }
  // The body ended before the streamed part was full: abandon its S3 request (nothing of it
  // is stored) and keep its bytes below like any remainder.
  if (streamed) {
    streamed.cut();
    await streamed.task.catch(() => {});
  }

  const settled = await Promise.allSettled(sent);
  const accepted = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;
  if (accepted.some((p) => p.PartNumber === 0)) {
    await upload.finishedWhole();
    return finish(upload, cutter.tooLarge, cut);
  }
  upload.record(accepted);
  if (failure) throw failure;

  const remainder = cutter.end();
  // Nothing arrived: nothing changes, unless the length this request declared (deferred
  // length) makes the bytes already held the whole upload.
  if (cutter.received === 0 && sent.length === 0 && remainder.kind !== 'last') return finish(upload, false, cut);
  switch (remainder.kind) {
    case 'last': {
      const { part } = remainder;
      if (part.whole) {
        await sender.dispatch(part, sendOf(part), undefined);
        await upload.finishedWhole();
        break;
      }
      if (part.length > 0 || upload.run.length === 0) upload.record([await sender.dispatch(part, sendOf(part), undefined)]);
      await upload.complete();
      break;
    }
    case 'part':
      upload.record([await sender.dispatch(remainder.part, sendOf(remainder.part), undefined)]);
      break;
    case 'tail':
      await upload.saveTail(remainder.part);
      break;
    case 'nothing':
      break;
  }
  return finish(upload, cutter.tooLarge, cut);
}

function finish(upload: S3Upload, tooLarge: boolean, cut: unknown): number {
  // A body longer than the upload (sent without Content-Length): what fitted is kept, the excess refused.
  if (tooLarge) throw ERRORS.ERR_SIZE_EXCEEDED;
  if (cut && cut !== ERRORS.ABORTED) throw cut;
  return upload.offset;
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error instanceof Error && error.message === 'aborted');
}
