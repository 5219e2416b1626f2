/** buildApp(config) -> a ready Fastify instance with every location mounted (used by main and tests). */
import { type DataStore, EVENTS, type Upload } from '@tus/utils';
import fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { type Authenticate, createAuthenticator } from './auth/authenticate.js';
import type { Config } from './config/index.js';
import type { Hooks } from './hooks/hooks.js';
import type { MountHooks } from './hooks/mount.js';
import { registerBodyWatch } from './http/body-idle.js';
import { ConnectionGate, connectionLimits, openFileLimit } from './http/connection-limits.js';
import { registerCors } from './http/cors.js';
import { registerDemoPage } from './http/demo.js';
import { RequestTracker } from './http/drain.js';
import './http/fastify-additions.js';
import { registerHealthRoutes } from './http/health.js';
import { Metrics, registerMetricsRoute } from './http/metrics.js';
import { frameworkErrors, registerPlainErrors } from './http/plain-errors.js';
import { registerRateLimit } from './http/rate-limit.js';
import { registerRequestLog } from './http/request-log.js';
import { clientErrorHandler, httpServerOptions } from './http/server-limits.js';
import { listedProxies, trustedPeer } from './http/trusted-proxy.js';
import { tusRoutes } from './http/tus-routes.js';
import { createLogger } from './logger.js';
import { connectRedis, type RedisConnections, redisProbe } from './redis/connection.js';
import { RedisLocker } from './redis/locker.js';
import { runAlone } from './redis/run-alone.js';
import { RedisVersions } from './redis/versions.js';
import { withRedis } from './redis/when-ready.js';
import { isClosable, isConcatenator, isPartCounter, isProber, isStateCache } from './stores/capabilities.js';
import { createStore } from './stores/index.js';
import { tempBytesInUse } from './tus/checksum.js';
import { scheduleCleanup } from './tus/cleanup.js';
import { createEngine, defaultLocker } from './tus/engine.js';
import { TempSpace } from './tus/temp-space.js';
import { TimedLocker } from './tus/timed-locker.js';

export interface BuildOptions {
  logger?: Logger;
}

/** Mount paths: the default location at TUS_PATH, every location at TUS_PATH<name>/. */
export function mountPaths(config: Config): Array<{ path: string; location: Config['locations'][number] }> {
  const base = config.tusPath.replace(/\/+$/, '');
  const [first] = config.locations;
  const mounts = config.locations.map((location) => ({ path: `${base}/${location.name}`, location }));
  return first ? [{ path: base, location: first }, ...mounts] : mounts;
}

/** The demo page's locations: one entry per location, at its first mount path (the default location at TUS_PATH). */
export function demoMounts(config: Config): Array<{ name: string; path: string }> {
  const seen = new Map<string, string>();
  for (const { path, location } of mountPaths(config)) if (!seen.has(location.name)) seen.set(location.name, path);
  return [...seen].map(([name, path]) => ({ name, path }));
}

export interface LocationStore {
  name: string;
  datastore: DataStore;
  locker: TimedLocker;
}

/**
 * One DataStore and one locker per location (the locker is shared by the location's mounts).
 * With Redis the locks and the versions of cached state are shared by every instance.
 */
export async function createStores(config: Config, logger: Logger, metrics?: Metrics, redis?: RedisConnections): Promise<LocationStore[]> {
  return Promise.all(
    config.locations.map(async (l) => ({
      name: l.name,
      datastore: await createStore(l, {
        expiration: config.uploadExpiration,
        maxUploadSize: l.maxUploadSize ?? config.maxUploadSize,
        logger: logger.child({ location: l.name }),
        ...(redis && config.redis
          ? { versions: new RedisVersions(redis.redis, `${config.redis.prefix}${l.name}:`, versionLifetime(config)) }
          : {}),
        ...(metrics
          ? { onS3Call: (operation, result, seconds) => metrics.s3Latency.observe({ location: l.name, operation, result }, seconds) }
          : {}),
      }),
      locker: new TimedLocker(
        redis && config.redis
          ? new RedisLocker({
              redis: redis.redis,
              subscriber: redis.subscriber,
              prefix: `${config.redis.prefix}${l.name}:`,
              ttl: config.lockTtl,
              wait: config.lockTimeout,
              log: logger.child({ location: l.name }),
            })
          : defaultLocker(config.lockTimeout),
        (seconds) => metrics?.lockWait.observe({ location: l.name }, seconds),
      ),
    })),
  );
}

