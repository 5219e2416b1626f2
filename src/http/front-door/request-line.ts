/**
 * Gate 1, the request line: the Host (and a trusted proxy's forwarded origin), which new
 * uploads' URLs are made of; the method (X-HTTP-Method-Override becomes the request's method,
 * before any check, lock or hook sees it); an IETF draft request translated into tus
 * (src/http/ietf.ts); an empty Upload-Metadata is no metadata.
 */
import type { HTTPMethods } from 'fastify';
import type { Answer } from '../../tus/answer.js';
import { hostProblem, requestOrigin } from '../../tus/public-origin.js';
import { refuse } from '../../tus/refusals.js';
import { translateRequest } from '../ietf.js';
import type { DoorContext } from './context.js';

export const METHODS: HTTPMethods[] = ['POST', 'HEAD', 'PATCH', 'OPTIONS', 'DELETE', 'GET'];

export function requestLine(c: DoorContext): Answer | undefined {
  const { request } = c;
  const badHost = originProblem(c);
  if (badHost) return refuse('badHost', badHost);
  const override = methodOverride(c);
  if (override) return override;
  // Resumable Uploads for HTTP (the IETF draft): its headers become tus's.
  const translated = translateRequest(request);
  if (translated && 'status' in translated) return translated;
  if (translated) c.ietf = translated;
  // An empty Upload-Metadata means no metadata (tus-py-client sends one for a file without any).
  const metadata = request.headers['upload-metadata'];
  if (typeof metadata === 'string' && metadata.trim() === '') delete request.headers['upload-metadata'];
  // (TUS_BODY_IDLE_TIMEOUT, TUS_BODY_MIN_RATE: every request's body is watched, src/http/body-idle.ts registerBodyWatch.)
  // From here the request log and the body watch name the location and the upload.
  request.tus = c;
  return undefined;
}

/**
 * tus core: "the Server MUST use the value of [X-HTTP-Method-Override] as the request's
 * method" (for environments that only allow GET and POST). The raw request's method is
 * replaced, so everything after this, @tus/server included, sees the method the client meant.
 */
function methodOverride({ request }: DoorContext): Answer | undefined {
  const value = request.headers['x-http-method-override'];
  if (value === undefined) return undefined;
  const method = String(value).trim().toUpperCase();
  if (!(METHODS as string[]).includes(method)) return refuse('badMethodOverride', METHODS, value);
  request.raw.method = method;
  return undefined;
}

/**
 * A request whose Host is not a host[:port] (RFC 9112: 400), or, without PUBLIC_URL, whose
 * origin for `Location` cannot be made (a trusted proxy's bad forwarded host or proto).
 */
function originProblem({ o, request }: DoorContext): string | undefined {
  if (o.publicUrl) return hostProblem(request.raw, false);
  const origin = requestOrigin(request.raw, o.trustedPeer);
  return 'problem' in origin ? origin.problem : undefined;
}

/** The base of new uploads' URLs: PUBLIC_URL, or the request's origin (checked by `originProblem`). */
export function baseUrl({ o, request }: DoorContext): string {
  if (o.publicUrl) return o.publicUrl;
  const origin = requestOrigin(request.raw, o.trustedPeer);
  return 'origin' in origin ? origin.origin : 'http://localhost';
}
