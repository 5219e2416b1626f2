/**
 * An upload's `.info` object: its state as JSON, read and written at a version (the ETag this
 * upload last read or wrote), so that a writer whose view is stale fails (STATE_CHANGED)
 * instead of overwriting a newer state, where S3 supports conditional writes.
 */
import type { Bucket } from './bucket.js';
import { StoreError } from './errors.js';
import type { UploadInfo } from './upload-state.js';

export class InfoObject {
  /** ETag as last read or written (undefined: unknown, or none yet). */
  private etag: string | undefined;

  constructor(
    private readonly bucket: Bucket,
    private readonly key: string,
  ) {}

  /** The state, or undefined when there is no `.info`. Never writes. */
  async read(): Promise<UploadInfo | undefined> {
    const state = await this.bucket.readState(this.key);
    if (state === undefined) return undefined;
    let info: UploadInfo;
    try {
      info = JSON.parse(state.text) as UploadInfo;
    } catch {
      throw new StoreError(
        500,
        `Storage location "${this.bucket.location.name}": ${this.key} is not valid JSON; the upload's state is damaged.\n`,
      );
    }
    this.etag = state.etag;
    return info;
  }

  /** Create `.info`, refused (UploadIdTaken) when it exists (If-None-Match, where the endpoint honours it). */
  async create(info: UploadInfo): Promise<void> {
    this.etag = await this.bucket.putNew(this.key, Buffer.from(JSON.stringify(info)), { ContentType: 'application/json' });
  }

  /**
   * Write `.info` over the version known here (If-Match on its ETag, where S3 supports
   * conditional writes): a state changed by another request since fails with STATE_CHANGED;
   * unconditionally when no version is known (a new upload).
   */
  async save(info: UploadInfo): Promise<void> {
    this.etag = await this.bucket.putState(this.key, Buffer.from(JSON.stringify(info)), this.etag);
  }
}
