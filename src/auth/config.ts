/**
 * AUTH_* variables -> the authentication settings, checked at start so a wrong key or token
 * list stops the server with the variable's name instead of failing every request later.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';

export interface StaticToken {
  /** Shown in logs and used as the subject `token:<name>`. */
  readonly name: string;
  /** SHA-256 of the token. */
  readonly hash: Buffer;
}

export interface AuthConfig {
  /** Any key source or static token set. */
  readonly enabled: boolean;
  /** HS256/384/512 shared secret (Directus's SECRET). */
  readonly secret?: KeyObject;
  /** RS*, PS*, ES* or EdDSA public key (PEM). */
  readonly publicKey?: KeyObject;
  readonly jwksUrl?: string;
  readonly jwks?: JSONWebKeySet;
  /** Milliseconds a fetched JWKS is trusted before it is fetched again. */
  readonly jwksCacheMaxAge: number;
  readonly issuers: readonly string[];
  readonly audiences: readonly string[];
  /** Seconds of clock difference tolerated for exp, nbf and iat. */
  readonly clockSkew: number;
  /** Claim holding this server's limits (an object), such as `tus`. */
  readonly claim: string;
  readonly staticTokens: readonly StaticToken[];
  /** Accept `?access_token=` (for links a browser opens). */
  readonly queryToken: boolean;
}

export interface RawAuth {
  AUTH_JWT_SECRET?: string | undefined;
  AUTH_JWT_PUBLIC_KEY?: string | undefined;
  AUTH_JWT_JWKS_URL?: string | undefined;
  AUTH_JWT_JWKS_FILE?: string | undefined;
  AUTH_JWT_JWKS_CACHE_MAX_AGE: number;
  AUTH_JWT_ISSUER?: string | undefined;
  AUTH_JWT_AUDIENCE?: string | undefined;
  AUTH_JWT_CLOCK_SKEW: number;
  AUTH_JWT_CLAIM?: string | undefined;
  AUTH_STATIC_TOKENS?: string | undefined;
  AUTH_QUERY_TOKEN: boolean;
}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** The settings, or problems naming the variable (values of secrets are never repeated). */
export function parseAuth(raw: RawAuth, problems: string[]): AuthConfig {
  const secret = raw.AUTH_JWT_SECRET;
  let publicKey: KeyObject | undefined;
  if (raw.AUTH_JWT_PUBLIC_KEY) {
    try {
      // A PEM in an environment variable often arrives with literal \n.
      publicKey = createPublicKey(raw.AUTH_JWT_PUBLIC_KEY.replace(/\\n/g, '\n'));
    } catch (error) {
      problems.push(
        `AUTH_JWT_PUBLIC_KEY: not a PEM public key (-----BEGIN PUBLIC KEY----- ...): ${(error as Error).message}; use AUTH_JWT_PUBLIC_KEY_FILE for a key file`,
      );
    }
  }
  let jwks: JSONWebKeySet | undefined;
  if (raw.AUTH_JWT_JWKS_FILE) {
    try {
      jwks = JSON.parse(readFileSync(raw.AUTH_JWT_JWKS_FILE, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(jwks?.keys)) throw new Error('no "keys" array');
    } catch (error) {
      problems.push(
        `AUTH_JWT_JWKS_FILE=${JSON.stringify(raw.AUTH_JWT_JWKS_FILE)}: cannot read a JSON Web Key Set from it (${(error as Error).message})`,
      );
      jwks = undefined;
    }
  }
  if (secret !== undefined && Buffer.byteLength(secret) < 16) {
    problems.push(
      "AUTH_JWT_SECRET: too short to be a secret (at least 16 bytes, 32 or more recommended); use a long random value, or Directus's SECRET",
    );
  }
  const staticTokens = parseStaticTokens(raw.AUTH_STATIC_TOKENS, problems);
  const claim = raw.AUTH_JWT_CLAIM ?? 'tus';
  const keySources = [secret, publicKey, raw.AUTH_JWT_JWKS_URL, jwks].filter((v) => v !== undefined).length;
  if (keySources === 0 && (raw.AUTH_JWT_ISSUER || raw.AUTH_JWT_AUDIENCE)) {
    problems.push(
      'AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE: set without a key to check tokens with; set AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY, AUTH_JWT_JWKS_URL or AUTH_JWT_JWKS_FILE',
    );
  }
  return {
    enabled: keySources > 0 || staticTokens.length > 0,
    ...(secret ? { secret: createSecretKey(Buffer.from(secret)) } : {}),
    ...(publicKey ? { publicKey } : {}),
    ...(raw.AUTH_JWT_JWKS_URL ? { jwksUrl: raw.AUTH_JWT_JWKS_URL } : {}),
    ...(jwks ? { jwks } : {}),
    jwksCacheMaxAge: raw.AUTH_JWT_JWKS_CACHE_MAX_AGE,
    issuers: list(raw.AUTH_JWT_ISSUER),
    audiences: list(raw.AUTH_JWT_AUDIENCE),
    clockSkew: Math.round(raw.AUTH_JWT_CLOCK_SKEW / 1000),
    claim,
    staticTokens,
    queryToken: raw.AUTH_QUERY_TOKEN,
  };
}

/** `name:<sha256 hex>,name2:<sha256 hex>`; the tokens themselves are never configured. */
function parseStaticTokens(value: string | undefined, problems: string[]): StaticToken[] {
  const tokens: StaticToken[] = [];
  for (const entry of list(value)) {
    const match = /^([A-Za-z0-9_.-]{1,64}):([0-9a-fA-F]{64})$/.exec(entry);
    if (!match) {
      // The entry may be a token pasted by mistake: show only its start.
      problems.push(
        `AUTH_STATIC_TOKENS: entry "${entry.slice(0, 6)}..." must be <name>:<SHA-256 of the token in hex>, such as ci:$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)`,
      );
      continue;
    }
    const name = match[1] as string;
    if (tokens.some((t) => t.name === name)) problems.push(`AUTH_STATIC_TOKENS: the name "${name}" is used twice`);
    tokens.push({ name, hash: Buffer.from(match[2] as string, 'hex') });
  }
  return tokens;
}
