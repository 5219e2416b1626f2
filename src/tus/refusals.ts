/**
 * The catalogue of refusals (as tusd's error table): every answer the server gives of its own
 * accord to a request it will not carry out, by name, with its status, its message, the
 * headers it always has and, for the IETF draft's problem types, the type. Code refuses with
 * `refuse(name, ...details)` (the tus answer, made here) or `ietfRefuse` (the draft's answer,
 * made by src/http/ietf-answer.ts): each shape is derived from the entry in one place.
 */
import { TUS_RESUMABLE, TUS_VERSION } from '@tus/utils';
import { type Answer, plain } from './answer.js';

interface Refusal<A extends unknown[]> {
  status: number;
  message: (...details: A) => string;
  headers?: Record<string, string> | ((...details: A) => Record<string, string>);
  /** One of the draft's problem types: answered as a problem document (RFC 9457) with `members`. */
  problem?: { type: string; members?: (...details: A) => Record<string, unknown> };
}

const entry = <A extends unknown[]>(status: number, message: (...details: A) => string, headers?: Record<string, string>): Refusal<A> =>
  headers ? { status, message, headers } : { status, message };

/** A refusal whose message comes whole from a parser or a checker (its text is its own). */
const given = (status: number) => entry(status, (message: string) => message);

/** A problem type of the IETF draft (IANA's HTTP Problem Types registry). */
const problemType = <A extends unknown[]>(
  status: number,
  type: string,
  message: (...details: A) => string,
  members?: (...details: A) => Record<string, unknown>,
  headers?: (...details: A) => Record<string, string>,
): Refusal<A> => ({ status, message, problem: members ? { type, members } : { type }, ...(headers ? { headers } : {}) });

const lines = (list: readonly string[]) => list.join(', ');

