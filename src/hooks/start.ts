/**
 * The hook machinery of a server with HOOKS_* set: the Hooks (outboxes, delivery) started and
 * stopped with the app, and each mount's view of them. src/app.ts loads this
 * module only when hooks are configured, so a server without hooks never loads it (issue 24).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { LocationStore } from '../app.js';
import type { Config, Location } from '../config/index.js';
import type { Metrics } from '../http/metrics.js';
import type { RedisConnections } from '../redis/connection.js';
import { RedisIdClaims } from '../redis/id-claims.js';
import { Hooks } from './hooks.js';
import { MountHooks } from './mount.js';
import { storageOf } from './payload.js';

/** The Hooks of the app: delivery of what earlier runs left in the outboxes once it is ready; stopped at close. */
export function startHooks(
  app: FastifyInstance,
  hooksConfig: NonNullable<Config['hooks']>,
  config: Config,
  logger: Logger,
  metrics: Metrics | undefined,
  redis: RedisConnections | undefined,
): Hooks {
  const shared = redis && config.redis ? { redis: redis.redis, prefix: config.redis.prefix } : undefined;
  const hooks = new Hooks(
    hooksConfig,
    logger.child({ component: 'hooks' }),
    {
      request: (event, result, seconds) => metrics?.hookRequests.observe({ event, result }, seconds),
      delivery: (event, result) => metrics?.hookDeliveries.inc({ event, result }),
    },
    shared ? new RedisIdClaims(shared.redis, shared.prefix, config.lockTtl) : undefined,
    // Several instances: leases on outbox entries, and sweeps on one instance at a time (src/hooks/delivery.ts).
    shared ? { ...shared, ttl: config.lockTtl } : undefined,
  );
  // Hooks left in the outboxes (by an earlier run, or a crashed instance) are delivered once
  // the server is up; at close, deliveries in flight stop (they stay in the outboxes).
  app.addHook('onReady', async () => hooks.start());
  app.addHook('onClose', async () => hooks.close());
  return hooks;
}

/** The hooks as one mount path of a location sees them. */
export function mountHooks(hooks: Hooks, path: string, store: LocationStore, location: Location): MountHooks {
  return new MountHooks(hooks, { path, location: store.name, store: store.datastore, storage: storageOf(location) });
}
