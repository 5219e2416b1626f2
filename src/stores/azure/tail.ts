/**
 * The tail of an upload (the blob `<id>.part`): bytes too few for a block, kept between
 * requests, which begin block `startsBlock`. They count while that is the next block; once
 * they went into a block the tail is stale, replaced by the next one or removed on completion.
 * (As the S3 store's tail: Azure cannot read staged blocks back, so bytes that do not fill a
 * block wait here rather than as a short block that would spend one of the 50,000.)
 */
import type { AzureContainer } from './container.js';

/** Metadata naming the block index the tail's bytes begin (Azure metadata names are C# identifiers). */
const TAIL_STARTS_BLOCK = 'tusnextblock';

export class Tail {
  /** A tail blob exists (current or stale): removed when the upload completes. */
  private stored = false;
  private startsBlock = -1;
  private length = 0;

  constructor(
    private readonly container: AzureContainer,
    private readonly name: string,
  ) {}

  /** Look for a stored tail; its bytes count if they begin `nextBlock` (undefined: none can). */
  async find(nextBlock: number | undefined): Promise<void> {
    const tail = await this.container.properties(this.name);
    this.stored = tail !== undefined;
    if (tail && nextBlock !== undefined && Number(tail.metadata[TAIL_STARTS_BLOCK]) === nextBlock) {
      this.length = tail.size;
      this.startsBlock = nextBlock;
    }
  }

  countedBytes(nextBlock: number): number {
    return this.startsBlock === nextBlock ? this.length : 0;
  }

  /** Blocks were counted: a tail that no longer begins the next block is stale. */
  staleUnlessBegins(nextBlock: number): void {
    if (this.startsBlock !== nextBlock) this.length = 0;
  }

  /** Its bytes while they count, read back. */
  async read(nextBlock: number): Promise<Buffer | undefined> {
    const bytes = this.countedBytes(nextBlock);
    if (bytes === 0) return undefined;
    return this.container.readRange(this.name, 0, bytes);
  }

  /** Keep `body`, which begins block `index`, as the tail (replacing any earlier one). */
  async save(index: number, body: Buffer): Promise<void> {
    // Set first: a write whose answer was lost may be stored all the same.
    this.stored = true;
    await this.container.put(this.name, body, { metadata: { [TAIL_STARTS_BLOCK]: String(index) } });
    this.startsBlock = index;
    this.length = body.length;
  }

  /** The upload is complete: remove the tail. A failure leaves a stale tail (removed on termination). */
  async discard(): Promise<void> {
    this.length = 0;
    if (!this.stored) return;
    try {
      await this.container.delete(this.name);
      this.stored = false;
    } catch (error) {
      this.container.warn({ blob: this.name, err: error }, 'the tail blob of a completed upload was not removed');
    }
  }
}
