/**
 * Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload), the IETF successor of tus,
 * on the same endpoints and stores. A request carrying `Upload-Draft-Interop-Version` is
 * translated into the tus request that means the same (headers only: the body is untouched),
 * so authentication, ownership, hooks, limits, locks, metrics and logs apply to it unchanged;
 * the answer is translated back. Interop versions 5 (draft -03) and 6 (draft -05) are served:
 * what URLSession (iOS 17+) and tus-js-client's `ietf-draft-03` / `ietf-draft-05` speak.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Upload } from '@tus/utils';
import type { FastifyRequest } from 'fastify';
import type { Answer } from '../tus/answer.js';
import { headerInteger } from '../tus/protocol-guard.js';
import { ietfRefuse } from './ietf-answer.js';

export const INTEROP_VERSIONS = [5, 6] as const;
export const PARTIAL_UPLOAD = 'application/partial-upload';
/** The newest version served: the one a refusal of an unknown version speaks. */
const NEWEST = INTEROP_VERSIONS[INTEROP_VERSIONS.length - 1] as number;

/** What an IETF request said, for translating its answer back. */
export interface IetfRequest {
  version: number;
  /** Upload-Complete: ?1 */
  complete: boolean;
  /** The request's Upload-Offset (PATCH). */
  offset?: number;
  /** The upload's length when known (declared, or set by this request): Upload-Complete is offset === length. */
  length?: number;
}

const one = (value: string | string[] | undefined) => (typeof value === 'string' ? value.trim() : undefined);
const integer = headerInteger;
/** A Content-Type's media type, without parameters, in lower case. */
const mediaType = (contentType: string | undefined) => contentType?.split(';')[0]?.trim().toLowerCase();

/** Upload-Complete: a structured-field boolean, `?1` or `?0`. */
function parseComplete(header: string | undefined): boolean | undefined {
  // Structured-field parameters (";x=1") may follow the value; they mean nothing here.
  const value = header?.split(';')[0]?.trim();
  if (value === '?1') return true;
  if (value === '?0') return false;
  return undefined;
}

/** Whether the request has a body (its Content-Length, or a chunked body of unknown length). */
function bodyLength(request: FastifyRequest): number | 'unknown' {
  const length = integer(one(request.headers['content-length']));
  if (length !== undefined) return length;
  return request.headers['transfer-encoding'] !== undefined ? 'unknown' : 0;
}

/** The interop version a request asks for, if it is one served here (for answers given before translation). */
export function servedVersion(request: FastifyRequest): number | undefined {
  return parseVersion(one(request.headers['upload-draft-interop-version']));
}

/** A structured-field integer (digits only: not "0x6" or "6.0") among the versions served here. */
function parseVersion(raw: string | undefined): number | undefined {
  const version = raw !== undefined && /^\d{1,3}$/.test(raw) ? Number(raw) : undefined;
  return version !== undefined && (INTEROP_VERSIONS as readonly number[]).includes(version) ? version : undefined;
}

/**
 * Step 1 for an IETF request: checks the interop version and the draft's headers, then rewrites
 * the request's headers into tus's (mutating them, so every later step reads tus). Returns the
 * answer refusing it, or what the request said when it goes on; not an IETF request: nothing
 * is done (undefined).
 */
export function translateRequest(request: FastifyRequest): Answer | IetfRequest | undefined {
  const headers = request.headers;
  const raw = one(headers['upload-draft-interop-version']);
  if (raw === undefined) return undefined;
  const version = parseVersion(raw);
  if (version === undefined) return ietfRefuse(NEWEST, 'ietfVersionNotServed', raw, INTEROP_VERSIONS.join(' and '));
  if (headers['tus-resumable'] !== undefined) return ietfRefuse(version, 'ietfMixed');
  const completeHeader = one(headers['upload-complete']);
  const complete = parseComplete(completeHeader);
  const ietf: IetfRequest = { version, complete: complete ?? false };
  headers['tus-resumable'] = '1.0.0';
  const { method } = request;
  // OPTIONS, HEAD, DELETE, GET: the version header was all they needed.
  if (method !== 'POST' && method !== 'PATCH') return ietf;
  if (complete === undefined) return ietfRefuse(version, 'ietfBadComplete', completeHeader ?? '');
  if (headers['upload-concat'] !== undefined) return ietfRefuse(version, 'ietfNoConcat');
  return method === 'POST' ? translateCreation(request, ietf) : translateAppend(request, ietf);
}

