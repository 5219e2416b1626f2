/** Object keys of one upload under the location's root prefix, found from its id. */
export interface UploadKeys {
  /**
   * `<root><id>`: the final object of an upload without a key template (where an upload whose
   * state is in its object is found). The final object is always where `.info`'s `key` says.
   */
  object: string;
  /** The upload's state as JSON; never public. */
  info: string;
  /**
   * The upload's tail: bytes that do not make a part yet, left by a request that ended
   * between part boundaries; they become the start of the next part. (Named `.part` in the
   * bucket, as in tusd; it is not an S3 part.)
   */
  tail: string;
}

export function uploadKeys(root: string, id: string): UploadKeys {
  const object = `${root}${id}`;
  return { object, info: `${object}.info`, tail: `${object}.part` };
}

/** The upload id of an `.info` key, or undefined for any other key. */
export function idFromInfoKey(root: string, key: string): string | undefined {
  if (!key.startsWith(root) || !key.endsWith('.info')) return undefined;
  return key.slice(root.length, -'.info'.length);
}
