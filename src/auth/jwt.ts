/**
 * JWT verification with jose: HS* with the shared secret (Directus's SECRET), asymmetric
 * algorithms with a PEM public key, a JWKS file or a JWKS URL (cached; fetched again when a
 * token names an unknown `kid`). Which key checks a token follows from its `alg`, never from
 * anything else it says, and `none` is never accepted.
 */
import type { KeyObject } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import type { AuthConfig } from './config.js';
import { KeysUnavailable, TokenRejected } from './token-errors.js';

const HMAC = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC: Record<string, string[]> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  ec: ['ES256', 'ES384', 'ES512'],
  ed25519: ['EdDSA', 'Ed25519'],
  ed448: ['EdDSA'],
};

export type VerifyJwt = (token: string) => Promise<JWTPayload>;

export function jwtVerifier(config: AuthConfig): VerifyJwt | undefined {
  const publicAlgorithms = config.publicKey ? (ASYMMETRIC[config.publicKey.asymmetricKeyType ?? ''] ?? []) : [];
  const remote = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), {
        cacheMaxAge: config.jwksCacheMaxAge,
        // A token with an unknown kid fetches the set again at most this often (key rotation).
        cooldownDuration: 5000,
        timeoutDuration: 5000,
      })
    : undefined;
  const local = config.jwks ? createLocalJWKSet(config.jwks) : undefined;
  if (!config.secret && !config.publicKey && !remote && !local) return undefined;
  const options = {
    ...(config.issuers.length ? { issuer: [...config.issuers] } : {}),
    ...(config.audiences.length ? { audience: [...config.audiences] } : {}),
    clockTolerance: config.clockSkew,
    // Tokens cannot be revoked here: one that never expires is refused.
    requiredClaims: ['exp'],
  };

  return async (token) => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TokenRejected('the bearer token is not a JWT (three base64url parts) nor a known static token');
    }
    let key: KeyObject | JWTVerifyGetKey;
    let algorithms: string[];
    if (alg && HMAC.includes(alg)) {
      if (!config.secret) throw new TokenRejected(`tokens signed with ${alg} are not accepted here (no AUTH_JWT_SECRET)`);
      key = config.secret;
      algorithms = HMAC;
    } else if (alg && config.publicKey && publicAlgorithms.includes(alg)) {
      key = config.publicKey;
      algorithms = publicAlgorithms;
    } else if (alg && alg !== 'none' && (remote || local)) {
      key = (remote ?? local) as JWTVerifyGetKey;
      algorithms = Object.values(ASYMMETRIC).flat();
    } else {
      throw new TokenRejected(`tokens signed with ${alg ?? 'no algorithm'} are not accepted here`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as KeyObject, { ...options, algorithms }));
    } catch (error) {
      // The key set could not be fetched: our problem, not the token's.
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) throw new KeysUnavailable();
      throw new TokenRejected(explain(error));
    }
    // JSON numbers past the double range (1e400) parse as Infinity, which jose takes for a
    // number: an `exp` that never comes, an `iat` infinitely far ahead. Refused as not a date.
    for (const claim of ['iat', 'nbf', 'exp'] as const) {
      const value = payload[claim];
      if (value !== undefined && !Number.isFinite(value)) {
        throw new TokenRejected(`the token's ${claim} must be a NumericDate (a number of seconds since 1970)`);
      }
    }
    // jose checks iat's type but not its time (only with maxTokenAge, which would make iat
    // required): a token issued later than now + AUTH_JWT_CLOCK_SKEW is refused here.
    const now = Math.floor(Date.now() / 1000);
    if (payload.iat !== undefined && payload.iat > now + config.clockSkew) {
      throw new TokenRejected(
        `the token was issued in the future (iat is ${Math.ceil(payload.iat - now)} s ahead of this server's clock, more than AUTH_JWT_CLOCK_SKEW allows)`,
      );
    }
    return payload;
  };
}

/** jose's error as a sentence for the client (never the token itself). */
function explain(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    // jose's reason "invalid": a time claim that is not a number.
    if (['iat', 'nbf', 'exp'].includes(error.claim) && error.reason === 'invalid') {
      return `the token's ${error.claim} must be a NumericDate (a number of seconds since 1970)`;
    }
    if (error.claim === 'nbf') return 'the token is not valid yet (nbf is in the future)';
    if (error.claim === 'iss') return 'the token was issued by an issuer this server does not accept (iss)';
    if (error.claim === 'aud') return 'the token is meant for another audience (aud)';
    if (error.claim === 'exp' && error.reason === 'missing') return 'the token has no expiry (exp); tokens must expire';
    return `the token's ${error.claim} claim is invalid: ${error.reason}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token is signed with a key (kid) the key set does not have';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that does not fit the configured key';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'the token is malformed';
  if (error instanceof errors.JOSEError) return `the token is not valid (${error.code})`;
  return 'the token could not be checked';
}
