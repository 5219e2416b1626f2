/** Unfinished uploads older than the expiration, found by listing `.info` blobs, and removed with their staged blocks. */
import { ERRORS } from '@tus/utils';
import type { AzureContainer } from './container.js';
import { idFromInfoName, uploadNames } from './info-blob.js';
import { AzureUpload } from './upload.js';

/** Remove (with `remove`) every unfinished upload under `root` older than `expiration` ms; answers how many. */
export async function deleteExpired(
  container: AzureContainer,
  root: string,
  expiration: number,
  remove: (id: string) => Promise<void>,
): Promise<number> {
  let removed = 0;
  const now = Date.now();
  for await (const blob of container.list(root)) {
    const id = idFromInfoName(root, blob.name);
    if (!id) continue;
    // `.info`'s last change is a lower bound of the upload's age: skip clearly young ones unread
    // (with a minute's allowance for clock skew).
    if (now - blob.lastModified.getTime() < expiration - 60_000) continue;
    try {
      const upload = await AzureUpload.load(container, uploadNames(root, id));
      // (Every byte stored: finished in substance, the next HEAD commits it.)
      if (upload.finished || upload.completionDue || now - new Date(upload.info.creation_date).getTime() < expiration) continue;
    } catch (error) {
      if (error === ERRORS.FILE_NOT_FOUND) continue;
      throw error;
    }
    await remove(id);
    removed += 1;
  }
  return removed;
}
