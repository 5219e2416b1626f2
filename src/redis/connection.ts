/**
 * The Redis connections of one instance: one for commands, one for the lock release channel.
 * Commands fail at once while Redis is away (no offline queue), and after COMMAND_TIMEOUT_MS
 * when it is connected but does not answer (a frozen or overloaded Redis), so requests answer 503
 * instead of hanging; ioredis reconnects by itself, and the instance recovers when Redis returns.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { RedisConfig } from './config.js';

export interface RedisConnections {
  redis: Redis;
  subscriber: Redis;
  /** PING within a second: false while Redis is away. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** A command Redis has not answered in this long fails (503 for the request that needs it). */
export const COMMAND_TIMEOUT_MS = 3000;

/** The Redis client library is loaded here, only when REDIS is configured. */
export async function connectRedis(config: RedisConfig): Promise<RedisConnections> {
  const { Redis } = await import('ioredis');
  const options: RedisOptions = {
    // Try again every half second at most, forever: the instance must recover by itself.
    retryStrategy: (times) => Math.min(times * 100, 500),
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
    ...(config.url
      ? {}
      : {
          host: config.host as string,
          port: config.port,
          db: config.db,
          ...(config.username ? { username: config.username } : {}),
          ...(config.password ? { password: config.password } : {}),
        }),
  };
  const make = (own: RedisOptions) => {
    const client = config.url ? new Redis(config.url, { ...options, ...own }) : new Redis({ ...options, ...own });
    // Errors are reported by the requests that need Redis and by /readyz; ioredis reconnects.
    client.on('error', () => undefined);
    return client;
  };
  const redis = make({ enableOfflineQueue: false, commandTimeout: COMMAND_TIMEOUT_MS });
  // The subscription is queued until connected (no command timeout), and renewed by ioredis after a reconnection.
  const subscriber = make({ enableOfflineQueue: true });
  // Settled by the first connection attempt: a check at start (main.ts) waits for it instead of
  // reporting Redis away while it is still being connected to.
  const firstAttempt = new Promise<void>((resolve) => {
    for (const event of ['ready', 'error', 'end']) redis.once(event, () => resolve());
  });
  return {
    redis,
    subscriber,
    async ping() {
      const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), 1000).unref());
      if (redis.status !== 'ready') await Promise.race([firstAttempt, timeout]);
      if (redis.status !== 'ready') return false;
      return Promise.race([
        redis.ping().then(
          (answer) => answer === 'PONG',
          () => false,
        ),
        timeout,
      ]);
    },
    async close() {
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}

/** /readyz's check of Redis. */
export async function redisProbe(connections: RedisConnections): Promise<void> {
  if (!(await connections.ping())) throw new Error('Redis does not answer (REDIS / REDIS_HOST): upload locks are unavailable');
}
