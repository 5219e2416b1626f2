/**
 * Who is asking: the bearer token of a request (the Authorization header, or `?access_token=`
 * when AUTH_QUERY_TOKEN allows it) checked against the static tokens, then as a JWT. The
 * answer is a Grant, or the 401 (503 when the key set cannot be fetched) saying what is wrong.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Answer, plain } from '../tus/answer.js';
import { grantFromClaims } from './claims.js';
import type { AuthConfig, StaticToken } from './config.js';
import type { Grant } from './grant.js';
import type { VerifyJwt } from './jwt.js';
import { KeysUnavailable, TokenRejected } from './token-errors.js';

export const QUERY_TOKEN = 'access_token';
const REALM = 'tus-s3-server';

export type Authenticate = (headers: Record<string, string | string[] | undefined>, url: string) => Promise<Grant | Answer>;

export async function createAuthenticator(config: AuthConfig): Promise<Authenticate | undefined> {
  if (!config.enabled) return undefined;
  // The JWT library is loaded only when tokens may be JWTs (not with static tokens alone).
  const verify: VerifyJwt | undefined = usesJwt(config) ? (await import('./jwt.js')).jwtVerifier(config) : undefined;
  return async (headers, url) => {
    const found = tokenOf(headers, url, config.queryToken);
    if (typeof found !== 'string') return found;
    const name = staticTokenName(found, config.staticTokens);
    if (name) return { subject: `token:${name}`, owner: JSON.stringify(['static', name]), via: 'static', name, readOnly: false };
    if (!verify) return unauthorized('the bearer token is not one of the static tokens (AUTH_STATIC_TOKENS)', 'invalid_token');
    try {
      return grantFromClaims(await verify(found), config.claim);
    } catch (error) {
      if (error instanceof KeysUnavailable) return plain(503, error.message, { 'Retry-After': '5' });
      if (error instanceof TokenRejected) return unauthorized(error.message, error.code);
      throw error;
    }
  };
}

export const isAnswer = (value: Grant | Answer): value is Answer => 'status' in value;

/** The token, or the 401 for a request without a usable one. */
function tokenOf(headers: Record<string, string | string[] | undefined>, url: string, queryAllowed: boolean): string | Answer {
  const authorization = headers.authorization;
  if (typeof authorization === 'string' && authorization.trim() !== '') {
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) return unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_request');
    return match[1] as string;
  }
  const query = url.includes('?') ? new URLSearchParams(url.slice(url.indexOf('?') + 1)).get(QUERY_TOKEN) : null;
  if (query !== null) {
    if (!queryAllowed)
      return unauthorized(
        `tokens in the URL (${QUERY_TOKEN}) are not accepted here; send Authorization: Bearer <token>`,
        'invalid_request',
      );
    if (query) return query;
  }
  return unauthorized('authentication required: send Authorization: Bearer <token>');
}

/** The static token's name; every hash is compared, in constant time, whatever matches. */
function staticTokenName(token: string, tokens: readonly StaticToken[]): string | undefined {
  const hash = createHash('sha256').update(token).digest();
  let found: string | undefined;
  for (const t of tokens) if (timingSafeEqual(hash, t.hash) && !found) found = t.name;
  return found;
}

/** 401 with the RFC 6750 challenge; no error code when no token was sent at all. */
export function unauthorized(why: string, code?: 'invalid_token' | 'invalid_request'): Answer {
  const description = why.replace(/["\\]/g, "'");
  const challenge = code ? `Bearer realm="${REALM}", error="${code}", error_description="${description}"` : `Bearer realm="${REALM}"`;
  return plain(401, `Unauthorized: ${why}`, { 'WWW-Authenticate': challenge });
}

/** Whether a JWT key of any kind is configured (AUTH_JWT_SECRET, _PUBLIC_KEY, _JWKS_URL, _JWKS). */
function usesJwt(config: AuthConfig): boolean {
  return Boolean(config.secret || config.publicKey || config.jwksUrl || config.jwks);
}
