/** Unfinished uploads older than the expiration, found by listing `.info` objects, and removed. */
import { ERRORS } from '@tus/utils';
import type { Bucket } from './bucket.js';
import { idFromInfoKey, uploadKeys } from './keys.js';
import { S3Upload } from './upload.js';

/** Remove (with `remove`) every unfinished upload under `root` older than `expiration` ms; answers how many. */
export async function deleteExpired(
  bucket: Bucket,
  root: string,
  expiration: number,
  remove: (id: string) => Promise<void>,
): Promise<number> {
  let removed = 0;
  let token: string | undefined;
  const now = Date.now();
  do {
    // `.info` objects are right under the root (ids have no `/`): the objects a key template put
    // below it, however many, are not listed.
    const page = await bucket.list(root, token, '/');
    for (const object of page.Contents ?? []) {
      const id = object.Key ? idFromInfoKey(root, object.Key) : undefined;
      if (!id || id.includes('/')) continue;
      // The .info object's age is a lower bound of the upload's; skip clearly young ones
      // unread (with a minute's allowance for clock skew between us and the S3 server).
      if (object.LastModified && now - object.LastModified.getTime() < expiration - 60_000) continue;
      try {
        const upload = await S3Upload.load(bucket, uploadKeys(root, id));
        // (Every byte in parts: finished in substance, the next HEAD completes it.)
        if (upload.finished || upload.allInParts || now - new Date(upload.info.creation_date).getTime() < expiration) continue;
      } catch (error) {
        if (error !== ERRORS.FILE_NO_LONGER_EXISTS) throw error;
      }
      await remove(id);
      removed += 1;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return removed;
}
