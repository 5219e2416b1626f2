/** Upload ids and URLs out of the server's answers. */

/** The upload id of an absolute upload URL: the last segment of its path (a query or fragment is not part of it). */
export const idOf = (url: string) => new URL(url).pathname.split('/').pop() as string;

/** Whatever follows the last `/` of a Location as written, absolute or not (a query stays part of it). */
export const lastSegment = (url: string) => url.split('/').pop() as string;

/** The absolute URL an answer's Location names, resolved against `base`. */
export const locationOf = (res: Response, base: string) => new URL(res.headers.get('location') as string, base).href;

/** An answer's Upload-Offset as a number. */
export const offsetOf = (res: Response) => Number(res.headers.get('upload-offset'));
