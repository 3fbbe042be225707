import { Redis } from 'ioredis';
import { BotbackupError, RedisUnavailableError, redactUrl, type RedisConnectionOptions } from '@botbackup/core';

/** How long a producer waits for the TCP (and TLS) connection before it gives up. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long one command may take: a server that accepts connections but hangs does not hang us. */
const COMMAND_TIMEOUT_MS = 15_000;

/**
 * Opens a producer connection that fails fast: one attempt (no reconnect loop), no offline queue
 * (a command while disconnected fails at once instead of waiting for Redis to come back), and
 * timeouts on connecting and on each command. A long-running caller opens a fresh one for each
 * round of work, so an outage costs one failed round, not a stuck process. Aborting `signal`
 * drops the connection. `commandTimeoutMs` shortens the 15 s a command may take (a health check
 * answers within seconds). Throws a {@link RedisUnavailableError} naming `url` (redacted).
 */
export async function connectProducer(
  connection: RedisConnectionOptions,
  url: string,
  signal?: AbortSignal,
  options: { commandTimeoutMs?: number } = {},
): Promise<Redis> {
  const client = new Redis({
    ...connection,
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Without a listener ioredis prints every connection error; they surface as rejected calls instead.
  let lastError: unknown;
  client.on('error', (error) => (lastError = error));
  const onAbort = () => void closeProducer(client, { now: true });
  signal?.addEventListener('abort', onAbort, { once: true });
  client.once('end', () => signal?.removeEventListener('abort', onAbort));
  try {
    await client.connect();
  } catch (error) {
    await closeProducer(client, { now: true });
    // connect() rejects with "Connection is closed"; the 'error' event had the reason (ECONNREFUSED, WRONGPASS...).
    throw redisError(lastError ?? error, url, 'connect', client);
  }
  return client;
}

/**
 * Closes a producer connection: QUIT (pending replies first), or at once with `now`. A connection
 * that already ended is left alone: ioredis would arm a 2 s timer to destroy its closed socket,
 * which keeps a one-shot command alive for nothing.
 */
export async function closeProducer(client: Redis, options: { now?: boolean } = {}): Promise<void> {
  if (client.status === 'end') return;
  if (options.now || client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}

/**
 * Whether `error` (from {@link redisError} or {@link connectProducer}) says that Redis could not
 * be reached (down, restarting, a lost connection), which waiting may heal, rather than that it
 * answered and refused (a login, an ACL rule, a TLS certificate), which it will not.
 */
export function isRedisUnreachable(error: unknown): boolean {
  return error instanceof RedisUnavailableError && error.message.startsWith('Cannot reach Redis');
}

/** Node's codes for a server certificate that does not verify (tls.connect's checks). */
const TLS_CERTIFICATE_ERROR =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+)$/;

/**
 * Turns what ioredis or BullMQ threw while using Redis at `url` into one sentence a user can act
 * on ({@link RedisUnavailableError}): refused logins, socket errors, lost connections (any error
 * while `client` is not ready), and the server's error replies. Anything else (a bug) and errors
 * that are already typed come back unchanged. The message names the redacted URL and the
 * server's own words or the socket error code, never the password.
 */
export function redisError(error: unknown, url: string, operation: string, client?: Redis): unknown {
  if (error instanceof BotbackupError || !(error instanceof Error)) return error;
  const where = redactUrl(url);
  const text = error.message;
  const firstLine = text.split(/\r?\n/)[0]!.replace(/[.\s]+$/, '');
  if (/^NOPERM\b/.test(text)) {
    return new RedisUnavailableError(
      `Redis at ${where} refused to ${operation} for this user (${firstLine}); give the ACL user the rules in docs/deploy.md ("Redis TLS and ACL users").`,
      { cause: error },
    );
  }
  if (/^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i.test(text)) {
    return new RedisUnavailableError(`Redis at ${where} refused the login (${firstLine}); check the user and password in redis.url.`, { cause: error });
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && TLS_CERTIFICATE_ERROR.test(code)) {
    return new RedisUnavailableError(
      `Redis at ${where} presented a TLS certificate that cannot be trusted (${firstLine}); set redis.tls.ca to the PEM file of the CA that signed it, or redis.tls.servername to the name it was issued for.`,
      { cause: error },
    );
  }
  if (/^rediss:/i.test(url) && ((typeof code === 'string' && code.startsWith('ERR_SSL_')) || /before secure TLS connection|SSL routines/i.test(text))) {
    return new RedisUnavailableError(
      `Cannot open a TLS connection to Redis at ${where} to ${operation} (${firstLine}); check that the server has TLS on at that port, or use redis:// for a plain one.`,
      { cause: error },
    );
  }
  const socketCode = typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : undefined;
  const lost = /Connection is closed|Stream isn't writeable|Command timed out|max retries per request|Connection (was )?reset/i.test(text);
  if (socketCode || lost || (client !== undefined && client.status !== 'ready')) {
    return new RedisUnavailableError(
      `Cannot reach Redis at ${where} to ${operation} (${socketCode ?? firstLine.toLowerCase()}); check redis.url and that the server is running.`,
      { cause: error },
    );
  }
  if (error.name === 'ReplyError') return new RedisUnavailableError(`Redis at ${where} refused to ${operation}: ${firstLine}.`, { cause: error });
  return error;
}
