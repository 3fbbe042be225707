import { z } from 'zod';
import { pathIn, slug } from './fields.js';

/** The `redis` section: where queues and schedules live in distributed mode; the CA path made absolute against `baseDir`. */
export function redisSchema(baseDir: string) {
  return z.strictObject({
    /** redis://[user:password@]host:port[/db] or rediss:// for TLS; use ${VAR} for the password. Never print it (see {@link redactUrl}). */
    url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL'),
    /** For rediss://: the CA that signed the server's certificate (PEM file, relative to the config file, read when connecting) and the name checked against it. */
    tls: z
      .strictObject({
        ca: pathIn(baseDir).optional(),
        servername: z.string().min(1).optional(),
      })
      .optional(),
    /** Prefix of every BullMQ key, so several deployments can share one Redis. */
    prefix: slug.default('botbackup'),
  });
}
export type RedisConfig = z.output<ReturnType<typeof redisSchema>>;

/**
 * A Redis URL with its password replaced by `***`, safe to print. Everything up to the last `@`
 * is taken as the user and password, as URL parsers do: a password with an unescaped `@`, `/` or
 * `#` is hidden whole too.
 */
export function redactUrl(url: string): string {
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^]*)@/i,
    (_, scheme: string, auth: string) => `${scheme}${auth.includes(':') ? `${auth.split(':')[0]}:***` : '***'}@`,
  );
}