export const REFUSALS = {
  // The front door: host, method, shutdown, downloads, URL.
  badHost: given(400),
  badMethodOverride: entry(
    400,
    (methods: readonly string[], value: unknown) => `X-HTTP-Method-Override must be one of ${lines(methods)}, not ${JSON.stringify(value)}`,
  ),
  shuttingDown: entry(503, () => 'The server is shutting down; retry in a moment', { 'Retry-After': '1', Connection: 'close' }),
  downloadsDisabled: entry(404, () => 'Downloads are disabled on this server (TUS_DOWNLOAD_ENABLED=false)'),
  notTheMountPath: entry(404, (path: string, pathname: string) => `Uploads are created with POST to ${path}/; ${pathname} is not that URL`),
  // The protocol guard (src/tus/protocol-guard.ts), where @tus/server differs from the tus text.
  tusResumableMissing: entry(412, () => `Tus-Resumable header required: send "Tus-Resumable: ${TUS_RESUMABLE}" with every tus request`, {
    'Tus-Version': TUS_VERSION.join(','),
  }),
  tusVersionUnsupported: entry(
    412,
    (version: unknown) => `Tus-Resumable ${JSON.stringify(version)} is not supported; this server speaks tus ${TUS_VERSION.join(', ')}`,
    { 'Tus-Version': TUS_VERSION.join(',') },
  ),
  patchContentType: entry(
    415,
    (type: unknown) =>
      `PATCH needs "Content-Type: application/offset+octet-stream"${type === undefined ? '' : `, not ${JSON.stringify(type)}`}`,
  ),
  patchWithoutOffset: entry(400, () => 'PATCH needs an Upload-Offset header: the offset the body starts at (HEAD tells the current one)'),
  badOffset: entry(400, (offset: unknown) => `Upload-Offset must be a non-negative integer, not ${JSON.stringify(offset)}`),
  postContentType: entry(
    415,
    (type: unknown) =>
      `A POST with a body (creation-with-upload) needs "Content-Type: application/offset+octet-stream"${type === undefined ? '' : `, not ${JSON.stringify(type)}`}; nothing was created`,
  ),
  bodyBeyondLength: entry(
    413,
    (body: number, length: number) => `The body (${body} bytes) is longer than Upload-Length (${length} bytes); nothing was created`,
  ),
  // Authorization (the token's limits) and ownership.
  readOnlyToken: entry(
    403,
    () => 'This token is read-only: it may check (HEAD) and download (GET) uploads, not create, change or delete them',
  ),
  tokenLocation: entry(
    403,
    (location: string, allowed: readonly string[]) =>
      `This token may not use the location "${location}"; it may use: ${lines(allowed) || 'none'}`,
  ),
  tokenNeedsLength: entry(
    400,
    (maxSize: number) => `This token limits uploads to ${maxSize} bytes: declare Upload-Length when creating the upload`,
  ),
  tokenNeedsPartialLengths: entry(
    400,
    (maxSize: number) => `This token limits uploads to ${maxSize} bytes: every partial upload must have its length declared`,
  ),
  ownerUnreadable: entry(503, () => 'The upload could not be read to check who owns it; retry in a moment', { 'Retry-After': '3' }),
  noSuchUpload: entry(404, () => 'No such upload: check the URL (uploads expire, and each is visible only to its owner)', {
    'Cache-Control': 'no-store',
  }),
  // Checksums (checksum, checksum-trailer).
  badChecksumHeader: given(400),
  unknownUpload: entry(404, () => 'No such upload'),
  offsetConflict: entry(409, (offset: number) => `Upload-Offset conflict: the upload is at ${offset}`),
  bodyBeyondRoom: entry(
    413,
    (declared: number, room: number) => `The body (${declared} bytes) is longer than the upload can still take (${room} bytes)`,
  ),
  bodyBeyondSpool: entry(
    413,
    (max: number) =>
      `A body with Upload-Checksum is spooled to verify it, and spools are limited to ${max} bytes (TUS_TEMP_MAX_SIZE); nothing was stored, send PATCHes of at most that many bytes`,
  ),
  bodyGrewBeyondRoom: entry(
    413,
    (room: number) => `The body is longer than the upload can still take (${room} bytes); nothing was stored`,
    {
      Connection: 'close',
    },
  ),
  spoolSpaceFull: entry(
    503,
    () =>
      'The space for verifying checksums (TUS_TEMP_MAX_SIZE) is in use by other uploads; nothing was stored, send the PATCH again in a moment',
    { 'Retry-After': '5', Connection: 'close' },
  ),
  bodyEndedEarly: entry(400, () => 'The request body ended before it was complete; its checksum cannot be verified'),
  checksumMismatch: entry(460, (why: string) => `Checksum Mismatch: the body does not match ${why}; nothing was stored, send it again`),
  // Concatenation.
  badConcatHeader: given(400),
  noConcatenation: entry(501, () => 'This location does not support concatenation'),
  patchToFinal: entry(403, () => 'A final upload of a concatenation cannot be changed with PATCH'),
  finalWithLength: entry(400, () => 'A final upload must not carry Upload-Length: its length is the sum of its partial uploads'),
  finalBadMetadata: entry(400, () => 'Upload-Metadata is invalid: comma-separated "key base64value" pairs, unique non-empty keys'),
  tooManyPartials: entry(
    400,
    (listed: number, maxParts: number) =>
      `Upload-Concat lists ${listed} partial uploads; a final upload may list at most ${maxParts} (TUS_CONCAT_MAX_PARTS); nothing was created`,
  ),
  partialMissing: entry(400, (url: string) => `Upload-Concat: partial upload ${url} does not exist`),
  notAPartial: entry(400, (url: string) => `Upload-Concat: ${url} is not a partial upload (create it with Upload-Concat: partial)`),
  partialOverused: given(400),
  concatTooLarge: entry(
    413,
    (total: number, max: number) => `The concatenated upload would be ${total} bytes, above the maximum of ${max}`,
  ),
  partialChanged: entry(409, () => 'Upload-Concat: a partial upload changed while the final upload was created; send the POST again'),
  partialGone: entry(410, () => 'A partial upload of this final upload is gone; it can never be completed'),
  finalTooLarge: entry(
    413,
    (total: number, max: number) => `The concatenated upload would be ${total} bytes, above the maximum of ${max}; it cannot be completed`,
  ),
  finalCannotComplete: entry(400, (why: string) => `${why}; it cannot be completed`),
  // The IETF draft's problem types (answered as problem documents by src/http/ietf-answer.ts).
  mismatchingUploadOffset: problemType(
    409,
    'mismatching-upload-offset',
    (expected: number, provided: number) =>
      `Upload-Offset ${provided} does not match the upload's offset ${expected}: fetch it with HEAD and append from there`,
    (expected, provided) => ({ 'expected-offset': expected, 'provided-offset': provided }),
    (expected) => ({ 'Upload-Offset': String(expected) }),
  ),
  completedUpload: problemType(400, 'completed-upload', () => 'The upload is already complete: nothing more can be appended'),
  inconsistentLength: problemType(
    400,
    'inconsistent-upload-length',
    (body: number, length: number) => `Upload-Complete: ?1 with a body of ${body} bytes, but Upload-Length says ${length}`,
  ),
  inconsistentAppendLength: problemType(
    400,
    'inconsistent-upload-length',
    (body: number, offset: number, size: number) =>
      `Upload-Complete: ?1 with ${body} bytes at offset ${offset} ends at ${offset + body}, but the upload's length is ${size}`,
  ),
  // The IETF draft's requests (src/http/ietf.ts).
  ietfVersionNotServed: entry(
    400,
    (raw: string, supported: string) =>
      `Upload-Draft-Interop-Version ${JSON.stringify(raw)} is not served here; this server speaks interop versions ${supported} (drafts -03 and -05)`,
  ),
  ietfMixed: entry(
    400,
    () =>
      'The request mixes Tus-Resumable (tus 1.0.0) and Upload-Draft-Interop-Version (the IETF draft): send the headers of one protocol only',
  ),
  ietfBadComplete: entry(
    400,
    (value: string) =>
      `Upload-Complete must be ?1 (this request carries the rest of the upload) or ?0 (more to come), not ${JSON.stringify(value)}`,
  ),
  ietfNoConcat: entry(
    400,
    () => 'Upload-Concat is a tus extension the draft does not have: concatenate uploads over tus (Tus-Resumable: 1.0.0)',
  ),
  badLength: entry(400, (declared: string) => `Upload-Length must be a non-negative integer, not ${JSON.stringify(declared)}`),
  ietfCompleteNeedsSize: entry(400, () => 'A complete upload (Upload-Complete: ?1) needs its size: send Content-Length or Upload-Length'),
  ietfAppendType: entry(
    415,
    (version: number, type: string) =>
      `An append with interop version ${version} must have Content-Type: application/partial-upload, not ${JSON.stringify(type)}`,
  ),
  ietfLastAppendNeedsLength: entry(400, () => 'The last append of an upload of unknown size needs Content-Length'),
  // Creation limits.
  badMetadata: entry(400, (problem: string) => `${problem}; nothing was created`),
  typeNotAllowed: entry(
    415,
    (type: string, allowed: readonly string[]) =>
      `Uploads of type ${JSON.stringify(type)} are not allowed here; allowed: ${lines(allowed)} (the type is the filetype or type metadata, application/octet-stream when absent); nothing was created`,
  ),
  lengthAboveMax: entry(
    413,
    (length: string, max: number) =>
      `Upload-Length ${length} is larger than the largest upload allowed here (${max} bytes); nothing was created`,
  ),
} as const;

