import { ConfigError, redisConnectionOptions, type Config, type RedisConnectionOptions } from '@botbackup/core';

/** The Redis settings of a config, or a ConfigError saying that distributed mode needs them. */
export function redisOf(config: Config): { url: string; prefix: string; connection: RedisConnectionOptions } {
  if (!config.redis) throw new ConfigError(config.file, 'redis', 'is missing; queues, workers and schedules need redis.url (docs/deploy.md)');
  return { ...config.redis, connection: redisConnectionOptions(config.redis, config.file) };
}
