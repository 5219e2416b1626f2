/**
 * A new upload's first state, and whether it may wait for the body: an upload written whole in
 * one PutObject carries its state in the object's metadata instead of `.info` (see
 * StateHome.Unsaved).
 */
import type { Upload } from '@tus/utils';
import { intentOf } from '../creation-intent.js';
import { objectKey } from '../key-template.js';
import type { Bucket } from './bucket.js';
import type { S3Location } from './config.js';
import { uploadKeys } from './keys.js';
import { choosePartLength, planParts } from './part-size.js';
import { S3Upload } from './upload.js';
import type { UploadInfo } from './upload-state.js';

/** What a new upload's state is made of. */
export interface NewUpload {
  id: string;
  size: number | undefined;
  metadata: UploadInfo['metadata'];
  creationDate?: string | undefined;
  /** The authenticated subject (creation-intent.ts), for the key template's {subject}. */
  subject?: string | undefined;
  /** The final object's key, recorded earlier (a final upload that waited for its partials). */
  key?: string | undefined;
}

export class NewUploads {
  constructor(
    private readonly bucket: Bucket,
    private readonly location: S3Location,
    private readonly maxUploadSize: number,
  ) {}

  /**
   * A new upload's state, in memory: nothing is stored. Its final object is at `key` when given
   * (a waiting final upload's recorded key), else at the location's key template's key, else at
   * `<root><id>`.
   */
  create(n: NewUpload): S3Upload {
    const { id, size, metadata } = n;
    const keys = uploadKeys(this.location.root, id);
    const creationDate = n.creationDate ?? new Date().toISOString();
    const { chunkSize, equalPartSize, keyTemplate } = this.location;
    const templated = keyTemplate
      ? `${this.location.root}${objectKey(keyTemplate, { id, subject: n.subject, createdAt: creationDate, metadata })}`
      : undefined;
    return new S3Upload(this.bucket, keys, {
      version: 1,
      id,
      ...(size !== undefined ? { size } : {}),
      ...(metadata ? { metadata } : {}),
      creation_date: creationDate,
      key: n.key ?? templated ?? keys.object,
      plan: planParts({ size, preferred: chunkSize, equalParts: equalPartSize, maxUploadSize: this.maxUploadSize }),
    });
  }

  /**
   * Whether `created`'s state may wait for the body, to go into the final object's metadata: an
   * empty upload, or one whose creation (`upload`) brings its whole body, when that fits one PutObject.
   */
  stateMayWait(created: S3Upload, upload: Upload): boolean {
    // A templated key cannot be found from the id: its upload is found by `<id>.info`, which says where the object is.
    const atId = created.info.key === created.keys.object;
    return atId && this.statesInObjects && (upload.size === 0 || (intentOf(upload).wholeBody === true && this.onePut(created)));
  }

  /**
   * An object's metadata is readable by whoever may read the object: with an ACL that lets
   * others read it, the state (metadata, owner) stays in the private `.info`.
   */
  private get statesInObjects(): boolean {
    const { acl } = this.location;
    return acl === undefined || acl === 'private' || acl === 'bucket-owner-read' || acl === 'bucket-owner-full-control';
  }

  /** A body of the upload's whole length makes it one PutObject (the part cutter's rule for part 1). */
  private onePut(upload: S3Upload): boolean {
    const { size, plan } = upload.info;
    if (size === undefined || size === 0) return false;
    const first = choosePartLength(plan, {
      partNumber: 1,
      start: 0,
      size,
      available: size,
      equalParts: this.location.equalPartSize,
      maxUploadSize: this.maxUploadSize,
    });
    return first === size;
  }
}
