/**
 * REDIS_* variables, as in Directus: `REDIS` (a redis:// or rediss:// URL) or REDIS_HOST,
 * REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD, REDIS_DB. Unset: no Redis (one instance, or
 * sticky routing by upload id).
 */
export interface RedisConfig {
  /** ioredis accepts the URL as is; the parts are used when no URL is given. */
  readonly url?: string;
  readonly host?: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
  /** Key prefix, so several deployments can share one Redis. */
  readonly prefix: string;
}

export interface RawRedis {
  REDIS?: string | undefined;
  REDIS_HOST?: string | undefined;
  REDIS_PORT: number;
  REDIS_USERNAME?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
  REDIS_DB: number;
  REDIS_PREFIX?: string | undefined;
}

export function parseRedis(raw: RawRedis, problems: string[]): RedisConfig | undefined {
  const prefix = raw.REDIS_PREFIX ?? 'tus:';
  if (raw.REDIS) {
    let url: URL;
    try {
      url = new URL(raw.REDIS);
    } catch {
      problems.push('REDIS: not a URL; expected redis://[user:password@]host:6379/0 or rediss://...');
      return undefined;
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      problems.push(`REDIS: the URL must start with redis:// or rediss://, not ${url.protocol}//`);
      return undefined;
    }
    if (raw.REDIS_HOST) problems.push('REDIS_HOST: set only one of REDIS (a URL) and REDIS_HOST');
    return { url: raw.REDIS, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), prefix };
  }
  if (!raw.REDIS_HOST) {
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
      if (raw[name]) problems.push(`${name}: set without REDIS_HOST (or REDIS); set the host too`);
    }
    return undefined;
  }
  return {
    host: raw.REDIS_HOST,
    port: raw.REDIS_PORT,
    ...(raw.REDIS_USERNAME ? { username: raw.REDIS_USERNAME } : {}),
    ...(raw.REDIS_PASSWORD ? { password: raw.REDIS_PASSWORD } : {}),
    db: raw.REDIS_DB,
    prefix,
  };
}
