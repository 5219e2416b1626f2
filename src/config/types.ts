import type { AuthConfig } from '../auth/config.js';
import type { HooksConfig } from '../hooks/config.js';
import type { RedisConfig } from '../redis/config.js';
import type { Location } from '../stores/drivers.js';
import type { LOG_LEVELS } from './schema.js';

export type { LocationLimits } from '../stores/driver.js';
export type { Location } from '../stores/drivers.js';
export type { LocalLocation } from '../stores/local/driver.js';
export type { S3Location } from '../stores/s3/config.js';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly publicUrl?: string;
  /** Mount path of the default location, with a trailing slash. */
  readonly tusPath: string;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logStyle: 'raw' | 'pretty';
  /** 0 means no limit. */
  readonly maxUploadSize: number;
  /** MIME types uploads may have (wildcards such as `image/*`, and star/star for every type), lower-cased. */
  readonly mimeTypeAllowList: readonly string[];
  /** Bytes of Upload-Metadata accepted on creation. */
  readonly maxMetadataSize: number;
  /** Keys of Upload-Metadata accepted on creation. */
  readonly maxMetadataKeys: number;
  /** Milliseconds a request body may send nothing before it is cut off (what arrived is kept); 0: never. */
  readonly bodyIdleTimeout: number;
  /** Bytes a second a request body must average over bodyIdleTimeout; 0: any byte will do. */
  readonly bodyMinRate: number;
  /** Bytes all checksum spools together may hold in the temp directory; 0: no limit. */
  readonly tempMaxSize: number;
  /** Partials one final upload may list (concatenation); 0: no limit. */
  readonly concatMaxParts: number;
  /** Final uploads one partial's bytes may go into, a partial listed twice counting twice; 0: no limit. */
  readonly concatMaxUses: number;
  /** Milliseconds a client has to send a request's headers (Node's headersTimeout); 0: no limit. */
  readonly headersTimeout: number;
  /** Bytes of request headers accepted (Node's maxHeaderSize); more is 431. */
  readonly maxHeaderSize: number;
  /**
   * Open client connections at most, all addresses together (0: no limit); undefined: derived
   * from the process's open-file limit when the server starts (src/http/connection-limits.ts).
   */
  readonly maxConnections?: number;
  /** Open connections at most from one client address (IPv6: one /64); 0: no limit. Trusted proxies are not capped. */
  readonly maxConnectionsPerIp: number;
  /** Per-IP rate limiting: `points` requests per `duration` milliseconds. */
  readonly rateLimiter: { readonly enabled: boolean; readonly points: number; readonly duration: number };
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  readonly uploadExpiration: number;
  /** Cron expression of the expired-upload cleanup; undefined: no scheduled cleanup. */
  readonly cleanupSchedule?: string;
  /** Serve GET downloads of finished uploads. */
  readonly downloadEnabled: boolean;
  /** DELETE may terminate finished uploads too. */
  readonly terminateFinished: boolean;
  /** Directory for checksum-verified request bodies. */
  readonly tempDir: string;
  readonly cors: CorsConfig;
  readonly metrics: { readonly enabled: boolean; readonly tokens: readonly string[] };
  /** Milliseconds running requests get to save their bytes after SIGTERM. */
  readonly shutdownTimeout: number;
  /** Trust X-Forwarded-* / Forwarded for the client address and the Location header: from every hop, or from these proxies' addresses. */
  readonly trustProxy: boolean | readonly string[];
  /** Serve the demo upload page at /. */
  readonly demoEnabled: boolean;
  /** Shared state of several instances (locks, cache versions, one cleanup); absent: this instance alone. */
  readonly redis?: RedisConfig;
  /** Milliseconds a request waits for an upload's lock before 423 Locked. */
  readonly lockTimeout: number;
  /** Milliseconds a Redis lock lives without renewal (a crashed holder's lock frees itself). */
  readonly lockTtl: number;
  /** Bearer tokens (JWT, Directus, static); `enabled` false: anyone may upload. */
  readonly auth: AuthConfig;
  /** HTTP hooks (tusd v2's format, signed); undefined when HOOKS_HTTP_URL is unset. */
  readonly hooks?: HooksConfig;
  /** The first location is the default. */
  readonly locations: readonly Location[];
  /** The container's memory limit and how it was divided (src/config/memory.ts); absent: no limit. */
  readonly memory?: MemoryPlan;
  /** Non-fatal remarks, such as variables no location reads. */
  readonly warnings: readonly string[];
}

export interface CorsConfig {
  readonly enabled: boolean;
  /** true: reflect any origin; otherwise exact origins and regular expressions. */
  readonly origin: true | readonly (string | RegExp)[];
  readonly methods: readonly string[];
  readonly allowedHeaders: readonly string[];
  readonly exposedHeaders: readonly string[];
  readonly credentials: boolean;
  readonly maxAge: number;
}

/** A container's memory limit and the budgets chosen for it, for the start-up log. */
export interface MemoryPlan {
  readonly limit: number;
  readonly source: string;
  /** V8's heap_size_limit. */
  readonly heapLimit: number;
  /** The server sized the heap for the limit (else whoever started it chose it). */
  readonly heapSized: boolean;
  /** Part memory of each location that holds parts in memory. */
  readonly partMemory: Readonly<Record<string, number>>;
  /** Locations whose STORAGE_<LOC>_PART_MEMORY was set, and kept. */
  readonly partMemorySet: readonly string[];
}
