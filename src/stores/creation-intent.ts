/**
 * What the protocol layer promises a store about a new upload, before the store creates it.
 * @tus/server hands a store only the Upload, so the promise travels on that object (under a
 * symbol: never serialised, gone with the object):
 * - `exclusive`: the id was not generated here but chosen by someone else (a pre-create
 *   hook's ChangeFileInfo.ID) and may be taken, also by a creation running on another
 *   instance at the same moment. A store that can creates the upload only if no upload has
 *   the id, atomically (S3: a conditional PutObject of `<id>.info`; local: open with `wx`),
 *   and refuses with UploadIdTaken otherwise (src/stores/exclusive-create.ts).
 * - `wholeBody`: the creation carries the whole upload as its body (creation-with-upload of
 *   exactly `Upload-Length` bytes), which follows at once, in the same request, under the
 *   lock: a store may write it in one request instead of recording its state first (S3: one
 *   PutObject carrying the state in the object's metadata).
 * - `subject`: who creates it (the authenticated subject; absent with authentication off), for
 *   a location's key template (`{subject}`, key-template.ts): the key is computed once, by the
 *   store, when it creates the upload.
 */
import type { Upload } from '@tus/utils';

export interface CreationIntent {
  exclusive?: boolean;
  wholeBody?: boolean;
  subject?: string | undefined;
}

const INTENT = Symbol('creation intent');
type Intended = Upload & { [INTENT]?: CreationIntent };

export function intend(upload: Upload, intent: CreationIntent): void {
  const intended = upload as Intended;
  intended[INTENT] = { ...intended[INTENT], ...intent };
}

export function intentOf(upload: Upload): CreationIntent {
  return (upload as Intended)[INTENT] ?? {};
}
