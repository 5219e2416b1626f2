/**
 * Cuts one request's body into parts: pure bookkeeping, no I/O. The write loop feeds it the
 * body's pieces with `take`, sends each part once `full`, and asks `end` what to do with the
 * bytes held when the body ends (the upload's last part, a part of its own, or the tail).
 * Pieces are kept as the body's own buffers (views, never copied here).
 */
import { BodyCutter } from '../body-cutter.js';
import { choosePartLength, MIN_PART_SIZE, type PartPlan } from './part-size.js';

export interface CutterOptions {
  plan: PartPlan;
  /** Upload length; undefined while deferred. */
  size: number | undefined;
  equalParts: boolean;
  maxUploadSize: number;
  /** Number of the first part this request fills, and the upload offset it starts at. */
  firstPart: number;
  start: number;
  /** Body bytes the request announces (Content-Length), if known. */
  expectedBytes: number | undefined;
  /** Body bytes accepted at most; more is "too large". */
  maxBytes: number;
  /** Sizes of parts in S3 beyond the upload's contiguous parts, by number (see choosePartLength). */
  stored?: ReadonlyMap<number, number>;
  /** The upload can still become one PutObject (no multipart upload yet). */
  canBeWhole: boolean;
}

export interface CutPart {
  number: number;
  /** Upload offset of its first byte. */
  start: number;
  length: number;
  pieces: Buffer[];
  /** The whole upload: sent as one PutObject of the final object, not as a part. */
  whole: boolean;
}

/** What the bytes held at the end of the body become. */
export type Remainder =
  | { kind: 'nothing' }
  /** The upload's last bytes (maybe none): send them if any, then complete the upload. */
  | { kind: 'last'; part: CutPart }
  /** Enough for a part of its own. */
  | { kind: 'part'; part: CutPart }
  /** Fewer bytes than a part: kept as the tail object, the start of part `part.number`. */
  | { kind: 'tail'; part: CutPart };

export class PartCutter extends BodyCutter {
  private number: number;
  private start: number;
  private readonly lastStored: number;

  constructor(
    private readonly o: CutterOptions,
    tail?: Buffer,
  ) {
    super(o.maxBytes);
    this.number = o.firstPart;
    this.start = o.start;
    this.lastStored = Math.max(0, ...(o.stored?.keys() ?? []));
    this.begin(tail);
  }

  /** The part being filled. */
  get current(): Readonly<CutPart> {
    return { number: this.number, start: this.start, length: this.target, pieces: this.pieces, whole: this.isWhole(this.target) };
  }

  /** The body announced enough bytes to fill the current part (so it can be streamed). */
  get willFill(): boolean {
    return this.target > 0 && this.o.expectedBytes !== undefined && this.held + this.restOfBody() >= this.target;
  }

  /** Close the full current part and begin the next one. */
  next(): CutPart {
    const part = { ...this.current, length: this.held };
    this.start += this.held;
    this.number += 1;
    this.begin(undefined);
    return part;
  }

  /** The body ended (completely or not): what the held bytes become. */
  end(): Remainder {
    const part: CutPart = { ...this.current, length: this.held };
    const { size } = this.o;
    if (size !== undefined && this.start + this.held === size) return { kind: 'last', part: { ...part, whole: this.isWhole(this.held) } };
    if (this.held === 0) return { kind: 'nothing' };
    // A request that ended early may still leave enough for a part of its own.
    if (this.held >= MIN_PART_SIZE && this.choose(this.held) === this.held) return { kind: 'part', part: { ...part, whole: false } };
    return { kind: 'tail', part: { ...part, whole: false } };
  }

  private begin(held: Buffer | undefined): void {
    this.pieces = held?.length ? [held] : [];
    this.held = held?.length ?? 0;
    this.target = this.choose(this.o.expectedBytes === undefined ? undefined : this.held + this.restOfBody());
  }

  private restOfBody(): number {
    return Math.max(0, (this.o.expectedBytes ?? 0) - this.received);
  }

  private choose(available: number | undefined): number {
    return choosePartLength(this.o.plan, {
      partNumber: this.number,
      start: this.start,
      size: this.o.size,
      available,
      equalParts: this.o.equalParts,
      maxUploadSize: this.o.maxUploadSize,
      stored: this.o.stored?.get(this.number),
      storedLater: this.lastStored > this.number,
    });
  }

  private isWhole(length: number): boolean {
    return this.o.canBeWhole && this.number === 1 && this.o.size !== undefined && length === this.o.size;
  }
}
