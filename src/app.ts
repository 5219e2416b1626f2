/** buildApp(config) -> a ready Fastify instance with every location mounted (used by main and tests). */
import { MemoryLocker } from '@tus/server';
import type { DataStore } from '@tus/utils';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/index.js';
import { registerCors } from './http/cors.js';
import { tusRoutes } from './http/tus-routes.js';
import { createLogger } from './logger.js';
import { createStore } from './stores/index.js';
import { scheduleCleanup } from './tus/cleanup.js';
import { createTusServer } from './tus/create-tus-server.js';

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

export interface LocationStore {
  name: string;
  datastore: DataStore;
  locker: MemoryLocker;
}

/** One DataStore and one locker per location (the locker is shared by the location's mounts). */
export function createStores(config: Config, logger: Logger): LocationStore[] {
  return config.locations.map((l) => ({
    name: l.name,
    datastore: createStore(l, {
      expiration: config.uploadExpiration,
      maxUploadSize: config.maxUploadSize,
      logger: logger.child({ location: l.name }),
    }),
    locker: new MemoryLocker(),
  }));
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? createLogger(config);
  const app = fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    // Uploads can be long; the tus client resumes if a connection dies.
    requestTimeout: 0,
    connectionTimeout: 0,
  });
  for (const warning of config.warnings) app.log.warn(warning);
  await registerCors(app, config.cors);

  const stores = new Map(createStores(config, logger).map((s) => [s.name, s]));
  if (config.cleanupSchedule && config.uploadExpiration > 0) {
    const job = scheduleCleanup(config.cleanupSchedule, [...stores.values()], logger);
    app.addHook('onClose', async () => job.stop());
  }
  for (const { path, location } of mountPaths(config)) {
    const store = stores.get(location.name);
    if (!store) continue;
    const tus = createTusServer({
      path,
      datastore: store.datastore,
      locker: store.locker,
      maxSize: config.maxUploadSize,
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      trustProxy: false,
      terminateFinished: config.terminateFinished,
    });
    await app.register(tusRoutes, {
      path,
      tus,
      datastore: store.datastore,
      location: location.name,
      downloads: config.downloadEnabled,
      tempDir: config.tempDir,
      extraExtensions: ['checksum'],
      maxSize: config.maxUploadSize,
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    });
  }
  return app;
}
