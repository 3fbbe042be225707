import { ConfigError } from './errors.js';

/** Connection options for ioredis (and BullMQ), taken from a `redis://` or `rediss://` URL. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  /** Present for rediss:// (TLS). */
  tls?: Record<string, never>;
}

/**
 * Parses a Redis URL into connection options: `redis://[user[:password]@]host[:port][/db]`,
 * `rediss://` for TLS. Pure; throws a ConfigError naming `redis.url` (never the password).
 */
export function redisOptionsFromUrl(url: string, file = 'the config'): RedisConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(file, 'redis.url', 'is not a valid URL (redis://[user:password@]host:port/db)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new ConfigError(file, 'redis.url', 'must start with redis:// or rediss://');
  const db = parsed.pathname && parsed.pathname !== '/' ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(file, 'redis.url', 'names a database that is not a number (…/0 to …/15)');
  const options: RedisConnectionOptions = { host: parsed.hostname || '127.0.0.1', port: parsed.port ? Number(parsed.port) : 6379, db };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}