/** A version outlives every cache entry (a day) and every unfinished upload. */
function versionLifetime(config: Config): number {
  return Math.max(7 * 24 * 3600 * 1000, 2 * config.uploadExpiration);
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? createLogger(config);
  const app = newFastify(config, logger);
  for (const warning of config.warnings) app.log.warn(warning);
  app.decorate('tusRequests', new RequestTracker());

  const metrics: Metrics | undefined = config.metrics.enabled
    ? new Metrics({
        partsInFlight: () => Object.fromEntries(stores.map((s) => [s.name, isPartCounter(s.datastore) ? s.datastore.partsInFlight : 0])),
        tempBytes: tempBytesInUse,
        hooksPending: () => hooks?.delivery.pending() ?? {},
        connectionsOpen: () => gate.open,
      })
    : undefined;
  const gate = limitConnections(app, config, metrics, logger);
  const redis = config.redis ? await connectRedis(config.redis) : undefined;
  const stores = await createStores(config, logger, metrics, redis);
  // Redis back after an outage may have lost the versions (no persistence, or an older snapshot):
  // no cached state is trusted from before.
  redis?.redis.on('ready', () => {
    for (const s of stores) if (isStateCache(s.datastore)) s.datastore.invalidateAll();
  });
  // The hook machinery (outboxes, delivery, the mounts' hook calls) loads only with HOOKS_* set.
  const hooking = config.hooks ? await import('./hooks/start.js') : undefined;
  const hooks: Hooks | undefined =
    hooking && config.hooks ? hooking.startHooks(app, config.hooks, config, logger, metrics, redis) : undefined;

  // Before any hook that may answer early (the rate limiter's 429): every request body is watched.
  registerBodyWatch(app, { idleMs: config.bodyIdleTimeout, minRate: config.bodyMinRate });
  registerRequestLog(app, metrics);
  await registerCors(app, config.cors);
  // Before every route it limits (after CORS, so a 429 carries the CORS headers).
  await registerRateLimit(app, config.rateLimiter);
  if (metrics) registerMetricsRoute(app, metrics, config.metrics.tokens);
  const readiness = registerHealthRoutes(
    app,
    [
      ...stores.flatMap((s) => (isProber(s.datastore) ? [{ name: s.name, probe: s.datastore.probe.bind(s.datastore) }] : [])),
      ...(redis ? [{ name: 'redis', probe: () => redisProbe(redis) }] : []),
    ],
    () => app.tusRequests.draining,
  );
  app.decorate('readiness', readiness);
  if (config.demoEnabled)
    registerDemoPage(app, { mounts: demoMounts(config), authEnabled: config.auth.enabled, publicUrl: config.publicUrl });
  if (config.cleanupSchedule && config.uploadExpiration > 0)
    scheduleCleanups(app, config, config.cleanupSchedule, stores, logger, metrics, redis);
  app.addHook('onClose', async () => {
    // Close the S3 sockets, and Redis (locks not released by now expire by their TTL).
    for (const s of stores) if (isClosable(s.datastore)) s.datastore.close();
    await redis?.close();
  });

  const authenticate = await createAuthenticator(config.auth);
  const byName = new Map(stores.map((s) => [s.name, s]));
  // Every location's checksum spools share TUS_TEMP_DIR, and so its total.
  const tempSpace = new TempSpace(config.tempMaxSize);
  for (const { path, location } of mountPaths(config)) {
    const store = byName.get(location.name);
    const mountHooks = store && hooks && hooking ? hooking.mountHooks(hooks, path, store, location) : undefined;
    if (store) await mountLocation(app, config, path, store, metrics, authenticate, tempSpace, mountHooks);
  }
  return app;
}

function newFastify(config: Config, logger: Logger): FastifyInstance {
  const app = fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    // One line per request is written by registerRequestLog instead.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    // Uploads can be long; the tus client resumes if a connection dies.
    requestTimeout: 0,
    connectionTimeout: 0,
    // New requests on open connections get 503 while the server closes.
    return503OnClosing: true,
    // Header size and headers timeout (SERVER_*), answered in plain text (src/http/server-limits.ts).
    http: httpServerOptions(config),
    clientErrorHandler: clientErrorHandler(config, logger),
    // Malformed URLs answered in plain text, like unknown routes (registerPlainErrors).
    frameworkErrors,
  });
  registerPlainErrors(app);
  return app;
}

