/**
 * A verified token's claims -> the Grant. The subject is `sub`, or Directus's `id` (its access
 * tokens carry the user there). Limits come from one object claim (AUTH_JWT_CLAIM, `tus` by
 * default), all optional:
 *   { "max_size": 104857600, "locations": ["s3"], "types": ["image/*"], "prefix": "user-42-", "read_only": true }
 */
import type { JWTPayload } from 'jose';
import type { Grant } from './grant.js';
import { TokenRejected } from './token-errors.js';

const PREFIX = /^[A-Za-z0-9_-]{1,64}$/;
const strings = (value: unknown) => Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0);

export function grantFromClaims(payload: JWTPayload, claim: string): Grant {
  const subject =
    typeof payload.sub === 'string' && payload.sub ? payload.sub : typeof payload.id === 'string' && payload.id ? payload.id : undefined;
  if (!subject) throw new TokenRejected('the token names no subject (a sub claim, or id as in Directus tokens)');
  const limits = payload[claim];
  const owner = JSON.stringify(['jwt', typeof payload.iss === 'string' ? payload.iss : '', subject]);
  if (limits === undefined) return { subject, owner, via: 'jwt', readOnly: false };
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw new TokenRejected(`the token's ${claim} claim must be an object`);
  }
  const l = limits as Record<string, unknown>;
  const bad = (name: string, what: string) => new TokenRejected(`the token's ${claim}.${name} claim must be ${what}`);
  if (l.max_size !== undefined && !(Number.isSafeInteger(l.max_size) && (l.max_size as number) >= 1))
    throw bad('max_size', 'a whole number of bytes, at least 1');
  if (l.locations !== undefined && !strings(l.locations)) throw bad('locations', 'a list of location names');
  if (l.types !== undefined && !strings(l.types)) throw bad('types', 'a list of content types such as image/*');
  if (l.prefix !== undefined && !(typeof l.prefix === 'string' && PREFIX.test(l.prefix))) {
    throw bad('prefix', 'up to 64 letters, digits, _ or -');
  }
  if (l.read_only !== undefined && typeof l.read_only !== 'boolean') throw bad('read_only', 'true or false');
  return {
    subject,
    owner,
    via: 'jwt',
    readOnly: l.read_only === true,
    ...(l.max_size !== undefined ? { maxSize: l.max_size as number } : {}),
    ...(l.locations !== undefined ? { locations: (l.locations as string[]).map((n) => n.toLowerCase()) } : {}),
    ...(l.types !== undefined ? { contentTypes: l.types as string[] } : {}),
    ...(l.prefix !== undefined ? { prefix: l.prefix as string } : {}),
  };
}
