/**
 * Environment -> one typed, frozen Config, following Directus's conventions:
 * STORAGE_LOCATIONS, then STORAGE_<LOC>_DRIVER and STORAGE_<LOC>_* per location.
 */
import { KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { z } from 'zod';
import { type AuthConfig, parseAuth } from '../auth/config.js';
import { type HooksConfig, parseHooks } from '../hooks/config.js';
import { parseRedis, type RedisConfig } from '../redis/config.js';
import type { Driver } from '../stores/driver.js';
import { DRIVER_NAMES, driverNamed, driverOf, insteadOf, settingsOf, ZERO_CONFIG_LOCATION } from '../stores/drivers.js';
import { type Env, locationPrefix, readEnvironment } from './env.js';
import { type MemoryFacts, sizeForMemory } from './memory.js';
import { DEFAULT_MAX_CONNECTIONS_PER_IP, serverSchema } from './schema.js';
import type { Config, CorsConfig, Location } from './types.js';
import { ignoredServerVariables } from './variables.js';

export type { Config, LocalLocation, Location, S3Location } from './types.js';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const show = (value: string | undefined) => (value === undefined || value === '' ? 'unset' : JSON.stringify(value));

/** Validate `input` (keyed by suffix) and turn each issue into "VAR=value: message". */
function check<S extends z.ZodType>(
  schema: S,
  input: Record<string, string | undefined>,
  prefix: string,
  problems: string[],
  secrets: ReadonlySet<string>,
) {
  const result = schema.safeParse(input);
  if (result.success) return result.data as z.output<S>;
  for (const issue of result.error.issues) {
    const key = String(issue.path[0] ?? '');
    const value = secrets.has(key) && input[key] ? '(hidden)' : show(input[key]);
    problems.push(`${prefix}${key}=${value}: ${issue.message}`);
  }
  return undefined;
}

const SERVER_SETTINGS = new Set(Object.keys(serverSchema.shape));
// AUTH_JWT_SECRET_FILE, AUTH_JWT_PUBLIC_KEY_FILE, AUTH_STATIC_TOKENS_FILE: *_FILE secrets too.
function isSetting(name: string): boolean {
  return name.startsWith('STORAGE_') || SERVER_SETTINGS.has(name);
  // METRICS_TOKENS_FILE and the S3 secrets are the usual *_FILE secrets.
}

function pick(env: Env, prefix: string, keys: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((k) => [k, env[`${prefix}${k}`]]));
}

/** One location of STORAGE_LOCATIONS, validated by its driver's schema; problems and warnings are collected. */
function parseLocation(
  env: Env,
  raw: string,
  chunkSize: number | undefined,
  seen: Set<string>,
  problems: string[],
  warnings: string[],
): Location | undefined {
  const name = raw.toLowerCase();
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    problems.push(
      `STORAGE_LOCATIONS=${show(env.STORAGE_LOCATIONS)}: location name "${raw}" must start with a letter and hold only letters, digits and _`,
    );
    return undefined;
  }
  if (seen.has(name)) {
    problems.push(`STORAGE_LOCATIONS=${show(env.STORAGE_LOCATIONS)}: location "${raw}" is listed twice`);
    return undefined;
  }
  seen.add(name);
  const prefix = locationPrefix(name);
  const driverValue = env[`${prefix}DRIVER`]?.trim();
  // Zero-config start: the implicit location needs no driver variable.
  const driverName = driverValue || (name === ZERO_CONFIG_LOCATION && !env.STORAGE_LOCATIONS?.trim() ? ZERO_CONFIG_LOCATION : undefined);
  if (!driverName) {
    problems.push(
      `${prefix}DRIVER=unset: required for the location "${name}" listed in STORAGE_LOCATIONS; expected one of ${DRIVER_NAMES.join(', ')}`,
    );
    return undefined;
  }
  const driver = driverNamed(driverName);
  if (!driver) {
    const instead = insteadOf(driverName);
    problems.push(
      `${prefix}DRIVER=${show(driverValue)}: ${instead ? `not available: ${instead}` : 'unknown driver'}; expected one of ${DRIVER_NAMES.join(', ')}`,
    );
    return undefined;
  }
  const known = settingsOf(driver);
  for (const key of Object.keys(env)) {
    if (key.startsWith(prefix) && !known.includes(key.slice(prefix.length).replace(/_FILE$/, ''))) {
      warnings.push(`${key} is not a setting of the ${driver.name} driver and is ignored; known: ${known.join(', ')}`);
    }
  }
  const { settings } = driver;
  const schema = settings.schema({ chunkSize });
  const rawValues = pick(env, prefix, Object.keys(schema.shape));
  const secrets = new Set(settings.secrets);
  const v = check(schema, rawValues, prefix, problems, secrets);
  const cross = settings.crossChecks?.(rawValues) ?? [];
  for (const { key, message } of cross) {
    const value = secrets.has(key) ? (rawValues[key] ? '(hidden)' : 'unset') : show(rawValues[key]);
    problems.push(`${prefix}${key}=${value}: ${message}`);
  }
  if (!v || cross.length > 0) return undefined;
  const location = settings.location(name, v);
  return keysHonoured(driver, location, `${prefix}KEY_TEMPLATE`, env, problems) ? location : undefined;
}

