/**
 * One tus upload in the bucket: its state (`.info`, the parts that count, the tail) and the
 * operations on it. Loading only reads; everything that writes is called by a request that
 * holds the upload's lock, and, when that lock can be lost (`fence`), asks it before each
 * write that commits. `.info` is written over the version this upload read or wrote (If-Match
 * on its ETag) where S3 supports conditional writes, so a writer whose view is stale fails.
 */
import { ERRORS } from '@tus/utils';
import type { LockHold } from '../capabilities.js';
import type { Body, Bucket } from './bucket.js';
import { InfoObject } from './info-object.js';
import type { UploadKeys } from './keys.js';
import { stateFromMetadata, stateMetadata } from './object-state.js';
import type { CutPart } from './part-cutter.js';
import { Tail } from './tail.js';
import { type CountedParts, countParts, type Part, partsBytes, StateHome, type UploadInfo, WHOLE_OBJECT } from './upload-state.js';

export class S3Upload {
  /** Parts that count (1..n, no gaps) and parts stored beyond them. */
  private parts: CountedParts = { run: [], stored: new Map() };
  private readonly tail: Tail;
  /** The final object is complete. */
  finished = false;
  private home: StateHome = StateHome.Info;
  private creatingMultipart: Promise<string> | undefined;
  /**
   * The lock of the request writing now, when it can be lost: asked before each write that
   * commits (a part, the final object, the completion, `.info`, the tail). Set by the store
   * for the length of one write (one request holds the lock at a time).
   */
  fence: LockHold | undefined;

  constructor(
    private readonly bucket: Bucket,
    readonly keys: UploadKeys,
    readonly info: UploadInfo,
    /** `.info`, at the version this upload read or wrote. */
    private readonly infoObject = new InfoObject(bucket, keys.info),
  ) {
    this.tail = new Tail(bucket, keys.tail);
  }

  /** Read an upload's state from the bucket: `.info`, the parts, the tail. Never writes. */
  static async load(bucket: Bucket, keys: UploadKeys): Promise<S3Upload> {
    const infoObject = new InfoObject(bucket, keys.info);
    const info = await infoObject.read();
    if (info === undefined) return S3Upload.loadFromObject(bucket, keys);
    const upload = new S3Upload(bucket, keys, info, infoObject);
    if (info.uploadId) {
      const listed = await bucket.listParts(info.key, info.uploadId);
      if (!listed) {
        // Completed (or aborted by a lifecycle rule): the final object tells which.
        if (!(await bucket.head(info.key))) throw ERRORS.FILE_NO_LONGER_EXISTS;
        upload.finished = true;
        return upload;
      }
      upload.parts = countParts(listed, info.size);
      // Every byte is in parts. Some servers (Swift) still list the parts of a completed
      // upload; the final object tells whether the completion ran.
      if (upload.allInParts && (await bucket.head(info.key))) {
        upload.finished = true;
        return upload;
      }
    } else if (info.size !== undefined && (await bucket.head(info.key))) {
      upload.finished = true;
      return upload;
    }
    // (When every byte is in parts and the completion is due, a tail left there is stale and
    // is removed by the completion.)
    // A tail whose bytes already went into a part is stale: ignored, replaced or removed later.
    await upload.tail.find(upload.allInParts ? undefined : upload.nextPart);
    return upload;
  }

  /**
   * An upload without `.info`: finished, its state in the final object's metadata. An object
   * without that state (or naming another upload) is not an upload.
   */
  private static async loadFromObject(bucket: Bucket, keys: UploadKeys): Promise<S3Upload> {
    const object = await bucket.head(keys.object);
    const info = object ? stateFromMetadata(object.metadata, keys.object, object.size) : undefined;
    if (!info || !keys.object.endsWith(info.id)) throw ERRORS.FILE_NOT_FOUND;
    const upload = new S3Upload(bucket, keys, info);
    upload.finished = true;
    upload.home = StateHome.FinalObject;
    return upload;
  }

  get id(): string {
    return this.info.id;
  }

  /** Where the upload's state lives now. */
  get stateHome(): StateHome {
    return this.home;
  }

  /** Write no state until the body shows whether the upload arrives whole (`StateHome.Unsaved`). */
  leaveStateUnsaved(): void {
    this.home = StateHome.Unsaved;
  }

