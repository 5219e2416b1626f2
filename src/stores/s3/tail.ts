/**
 * The tail of an upload (the object at `keys.tail`, `<id>.part`): bytes too few for a part,
 * kept between requests, which begin part `startsPart`. They count while that is the next part
 * (`countedBytes`); once they went into a part the tail is stale, replaced by the next or
 * removed on completion.
 */
import type { Bucket } from './bucket.js';

/** Metadata key on the tail naming the part number its bytes begin. */
const TAIL_STARTS_PART = 'tus-next-part';

export class Tail {
  /** A tail is in the bucket (current or stale): removed when the upload completes. */
  private stored = false;
  /** The part number its bytes begin (its `tus-next-part` metadata); 0 when none is known. */
  private startsPart = 0;
  /** Its length in bytes; 0 once it is stale or the upload complete. */
  private length = 0;

  constructor(
    private readonly bucket: Bucket,
    private readonly key: string,
  ) {}

  /** Look for a stored tail; its bytes count if they begin `nextPart` (undefined: none can, they are stale). */
  async find(nextPart: number | undefined): Promise<void> {
    const tail = await this.bucket.head(this.key);
    this.stored = tail !== undefined;
    if (tail && nextPart !== undefined && Number(tail.metadata[TAIL_STARTS_PART]) === nextPart) {
      this.length = tail.size;
      this.startsPart = nextPart;
    }
  }

  /** Its length while its bytes count: while they begin `nextPart`. */
  countedBytes(nextPart: number): number {
    return this.startsPart === nextPart ? this.length : 0;
  }

  /** Parts were counted: a tail that no longer begins the next part is stale. */
  staleUnlessBegins(nextPart: number): void {
    if (this.length > 0 && this.startsPart !== nextPart) this.length = 0;
  }

  /** Its bytes while they count, read back from the bucket. */
  async read(nextPart: number): Promise<Buffer | undefined> {
    const bytes = this.countedBytes(nextPart);
    if (bytes === 0) return undefined;
    return this.bucket.readRange(this.key, 0, bytes - 1);
  }

  /** Keep `body`, which begins part `partNumber`, as the tail (replacing any earlier one). */
  async save(partNumber: number, body: Buffer): Promise<void> {
    // Set first: a PutObject that failed (its answer lost, a timeout) may be stored all the
    // same, and the completion or termination must then remove it.
    this.stored = true;
    await this.bucket.putPrivate(this.key, body, body.length, { Metadata: { [TAIL_STARTS_PART]: String(partNumber) } });
    this.startsPart = partNumber;
    this.length = body.length;
  }

  /**
   * The upload is complete: its bytes count no more, and the object is removed. A failure
   * leaves a stale tail (removed on termination), not a failed upload.
   */
  async discard(): Promise<void> {
    this.length = 0;
    if (!this.stored) return;
    try {
      await this.bucket.delete(this.key);
      this.stored = false;
    } catch (error) {
      this.bucket.warn({ key: this.key, err: error }, 'the tail object of a completed upload was not removed');
    }
  }
}
