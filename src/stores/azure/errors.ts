/**
 * Azure failures turned into answers that say what to check (StoreError, as the S3 store's):
 * the store throws them as tus errors ({ status_code, body }), which @tus/server sends.
 */
import { NETWORK_ERRORS, StoreError, stateChanged } from '../store-error.js';

export { StoreError };

interface RestLikeError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

export const azureErrorCode = (error: unknown): string => (error as RestLikeError | undefined)?.code ?? 'UnknownError';
export const azureStatus = (error: unknown): number | undefined => (error as RestLikeError | undefined)?.statusCode;

/** The blob (or its block list) does not exist; a missing container is not this. */
export function isBlobMissing(error: unknown): boolean {
  const code = azureErrorCode(error);
  return code === 'BlobNotFound' || (azureStatus(error) === 404 && code !== 'ContainerNotFound');
}

/** A conditional write found another version (If-Match) or an existing blob (If-None-Match: *). */
export const isConditionFailed = (error: unknown): boolean => azureStatus(error) === 412 || azureErrorCode(error) === 'BlobAlreadyExists';

/**
 * `.info` changed since this request read it: another request took the upload over (this one
 * had lost its lock). Nothing was written; answered like a lost lock.
 */
export const STATE_CHANGED = stateChanged('ConditionNotMet');

const NETWORK = new Set([...NETWORK_ERRORS, 'REQUEST_SEND_ERROR']);

const HINTS: Array<{ codes: string[]; hint: (v: string) => string }> = [
  {
    codes: ['AuthenticationFailed', 'AuthorizationFailure', 'InvalidAuthenticationInfo'],
    hint: (v) => `Check the credentials: ${v}ACCOUNT_NAME and ${v}ACCOUNT_KEY (and ${v}ENDPOINT names that account).`,
  },
  {
    codes: ['ContainerNotFound'],
    hint: (v) => `The container does not exist: check ${v}CONTAINER_NAME and ${v}ENDPOINT. The server never creates containers.`,
  },
  {
    codes: ['AuthorizationPermissionMismatch', 'InsufficientAccountPermissions'],
    hint: (v) => `The key may not do this: use the account's access key in ${v}ACCOUNT_KEY.`,
  },
];

/** Where: the location's name, its container, the operation and the blob. */
export function explainAzureError(
  error: unknown,
  where: { location: string; container: string; operation: string; blob?: string },
): StoreError {
  const code = azureErrorCode(error);
  const status = azureStatus(error);
  const v = `STORAGE_${where.location.toUpperCase()}_`;
  const target = `${where.operation} on container "${where.container}"${where.blob ? ` blob "${where.blob}"` : ''}`;
  const prefix = `Storage location "${where.location}"`;
  if (
    NETWORK.has(code) ||
    (status === undefined && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket/i.test(String((error as RestLikeError)?.message)))
  ) {
    return new StoreError(
      503,
      `${prefix}: Azure did not answer ${target} (${code}). Check ${v}ENDPOINT, DNS and the network; the upload can be resumed.\n`,
      code,
    );
  }
  const known = HINTS.find((h) => h.codes.includes(code));
  const refused = `${prefix}: Azure refused ${target} (${code}${status ? `, HTTP ${status}` : ''}).`;
  if (known) return new StoreError(502, `${refused} ${known.hint(v)}\n`, code);
  if (status === undefined) {
    return new StoreError(
      500,
      `${prefix}: unexpected error during ${target}: ${(error as RestLikeError)?.message ?? code}. See the server log.\n`,
      code,
    );
  }
  if (status >= 500) return new StoreError(503, `${refused} The Azure service failed after retries; the upload can be resumed.\n`, code);
  return new StoreError(502, `${refused} Check the location's settings (${v}*) and Azure's documentation for this error.\n`, code);
}
