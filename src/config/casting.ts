/**
 * Zod schemas that cast environment strings the Directus way. An empty string counts
 * as unset, so `FOO=` in a .env file falls back to the default.
 */
import { isIP } from 'node:net';
import bytes from 'bytes';
import { Cron } from 'croner';
import ms from 'ms';
import { z } from 'zod';

type Raw = string | undefined;
const unset = (value: Raw): value is undefined | '' => value === undefined || value.trim() === '';

export function bool(fallback: boolean) {
  return optionalBool().transform((value): boolean => value ?? fallback);
}

/** A boolean that is undefined when unset, for a default that depends on other settings. */
export function optionalBool() {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): boolean | undefined => {
      if (unset(value)) return undefined;
      const v = value.trim().toLowerCase();
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      ctx.addIssue({ code: 'custom', message: 'expected true or false' });
      return z.NEVER;
    });
}

/** An address of a proxy to trust: an IP, a CIDR range, or proxy-addr's `loopback`, `linklocal`, `uniquelocal`. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/**
 * IP_TRUST_PROXY: `true` (every hop, as Express's `trust proxy`), `false`, or the proxies'
 * addresses, comma-separated: the client is then the last address a trusted proxy saw, which a
 * client cannot forge.
 */
export function trustProxy(fallback: boolean) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): boolean | string[] => {
      if (unset(value)) return fallback;
      const v = value.trim().toLowerCase();
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      const entries = value.split(',').map((entry) => entry.trim().toLowerCase());
      if (!entries.every(isProxyAddress)) {
        ctx.addIssue({
          code: 'custom',
          message: "expected true, false or the proxies' addresses (IPs, CIDR ranges such as 10.0.0.0/8, loopback), comma-separated",
        });
        return z.NEVER;
      }
      return entries;
    });
}

export function int(fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): number => {
      if (unset(value)) return fallback;
      const n = Number(value.trim());
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });
}

/** A byte size: a plain number of bytes or a unit such as `10mb`, `5GB` (1 kb = 1024 bytes). */
export function size(fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): number => {
      if (unset(value)) return fallback;
      const v = value.trim();
      // bytes.parse reads an unknown unit as bytes ("5gib" is 5): only its own units are accepted.
      const n = /^\d+$/.test(v) ? Number(v) : /^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|pb)$/i.test(v) ? bytes.parse(v) : null;
      if (n === null || !Number.isInteger(n) || Number.isNaN(n)) {
        ctx.addIssue({ code: 'custom', message: 'expected a size in bytes or with a unit, such as 5242880, 10mb or 5gb' });
        return z.NEVER;
      }
      if (n < min || n > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a size from ${bytes.format(min)} (${min}) to ${bytes.format(max)} (${max}) bytes`,
        });
        return z.NEVER;
      }
      return n;
    });
}

/** A duration in milliseconds: a plain number of milliseconds or a unit such as `10m`, `24h`, `7d`. */
export function duration(fallback: number, { min = 0 } = {}) {
  return durationIn(
    1,
    fallback,
    min,
    `expected a duration in milliseconds or with a unit, such as 5000, 30s, 10m, 24h (at least ${min} ms)`,
  );
}

/** A duration in milliseconds from a plain number of `plainUnit` milliseconds, or with a unit (ms's syntax). */
function durationIn(plainUnit: number, fallback: number, min: number, message: string) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): number => {
      if (unset(value)) return fallback;
      const v = value.trim();
      const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) * plainUnit : ms(v as ms.StringValue);
      if (typeof n !== 'number' || !Number.isFinite(n) || n < min) {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      return Math.round(n);
    });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback?: T[number]) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): T[number] | undefined => {
      if (unset(value)) return fallback;
      const v = value.trim();
      if ((values as readonly string[]).includes(v)) return v as T[number];
      ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}` });
      return z.NEVER;
    });
}

export function text(fallback?: string) {
  return z
    .string()
    .optional()
    .transform((value: Raw): string | undefined => (unset(value) ? fallback : value.trim()));
}

export function required(what: string) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): string => {
      if (unset(value)) {
        ctx.addIssue({ code: 'custom', message: `required: ${what}` });
        return z.NEVER;
      }
      return value.trim();
    });
}

/** An absolute http(s) URL. */
export function url(what: string) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): string | undefined => {
      if (unset(value)) return undefined;
      const v = value.trim();
      let parsed: URL;
      try {
        parsed = new URL(v);
      } catch {
        ctx.addIssue({ code: 'custom', message: `expected ${what}: an absolute URL with protocol, such as https://example.com` });
        return z.NEVER;
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', message: `expected ${what} with http:// or https://` });
        return z.NEVER;
      }
      return v.replace(/\/+$/, '');
    });
}

/** A cron expression (5 or 6 fields), or "off" / "false" to disable the job. */
export function cron(fallback: string) {
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): string | undefined => {
      const v = unset(value) ? fallback : value.trim();
      if (v === 'off' || v === 'false') return undefined;
      try {
        new Cron(v, { paused: true }).stop();
        return v;
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a cron expression such as "0 * * * *" (hourly), or off: ${(error as Error).message}`,
        });
        return z.NEVER;
      }
    });
}

/** A duration in milliseconds where a plain number counts seconds (Directus's RATE_LIMITER_DURATION); units too (`500ms`, `1m`). */
export function seconds(fallback: number, { min = 1 } = {}) {
  return durationIn(
    1000,
    fallback,
    min,
    `expected a number of seconds, or a duration with a unit such as 500ms or 1m (at least ${min} ms)`,
  );
}

/** Comma-separated MIME types with `*` wildcards (such as `image/*`; star/star allows all), lower-cased. */
export function mimeTypes(fallback?: string) {
  const pattern = /^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/;
  return z
    .string()
    .optional()
    .transform((value: Raw, ctx): string[] | undefined => {
      const v = unset(value) ? fallback : value;
      if (v === undefined) return undefined;
      const types = v
        .split(',')
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean);
      const bad = types.filter((t) => !pattern.test(t));
      if (types.length === 0 || bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `expected comma-separated MIME types such as image/*,application/pdf (*/* allows every type)${bad.length > 0 ? `; not a MIME type: ${bad.join(', ')}` : ''}`,
        });
        return z.NEVER;
      }
      return types;
    });
}