  /** Write an unsaved state to `.info` (before anything but the whole final object is stored). */
  async saveUnsavedState(): Promise<void> {
    if (this.home === StateHome.Unsaved) await this.saveInfo();
  }

  /** The parts that count, in order. */
  get run(): readonly Part[] {
    return this.parts.run;
  }

  /** Sizes of parts stored beyond the run, by number. */
  get storedSizes(): Map<number, number> {
    return new Map([...this.parts.stored].map(([n, p]) => [n, p.Size]));
  }

  get nextPart(): number {
    return this.parts.run.length + 1;
  }

  /** Bytes in parts that count. */
  get partsEnd(): number {
    return partsBytes(this.parts.run);
  }

  /** Every byte of a known-length upload is in parts (completion may still be due). */
  get allInParts(): boolean {
    return this.info.uploadId !== undefined && this.info.size !== undefined && this.partsEnd === this.info.size;
  }

  /**
   * Every byte is stored but the final object is not: CompleteMultipartUpload was interrupted,
   * or the whole upload is in the tail (its PutObject failed; see `sendWhole`).
   */
  get completionDue(): boolean {
    return !this.finished && (this.allInParts || this.wholeInTail);
  }

  /** A known-length upload without multipart upload whose every byte is in the tail. */
  private get wholeInTail(): boolean {
    const { size, uploadId } = this.info;
    return uploadId === undefined && size !== undefined && size > 0 && this.countedTailBytes === size;
  }

  /** Bytes stored, readable back in order. */
  get offset(): number {
    if (this.finished) return this.info.size ?? this.partsEnd;
    return this.partsEnd + this.countedTailBytes;
  }

  /** The tail's length while its bytes count: while they begin the next part (0 once that part is counted). */
  get countedTailBytes(): number {
    return this.tail.countedBytes(this.nextPart);
  }

  /** Before a write that commits: the request still holds the upload's lock (see `fence`). */
  private async fenced(): Promise<void> {
    await this.fence?.verify();
  }

  /** The multipart upload, created with the upload's first part and recorded in `.info`. */
  private multipart(): Promise<string> {
    if (this.info.uploadId) return Promise.resolve(this.info.uploadId);
    this.creatingMultipart ??= (async () => {
      await this.fenced();
      const uploadId = await this.bucket.createMultipart(this.info.key, this.info.metadata);
      // Known only once `.info` records it: parts sent to a multipart upload that `.info` does
      // not name would be acknowledged and then lost to every later read.
      try {
        await this.saveInfo({ ...this.info, uploadId });
      } catch (error) {
        await this.bucket.abort(this.info.key, uploadId).catch(() => {});
        throw error;
      }
      this.info.uploadId = uploadId;
      return uploadId;
    })().finally(() => {
      this.creatingMultipart = undefined;
    });
    return this.creatingMultipart;
  }

  async sendPart(partNumber: number, body: Body, length: number, signal?: AbortSignal): Promise<Part> {
    const uploadId = await this.multipart();
    // (A streamed body is checked again before its last byte: see write-body.ts.)
    await this.fenced();
    return this.bucket.uploadPart(this.info.key, uploadId, partNumber, body, length, signal);
  }

  /** The whole upload as the final object in one PutObject; the Part returned is `WHOLE_OBJECT`, no multipart upload's. */
  async sendWhole(body: Body, length: number, signal?: AbortSignal): Promise<Part> {
    // An unsaved state goes into the object's own metadata when it fits; otherwise `.info` first.
    const state = this.home === StateHome.Unsaved ? stateMetadata(this.info) : undefined;
    if (!state) await this.saveUnsavedState();
    await this.fenced();
    try {
      await this.bucket.putFinal(this.info.key, body, length, this.info.metadata, signal, state);
    } catch (error) {
      // The last attempt (bytes in memory) failed: keep them as `.info` and tail, so no byte
      // that arrived is lost (a HEAD finishes the upload from them once S3 is back).
      if (state && Buffer.isBuffer(body)) await this.keepAfterFailure(body);
      throw error;
    }
    if (state) this.home = StateHome.FinalObject;
    return { PartNumber: WHOLE_OBJECT, ETag: '', Size: length };
  }