/** A key template is refused on a driver whose store would not honour it (DriverCapabilities.keyTemplates). */
function keysHonoured(driver: Driver<Location>, location: Location, variable: string, env: Env, problems: string[]): boolean {
  if (!location.keyTemplate || driver.capabilities.keyTemplates) return true;
  problems.push(`${variable}=${show(env[variable])}: the ${driver.name} driver does not place objects by key template`);
  return false;
}

/** `memory`: the container's memory limit and the heap, when there is a limit (src/config/memory.ts). */
export function parseConfig(env: Env, memory?: MemoryFacts): Config {
  const problems: string[] = [];
  const warnings: string[] = [];
  const server = check(serverSchema, pick(env, '', Object.keys(serverSchema.shape)), '', problems, new Set());
  const parsed = parseLocations(env, server?.TUS_CHUNK_SIZE, problems, warnings);
  const sized = memory && problems.length === 0 ? sizeForMemory(parsed, env, memory, problems) : undefined;
  const locations = sized?.locations ?? parsed;
  const origins = parseOrigins(env.CORS_ORIGIN, problems);
  const auth = server ? parseAuth(server, problems) : undefined;
  const redis = server ? parseRedis(server, problems) : undefined;
  const hooks = server ? parseHooks(server, problems) : undefined;
  if (problems.length > 0 || !server || !auth) throw new ConfigError(problems);
  if (!auth.enabled && locations.some((l) => driverOf(l).capabilities.warnWithoutAuth)) warnings.push(AUTHENTICATION_OFF);
  for (const { name, known } of ignoredServerVariables(env))
    warnings.push(`${name} is not a setting of this server and is ignored; known: ${known.join(', ')}`);
  return deepFreeze({
    ...configOf(server, { origins, auth, redis, hooks, locations, warnings }),
    ...(sized ? { memory: sized.memory } : {}),
  });
}

const AUTHENTICATION_OFF =
  'AUTHENTICATION IS OFF: anyone who can reach this server can upload into the bucket and read, resume or delete any upload. Set AUTH_JWT_SECRET (or another AUTH_JWT_* key) or AUTH_STATIC_TOKENS before exposing it.';

/** STORAGE_LOCATIONS (the zero-config location when unset), each location parsed; problems and warnings are collected. */
function parseLocations(env: Env, chunkSize: number | undefined, problems: string[], warnings: string[]): Location[] {
  const names = (env.STORAGE_LOCATIONS?.trim() || ZERO_CONFIG_LOCATION)
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const seen = new Set<string>();
  const locations: Location[] = [];
  for (const raw of names) {
    const location = parseLocation(env, raw, chunkSize, seen, problems, warnings);
    if (location) locations.push(location);
  }
  if (names.length === 0) problems.push('STORAGE_LOCATIONS: lists no location; expected names such as local or s3,local');
  return locations;
}

type ServerSettings = z.output<typeof serverSchema>;

/** What the Config holds besides the server settings, each parsed on its own. */
interface ParsedParts {
  origins: CorsConfig['origin'];
  auth: AuthConfig;
  redis: RedisConfig | undefined;
  hooks: HooksConfig | undefined;
  locations: Location[];
  warnings: string[];
}