/** A creation: its length (declared, the body's when complete, else deferred), its body's type, tus's Content-Type. */
function translateCreation(request: FastifyRequest, ietf: IetfRequest): Answer | IetfRequest {
  const { headers } = request;
  const { version, complete } = ietf;
  const body = bodyLength(request);
  const declared = one(headers['upload-length']);
  const length = declared === undefined ? undefined : integer(declared);
  if (declared !== undefined && length === undefined) return ietfRefuse(version, 'badLength', declared);
  if (complete && length !== undefined && typeof body === 'number' && body !== length) {
    return ietfRefuse(version, 'inconsistentLength', body, length);
  }
  if (length === undefined) {
    if (complete && body === 'unknown') return ietfRefuse(version, 'ietfCompleteNeedsSize');
    if (complete) headers['upload-length'] = String(body);
    else headers['upload-defer-length'] = '1';
  }
  const known = integer(one(headers['upload-length']));
  if (known !== undefined) ietf.length = known;
  typeAsFiletype(headers);
  if (body === 0) delete headers['content-type'];
  else headers['content-type'] = 'application/offset+octet-stream';
  return ietf;
}

/** The body's own type, when it says something, becomes the upload's `filetype` (as tusd does). */
function typeAsFiletype(headers: IncomingHttpHeaders): void {
  const type = mediaType(one(headers['content-type']));
  const metadata = one(headers['upload-metadata']);
  if (!type || type === PARTIAL_UPLOAD || type === 'application/octet-stream') return;
  if (/(^|,)\s*filetype(\s|,|$)/.test(metadata ?? '')) return;
  const entry = `filetype ${Buffer.from(type).toString('base64')}`;
  headers['upload-metadata'] = metadata ? `${metadata},${entry}` : entry;
}

/** An append: its type (application/partial-upload from interop version 6), its offset, tus's Content-Type. */
function translateAppend(request: FastifyRequest, ietf: IetfRequest): Answer | IetfRequest {
  const { headers } = request;
  const { version } = ietf;
  const contentType = one(headers['content-type']);
  if (version >= 6 && mediaType(contentType) !== PARTIAL_UPLOAD) return ietfRefuse(version, 'ietfAppendType', version, contentType ?? '');
  const offset = integer(one(headers['upload-offset']));
  if (offset === undefined) return ietfRefuse(version, 'badOffset', one(headers['upload-offset']) ?? '');
  ietf.offset = offset;
  headers['content-type'] = 'application/offset+octet-stream';
  if (bodyLength(request) === 0 && headers['content-length'] === undefined) headers['content-length'] = '0';
  return ietf;
}

/**
 * The PATCH checks that need the upload (read without the lock; @tus/server checks again under
 * it): the draft's problem answers for a completed upload, a wrong offset and a length that
 * disagrees, and the tus Upload-Length that completes an upload of deferred length.
 */
export function checkAppend(request: FastifyRequest, ietf: IetfRequest | undefined, upload: Upload | undefined): Answer | undefined {
  if (!ietf || request.method !== 'PATCH' || !upload || ietf.offset === undefined) return undefined;
  const { version } = ietf;
  const size = upload.size;
  if (size !== undefined) ietf.length = size;
  if (size !== undefined && upload.offset === size) return ietfRefuse(version, 'completedUpload');
  if (upload.offset !== ietf.offset) return ietfRefuse(version, 'mismatchingUploadOffset', upload.offset, ietf.offset);
  const body = bodyLength(request);
  if (!ietf.complete) return undefined;
  if (body === 'unknown') {
    if (size === undefined) return ietfRefuse(version, 'ietfLastAppendNeedsLength');
    return undefined;
  }
  const end = ietf.offset + body;
  if (size === undefined) {
    request.headers['upload-length'] = String(end);
    ietf.length = end;
  } else if (end !== size) {
    return ietfRefuse(version, 'inconsistentAppendLength', body, ietf.offset, size);
  }
  return undefined;
}
