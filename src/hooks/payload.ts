/**
 * The JSON body of a hook request, field for field tusd v2's `hooks.HookRequest`
 * (`Type`, `Event.Upload`, `Event.HTTPRequest`), plus two additions tusd's receivers ignore:
 * `Event.Subject` (the authenticated subject, null when authentication is off) and
 * `IdempotencyKey` (the same on every attempt of one delivery). Secrets never enter it:
 * Authorization, Cookie and other credential headers, and credential query parameters, are
 * redacted.
 */
import type { Upload } from '@tus/utils';
import type { Location } from '../config/index.js';
import type { StorageOf } from '../stores/driver.js';
import { driverOf } from '../stores/drivers.js';
import { CONCAT_KEY, clientMetadata, parseConcatHeader } from '../tus/concatenation.js';
import type { HookEvent } from './events.js';

/** tusd's handler.FileInfo as JSON. */
export interface HookUpload {
  /** Empty in pre-create: the upload has no id yet. */
  ID: string;
  /** 0 while the length is deferred. */
  Size: number;
  SizeIsDeferred: boolean;
  Offset: number;
  /** The client's metadata (or what a pre-create hook set); values are strings. */
  MetaData: Record<string, string>;
  IsPartial: boolean;
  IsFinal: boolean;
  /** Ids of the partial uploads of a final upload; null otherwise. */
  PartialUploads: string[] | null;
  /** `{Type: "s3store", Bucket, Key}` or `{Type: "filestore", Path, InfoPath}`; null in pre-create. */
  Storage: Record<string, string> | null;
}

/** tusd's handler.HTTPRequest as JSON: header names canonical (Go's rules), values arrays. */
export interface HookHTTPRequest {
  Method: string;
  URI: string;
  RemoteAddr: string;
  Header: Record<string, string[]>;
}

export interface HookRequest {
  Type: HookEvent;
  Event: {
    Upload: HookUpload;
    HTTPRequest: HookHTTPRequest;
    /** Ours: who made the request (the token's subject), null when authentication is off. */
    Subject: string | null;
  };
  /** Ours: identifies this event; every attempt to deliver it carries the same key. */
  IdempotencyKey: string;
}

export const REDACTED = '[REDACTED]';

/** Header names whose values are credentials (besides any name that says so, see `isSecretName`). */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
const isSecretName = (name: string) =>
  /token|secret|passw|api[-_]?key|(^|[-_])key$|session|credential|signature|^sig$|auth|jwt|cookie/i.test(name);

/** Go's http.CanonicalHeaderKey: `upload-length` -> `Upload-Length`. */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, letter: string) => `${dash}${letter.toUpperCase()}`);
}

function redactValue(name: string, value: string): string {
  // Keep the scheme ("Bearer [REDACTED]"): which kind of credential came is not a secret.
  if (name === 'authorization' || name === 'proxy-authorization') {
    const scheme = /^([A-Za-z][A-Za-z0-9._~+-]*) +\S/.exec(value)?.[1];
    return scheme ? `${scheme} ${REDACTED}` : REDACTED;
  }
  return REDACTED;
}

/** A request's headers as tusd sends them, credentials redacted. */
export function redactHeaders(headers: Record<string, string[] | undefined>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [raw, values] of Object.entries(headers)) {
    if (!values) continue;
    const name = raw.toLowerCase();
    const secret = SECRET_HEADERS.has(name) || isSecretName(name);
    out[canonicalHeaderName(name)] = values.map((v) => (secret ? redactValue(name, v) : v));
  }
  return out;
}

/** The request URI with the values of credential query parameters (such as `access_token`) redacted. */
export function redactUri(uri: string): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const query = uri
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' '));
      } catch {
        name = pair.slice(0, eq);
      }
      return isSecretName(name) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    });
  return `${uri.slice(0, q)}?${query.join('&')}`;
}

/** What a hook payload needs of a Node request (the raw request behind Fastify's). */
export interface NodeRequestLike {
  method?: string | undefined;
  url?: string | undefined;
  headersDistinct: Record<string, string[] | undefined>;
  socket: { remoteAddress?: string | undefined; remotePort?: number | undefined };
}

/** `Event.HTTPRequest` of a request, redacted. */
export function hookHttpRequest(req: NodeRequestLike): HookHTTPRequest {
  const address = req.socket.remoteAddress ?? '';
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    Method: req.method ?? '',
    URI: redactUri(req.url ?? ''),
    RemoteAddr: req.socket.remotePort !== undefined ? `${host}:${req.socket.remotePort}` : host,
    Header: redactHeaders(req.headersDistinct),
  };
}

/** For events without a client request (a final upload assembled when its last partial finished). */
export const NO_HTTP_REQUEST: HookHTTPRequest = Object.freeze({ Method: '', URI: '', RemoteAddr: '', Header: {} }) as HookHTTPRequest;

export type { StorageOf };

/** Where a location keeps an upload, as tusd's stores describe it in `Storage` (its driver says). */
export function storageOf(location: Location): StorageOf {
  return driverOf(location).hookStorage(location);
}

/** The client-visible metadata as tusd's MetaData (a key without value is ""). */
export function hookMetadata(metadata: Upload['metadata']): Record<string, string> {
  return Object.fromEntries(Object.entries(clientMetadata(metadata) ?? {}).map(([k, v]) => [k, v ?? '']));
}

/** `Event.Upload` of an existing upload of the location mounted at `path`. */
export function hookUpload(upload: Upload, path: string, storage: StorageOf): HookUpload {
  const mark = upload.metadata?.[CONCAT_KEY] ?? undefined;
  const concat = mark ? parseConcatHeader(mark, path) : undefined;
  return {
    ID: upload.id,
    Size: upload.size ?? 0,
    SizeIsDeferred: upload.size === undefined,
    Offset: upload.offset,
    MetaData: hookMetadata(upload.metadata),
    IsPartial: concat?.kind === 'partial',
    IsFinal: concat?.kind === 'final' || (mark?.startsWith('final;') ?? false),
    PartialUploads: concat?.kind === 'final' ? concat.ids : null,
    Storage: storage(upload),
  };
}

/** `Event.Upload` in pre-create: what the creation asks for, before there is an id. */
export function hookNewUpload(c: {
  size: number | undefined;
  metadata: Upload['metadata'];
  isPartial: boolean;
  partialUploads?: readonly string[] | undefined;
}): HookUpload {
  return {
    ID: '',
    Size: c.size ?? 0,
    SizeIsDeferred: c.size === undefined,
    Offset: 0,
    MetaData: hookMetadata(c.metadata),
    IsPartial: c.isPartial,
    IsFinal: c.partialUploads !== undefined,
    PartialUploads: c.partialUploads ? [...c.partialUploads] : null,
    Storage: null,
  };
}

export function hookRequest(
  type: HookEvent,
  upload: HookUpload,
  http: HookHTTPRequest,
  subject: string | undefined,
  idempotencyKey: string,
): HookRequest {
  return { Type: type, Event: { Upload: upload, HTTPRequest: http, Subject: subject ?? null }, IdempotencyKey: idempotencyKey };
}
