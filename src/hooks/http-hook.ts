/**
 * One hook request over HTTP, as tusd's pkg/hooks/http does it: POST the JSON hook request,
 * read at most the size limit of the answer, and parse tusd's HookResponse from a 2xx.
 * Beyond tusd: the request is signed (Tus-Hook-Signature) and carries an Idempotency-Key;
 * a 2xx with an empty body is an empty HookResponse (tusd insists on a JSON body).
 * Field names are matched as Go's encoding/json matches them (tusd's receivers may write
 * `rejectUpload` or `httpResponse`): ignoring case. Where Go lets the last of several spellings
 * win, a decision here is never missed for its spelling: every key naming a field is read
 * (duplicates included, which JSON.parse drops), `null` counts as absent, objects given twice
 * are merged, and two different values for one field make the answer invalid: the hook fails,
 * closed (a post-receive answer saying StopUpload in any spelling still stops the upload).
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
  /** An invalid answer that still says StopUpload (in some spelling): post-receive stops the upload all the same. */
  stopUpload = false;
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
  let parsed: JsonValue;
  try {
    // JSON.parse checks the syntax; readJson then keeps every key, repeated ones too.
    JSON.parse(text);
    parsed = readJson(text);
  } catch {
    throw new HookFailure('invalid', 'the answer is not JSON (a tusd HookResponse)');
  }
  if (!(parsed instanceof JsonObject)) {
    throw new HookFailure('invalid', 'the answer is not a JSON object (a tusd HookResponse)');
  }
  try {
    return checkShape(parsed);
  } catch (error) {
    if (error instanceof HookFailure) error.stopUpload = spellings(parsed, 'StopUpload').some(([, value]) => value === true);
    throw error;
  }
}

/** A JSON object as written: every key and its value in order, a repeated key as often as it is written. */
class JsonObject {
  constructor(readonly entries: [string, JsonValue][]) {}
}
type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

const LITERAL = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
const STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/y;
const SPACE = /[ \t\n\r]*/y;

/** JSON text already checked by JSON.parse, read with its objects as JsonObjects. */
function readJson(text: string): JsonValue {
  let at = 0;
  const match = (pattern: RegExp): string => {
    pattern.lastIndex = at;
    const found = pattern.exec(text);
    if (!found) throw new SyntaxError(`unexpected JSON at ${at}`);
    at = pattern.lastIndex;
    return found[0];
  };
  const skip = () => match(SPACE);
  const value = (): JsonValue => {
    skip();
    const c = text[at];
    if (c === '"') return JSON.parse(match(STRING)) as string;
    if (c !== '{' && c !== '[') return JSON.parse(match(LITERAL)) as JsonValue;
    at++;
    const close = c === '{' ? '}' : ']';
    const entries: [string, JsonValue][] = [];
    const items: JsonValue[] = [];
    skip();
    if (text[at] === close) {
      at++;
      return c === '{' ? new JsonObject(entries) : items;
    }
    for (;;) {
      if (c === '{') {
        skip();
        const key = JSON.parse(match(STRING)) as string;
        skip();
        at++; // :
        entries.push([key, value()]);
      } else items.push(value());
      skip();
      if (text[at++] === close) return c === '{' ? new JsonObject(entries) : items;
    }
  };
  return value();
}

/** Every entry of `object` naming struct field `name` as Go's encoding/json matches it: ignoring case. */
function spellings(object: JsonObject, name: string): [string, JsonValue][] {
  const lower = name.toLowerCase();
  return object.entries.filter(([key]) => key.toLowerCase() === lower);
}

const canonical = (value: JsonValue): string => JSON.stringify(value, (_key, v) => (v instanceof JsonObject ? v.entries : v));

function conflict(path: string, keys: string[]): HookFailure {
  const named = [...new Set(keys)].map((key) => JSON.stringify(key)).join(', ');
  return new HookFailure('invalid', `${path} is given more than once with different values (as ${named})`);
}

