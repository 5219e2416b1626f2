/**
 * What the HTTP layer knows about the request a store call serves, passed without the
 * store knowing HTTP: @tus/server calls store methods inside this async context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Readable } from 'node:stream';

export interface RequestContext {
  /** Body bytes announced by Content-Length (creation-with-upload POST or PATCH). */
  expectedBytes?: number;
  /** Upload-Offset the client sent with a PATCH. */
  clientOffset?: number;
  /** Read the upload's state from storage, not from a cache (HEAD, DELETE). */
  fresh?: boolean;
  /**
   * The raw request body, for a store that reads it directly (`readsRequestBody`) instead of
   * the stream @tus/server hands it, which would pass every byte through web-stream adapters.
   */
  body?: Readable;
}

/** A store that reads `RequestContext.body` itself when it is set. */
export interface DirectBodyReader {
  readonly readsRequestBody: true;
}

export const readsRequestBody = (store: object): store is DirectBodyReader =>
  (store as Partial<DirectBodyReader>).readsRequestBody === true;

export const requestContext = new AsyncLocalStorage<RequestContext>();
