/**
 * What the client is answered when a hook decides (a rejection, a stop) or fails. Blocking
 * hooks fail closed: a receiver that cannot be reached, is too slow, or answers non-2xx or
 * nonsense stops the request with a 5xx that says so, and nothing is created or terminated.
 * A hook's HTTPResponse is merged the way tusd's `HTTPResponse.MergeWith` does it: a status,
 * a body and headers, each only when given.
 */
import { TUS_RESUMABLE } from '@tus/utils';
import { type Answer, withHeaders } from '../tus/answer.js';
import type { HookEvent } from './events.js';
import { HookFailure, type HookHTTPResponse } from './http-hook.js';

/** The error shape @tus/server answers with (its `status_code` and `body`). */
export interface TusError {
  status_code: number;
  body: string;
}

/** Defaults of tusd's ErrUploadRejectedByServer, ErrUploadTerminationRejected and ErrUploadStoppedByServer (status 400). */
export const REJECTED = 'ERR_UPLOAD_REJECTED: upload creation has been rejected by the server (its pre-create hook); nothing was created\n';
export const TERMINATION_REJECTED =
  'ERR_UPLOAD_TERMINATION_REJECTED: upload termination has been rejected by the server (its pre-terminate hook); the upload is kept\n';
export const STOPPED =
  'ERR_UPLOAD_STOPPED: upload has been stopped by the server (its post-receive hook) and removed; it cannot be resumed\n';

/** A pre-create hook chose an id that an upload has, or that another creation (on any instance) holds. */
export const ID_IN_USE: TusError = Object.freeze({
  status_code: 502,
  body: 'The pre-create hook receiver (HOOKS_HTTP_URL) chose an upload id that is already in use; nothing was created\n',
});

export const TEXT_PLAIN = { 'Content-Type': 'text/plain; charset=utf-8' } as const;

/**
 * The answer to a request whose blocking hook failed; `consequence` says what did (not) happen,
 * `next` what the client should do (by default: retry later, or nothing for an invalid answer).
 */
export function failedHook(event: HookEvent, error: unknown, consequence: string, next?: string): TusError {
  const what = `The ${event} hook receiver (HOOKS_HTTP_URL)`;
  const then = (advice: string | undefined) => ((next ?? advice) ? `. ${next ?? advice}\n` : '\n');
  if (!(error instanceof HookFailure))
    return { status_code: 500, body: `${what} could not be asked (internal error); ${consequence}${then(undefined)}` };
  switch (error.kind) {
    case 'timeout':
      return { status_code: 504, body: `${what} did not answer in time (${error.message}); ${consequence}${then('Retry later.')}` };
    case 'unreachable':
      return { status_code: 502, body: `${what} ${error.message}; ${consequence}${then('Retry later.')}` };
    case 'status':
      return { status_code: 502, body: `${what} answered ${error.status}; ${consequence}${then('Retry later.')}` };
    case 'aborted':
      return { status_code: 503, body: `The server is shutting down; ${consequence}${then('Retry in a moment.')}` };
    default:
      return { status_code: 502, body: `${what} gave an invalid answer (${error.message}); ${consequence}${then(undefined)}` };
  }
}

/** A hook's rejection: its status (400 by default, as tusd) and body, or ours. */
export function rejection(response: HookHTTPResponse | undefined, fallback: string): TusError {
  const body = response?.Body ? response.Body : fallback;
  return { status_code: response?.StatusCode ?? 400, body };
}

/** An answer of ours carrying a hook's decision: its body as given (no newline added), its headers over ours. */
export function hookAnswer(error: TusError, headers: Record<string, string> | undefined): Answer {
  return {
    status: error.status_code,
    body: error.body,
    headers: { 'Tus-Resumable': TUS_RESUMABLE, ...TEXT_PLAIN, ...validHeaders(headers) },
  };
}

/** Headers a hook asked for, without those that are not valid header names or values. */
export function validHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const valid: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    try {
      new Headers([[name, value]]);
      // Framing is ours to decide.
      if (!/^(content-length|transfer-encoding|connection)$/i.test(name)) valid[name] = value;
    } catch {
      // skipped
    }
  }
  return valid;
}

/** `second` over `first`, as tusd's MergeWith: its status and body when given, its headers over the first's. */
export function mergeHookResponses(first: HookHTTPResponse, second: HookHTTPResponse): HookHTTPResponse {
  const status = second.StatusCode ?? first.StatusCode;
  const body = second.Body ? second.Body : first.Body;
  return {
    ...(status !== undefined ? { StatusCode: status } : {}),
    ...(body !== undefined ? { Body: body } : {}),
    ...(first.Header || second.Header ? { Header: { ...first.Header, ...second.Header } } : {}),
  };
}

/**
 * An answer (@tus/server's, or ours for the final upload of a concatenation) with a hook's
 * HTTPResponse merged in (tusd's MergeWith): its status and body when given, its valid headers
 * over the answer's. An answer of a status without a body (204) is sent without one.
 */
export function mergeAnswer(answer: Answer, hook: HookHTTPResponse): Answer {
  const merged = withHeaders(answer, (headers) => {
    for (const [name, value] of Object.entries(validHeaders(hook.Header))) headers.set(name, value);
  });
  return { status: hook.StatusCode ?? answer.status, body: hook.Body || answer.body, headers: merged.headers };
}