/** The Config of valid settings, defaults filled in. */
function configOf(server: ServerSettings, { origins, auth, redis, hooks, locations, warnings }: ParsedParts): Config {
  const tusPath = server.TUS_PATH.endsWith('/') ? server.TUS_PATH : `${server.TUS_PATH}/`;
  return {
    host: server.HOST ?? '0.0.0.0',
    port: server.PORT,
    ...(server.PUBLIC_URL ? { publicUrl: server.PUBLIC_URL } : {}),
    tusPath,
    logLevel: server.LOG_LEVEL ?? 'info',
    logStyle: server.LOG_STYLE ?? 'raw',
    maxUploadSize: server.FILES_MAX_UPLOAD_SIZE,
    mimeTypeAllowList: server.FILES_MIME_TYPE_ALLOW_LIST ?? ['*/*'],
    maxMetadataSize: server.TUS_MAX_METADATA_SIZE,
    maxMetadataKeys: server.TUS_MAX_METADATA_KEYS,
    bodyIdleTimeout: server.TUS_BODY_IDLE_TIMEOUT,
    bodyMinRate: server.TUS_BODY_MIN_RATE,
    tempMaxSize: server.TUS_TEMP_MAX_SIZE,
    concatMaxParts: server.TUS_CONCAT_MAX_PARTS,
    concatMaxUses: server.TUS_CONCAT_MAX_USES,
    headersTimeout: server.SERVER_HEADERS_TIMEOUT,
    maxHeaderSize: server.SERVER_MAX_HEADER_SIZE,
    ...(server.SERVER_MAX_CONNECTIONS >= 0 ? { maxConnections: server.SERVER_MAX_CONNECTIONS } : {}),
    maxConnectionsPerIp: maxConnectionsPerIp(server.SERVER_MAX_CONNECTIONS_PER_IP, server.IP_TRUST_PROXY),
    rateLimiter: { enabled: server.RATE_LIMITER_ENABLED, points: server.RATE_LIMITER_POINTS, duration: server.RATE_LIMITER_DURATION },
    uploadExpiration: server.TUS_UPLOAD_EXPIRATION,
    ...(server.TUS_CLEANUP_SCHEDULE ? { cleanupSchedule: server.TUS_CLEANUP_SCHEDULE } : {}),
    downloadEnabled: server.TUS_DOWNLOAD_ENABLED,
    terminateFinished: server.TUS_TERMINATE_FINISHED,
    tempDir: server.TUS_TEMP_DIR ?? tmpdir(),
    metrics: { enabled: server.METRICS_ENABLED, tokens: list(server.METRICS_TOKENS) },
    shutdownTimeout: server.SHUTDOWN_TIMEOUT,
    trustProxy: server.IP_TRUST_PROXY,
    demoEnabled: demoEnabled(server.DEMO_ENABLED, auth.enabled),
    cors: corsOf(server, origins),
    auth,
    ...(redis ? { redis } : {}),
    lockTimeout: server.TUS_LOCK_TIMEOUT,
    lockTtl: server.TUS_LOCK_TTL,
    ...(hooks ? { hooks } : {}),
    locations,
    warnings,
  };
}

/** CORS_*; CORS_ORIGIN comes parsed (parseOrigins reports its problems with the others). */
function corsOf(server: ServerSettings, origins: CorsConfig['origin']): CorsConfig {
  return {
    enabled: server.CORS_ENABLED,
    origin: origins,
    methods: list(server.CORS_METHODS),
    allowedHeaders: list(server.CORS_ALLOWED_HEADERS),
    exposedHeaders: list(server.CORS_EXPOSED_HEADERS),
    credentials: server.CORS_CREDENTIALS,
    maxAge: server.CORS_MAX_AGE,
  };
}

/**
 * SERVER_MAX_CONNECTIONS_PER_IP: as set; unset, 256, or 0 (off) with IP_TRUST_PROXY=true: then any
 * peer may be a proxy carrying many clients (with a list, the listed proxies are not capped instead).
 */
export function maxConnectionsPerIp(raw: number, trustProxy: boolean | readonly string[]): number {
  if (raw >= 0) return raw;
  return trustProxy === true ? 0 : DEFAULT_MAX_CONNECTIONS_PER_IP;
}

/** DEMO_ENABLED: as set; unset, the demo page is on unless authentication is on. */
export function demoEnabled(raw: boolean | undefined, authEnabled: boolean): boolean {
  return raw ?? !authEnabled;
}

/** Read process.env (and .env, and *_FILE secrets) and parse it; throws ConfigError listing every problem. */
export function loadConfig(processEnv: Env = process.env, memory?: MemoryFacts): Config {
  const { env, problems } = readEnvironment(processEnv, isSetting);
  if (problems.length > 0) {
    // Report file problems together with schema problems.
    try {
      parseConfig(env, memory);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError([...problems, ...error.problems]);
      throw error;
    }
    throw new ConfigError(problems);
  }
  return parseConfig(env, memory);
}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** `*` or `true`: any origin; otherwise a comma-separated list of origins and /regular expressions/. */
function parseOrigins(raw: string | undefined, problems: string[]): true | Array<string | RegExp> {
  const value = raw?.trim() || '*';
  if (value === '*' || value === 'true') return true;
  if (value === 'false') return [];
  const origins: Array<string | RegExp> = [];
  for (const entry of list(value)) {
    const regex = /^\/(.+)\/([a-z]*)$/.exec(entry);
    if (regex) {
      try {
        origins.push(new RegExp(regex[1] as string, regex[2]));
      } catch (error) {
        problems.push(`CORS_ORIGIN=${show(raw)}: ${entry} is not a valid regular expression (${(error as Error).message})`);
      }
    } else if (/^https?:\/\/[^/]+$/.test(entry)) origins.push(entry);
    else
      problems.push(`CORS_ORIGIN=${show(raw)}: "${entry}" must be an origin such as https://app.example.com, a /regular expression/, or *`);
  }
  return origins;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof RegExp) && !(value instanceof KeyObject) && !ArrayBuffer.isView(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
