/**
 * Storage failures as tus errors ({ status_code, body }), which @tus/server sends as the
 * response: shared by the stores that talk to a storage service (s3, azure), each of which
 * explains its own service's errors (s3/errors.ts, azure/errors.ts).
 */
export class StoreError extends Error {
  constructor(
    readonly status_code: number,
    readonly body: string,
    /** The service's error code or the network error, for the log. */
    override readonly cause: string = 'StoreError',
  ) {
    super(body.trim());
  }
}

/**
 * A state object (`.info`) changed since this request read it: another request took the
 * upload over (this one had lost its lock). Nothing was written; answered like a lost lock.
 * `cause` is the service's name for the failed condition.
 */
export function stateChanged(cause: string): StoreError {
  return new StoreError(
    409,
    "The upload's state was changed by another request since this one read it (this request had lost the upload's lock) and was not overwritten; bytes not stored by then were dropped. HEAD the upload for its offset and resume from there\n",
    cause,
  );
}

/** Node's network errors, whichever client met them: the service could not be reached (503, retried). */
export const NETWORK_ERRORS: readonly string[] = [
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
];