/** SERVER_MAX_CONNECTIONS and _PER_IP, as connections arrive (src/http/connection-limits.ts). */
function limitConnections(app: FastifyInstance, config: Config, metrics: Metrics | undefined, logger: Logger): ConnectionGate {
  const limits = connectionLimits(config, openFileLimit());
  if (limits.warning) app.log.warn(limits.warning);
  const gate = new ConnectionGate(limits, {
    exempt: listedProxies(config.trustProxy),
    onRefused: (reason) => metrics?.connectionsRefused.inc({ reason }),
    log: logger.child({ component: 'connections' }),
  });
  gate.attach(app.server);
  app.log.info(
    {
      maxConnections: limits.total,
      maxConnectionsPerIp: limits.perAddress,
      openFileLimit: limits.openFileLimit === Number.POSITIVE_INFINITY ? 'unlimited' : limits.openFileLimit,
    },
    'connection limits',
  );
  return gate;
}

function scheduleCleanups(
  app: FastifyInstance,
  config: Config,
  schedule: string,
  stores: LocationStore[],
  logger: Logger,
  metrics: Metrics | undefined,
  redis: RedisConnections | undefined,
): void {
  const stopping = new AbortController();
  const prefix = config.redis?.prefix;
  const job = scheduleCleanup(
    schedule,
    stores,
    logger,
    (location, n) => metrics?.uploads.inc({ event: 'expired', location }, n),
    // Several instances: one runs each scheduled cleanup; a run that finds Redis away waits for it.
    redis && prefix !== undefined
      ? async (run) =>
          (await withRedis(redis.redis, 'the scheduled cleanup', () => runAlone(redis.redis, `${prefix}cleanup`, config.lockTtl, run), {
            signal: stopping.signal,
            log: logger,
          })) ?? true
      : undefined,
  );
  app.addHook('onClose', async () => {
    stopping.abort();
    job.stop();
  });
}

/** One mount path of a location: its @tus/server (with metrics on its upload events) behind the tus routes. */
async function mountLocation(
  app: FastifyInstance,
  config: Config,
  path: string,
  store: LocationStore,
  metrics: Metrics | undefined,
  authenticate: Authenticate | undefined,
  tempSpace: TempSpace,
  mountHooks: MountHooks | undefined,
): Promise<void> {
  // STORAGE_<LOC>_MAX_UPLOAD_SIZE and _MIME_TYPE_ALLOW_LIST replace the server's for the location.
  const location = config.locations.find((l) => l.name === store.name);
  const maxSize = location?.maxUploadSize ?? config.maxUploadSize;
  const engine = createEngine({
    path,
    datastore: store.datastore,
    locker: store.locker,
    maxSize,
    concatMaxUses: config.concatMaxUses,
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    terminateFinished: config.terminateFinished,
    log: app.log,
    hooks: mountHooks,
  });
  mountHooks?.listen(engine);
  const labels = { location: store.name };
  const { datastore } = store;
  if (metrics) {
    // Every request is handled by exactly one mount's engine, so each counts its own.
    engine.on(EVENTS.POST_CREATE, () => metrics.uploads.inc({ event: 'created', ...labels }));
    engine.on(EVENTS.POST_TERMINATE, () => metrics.uploads.inc({ event: 'terminated', ...labels }));
    engine.on(EVENTS.POST_FINISH, (_req: unknown, _res: unknown, upload: Upload) => {
      metrics.uploads.inc({ event: 'finished', ...labels });
      if (upload.creation_date) metrics.uploadDuration.observe(labels, (Date.now() - Date.parse(upload.creation_date)) / 1000);
    });
  }
  await app.register(tusRoutes, {
    path,
    engine,
    datastore: store.datastore,
    locker: store.locker,
    location: store.name,
    downloads: config.downloadEnabled,
    tempDir: config.tempDir,
    extraExtensions: ['checksum', 'checksum-trailer', ...(isConcatenator(datastore) ? ['concatenation-unfinished'] : [])],
    maxSize,
    tracker: app.tusRequests,
    authenticate,
    hooks: mountHooks,
    limits: {
      mimeTypes: location?.mimeTypeAllowList ?? config.mimeTypeAllowList,
      maxMetadataSize: config.maxMetadataSize,
      maxMetadataKeys: config.maxMetadataKeys,
      tempSpace,
      concat: { maxParts: config.concatMaxParts, maxUses: config.concatMaxUses },
    },
    ...(metrics ? { onBytes: (n: number) => metrics.bytesReceived.inc(labels, n) } : {}),
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    trustedPeer: trustedPeer(config.trustProxy),
  });
}
