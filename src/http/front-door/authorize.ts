/**
 * Gate 2, authorization: who asks (the bearer token, 401 without a good one), whether the
 * token allows this request (read-only, locations, declared length), and whether the upload is
 * theirs: another subject's upload is answered exactly like an unknown id.
 */
import type { Authenticate } from '../../auth/authenticate.js';
import { isAnswer } from '../../auth/authenticate.js';
import type { Grant } from '../../auth/grant.js';
import { mayAccess } from '../../auth/ownership.js';
import type { Answer } from '../../tus/answer.js';
import { refuse } from '../../tus/refusals.js';
import type { DoorContext } from './context.js';

export async function authorize(c: DoorContext): Promise<Answer | undefined> {
  const { o, request, id } = c;
  if (!o.authenticate || request.method === 'OPTIONS') return undefined;
  const result = await (o.authenticate as Authenticate)(request.headers, request.url);
  if (isAnswer(result)) return result;
  // (The request log and hook payloads name its subject.)
  c.grant = result;
  const { method } = request;
  if (result.readOnly && method !== 'GET' && method !== 'HEAD') return refuse('readOnlyToken');
  if (result.locations && !result.locations.includes(o.location)) return refuse('tokenLocation', o.location, result.locations);
  if (method === 'POST' && result.maxSize !== undefined && request.headers['upload-defer-length'] !== undefined) {
    return refuse('tokenNeedsLength', result.maxSize);
  }
  if (!id) return undefined;
  const read = await c.read();
  if (read && 'error' in read) {
    // Unknown ids, and uploads whose data is gone (410: whose owner cannot be told), get the
    // same answer as uploads of others. Any other failure fails closed: the request must not
    // reach the engine with its owner unchecked.
    const status = (read.error as { status_code?: number }).status_code;
    if (status !== 404 && status !== 410) {
      request.log.warn({ err: read.error, uploadId: id }, 'the upload could not be read to check its owner');
      return refuse('ownerUnreadable');
    }
  }
  if (read && 'upload' in read && mayAccess(result, read.upload)) return undefined;
  return notFound(method);
}

/** The one answer for an id that is unknown or not the caller's. */
function notFound(method: string): Answer {
  const answer = refuse('noSuchUpload');
  return method === 'HEAD' ? { ...answer, body: '' } : answer;
}

/** The server's maximum upload size narrowed by the token's (0: none). */
export function effectiveMaxSize(serverMax: number, grant: Grant | undefined): number {
  if (grant?.maxSize === undefined) return serverMax;
  return serverMax > 0 ? Math.min(serverMax, grant.maxSize) : grant.maxSize;
}
