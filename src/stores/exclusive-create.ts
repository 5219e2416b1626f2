/**
 * Creations whose id was not generated here but chosen by someone else (a pre-create hook's
 * ChangeFileInfo.ID): that id may be taken, also by a creation running on another instance at
 * the same moment. The protocol layer marks such a new upload before the store creates it, and
 * a store that can creates it only if no upload has the id, atomically (the S3 store with a
 * conditional PutObject of `<id>.info`, the local store by opening the file with `wx`); it
 * refuses with UploadIdTaken and leaves the upload that has the id as it is.
 */
import type { Upload } from '@tus/utils';

const marked = new WeakSet<Upload>();

export function markExclusive(upload: Upload): void {
  marked.add(upload);
}

export function isExclusive(upload: Upload): boolean {
  return marked.has(upload);
}

/** An exclusive creation found the id taken; nothing was created and nothing else changed. */
export class UploadIdTaken extends Error {
  override readonly name = 'UploadIdTaken';
  readonly status_code = 409;
  readonly body = 'An upload with this id exists already; nothing was created\n';
  constructor() {
    super('upload id taken');
  }
}
