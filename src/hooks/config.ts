/**
 * HOOKS_* variables -> the hook settings, checked at start: a wrong event name, a missing or
 * short secret stop the server naming the variable (the secret's value is never repeated).
 */
import { DEFAULT_EVENTS, HOOK_EVENTS, type HookEvent, isHookEvent } from './events.js';

export interface HooksConfig {
  /** Receiver of every hook request (POST, JSON), as tusd's -hooks-http. */
  readonly url: string;
  /** HMAC-SHA256 key of the Tus-Hook-Signature header. */
  readonly secret: string;
  readonly events: ReadonlySet<HookEvent>;
  /** Milliseconds one hook request may take (connect, answer, body). */
  readonly timeout: number;
  /** Largest hook response body read, in bytes. */
  readonly maxResponseSize: number;
  /** Client request headers copied onto hook requests (as tusd's -hooks-http-forward-headers). */
  readonly forwardHeaders: readonly string[];
  /** Milliseconds between two post-receive hooks of one request. */
  readonly progressInterval: number;
  /** First delay before a durable delivery is tried again; it doubles up to `retryMaxDelay`. */
  readonly retryDelay: number;
  readonly retryMaxDelay: number;
  /** Milliseconds after which an undelivered durable hook is given up; 0: never. */
  readonly retryMaxAge: number;
}

export interface RawHooks {
  HOOKS_HTTP_URL?: string | undefined;
  HOOKS_HTTP_SECRET?: string | undefined;
  HOOKS_ENABLED_EVENTS?: string | undefined;
  HOOKS_HTTP_TIMEOUT: number;
  HOOKS_HTTP_MAX_RESPONSE_SIZE: number;
  HOOKS_HTTP_FORWARD_HEADERS?: string | undefined;
  HOOKS_PROGRESS_INTERVAL: number;
  HOOKS_RETRY_DELAY: number;
  HOOKS_RETRY_MAX_DELAY: number;
  HOOKS_RETRY_MAX_AGE: number;
}

/** Headers a hook request sets itself or that frame the client's request (lower case). */
const UNFORWARDABLE = new Set([
  'content-length',
  'transfer-encoding',
  'content-encoding',
  'content-type',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'host',
  'idempotency-key',
  'tus-hook-signature',
]);

/** Shortest HOOKS_HTTP_SECRET accepted. */
export const MIN_SECRET_LENGTH = 16;

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** The settings (undefined: hooks off, HOOKS_HTTP_URL unset), or problems naming the variable. */
export function parseHooks(raw: RawHooks, problems: string[]): HooksConfig | undefined {
  const before = problems.length;
  const names = raw.HOOKS_ENABLED_EVENTS === undefined ? [...DEFAULT_EVENTS] : list(raw.HOOKS_ENABLED_EVENTS);
  const unknown = names.filter((name) => !isHookEvent(name));
  if (unknown.length > 0) {
    problems.push(
      `HOOKS_ENABLED_EVENTS=${JSON.stringify(raw.HOOKS_ENABLED_EVENTS)}: unknown event ${unknown.map((n) => JSON.stringify(n)).join(', ')}; expected a comma-separated list of ${HOOK_EVENTS.join(', ')}`,
    );
  }
  const forwardHeaders = list(raw.HOOKS_HTTP_FORWARD_HEADERS);
  const badHeader = forwardHeaders.find((h) => !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h));
  if (badHeader !== undefined) {
    problems.push(`HOOKS_HTTP_FORWARD_HEADERS=${JSON.stringify(raw.HOOKS_HTTP_FORWARD_HEADERS)}: "${badHeader}" is not a header name`);
  }
  // The client's framing (its Content-Length would make every hook request wait for bytes that never
  // come) and the hook request's own headers (its signature, key and type) cannot be forwarded.
  const notForwardable = forwardHeaders.find((h) => UNFORWARDABLE.has(h.toLowerCase()));
  if (notForwardable !== undefined) {
    problems.push(
      `HOOKS_HTTP_FORWARD_HEADERS=${JSON.stringify(raw.HOOKS_HTTP_FORWARD_HEADERS)}: "${notForwardable}" cannot be forwarded (it describes the client's request or is set by the hook request itself)`,
    );
  }
  if (raw.HOOKS_RETRY_MAX_DELAY < raw.HOOKS_RETRY_DELAY) {
    problems.push(
      `HOOKS_RETRY_MAX_DELAY=${raw.HOOKS_RETRY_MAX_DELAY}: must not be shorter than HOOKS_RETRY_DELAY (${raw.HOOKS_RETRY_DELAY} ms)`,
    );
  }
  const url = raw.HOOKS_HTTP_URL;
  const secret = raw.HOOKS_HTTP_SECRET;
  if (!url) {
    if (secret) problems.push('HOOKS_HTTP_SECRET: set, but HOOKS_HTTP_URL is not; set the receiver URL or remove the secret');
    return undefined;
  }
  if (!secret) {
    problems.push(
      'HOOKS_HTTP_SECRET=unset: required when HOOKS_HTTP_URL is set (every hook request is signed with it); generate one with `openssl rand -hex 32`',
    );
  } else if (secret.length < MIN_SECRET_LENGTH) {
    problems.push(`HOOKS_HTTP_SECRET=(hidden): at least ${MIN_SECRET_LENGTH} characters; generate one with \`openssl rand -hex 32\``);
  }
  if (problems.length > before || !secret) return undefined;
  return {
    url,
    secret,
    events: new Set(names.filter(isHookEvent)),
    timeout: raw.HOOKS_HTTP_TIMEOUT,
    maxResponseSize: raw.HOOKS_HTTP_MAX_RESPONSE_SIZE,
    forwardHeaders,
    progressInterval: raw.HOOKS_PROGRESS_INTERVAL,
    retryDelay: raw.HOOKS_RETRY_DELAY,
    retryMaxDelay: raw.HOOKS_RETRY_MAX_DELAY,
    retryMaxAge: raw.HOOKS_RETRY_MAX_AGE,
  };
}
