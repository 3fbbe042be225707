import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/** TLS settings of a Redis connection, as ioredis passes them to `tls.connect`. */
export interface RedisTlsOptions {
  /** PEM text of the CA that signed the server's certificate (instead of the system's CAs). */
  ca?: string;
  /** Name the server's certificate is checked against (default: the host of the URL). */
  servername?: string;
}

/** Connection options for ioredis (and BullMQ), taken from a `redis://` or `rediss://` URL. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  /** Present for rediss:// (TLS). */
  tls?: RedisTlsOptions;
}

/** The `redis.tls` settings of a config: paths, not file contents. */
export interface RedisTlsSettings {
  /** Absolute path of a PEM file with the CA that signed the server's certificate. */
  ca?: string;
  servername?: string;
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

/**
 * The connection options of a config's `redis` section: the URL's (see
 * {@link redisOptionsFromUrl}) and, for `rediss://`, its `tls` settings, with the CA file read.
 * Throws a ConfigError naming `redis.tls` when TLS settings come with a plain `redis://` URL, and
 * `redis.tls.ca` when the CA file cannot be read.
 */
export function redisConnectionOptions(redis: { url: string; tls?: RedisTlsSettings | undefined }, file = 'the config'): RedisConnectionOptions {
  const options = redisOptionsFromUrl(redis.url, file);
  const settings = redis.tls;
  if (settings === undefined || (settings.ca === undefined && settings.servername === undefined)) return options;
  if (!options.tls) throw new ConfigError(file, 'redis.tls', 'is set, but redis.url starts with redis://; use rediss:// for a TLS connection');
  const tls: RedisTlsOptions = {};
  if (settings.ca !== undefined) {
    try {
      tls.ca = readFileSync(settings.ca, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'which does not exist' : code === 'EACCES' ? 'which this user may not read' : `which cannot be read (${code ?? 'error'})`;
      throw new ConfigError(
        file,
        'redis.tls.ca',
        `names ${settings.ca}, ${why}; it must be the PEM file of the CA that signed the Redis server's certificate`,
        {
          cause: error,
        },
      );
    }
    if (!tls.ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(file, 'redis.tls.ca', `names ${settings.ca}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    }
  }
  if (settings.servername !== undefined) tls.servername = settings.servername;
  return { ...options, tls };
}
