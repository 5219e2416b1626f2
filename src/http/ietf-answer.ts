/**
 * The answers of the IETF draft (src/http/ietf.ts): the catalogue's refusals in its terms (a
 * problem document, RFC 9457, for its problem types; else the plain text without tus's
 * headers), any answer translated into its terms (`toIetfAnswer`, the one place), and the 104
 * informational answer.
 */
import type { ServerResponse } from 'node:http';
import { type Answer, headerOf, withHeaders } from '../tus/answer.js';
import { type FilledRefusal, fill, type RefusalDetails, type RefusalName, refuse } from '../tus/refusals.js';
import type { IetfRequest } from './ietf.js';

const PROBLEM = 'https://iana.org/assignments/http-problem-types#';
const PROBLEM_JSON = 'application/problem+json';
const TUS_ONLY = ['tus-resumable', 'tus-version', 'tus-extension', 'tus-max-size', 'tus-checksum-algorithm', 'upload-defer-length'];

/** A refusal of the catalogue (src/tus/refusals.ts) in the draft's terms. */
export function ietfRefuse<N extends RefusalName>(version: number, name: N, ...details: RefusalDetails<N>): Answer {
  const filled = fill(name, ...details);
  return filled.problem ? problem(version, filled, filled.problem) : inDraftTerms(refuse(name, ...details), version);
}

/** The problem document of one of the draft's problem types, the entry's message its title. */
function problem(version: number, refusal: FilledRefusal, { type, members }: NonNullable<FilledRefusal['problem']>): Answer {
  return {
    status: refusal.status,
    body: `${JSON.stringify({ type: `${PROBLEM}${type}`, title: refusal.message, ...members })}\n`,
    headers: { 'Upload-Draft-Interop-Version': String(version), 'Content-Type': `${PROBLEM_JSON}; charset=utf-8`, ...refusal.headers },
  };
}

/** Tus's own headers removed, the interop version told. */
function inDraftTerms(answer: Answer, version: number): Answer {
  return withHeaders(answer, (headers) => {
    for (const name of TUS_ONLY) headers.delete(name);
    headers.set('Upload-Draft-Interop-Version', String(version));
  });
}

export interface IetfAnswerContext {
  /** The request's method. */
  method: string;
  /** The largest upload allowed (Upload-Limit: max-size); 0: none. */
  maxSize: number;
}

/**
 * An answer (ours or @tus/server's) in the draft's terms: its version header, Upload-Complete
 * where an offset is reported, Upload-Limit, a problem document for a wrong offset, and none of
 * tus's own headers.
 */
export function toIetfAnswer(answer: Answer, ietf: IetfRequest, { method, maxSize }: IetfAnswerContext): Answer {
  const { status } = answer;
  const deferred = headerOf(answer, 'upload-defer-length') === '1';
  const translated = inDraftTerms(answer, ietf.version);
  if (status === 409 && method === 'PATCH' && !headerOf(answer, 'content-type')?.startsWith(PROBLEM_JSON)) {
    const expected = Number(headerOf(answer, 'upload-offset'));
    const mismatch = ietfRefuse(ietf.version, 'mismatchingUploadOffset', Number.isFinite(expected) ? expected : 0, ietf.offset ?? 0);
    // Over the answer's own headers: a connection the answer closes stays closed.
    const headers = withHeaders(translated, (all) => {
      for (const [name, value] of Object.entries(mismatch.headers)) all.set(name, value);
    }).headers;
    return { ...mismatch, headers };
  }
  return withHeaders(translated, (headers) => {
    if (status === 201 && !headers.has('upload-offset')) headers.set('Upload-Offset', '0');
    const offset = headers.get('upload-offset');
    if (status < 300 && offset !== null && (method === 'HEAD' || method === 'PATCH' || method === 'POST')) {
      // What is stored, never what the client hoped: complete once the offset is the length.
      const length = deferred ? undefined : (headers.get('upload-length') ?? ietf.length);
      headers.set('Upload-Complete', length !== undefined && Number(length) === Number(offset) ? '?1' : '?0');
    }
    if ((method === 'HEAD' || method === 'OPTIONS' || status === 201) && maxSize > 0) headers.set('Upload-Limit', `max-size=${maxSize}`);
    if (method === 'HEAD') headers.set('Cache-Control', 'no-store');
  });
}

/**
 * `104 Upload Resumption Supported`, written on the connection ahead of the final answer as
 * soon as the upload exists (Node's http server has writers for 100, 102 and 103 only): a
 * client sending the whole file in one request learns where to resume before any interruption.
 */
export function sendUploadResumptionSupported(res: ServerResponse, version: number, location: string): void {
  if (res.headersSent || res.req.httpVersionMajor !== 1 || res.req.httpVersionMinor < 1 || !res.socket?.writable) return;
  if (/[\r\n]/.test(location)) return;
  res.socket.write(`HTTP/1.1 104 Upload Resumption Supported\r\nUpload-Draft-Interop-Version: ${version}\r\nLocation: ${location}\r\n\r\n`);
}
