/**
 * What the HTTP layer knows about the request a store call serves, passed without the
 * store knowing HTTP: @tus/server calls store methods inside this async context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  /** Body bytes announced by Content-Length (creation-with-upload POST or PATCH). */
  expectedBytes?: number;
  /** Upload-Offset the client sent with a PATCH. */
  clientOffset?: number;
  /** Read the upload's state from storage, not from a cache (HEAD, DELETE). */
  fresh?: boolean;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();
