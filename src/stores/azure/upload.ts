/**
 * One tus upload in the container: its state (`.info`, the staged blocks that count, the tail)
 * and the operations on it. Loading only reads; everything that writes is called by a request
 * that holds the upload's lock and, when that lock can be lost (`fence`), asks it first.
 */
import { ERRORS } from '@tus/utils';
import type { LockHold } from '../capabilities.js';
import { contentTypeOf, servedDisposition } from '../content-headers.js';
import { blockId, blockIndex, blockLength, blockStart } from './block-size.js';
import type { AzureContainer } from './container.js';
import { type AzureUploadInfo, InfoBlob, type UploadNames } from './info-blob.js';
import { Tail } from './tail.js';

export class AzureUpload {
  /** Sizes of the staged blocks this upload knows of, by index (those beyond a gap too). */
  private staged = new Map<number, number>();
  /** Blocks 0..run-1 are staged, each with the length its index calls for: the bytes from offset 0. */
  private run = 0;
  private readonly tail: Tail;
  /** The blob is committed: every byte is in it. */
  finished = false;
  /** The lock of the request writing now, when it can be lost: asked before each write. */
  fence: LockHold | undefined;

  constructor(
    private readonly container: AzureContainer,
    readonly names: UploadNames,
    readonly info: AzureUploadInfo,
    private readonly infoBlob = new InfoBlob(container, names.info),
  ) {
    this.tail = new Tail(container, names.tail);
  }

  /** Read an upload's state: `.info`, the committed blob or the staged blocks, the tail. Never writes. */
  static async load(container: AzureContainer, names: UploadNames): Promise<AzureUpload> {
    const infoBlob = new InfoBlob(container, names.info);
    const info = await infoBlob.read();
    if (info === undefined) throw ERRORS.FILE_NOT_FOUND;
    const upload = new AzureUpload(container, names, info, infoBlob);
    const committed = await container.properties(info.blob);
    // A committed blob is the finished upload (committing is the last step of a completion).
    if (committed && info.size !== undefined && committed.size === info.size) {
      upload.finished = true;
      return upload;
    }
    for (const block of await container.stagedBlocks(info.blob)) {
      const index = blockIndex(block.name);
      if (index !== undefined) upload.staged.set(index, block.size);
    }
    upload.count();
    await upload.tail.find(upload.allInBlocks ? undefined : upload.run);
    return upload;
  }

  get id(): string {
    return this.info.id;
  }

  /** The index of the next block to stage. */
  get nextBlock(): number {
    return this.run;
  }

  /** Bytes in the blocks that count. */
  get blocksEnd(): number {
    const { size, plan } = this.info;
    return Math.min(blockStart(plan, this.run), size ?? Number.POSITIVE_INFINITY);
  }

  /** Every byte of a known-length upload is in blocks (the commit may still be due). */
  get allInBlocks(): boolean {
    const { size, plan } = this.info;
    return size !== undefined && blockLength(plan, this.run, size) === 0;
  }

  /**
   * Every byte of a known-length upload is stored but the blob is not committed: a completion
   * was interrupted, or the length was declared once the last bytes were already in the tail.
   */
  get completionDue(): boolean {
    return !this.finished && this.info.size !== undefined && this.offset === this.info.size;
  }

  /** Bytes stored, readable back in order. */
  get offset(): number {
    if (this.finished) return this.info.size ?? 0;
    return this.blocksEnd + this.tail.countedBytes(this.run);
  }

  get countedTailBytes(): number {
    return this.tail.countedBytes(this.run);
  }

  private async fenced(): Promise<void> {
    await this.fence?.verify();
  }

  /** Recount the run: block i counts when staged with the length its index calls for. */
  private count(): void {
    const { plan, size } = this.info;
    let run = 0;
    for (;;) {
      const length = blockLength(plan, run, size);
      if (length === 0 || this.staged.get(run) !== length) break;
      run += 1;
    }
    this.run = run;
    this.tail.staleUnlessBegins(run);
  }

  /** Stage block `index` (`length` bytes, exactly what its index calls for): bytes, or a streamed body's factory. */
  async stage(index: number, body: Buffer | (() => NodeJS.ReadableStream), length: number, signal?: AbortSignal): Promise<void> {
    // (A streamed body is checked again before its last byte: see write-body.ts.)
    await this.fenced();
    await this.container.stageBlock(this.info.blob, blockId(index), body, length, signal);
  }

  /** Blocks Azure has accepted, with their lengths: they count once the blocks before them do. */
  record(blocks: ReadonlyArray<{ index: number; length: number }>): void {
    for (const { index, length } of blocks) this.staged.set(index, length);
    this.count();
  }

  readTail(): Promise<Buffer | undefined> {
    return this.tail.read(this.run);
  }

  /** Keep bytes that do not fill block `index` as the tail (nothing when that block already counts). */
  async saveTail(index: number, bytes: Buffer): Promise<void> {
    if (index !== this.run) return;
    await this.fenced();
    await this.tail.save(index, bytes);
  }

  /**
   * Commit the blob from blocks 0..run-1 with the upload's content headers, then remove the
   * tail. The upload's last bytes still in the tail (a length declared after they arrived, whose
   * staging failed or was interrupted) are staged as its last block first.
   */
  async complete(): Promise<void> {
    if (!this.allInBlocks && this.countedTailBytes > 0) {
      const last = await this.tail.read(this.run);
      if (last?.length) {
        await this.stage(this.run, last, last.length);
        this.record([{ index: this.run, length: last.length }]);
      }
    }
    if (!this.allInBlocks) throw ERRORS.UNKNOWN_ERROR;
    const ids = Array.from({ length: this.run }, (_, i) => blockId(i));
    await this.fenced();
    await this.container.commit(this.info.blob, ids, this.headers());
    this.finished = true;
    await this.tail.discard();
  }

  /** Content-Type and Content-Disposition of the committed blob, from the metadata, as downloads serve them. */
  headers(): { contentType: string; contentDisposition: string | undefined } {
    return { contentType: contentTypeOf(this.info.metadata), contentDisposition: servedDisposition(this.info.metadata) };
  }

  async declareLength(size: number): Promise<void> {
    this.info.size = size;
    await this.saveInfo();
    this.count();
  }

  /** The first state of an upload whose id was chosen elsewhere: refused (UploadIdTaken) when it exists. */
  async createInfo(): Promise<void> {
    await this.fenced();
    await this.infoBlob.create(this.info);
  }

  async saveInfo(): Promise<void> {
    await this.fenced();
    await this.infoBlob.save(this.info);
  }

  /** Remove the blob (its staged blocks too) and the tail; `.info` last, so a failed termination can be retried. */
  /** Whether `.info` is gone: the upload was removed (expired, terminated) since it was loaded. */
  async removedMeanwhile(): Promise<boolean> {
    return (await this.container.properties(this.names.info)) === undefined;
  }

  async remove(): Promise<void> {
    await this.container.discardBlocks(this.info.blob);
    await this.container.delete(this.names.tail);
    await this.container.delete(this.names.info);
  }
}
