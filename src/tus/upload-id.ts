/**
 * The one parser of upload ids in URLs, used by the routes, downloads, concatenation and
 * @tus/server (its `getFileIdFromRequest` option). Ids are what `Uid.rand` makes (hex), or
 * any name of letters, digits, `_` and `-`, up to 200 characters: nothing that could leave
 * a directory or an S3 prefix.
 */
const ID = /^[A-Za-z0-9_-]{1,200}$/;

export function isUploadId(value: string): boolean {
  return ID.test(value);
}

/** The id in `url` (absolute or a path) under mount path `path` (no trailing slash), if it names one. */
export function uploadIdOf(url: string, path: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(url, 'http://relative').pathname;
  } catch {
    return undefined;
  }
  if (!pathname.startsWith(`${path}/`)) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(pathname.slice(path.length + 1).replace(/\/$/, ''));
  } catch {
    return undefined;
  }
  return isUploadId(id) ? id : undefined;
}
