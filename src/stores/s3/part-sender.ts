/**
 * Sends parts to S3 for one location: up to PART_CONCURRENCY at once across all its uploads,
 * streamed while their bytes arrive when the request will fill them, otherwise once full.
 */
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { PartMemory } from '../part-memory.js';
import type { Body } from './bucket.js';
import type { CutPart } from './part-cutter.js';
import { PartCut, StreamedPart } from './streamed-part.js';
import type { Part } from './upload-state.js';

/** Sends one part's bytes (as a part, or as the whole upload). */
export type Send = (body: Body, length: number, signal?: AbortSignal) => Promise<Part>;

export interface PartSenderOptions {
  /** Full parts sent at once (PART_CONCURRENCY). */
  queueConcurrency: number;
  /** Full parts plus parts streaming while they fill (PART_CONCURRENCY). */
  partConcurrency: number;
  /** PART_MEMORY: bytes of parts held in memory at once, all uploads of the location together. */
  partMemory: number;
  /** STREAM_PARTS. */
  streamParts: boolean;
  log?: Logger | undefined;
}

export class PartSender {
  /** Full parts being sent. */
  readonly queue: PQueue;
  /**
   * Parts streaming while they fill. They hold no queue slot: a slow client filling its part
   * must not hold up the full parts of other uploads.
   */
  private streaming = 0;
  /**
   * Every byte of a part held in memory (filling, streaming, queued, being sent) is reserved
   * here first: PART_MEMORY bounds the bytes, PART_CONCURRENCY the requests.
   */
  readonly memory: PartMemory;

  constructor(private readonly o: PartSenderOptions) {
    this.queue = new PQueue({ concurrency: Math.max(1, o.queueConcurrency) });
    this.memory = new PartMemory(o.partMemory);
  }

  /** `task` holds `bytes` of the budget until it settles. */
  hold<T>(bytes: number, task: Promise<T>): Promise<T> {
    const give = () => this.memory.give(bytes);
    task.then(give, give);
    return task;
  }

  /** S3 part uploads in flight: full parts being sent plus parts streaming while they fill. */
  get inFlight(): number {
    return this.queue.pending + this.streaming;
  }

  /**
   * Start sending `part` while its bytes arrive, if streaming is on and streams plus running
   * full parts stay under PART_CONCURRENCY. The pieces the request adds to the part are
   * appended with `append`. A failed attempt (the SDK cannot retry a stream) is sent again,
   * buffered, from the part's pieces once it is full; a part the request leaves short fails
   * with PartCut.
   */
  startStream(part: Readonly<CutPart>, send: Send): StreamedPart | undefined {
    if (!this.o.streamParts || this.inFlight >= this.o.partConcurrency) return undefined;
    const streamed = new StreamedPart(part.length);
    const pieces = part.pieces;
    this.streaming += 1;
    void streamed.filled.then(() => {
      this.streaming -= 1;
    });
    streamed.task = (async (): Promise<Part> => {
      try {
        return await send(streamed.body, part.length, streamed.signal);
      } catch (error) {
        if (!(await streamed.filled)) throw new PartCut();
        this.o.log?.warn({ partNumber: part.number, err: error }, 'streamed part failed; sending it again from the bytes kept');
        return send(Buffer.concat(pieces, part.length), part.length);
      }
    })();
    // Settled by whoever waits for the part; this keeps an early failure from going unhandled.
    streamed.task.catch(() => {});
    for (const piece of pieces) streamed.append(piece);
    return streamed;
  }

  /** A full part: its streamed request, or a buffered send; counted among the queue's parts until S3 has it. */
  dispatch(part: CutPart, send: Send, streamed: StreamedPart | undefined): Promise<Part> {
    if (streamed) {
      const running = streamed.task;
      return this.queue.add(() => running);
    }
    return this.queue.add(() => send(Buffer.concat(part.pieces, part.length), part.length));
  }

  /** Back-pressure: resolves once the location's full parts are no longer waiting for a slot. */
  async room(): Promise<void> {
    if (this.queue.size > 0) await this.queue.onSizeLessThan(1);
  }
}
