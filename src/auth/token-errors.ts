/** Why a bearer token does not authenticate, apart from the JWT library (src/auth/jwt.ts, loaded only when JWTs are configured). */

/** A token that does not authenticate; `message` says why, for the 401 body. */
export class TokenRejected extends Error {
  constructor(
    message: string,
    /** RFC 6750 error code for WWW-Authenticate. */
    readonly code: 'invalid_token' | 'invalid_request' = 'invalid_token',
  ) {
    super(message);
    this.name = 'TokenRejected';
  }
}

/** The key set at AUTH_JWT_JWKS_URL could not be read: the token cannot be checked now (503). */
export class KeysUnavailable extends Error {
  constructor() {
    super('the signing keys (AUTH_JWT_JWKS_URL) cannot be fetched right now; retry in a moment');
    this.name = 'KeysUnavailable';
  }
}
