/**
 * The answers of the IETF draft (src/http/ietf.ts): its refusals (plain text, or a problem
 * document, RFC 9457, for the draft's problem types), any answer translated into the draft's
 * terms, and the 104 informational answer.
 */
import type { ServerResponse } from 'node:http';
import type { Answer } from '../tus/answer.js';
import { type RefusalDetails, type RefusalName, refuse } from '../tus/refusals.js';
import type { IetfRequest } from './ietf.js';

const PROBLEM = 'https://iana.org/assignments/http-problem-types#';

/** A refusal of the catalogue (src/tus/refusals.ts) in the draft's terms. */
export function ietfRefuse<N extends RefusalName>(version: number, name: N, ...details: RefusalDetails<N>): Answer {
  return toIetfAnswer(refuse(name, ...details), { version, complete: false });
}

export function problem(
  version: number,
  status: number,
  type: string,
  title: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Answer {
  return {
    status,
    body: `${JSON.stringify({ type: `${PROBLEM}${type}`, title, ...extra })}\n`,
    headers: { 'Upload-Draft-Interop-Version': String(version), 'Content-Type': 'application/problem+json', ...headers },
  };
}

export function mismatchingOffset(version: number, expected: number, provided: number): Answer {
  return problem(
    version,
    409,
    'mismatching-upload-offset',
    `Upload-Offset ${provided} does not match the upload's offset ${expected}: fetch it with HEAD and append from there`,
    { 'expected-offset': expected, 'provided-offset': provided },
    { 'Upload-Offset': String(expected) },
  );
}

export const completedUpload = (version: number) =>
  problem(version, 400, 'completed-upload', 'The upload is already complete: nothing more can be appended');

const TUS_ONLY = ['tus-resumable', 'tus-version', 'tus-extension', 'tus-max-size', 'tus-checksum-algorithm', 'upload-defer-length'];

export interface IetfAnswerContext {
  /** The largest upload allowed (Upload-Limit: max-size); 0: none. */
  maxSize: number;
}

/**
 * An answer (ours or @tus/server's) in the draft's terms: its version header, Upload-Complete
 * where an offset is reported, Upload-Limit, a problem document for a wrong offset, and none of
 * tus's own headers.
 */
export async function toIetfResponse(response: Response, ietf: IetfRequest, method: string, c: IetfAnswerContext): Promise<Response> {
  const headers = new Headers(response.headers);
  const deferred = headers.get('upload-defer-length') === '1';
  for (const name of TUS_ONLY) headers.delete(name);
  headers.set('Upload-Draft-Interop-Version', String(ietf.version));
  const status = response.status;
  let body: BodyInit | null = response.body;
  if (status === 409 && method === 'PATCH' && headers.get('content-type') !== 'application/problem+json') {
    const expected = Number(headers.get('upload-offset'));
    await response.body?.cancel();
    const answer = mismatchingOffset(ietf.version, Number.isFinite(expected) ? expected : 0, ietf.offset ?? 0);
    for (const [name, value] of Object.entries(answer.headers ?? {})) headers.set(name, value);
    body = answer.body;
  }
  if (status === 201 && !headers.has('upload-offset')) headers.set('Upload-Offset', '0');
  const offset = headers.get('upload-offset');
  if (status < 300 && offset !== null && (method === 'HEAD' || method === 'PATCH' || method === 'POST')) {
    // What is stored, never what the client hoped: complete once the offset is the length.
    const length = deferred ? undefined : (headers.get('upload-length') ?? ietf.length);
    headers.set('Upload-Complete', length !== undefined && Number(length) === Number(offset) ? '?1' : '?0');
  }
  if ((method === 'HEAD' || method === 'OPTIONS' || status === 201) && c.maxSize > 0) headers.set('Upload-Limit', `max-size=${c.maxSize}`);
  if (method === 'HEAD') headers.set('Cache-Control', 'no-store');
  return new Response(body, { status, statusText: response.statusText, headers });
}

/** One of our own answers (the front door's) for an IETF request. */
export function toIetfAnswer(answer: Answer, ietf: IetfRequest): Answer {
  const headers = { ...(answer.headers ?? {}) };
  for (const name of Object.keys(headers)) if (TUS_ONLY.includes(name.toLowerCase())) delete headers[name];
  headers['Upload-Draft-Interop-Version'] = String(ietf.version);
  if (answer.status === 409 && headers['Content-Type'] !== 'application/problem+json' && headers['Upload-Offset'] !== undefined) {
    return mismatchingOffset(ietf.version, Number(headers['Upload-Offset']), ietf.offset ?? 0);
  }
  return { ...answer, headers };
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