export type RefusalName = keyof typeof REFUSALS;
export type RefusalDetails<N extends RefusalName> = Parameters<(typeof REFUSALS)[N]['message']>;

/** An entry with its details given: what every shape of the refusal is made from. */
export interface FilledRefusal {
  status: number;
  message: string;
  headers: Record<string, string>;
  problem?: { type: string; members: Record<string, unknown> };
}

export function fill<N extends RefusalName>(name: N, ...details: RefusalDetails<N>): FilledRefusal {
  const refusal = REFUSALS[name] as Refusal<unknown[]>;
  const headers = typeof refusal.headers === 'function' ? refusal.headers(...details) : { ...refusal.headers };
  const filled: FilledRefusal = { status: refusal.status, message: refusal.message(...details), headers };
  if (refusal.problem) filled.problem = { type: refusal.problem.type, members: refusal.problem.members?.(...details) ?? {} };
  return filled;
}

/** The tus answer refusing a request: the catalogue's status, message and headers. */
export function refuse<N extends RefusalName>(name: N, ...details: RefusalDetails<N>): Answer {
  const { status, message, headers } = fill(name, ...details);
  return plain(status, message, headers);
}

/** The same with headers of this answer alone (an offset, a closed connection) over the catalogue's. */
export function refuseWith<N extends RefusalName>(name: N, extra: Record<string, string>, ...details: RefusalDetails<N>): Answer {
  const { status, message, headers } = fill(name, ...details);
  return plain(status, message, { ...headers, ...extra });
}

/**
 * A store failure's message says "the upload can be resumed" (src/stores/s3/errors.ts); where
 * nothing was created, `instead` says what is true.
 */
export function notResumable(body: string, instead: string): string {
  return body.replace(/;? ?the upload can be resumed\.?(?=\n?$)/, instead);
}

/** Whether a store failure's message says the upload can be resumed. */
export const saysResumable = (body: string | undefined): boolean => body?.includes('the upload can be resumed') ?? false;
