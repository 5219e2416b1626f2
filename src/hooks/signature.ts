/**
 * The signature of a hook request, in the `Tus-Hook-Signature` header:
 *   t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with HOOKS_HTTP_SECRET>
 * (the scheme Stripe's webhooks use). A receiver recomputes v1 over the bytes it received and
 * rejects a request whose timestamp is too old, so a recorded request cannot be replayed later.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Tus-Hook-Signature';

const digest = (secret: string, timestamp: number, body: string | Uint8Array) =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');

/** The header value for `body`, signed at `now` (milliseconds). */
export function signatureHeader(secret: string, body: string | Uint8Array, now = Date.now()): string {
  const timestamp = Math.floor(now / 1000);
  return `t=${timestamp},v1=${digest(secret, timestamp, body)}`;
}

export interface VerifyOptions {
  /** Largest age (and clock difference) accepted, in seconds; default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock, in milliseconds. */
  now?: number;
}

/**
 * Whether `header` signs exactly `body` with `secret`, recently enough. Compares in constant
 * time; any `v1` of the header may match (for secret rotation on the sender's side).
 */
export function verifySignature(
  header: string | null | undefined,
  body: string | Uint8Array,
  secret: string,
  { toleranceSeconds = 300, now = Date.now() }: VerifyOptions = {},
): boolean {
  if (!header) return false;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(digest(secret, timestamp, body), 'hex');
  let match = false;
  for (const signature of signatures) match = timingSafeEqual(expected, Buffer.from(signature, 'hex')) || match;
  return match;
}
