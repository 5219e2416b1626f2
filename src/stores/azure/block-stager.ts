/**
 * Stages blocks for one location: full blocks up to PART_CONCURRENCY at once across all its
 * uploads, and blocks streamed while their bytes arrive (they hold no queue slot: a slow client
 * filling its block must not hold up the full blocks of other uploads; they stream only while
 * streams plus running full blocks stay under PART_CONCURRENCY). Every byte of a block held in
 * memory is reserved against PART_MEMORY first (the S3 store's PartMemory: requests wait in line
 * when the budget is spent, which slows their clients through TCP).
 */
import PQueue from 'p-queue';
import { PartMemory } from '../part-memory.js';
import type { CutBlock } from './block-cutter.js';
import { StreamedBlock } from './streamed-block.js';

/** Stages one block's bytes: a buffer, or the body factory of a streamed block. */
export type Stage = (body: Buffer | (() => NodeJS.ReadableStream), signal?: AbortSignal) => Promise<unknown>;

export class BlockStager {
  readonly queue: PQueue;
  readonly memory: PartMemory;
  private streaming = 0;

  constructor(
    private readonly concurrency: number,
    partMemory: number,
  ) {
    this.queue = new PQueue({ concurrency: Math.max(1, concurrency) });
    this.memory = new PartMemory(partMemory);
  }

  /** Blocks being staged now (metrics): full ones and streams. */
  get inFlight(): number {
    return this.queue.pending + this.streaming;
  }

  /** Start staging `block` while its bytes arrive, if there is room; the request appends the rest. */
  startStream(block: Readonly<CutBlock>, stage: Stage): StreamedBlock | undefined {
    if (this.inFlight >= this.concurrency) return undefined;
    const streamed = new StreamedBlock(block.index, block.length);
    this.streaming += 1;
    streamed.task = stage(streamed.body, streamed.signal).finally(() => {
      this.streaming -= 1;
    });
    // Settled by whoever waits for the block; this keeps an early failure from going unhandled.
    streamed.task.catch(() => {});
    for (const piece of block.pieces) streamed.append(piece);
    return streamed;
  }

  /**
   * A full block: its streamed request, or a buffered Put Block once a slot is free. Counted among
   * the queue's blocks until Azure has it; `bytes` of the budget are given back when it settles.
   */
  dispatch(bytes: number, block: CutBlock, streamed: StreamedBlock | undefined, stage: Stage): Promise<void> {
    const task = this.queue.add(async () => {
      await (streamed ? streamed.task : stage(Buffer.concat(block.pieces, block.length)));
    });
    const give = () => this.memory.give(bytes);
    task.then(give, give);
    return task;
  }

  /** A copy inside Azure (no bytes here), once a slot is free. */
  copy(run: () => Promise<void>): Promise<void> {
    return this.queue.add(run);
  }

  /** Back-pressure: resolves once the location's blocks are no longer waiting for a slot. */
  async room(): Promise<void> {
    if (this.queue.size > 0) await this.queue.onSizeLessThan(1);
  }
}
