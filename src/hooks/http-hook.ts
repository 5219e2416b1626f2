/**
 * One hook request over HTTP, as tusd's pkg/hooks/http does it: POST the JSON hook request,
 * read at most the size limit of the answer, and parse tusd's HookResponse from a 2xx.
 * Beyond tusd: the request is signed (Tus-Hook-Signature) and carries an Idempotency-Key;
 * a 2xx with an empty body is an empty HookResponse (tusd insists on a JSON body).
 * Field names are matched as Go's encoding/json matches them (tusd's receivers may write
 * `rejectUpload` or `httpResponse`): exactly, else ignoring case; a decision such as
 * RejectUpload is never missed for its spelling.
 */
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

/** tusd's handler.HTTPResponse. */
export interface HookHTTPResponse {
  StatusCode?: number;
  Body?: string;
  Header?: Record<string, string>;
}

/** tusd's hooks.HookResponse. */
export interface HookResponse {
  HTTPResponse?: HookHTTPResponse;
  RejectUpload?: boolean;
  RejectTermination?: boolean;
  ChangeFileInfo?: { ID?: string; MetaData?: Record<string, string> | null };
  StopUpload?: boolean;
}

/** Why a hook request failed: the receiver is unreachable, too slow, answered non-2xx, or answered nonsense. */
export type HookFailureKind = 'unreachable' | 'timeout' | 'status' | 'invalid' | 'aborted';

export class HookFailure extends Error {
  override name = 'HookFailure';
  constructor(
    readonly kind: HookFailureKind,
    message: string,
    /** The receiver's status, for kind `status`. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface HookTarget {
  url: string;
  secret: string;
  timeout: number;
  maxResponseSize: number;
}

/** `url` without its credentials (fetch refuses them), which become an `Authorization: Basic` header. */
export function splitCredentials(url: string): { url: string; authorization?: string } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { url };
  const user = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), authorization: `Basic ${Buffer.from(user).toString('base64')}` };
}

export interface HookCall {
  /** The exact bytes to send (and sign). */
  body: string;
  idempotencyKey: string;
  /** Extra request headers (HOOKS_HTTP_FORWARD_HEADERS). */
  headers?: Record<string, string> | undefined;
  /** Aborts the request (the server is closing). */
  signal?: AbortSignal | undefined;
  /** Only whether the receiver took it matters (durable events): any 2xx, whatever its body. */
  statusOnly?: boolean;
}

export async function callHook(target: HookTarget, call: HookCall): Promise<HookResponse> {
  const { url, authorization } = splitCredentials(target.url);
  const timeout = AbortSignal.timeout(target.timeout);
  const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
  let response: Response;
  let text: string;
  try {
    // Ours replace forwarded ones whatever their case (a plain object would send both).
    const headers = new Headers(call.headers);
    if (authorization) headers.set('Authorization', authorization);
    headers.set('Content-Type', 'application/json');
    headers.set('Idempotency-Key', call.idempotencyKey);
    headers.set(SIGNATURE_HEADER, signatureHeader(target.secret, call.body));
    response = await fetch(url, {
      method: 'POST',
      headers,
      body: call.body,
      signal,
      redirect: 'manual',
    });
    if (call.statusOnly) {
      await response.body?.cancel().catch(() => undefined);
      text = '';
    } else text = await readLimited(response, target.maxResponseSize);
  } catch (error) {
    if (error instanceof HookFailure) throw error;
    if (call.signal?.aborted) throw new HookFailure('aborted', 'the server is closing');
    if (timeout.aborted) throw new HookFailure('timeout', `no answer within ${target.timeout} ms`);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new HookFailure('unreachable', `cannot reach the receiver (${cause?.code ?? cause?.message ?? (error as Error).message})`);
  }
  if (response.status < 200 || response.status > 299) {
    throw new HookFailure('status', `the receiver answered ${response.status}`, response.status);
  }
  if (call.statusOnly) return {};
  return parseHookResponse(text, response.headers.get('content-type'));
}

/** The body as text, failing once it passes `limit` bytes. */
async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new HookFailure('invalid', `the answer is longer than HOOKS_HTTP_MAX_RESPONSE_SIZE (${limit} bytes)`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** tusd's HookResponse from a 2xx body; an empty body changes nothing. */
export function parseHookResponse(text: string, contentType: string | null): HookResponse {
  if (text.trim() === '') return {};
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type && type !== 'application/json') {
    throw new HookFailure('invalid', `the answer is ${type}, expected application/json (a tusd HookResponse)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HookFailure('invalid', 'the answer is not JSON (a tusd HookResponse)');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HookFailure('invalid', 'the answer is not a JSON object (a tusd HookResponse)');
  }
  return checkShape(parsed as Record<string, unknown>);
}

/**
 * The value of struct field `name` in a decoded JSON object, as Go's encoding/json finds it
 * (tusd decodes hook responses with it): the key spelled exactly, else one equal to it
 * ignoring case.
 */
function field(object: object, name: string): unknown {
  if (Object.hasOwn(object, name)) return (object as Record<string, unknown>)[name];
  return Object.entries(object).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

function checkShape(r: Record<string, unknown>): HookResponse {
  const wrong = (field: string, expected: string) => new HookFailure('invalid', `${field} must be ${expected}`);
  const out: HookResponse = {};
  for (const flag of ['RejectUpload', 'RejectTermination', 'StopUpload'] as const) {
    const value = field(r, flag);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'boolean') throw wrong(flag, 'true or false');
    out[flag] = value;
  }
  const http = field(r, 'HTTPResponse');
  if (http !== undefined && http !== null) {
    if (typeof http !== 'object') throw wrong('HTTPResponse', 'an object');
    const [StatusCode, Body, Header] = ['StatusCode', 'Body', 'Header'].map((name) => field(http, name));
    const res: HookHTTPResponse = {};
    if (StatusCode !== undefined && StatusCode !== null && StatusCode !== 0) {
      if (!Number.isInteger(StatusCode) || (StatusCode as number) < 200 || (StatusCode as number) > 599)
        throw wrong('HTTPResponse.StatusCode', 'an HTTP status from 200 to 599');
      res.StatusCode = StatusCode as number;
    }
    if (Body !== undefined && Body !== null) {
      if (typeof Body !== 'string') throw wrong('HTTPResponse.Body', 'a string');
      res.Body = Body;
    }
    if (Header !== undefined && Header !== null) {
      if (typeof Header !== 'object' || Array.isArray(Header) || Object.values(Header).some((v) => typeof v !== 'string'))
        throw wrong('HTTPResponse.Header', 'an object of strings');
      res.Header = Header as Record<string, string>;
    }
    out.HTTPResponse = res;
  }
  const change = field(r, 'ChangeFileInfo');
  if (change !== undefined && change !== null) {
    if (typeof change !== 'object') throw wrong('ChangeFileInfo', 'an object');
    const [ID, MetaData] = ['ID', 'MetaData'].map((name) => field(change, name));
    out.ChangeFileInfo = {};
    if (ID !== undefined && ID !== null && ID !== '') {
      if (typeof ID !== 'string') throw wrong('ChangeFileInfo.ID', 'a string');
      out.ChangeFileInfo.ID = ID;
    }
    if (MetaData !== undefined && MetaData !== null) {
      if (typeof MetaData !== 'object' || Array.isArray(MetaData) || Object.values(MetaData).some((v) => typeof v !== 'string'))
        throw wrong('ChangeFileInfo.MetaData', 'an object of strings');
      out.ChangeFileInfo.MetaData = MetaData as Record<string, string>;
    }
  }
  return out;
}