/**
 * The value of struct field `name` (`path` names it in messages): null and absent are alike;
 * objects given in several spellings are merged (Go decodes each into the same struct), and
 * different values in several spellings are a conflict.
 */
function field(object: JsonObject, name: string, path: string): JsonValue | undefined {
  const given = spellings(object, name).filter(([, value]) => value !== null);
  const first = given[0]?.[1];
  if (given.length <= 1) return first;
  if (given.every(([, value]) => value instanceof JsonObject))
    return new JsonObject(given.flatMap(([, value]) => (value as JsonObject).entries));
  const seen = canonical(first as JsonValue);
  if (given.some(([, value]) => canonical(value) !== seen))
    throw conflict(
      path,
      given.map(([key]) => key),
    );
  return first;
}

/** A map of strings (Header, MetaData); a key given twice with different values (header names: in any case) is a conflict. */
function stringMap(value: JsonValue, path: string, caseInsensitive: boolean): Record<string, string> {
  if (!(value instanceof JsonObject) || value.entries.some(([, v]) => typeof v !== 'string')) {
    throw new HookFailure('invalid', `${path} must be an object of strings`);
  }
  const byKey = new Map<string, [string, string][]>();
  for (const [key, v] of value.entries as [string, string][]) {
    const normal = caseInsensitive ? key.toLowerCase() : key;
    byKey.set(normal, [...(byKey.get(normal) ?? []), [key, v]]);
  }
  const out: [string, string][] = [];
  for (const given of byKey.values()) {
    const [key, v] = given[0] as [string, string];
    if (given.some(([, other]) => other !== v))
      throw conflict(
        `${path}[${JSON.stringify(key)}]`,
        given.map(([k]) => k),
      );
    out.push([key, v]);
  }
  // fromEntries: a key such as __proto__ stays a key.
  return Object.fromEntries(out);
}

function checkShape(r: JsonObject): HookResponse {
  const wrong = (field: string, expected: string) => new HookFailure('invalid', `${field} must be ${expected}`);
  const out: HookResponse = {};
  for (const flag of ['RejectUpload', 'RejectTermination', 'StopUpload'] as const) {
    const value = field(r, flag, flag);
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw wrong(flag, 'true or false');
    out[flag] = value;
  }
  const http = field(r, 'HTTPResponse', 'HTTPResponse');
  if (http !== undefined) {
    if (!(http instanceof JsonObject)) throw wrong('HTTPResponse', 'an object');
    const [StatusCode, Body, Header] = ['StatusCode', 'Body', 'Header'].map((name) => field(http, name, `HTTPResponse.${name}`));
    const res: HookHTTPResponse = {};
    if (StatusCode !== undefined && StatusCode !== 0) {
      if (!Number.isInteger(StatusCode) || (StatusCode as number) < 200 || (StatusCode as number) > 599)
        throw wrong('HTTPResponse.StatusCode', 'an HTTP status from 200 to 599');
      res.StatusCode = StatusCode as number;
    }
    if (Body !== undefined) {
      if (typeof Body !== 'string') throw wrong('HTTPResponse.Body', 'a string');
      res.Body = Body;
    }
    if (Header !== undefined) res.Header = stringMap(Header, 'HTTPResponse.Header', true);
    out.HTTPResponse = res;
  }
  const change = field(r, 'ChangeFileInfo', 'ChangeFileInfo');
  if (change !== undefined) {
    if (!(change instanceof JsonObject)) throw wrong('ChangeFileInfo', 'an object');
    const [ID, MetaData] = ['ID', 'MetaData'].map((name) => field(change, name, `ChangeFileInfo.${name}`));
    out.ChangeFileInfo = {};
    if (ID !== undefined && ID !== '') {
      if (typeof ID !== 'string') throw wrong('ChangeFileInfo.ID', 'a string');
      out.ChangeFileInfo.ID = ID;
    }
    if (MetaData !== undefined) out.ChangeFileInfo.MetaData = stringMap(MetaData, 'ChangeFileInfo.MetaData', false);
  }
  return out;
}
