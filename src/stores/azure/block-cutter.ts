/**
 * Cuts one request's body into blocks: pure bookkeeping, no I/O. Every block has the length its
 * index calls for (block-size.ts), the upload's last one what is left; the bytes held when the
 * body ends, fewer than a block, become the tail. Pieces are the body's own buffers (views, never
 * copied here).
 */
import { BodyCutter } from '../body-cutter.js';
import { type BlockPlan, blockLength } from './block-size.js';

export interface CutBlock {
  index: number;
  length: number;
  pieces: Buffer[];
}

export interface CutterOptions {
  plan: BlockPlan;
  /** Upload length; undefined while deferred. */
  size: number | undefined;
  firstIndex: number;
  /** Body bytes the request announces (Content-Length), if known. */
  expectedBytes: number | undefined;
  /** Body bytes accepted at most; more is "too large". */
  maxBytes: number;
}

export class BlockCutter extends BodyCutter {
  private index: number;

  constructor(
    private readonly o: CutterOptions,
    tail: Buffer | undefined,
  ) {
    super(o.maxBytes);
    this.index = o.firstIndex;
    this.pieces = tail?.length ? [tail] : [];
    this.held = tail?.length ?? 0;
    this.target = blockLength(o.plan, o.firstIndex, o.size);
  }

  /** The block being filled: its index, its length, the pieces held so far. */
  get current(): Readonly<CutBlock> {
    return { index: this.index, length: this.target, pieces: this.pieces };
  }

  /** The body announced enough bytes to fill the current block (so it can be staged while they arrive). */
  get willFill(): boolean {
    const rest = Math.min(this.o.expectedBytes ?? 0, this.o.maxBytes) - this.received;
    return this.target > 0 && this.o.expectedBytes !== undefined && this.held + rest >= this.target;
  }

  /** Close the full block and begin the next one. */
  next(): CutBlock {
    const block = { index: this.index, length: this.held, pieces: this.pieces };
    this.index += 1;
    this.pieces = [];
    this.held = 0;
    this.target = blockLength(this.o.plan, this.index, this.o.size);
    return block;
  }

  /** The bytes held when the body ended (fewer than a block): the tail. */
  rest(): { index: number; bytes: Buffer } {
    return { index: this.index, bytes: Buffer.concat(this.pieces, this.held) };
  }
}