  /** Best effort: S3 just failed a request, these may fail too (the failure answered is the first). */
  private async keepAfterFailure(body: Buffer): Promise<void> {
    // (A writer whose lock is lost keeps nothing: another request may own the upload now.)
    if (this.home !== StateHome.Unsaved || body.length === 0 || this.fence?.lost.aborted) return;
    try {
      await this.saveInfo();
      await this.saveTail({ number: 1, start: 0, length: body.length, pieces: [body], whole: false });
    } catch (error) {
      this.bucket.warn({ key: this.keys.info, err: error }, 'the bytes of a failed PutObject were not kept');
    }
  }

  async copyPart(partNumber: number, sourceKey: string, start: number, end: number): Promise<Part> {
    const uploadId = await this.multipart();
    await this.fenced();
    return this.bucket.copyPart(this.info.key, uploadId, partNumber, sourceKey, start, end);
  }

  /** Parts S3 has accepted: they count once the parts before them do. */
  record(parts: readonly Part[]): void {
    if (parts.length === 0) return;
    const all = [...this.parts.run, ...this.parts.stored.values(), ...parts];
    this.parts = countParts(all, this.info.size);
    this.tail.staleUnlessBegins(this.nextPart);
  }

  /** The tail's bytes while they count, read back from the bucket. */
  readTail(): Promise<Buffer | undefined> {
    return this.tail.read(this.nextPart);
  }

  /**
   * Keep bytes that do not make a part as the tail (replacing any earlier tail). Bytes
   * of a part that is counted already (stored parts joined the run when the part before them
   * arrived) are in S3 already: nothing to keep.
   */
  async saveTail(part: CutPart): Promise<void> {
    if (part.number !== this.nextPart) return;
    await this.saveUnsavedState();
    await this.fenced();
    await this.tail.save(part.number, Buffer.concat(part.pieces, part.length));
  }

  /** The upload arrived whole in one PutObject. */
  async finishedWhole(): Promise<void> {
    this.finished = true;
    await this.tail.discard();
  }

  /** Assemble the final object from the parts, then remove the tail. */
  async complete(): Promise<void> {
    if (this.wholeInTail) {
      const bytes = await this.readTail();
      await this.sendWhole(bytes ?? Buffer.alloc(0), this.countedTailBytes);
      await this.finishedWhole();
      return;
    }
    const uploadId = await this.multipart();
    await this.fenced();
    // Any other multipart upload of the key is an orphan (a CreateMultipartUpload whose answer
    // was lost, a process killed before `.info` named it). Swept before the completion, not
    // after: a process killed in between leaves the completion, and so the sweep, to the next.
    await this.bucket.abortStrays(this.info.key, uploadId);
    await this.fenced();
    // The completion names each part's ETag: a part replaced since it was recorded here (by a
    // writer that had lost its lock) makes S3 refuse the completion instead of assembling it.
    await this.bucket.complete(this.info.key, uploadId, this.parts.run);
    this.finished = true;
    // Awaited: once complete, no later request can store a tail this would remove.
    await this.tail.discard();
  }

  async declareLength(size: number): Promise<void> {
    this.info.size = size;
    await this.saveInfo();
  }

  /**
   * The first state of an upload whose id was chosen elsewhere and may be taken: `.info`
   * created before anything else is stored under the id, refused (UploadIdTaken) when it exists.
   */
  async createInfo(): Promise<void> {
    await this.fenced();
    await this.infoObject.create(this.info);
    this.home = StateHome.Info;
  }

  /**
   * Write `.info`: over the version this upload knows (If-Match on its ETag, where S3 supports
   * conditional writes), so a state changed by another request since is not overwritten (the
   * write fails with STATE_CHANGED); unconditionally when no version is known (a new upload).
   */
  async saveInfo(info: UploadInfo = this.info): Promise<void> {
    await this.fenced();
    await this.infoObject.save(info);
    // `.info` is read first: from now on it holds the state.
    this.home = StateHome.Info;
  }

  /** Abort the multipart upload and delete every object; `.info` last, so a failed termination can be retried. */
  async remove(): Promise<void> {
    // Nothing but the final object, which holds the state.
    if (this.home === StateHome.FinalObject) return this.bucket.delete(this.info.key);
    if (!this.finished) {
      if (this.info.uploadId) await this.bucket.abort(this.info.key, this.info.uploadId);
      // And those `.info` never named (a lost answer, a process killed before it was saved).
      await this.bucket.abortStrays(this.info.key, undefined);
    }
    await Promise.all([this.bucket.delete(this.keys.tail), this.finished ? this.bucket.delete(this.info.key) : Promise.resolve()]);
    await this.bucket.delete(this.keys.info);
  }
}
