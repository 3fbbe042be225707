/** What a health check needs of a Redis connection (ioredis's client has it): core does not load ioredis. */
export interface PingableRedis {
  readonly status: string;
  ping(): Promise<unknown>;
}

/**
 * Why `redis` cannot serve now, or undefined when it answers a PING within `timeoutMs`: the
 * dashboard's and a worker's `/healthz`. A connection that is not ready fails at once (ioredis
 * reconnects in the background, and a PING would wait for it). The timeout fires after the poll
 * phase, so a reply that came while a long job held the event loop is read first. The words are
 * the connection's state and the server's error reply: never the URL or a password.
 */
export async function redisHealthProblem(redis: PingableRedis, timeoutMs: number): Promise<string | undefined> {
  if (redis.status !== 'ready') return `Redis is not connected (${redis.status})`;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => setImmediate(() => resolve(`Redis did not answer a PING within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  const ping = redis.ping().then(
    () => undefined,
    (error: Error) => `Redis refused a PING (${error.message.split('\n')[0]})`,
  );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
