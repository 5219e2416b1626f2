/**
 * What hooks know of the client request behind an event. The front door makes it from the
 * Fastify request (the address, the headers, the authenticated subject) once, in the
 * request's context (src/tus/web-request.ts), where @tus/server's callbacks find it from the
 * web Request they see. It also carries what one request's hooks decided for its answer, and
 * the durable writes the answer waits for.
 */
import type { Upload } from '@tus/utils';
import { contextOfWeb } from '../tus/web-request.js';
import type { HookHTTPResponse } from './http-hook.js';
import type { IdClaim } from './id-claims.js';
import type { HookHTTPRequest } from './payload.js';

export interface HookContext {
  http: HookHTTPRequest;
  /** The authenticated subject (undefined when authentication is off). */
  subject: string | undefined;
  /** HOOKS_HTTP_FORWARD_HEADERS found on the request: sent as headers of its hook requests, never stored. */
  forwarded: Record<string, string>;
  /** The upload id a pre-create hook chose, held for this request until it ends (id-claims.ts). */
  claimed?: { id: string; claim: IdClaim };
  /** The URL of the upload this request (a POST) created, once it exists. */
  created?: string;
  /** Metadata a pre-create hook set (ChangeFileInfo.MetaData), applied when the upload is created. */
  metadata?: Record<string, string>;
  /** A hook's HTTPResponse for the client: on the success answer only, or on whatever is answered (a rejection). */
  answer?: { response: HookHTTPResponse; always: boolean };
  /** The upload a DELETE is about to terminate (read before, for the post-terminate payload). */
  terminating?: Upload;
  /** Outbox writes of this request: its answer goes out once they are durable. */
  pending: Promise<unknown>[];
}

/** The hook context of the request behind a web Request @tus/server handles. */
export function hookContextOf(web: Request): HookContext | undefined {
  return contextOfWeb(web)?.hooks;
}
