/** Object keys of one upload under the location's root prefix. */
export interface UploadKeys {
  /** The final object. */
  object: string;
  /** The upload's state as JSON; never public. */
  info: string;
  /** Bytes below the minimum part size left by an interrupted request. */
  part: string;
}

export function uploadKeys(root: string, id: string): UploadKeys {
  const object = `${root}${id}`;
  return { object, info: `${object}.info`, part: `${object}.part` };
}

/** The upload id of an `.info` key, or undefined for any other key. */
export function idFromInfoKey(root: string, key: string): string | undefined {
  if (!key.startsWith(root) || !key.endsWith('.info')) return undefined;
  return key.slice(root.length, -'.info'.length);
}
