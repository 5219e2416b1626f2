/**
 * Creations that carry the whole upload as their body (creation-with-upload with a body of
 * exactly `Upload-Length` bytes): the protocol layer marks the new upload before the store
 * creates it, so a store can write such an upload in one request instead of recording its
 * state first (the S3 store: one PutObject carrying the state in the object's metadata).
 * A mark is a promise that the body follows at once, in the same request, under the lock.
 */
import type { Upload } from '@tus/utils';

const marked = new WeakSet<Upload>();

export function markWholeBody(upload: Upload): void {
  marked.add(upload);
}

export function carriesWholeBody(upload: Upload): boolean {
  return marked.has(upload);
}
