/**
 * The shape of the configuration: which variables exist, their defaults and casting.
 * Keys are the variable names (server level) or the suffix after `STORAGE_<LOC>_`.
 */
import { z } from 'zod';
import { DRIVERS, type DriverName, settingsOf } from '../stores/drivers.js';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../stores/s3/part-size.js';
import { bool, cron, duration, int, mimeTypes, oneOf, optionalBool, seconds, size, text, trustProxy, url } from './casting.js';

export const MIB = 1024 * 1024;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/**
 * Open connections one client address may hold (SERVER_MAX_CONNECTIONS_PER_IP): a browser opens
 * at most 6 per host, so this leaves room for dozens of users behind one NAT, while one address
 * can hold only a small share of the default total.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 256;

/** Request headers a tus client sends (tus-js-client, Uppy). */
export const DEFAULT_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Tus-Resumable',
  'Upload-Length',
  'Upload-Defer-Length',
  'Upload-Metadata',
  'Upload-Offset',
  'Upload-Concat',
  'Upload-Checksum',
  // Resumable Uploads for HTTP (the IETF draft, src/http/ietf.ts).
  'Upload-Draft-Interop-Version',
  'Upload-Complete',
  'X-Requested-With',
  'X-HTTP-Method-Override',
  'X-Request-Id',
];

/** Response headers a browser client must be able to read. */
export const DEFAULT_EXPOSED_HEADERS = [
  'Location',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Expires',
  'Upload-Defer-Length',
  'Upload-Concat',
  'Upload-Complete',
  'Upload-Limit',
  'Upload-Draft-Interop-Version',
  'Tus-Version',
  'Tus-Resumable',
  'Tus-Max-Size',
  'Tus-Extension',
  'Tus-Checksum-Algorithm',
  'ETag',
  'Content-Range',
  'Content-Disposition',
  'X-Request-Id',
];

export const serverSchema = z.object({
  HOST: text('0.0.0.0'),
  PORT: int(1080, { min: 0, max: 65535 }),
  PUBLIC_URL: url('the public base URL of this server'),
  TUS_PATH: text('/files/').pipe(z.string().regex(/^\/[A-Za-z0-9._~\-/]*$/, 'expected a URL path starting with /, such as /files/')),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
  LOG_STYLE: oneOf(['raw', 'pretty'] as const, 'raw'),
  FILES_MAX_UPLOAD_SIZE: size(0),
  FILES_MIME_TYPE_ALLOW_LIST: mimeTypes('*/*'),
  TUS_MAX_METADATA_SIZE: size(4096, { min: 1 }),
  TUS_MAX_METADATA_KEYS: int(64, { min: 1 }),
  TUS_BODY_IDLE_TIMEOUT: duration(60_000),
  TUS_BODY_MIN_RATE: size(1024),
  TUS_TEMP_MAX_SIZE: size(1024 * MIB),
  TUS_CONCAT_MAX_PARTS: int(100, { min: 0 }),
  TUS_CONCAT_MAX_USES: int(1, { min: 0 }),
  SERVER_HEADERS_TIMEOUT: duration(60_000),
  SERVER_MAX_HEADER_SIZE: size(16 * 1024, { min: 1024 }),
  /** -1 (unset): from the process's open-file limit (src/http/connection-limits.ts); 0: no limit. */
  SERVER_MAX_CONNECTIONS: int(-1, { min: 0 }),
  /** -1 (unset): 256, or 0 (off) with IP_TRUST_PROXY=true; 0: no limit. */
  SERVER_MAX_CONNECTIONS_PER_IP: int(-1, { min: 0 }),
  RATE_LIMITER_ENABLED: bool(false),
  RATE_LIMITER_POINTS: int(50, { min: 1 }),
  RATE_LIMITER_DURATION: seconds(1000),
  TUS_UPLOAD_EXPIRATION: duration(24 * 3600 * 1000),
  TUS_CHUNK_SIZE: size(MIN_PART_SIZE, { min: MIN_PART_SIZE, max: MAX_PART_SIZE }),
  TUS_CLEANUP_SCHEDULE: cron('0 * * * *'),
  TUS_DOWNLOAD_ENABLED: bool(true),
  TUS_TERMINATE_FINISHED: bool(true),
  TUS_TEMP_DIR: text(),
  METRICS_ENABLED: bool(true),
  METRICS_TOKENS: text(),
  SHUTDOWN_TIMEOUT: duration(30000),
  IP_TRUST_PROXY: trustProxy(false),
  /** Unset: on unless authentication is on (see demoEnabled in index.ts). */
  DEMO_ENABLED: optionalBool(),
  CORS_ENABLED: bool(true),
  CORS_ORIGIN: text('*'),
  CORS_METHODS: text('GET,HEAD,POST,PATCH,DELETE,OPTIONS'),
  CORS_ALLOWED_HEADERS: text(DEFAULT_ALLOWED_HEADERS.join(',')),
  CORS_EXPOSED_HEADERS: text(DEFAULT_EXPOSED_HEADERS.join(',')),
  CORS_CREDENTIALS: bool(false),
  CORS_MAX_AGE: int(86400, { min: 0 }),
  AUTH_JWT_SECRET: text(),
  AUTH_JWT_PUBLIC_KEY: text(),
  AUTH_JWT_JWKS_URL: url('the JWKS URL of the token issuer'),
  AUTH_JWT_JWKS_FILE: text(),
  AUTH_JWT_JWKS_CACHE_MAX_AGE: duration(10 * 60 * 1000),
  AUTH_JWT_ISSUER: text(),
  AUTH_JWT_AUDIENCE: text(),
  AUTH_JWT_CLOCK_SKEW: duration(30 * 1000),
  AUTH_JWT_CLAIM: text('tus'),
  AUTH_STATIC_TOKENS: text(),
  AUTH_QUERY_TOKEN: bool(false),
  REDIS: text(),
  REDIS_HOST: text(),
  REDIS_PORT: int(6379, { min: 1, max: 65535 }),
  REDIS_USERNAME: text(),
  REDIS_PASSWORD: text(),
  REDIS_DB: int(0, { min: 0, max: 65535 }),
  REDIS_PREFIX: text('tus:'),
  TUS_LOCK_TIMEOUT: duration(30 * 1000, { min: 100 }),
  TUS_LOCK_TTL: duration(15 * 1000, { min: 1000 }),
  HOOKS_HTTP_URL: url('the URL of the hook receiver'),
  HOOKS_HTTP_SECRET: text(),
  HOOKS_ENABLED_EVENTS: text(),
  HOOKS_HTTP_TIMEOUT: duration(15_000, { min: 1 }),
  HOOKS_HTTP_MAX_RESPONSE_SIZE: size(5 * 1024, { min: 1 }),
  HOOKS_HTTP_FORWARD_HEADERS: text(),
  HOOKS_PROGRESS_INTERVAL: duration(1000, { min: 1 }),
  HOOKS_RETRY_DELAY: duration(1000, { min: 1 }),
  HOOKS_RETRY_MAX_DELAY: duration(5 * 60_000, { min: 1 }),
  HOOKS_RETRY_MAX_AGE: duration(0),
});

/** Suffixes each driver reads, to warn about misspelt variables. */
export const KNOWN_SUFFIXES = Object.fromEntries(DRIVERS.map((d) => [d.name, settingsOf(d)])) as Record<DriverName, readonly string[]>;
