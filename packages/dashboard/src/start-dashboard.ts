import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import { LogController, fastify, type FastifyReply, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { ConfigError, queueNames, redisHealthProblem, type Config, type RedisConnectionOptions } from '@botbackup/core';
import { Catalog, type Logger } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import { readLastDrills, type LastDrills } from './drill-records.js';
import {
  AUTH_CHALLENGES,
  CSRF_COOKIE,
  CSRF_HEADER,
  hasCredentials,
  hasWriteProof,
  isAllowedHost,
  isAuthorized,
  isLoopbackHost,
  type DashboardAuth,
} from './auth.js';
import { readQueueStats, type QueueStats } from './queue-stats.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './render-metrics.js';
import { renderPage } from './render-page.js';
import { summarizeBackups, type BackupsSummary } from './summarize-backups.js';

export interface StartDashboardOptions {
  /** Sources (one backup queue each), storage target names and `redis.prefix`. */
  config: Config;
  connection: RedisConnectionOptions;
  stores: BackupStore[];
  /** The local catalog to sync from the stores (the CLI's: the config's `catalog` or the default path). */
  catalogFile: string;
  host: string;
  /** 0: any free port (the returned URL has the one chosen). */
  port: number;
  auth: DashboardAuth;
  /** Host names the Host header may name besides `host`, localhost and IP addresses (dashboard.allowedHosts): a reverse proxy's name. */
  allowedHosts?: readonly string[] | undefined;
  /** Refuse every request but GET and HEAD (403), and run bull-board in its read-only mode. */
  readOnly: boolean;
  logger: Logger;
}

export interface RunningDashboard {
  /** Where it listens, e.g. http://127.0.0.1:8080/ (never with credentials). */
  url: string;
  /** Stops listening and closes the Redis connection and the catalog. */
  close(): Promise<void>;
}

/** A catalog sync (a listing of every target) serves the requests of this long: a scrape every few seconds does not list S3 each time. */
const SUMMARY_MAX_AGE_MS = 5_000;
/** How long a request waits for Redis before it answers without queue data. */
const QUEUE_READ_TIMEOUT_MS = 5_000;
/** How long `/healthz` waits for Redis's PING: a container health check answers within seconds. */
const HEALTH_PING_TIMEOUT_MS = 3_000;
/** The health check's path: the one route served without credentials (it tells nothing but whether Redis answers). */
const HEALTH_PATH = '/healthz';

/**
 * Starts the dashboard: bull-board at `/queues` over the maintenance queue and each configured
 * source's backup queue; the backups at `/` (HTML) and `/api/backups` (JSON) from the local
 * catalog synced with the stores, with each configured source's last restore drill from Redis
 * (drillKeys.last); Prometheus metrics at `/metrics`; `/healthz`, 200 `{"ok":true}` while Redis
 * answers a PING, else 503 with why. Every route but `/healthz`, `/metrics`
 * and bull-board's static files included, needs the configured credentials (401 with
 * `WWW-Authenticate` otherwise), and a Host header that names the dashboard (421 otherwise:
 * DNS rebinding). A change (read-write mode only) also needs the token as a bearer or the CSRF
 * value its pages get in a cookie, in a header (403 otherwise). Without any credential it only starts on a loopback host,
 * with a warning; elsewhere it throws a {@link ConfigError}. Credentials are never logged.
 *
 * Redis may be down when it starts or later: pages then show the backups without the queues and
 * drills, `botbackup_redis_up` is 0, and the connection is retried in the background.
 */
export async function startDashboard(options: StartDashboardOptions): Promise<RunningDashboard> {
  const { auth, readOnly, logger } = options;
  checkCredentials(options);
  const { redis, prefix, sourceIds, names, queues } = openQueues(options);
  const catalog = Catalog.open(options.catalogFile, { logger });
  const closing = new AbortController();
  const readers = createReaders({ options, catalog, closing: closing.signal, redis, prefix, sourceIds, queues });

  const app = createApp(logger);
  // Before any route or plugin: these hooks guard everything registered on the instance,
  // bull-board's API and static files and unknown URLs included.
  addGuards(app, { host: options.host, allowedHosts: options.allowedHosts ?? [], auth, readOnly });
  addRoutes(app, readers, readOnly);
  await mountBullBoard(app, queues, readOnly);

  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await closeAll();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${hostInUrl}:${address.port}/`;
  logger.info({ url, readOnly, auth: describeAuth(auth), queues: names }, 'dashboard started');

  async function closeAll(): Promise<void> {
    closing.abort();
    // A Redis that is down or hangs must not hold the shutdown: past 5 s the connection is dropped
    // (which also fails the requests still waiting for it).
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)));
    if (redis.status !== 'ready') redis.disconnect();
    await Promise.race([
      (async () => {
        await app.close().catch(() => undefined);
        await Promise.allSettled([readers.pendingSummary(), ...queues.map((q) => q.close())]);
        if (redis.status === 'ready') await redis.quit().catch(() => undefined);
      })(),
      bound,
    ]);
    clearTimeout(timer);
    redis.disconnect();
    catalog.close();
  }
  let closed: Promise<void> | undefined;
  return {
    url,
    close: () => (closed ??= closeAll()),
  };
}

/** The Fastify instance, logging through the dashboard's logger. */
function createApp(logger: Logger) {
  // No line per request (a scrape every few seconds would flood the log); request logs never hold headers anyway.
  return fastify({
    loggerInstance: logger.child({ component: 'dashboard' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1_048_576,
  });
}

/** The dashboard's Fastify instance (its type carries the logger's). */
type App = ReturnType<typeof createApp>;

/**
 * Refuses to start without credentials except on a loopback host ({@link ConfigError}), and warns
 * when it starts there without any.
 */
function checkCredentials(options: StartDashboardOptions): void {
  const { config, auth, logger } = options;
  if (!hasCredentials(auth)) {
    if (!isLoopbackHost(options.host)) {
      throw new ConfigError(
        config.file,
        'dashboard',
        `sets neither token nor basic, and the dashboard would listen on ${options.host}; set dashboard.token (e.g. \${DASHBOARD_TOKEN}) or dashboard.basic, or listen on 127.0.0.1`,
      );
    }
    logger.warn({ host: options.host }, 'the dashboard has no credentials configured: anyone who can connect to this host can use it (set dashboard.token)');
  }
}

/**
 * One Redis connection for every queue, and a BullMQ queue on it for the maintenance queue and
 * each configured source's backup queue (`names`, in that order).
 */
function openQueues(options: StartDashboardOptions): { redis: Redis; prefix: string; sourceIds: string[]; names: string[]; queues: Queue[] } {
  const { config, logger } = options;
  const prefix = config.redis?.prefix ?? 'botbackup';
  // One connection for every queue. A command fails after one reconnection attempt instead of
  // waiting out an outage (a page must answer); ioredis keeps reconnecting in the background.
  const redis = new Redis({ ...options.connection, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'dashboard: redis connection error'));
  const sourceIds = config.sources.map((s) => s.id);
  const names = [queueNames.maintenance, ...sourceIds.map((id) => queueNames.backup(id))];
  const queues = names.map((name) => {
    const queue = new Queue(name, { connection: redis, prefix });
    queue.on('error', (error: Error) => logger.debug({ queue: name, err: error.message }, 'dashboard: queue error'));
    return queue;
  });
  return { redis, prefix, sourceIds, names, queues };
}

/** What the routes read, computed at request time. */
interface Readers {
  /** The backups summary, from a catalog sync at most {@link SUMMARY_MAX_AGE_MS} old (shared by the requests meanwhile). */
  loadSummary(): Promise<BackupsSummary>;
  /** The queues and each source's last drill, read together; undefined when Redis cannot be read or does not answer in time. */
  loadRedis(): Promise<{ queues: QueueStats[]; drills: LastDrills } | undefined>;
  /** The newest catalog sync started, if any, for a shutdown to wait for. */
  pendingSummary(): Promise<BackupsSummary> | undefined;
  /** Undefined when Redis answers a PING now, else why not (never the URL or a credential). */
  redisProblem(): Promise<string | undefined>;
}

/**
 * The readers of the backups (the catalog synced with the stores, until `closing` aborts) and of
 * Redis (the queue counts and drill records, within {@link QUEUE_READ_TIMEOUT_MS}); a failure of
 * either is logged and shown as missing data, never thrown.
 */
function createReaders(parts: {
  options: StartDashboardOptions;
  catalog: Catalog;
  closing: AbortSignal;
  redis: Redis;
  prefix: string;
  sourceIds: string[];
  queues: Queue[];
}): Readers {
  const { options, catalog, redis, prefix, sourceIds, queues } = parts;
  const { config, logger } = options;
  let cached: { at: number; summary: Promise<BackupsSummary> } | undefined;
  const loadSummary = (): Promise<BackupsSummary> => {
    if (cached && Date.now() - cached.at < SUMMARY_MAX_AGE_MS) return cached.summary;
    const summary = syncSummary();
    cached = { at: Date.now(), summary };
    return summary;
  };
  const syncSummary = async (): Promise<BackupsSummary> => {
    const base = { sourceIds: config.sources.map((s) => s.id), targets: options.stores.map((s) => s.name) };
    try {
      const backups = await catalog.sync(options.stores, { signal: parts.closing });
      return summarizeBackups({ ...base, backups, unreachable: catalog.unreachable, now: new Date() });
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      logger.warn({ err: message }, 'dashboard: the catalog could not be synced');
      return summarizeBackups({ ...base, backups: [], unreachable: [], error: message, now: new Date() });
    }
  };
  const loadRedis = async (): Promise<{ queues: QueueStats[]; drills: LastDrills } | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${QUEUE_READ_TIMEOUT_MS / 1000} s`)), QUEUE_READ_TIMEOUT_MS);
    });
    try {
      const read = Promise.all([readQueueStats(queues), readLastDrills(redis, prefix, sourceIds)]);
      const [queueStats, drills] = await Promise.race([read, timeout]);
      return { queues: queueStats, drills };
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'dashboard: the queues and drills could not be read from Redis');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  return { loadSummary, loadRedis, pendingSummary: () => cached?.summary, redisProblem: () => redisHealthProblem(redis, HEALTH_PING_TIMEOUT_MS) };
}

/**
 * Adds the hooks that guard every request, in this order: the Host header must name the
 * dashboard (421), the credentials must match (401), and a change (anything but GET and HEAD)
 * is refused in read-only mode, when cross-site, or without a write proof (403). GET and HEAD
 * get the CSRF cookie. Every answer gets the security headers. Registered before any route.
 */
function addGuards(app: App, guard: { host: string; allowedHosts: readonly string[]; auth: DashboardAuth; readOnly: boolean }): void {
  const { auth, readOnly, allowedHosts } = guard;
  // The value the dashboard's pages send back with a change (double submit): bull-board's axios
  // reads the XSRF-TOKEN cookie and sends it as X-XSRF-TOKEN. New at each start: a page loaded
  // before a restart gets the new one with its next request.
  const csrf = randomBytes(32).toString('base64url');
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // First, before credentials: a page that DNS rebinding pointed here has its own host name in
    // Host, and with a loopback dashboard without credentials nothing else would stop it.
    if (!isAllowedHost(request.headers.host, guard.host, allowedHosts)) {
      return reply.code(421).type('text/plain; charset=utf-8').send('This dashboard does not answer to that host name; list it in dashboard.allowedHosts.\n');
    }
    // The health check needs no credentials (a container's probe has none) and gets no cookie.
    if ((request.method === 'GET' || request.method === 'HEAD') && request.url.split('?')[0] === HEALTH_PATH) return;
    if (!isAuthorized(request.headers.authorization, auth)) {
      return reply.code(401).header('WWW-Authenticate', AUTH_CHALLENGES).type('text/plain; charset=utf-8').send('Authentication required.\n');
    }
    const method = request.method;
    if (method === 'GET' || method === 'HEAD') {
      // Not HttpOnly: the pages' scripts read it. SameSite: no other site's request carries it.
      reply.header('Set-Cookie', `${CSRF_COOKIE}=${csrf}; Path=/; SameSite=Strict`);
      return;
    }
    if (readOnly) {
      return reply
        .code(403)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is read-only: it changes nothing (start it with --read-write, or set dashboard.readOnly: false).\n');
    }
    // A browser logged in with basic auth sends the credentials with any request, another site's
    // included: a change must come from the dashboard's own pages.
    if (isCrossSite(request)) return reply.code(403).type('text/plain; charset=utf-8').send('Cross-site requests cannot change anything.\n');
    // Basic auth (and no credentials at all, on loopback) is ambient: a browser adds it by itself.
    // A change must show a header only the dashboard's own pages, or a holder of the token, can set.
    if (!hasWriteProof(request.headers, auth, csrf)) {
      return reply
        .code(403)
        .type('text/plain; charset=utf-8')
        .send(`A change needs the token as "Authorization: Bearer" or the ${CSRF_HEADER} header that the dashboard's pages send.\n`);
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Referrer-Policy', 'no-referrer');
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
  });
}

/** The dashboard's own routes: the page at `/`, the JSON at `/api/backups`, the Prometheus text at `/metrics`, the health check at `/healthz`. */
function addRoutes(app: App, { loadSummary, loadRedis, redisProblem }: Readers, readOnly: boolean): void {
  // 200 while Redis answers, 503 otherwise: the dashboard can show nothing of the queues without it.
  app.get(HEALTH_PATH, async (_request, reply) => {
    const problem = await redisProblem();
    return problem === undefined ? reply.send({ ok: true }) : reply.code(503).send({ ok: false, error: problem });
  });
  app.get('/', async (_request, reply) => {
    const [summary, fromRedis] = await Promise.all([loadSummary(), loadRedis()]);
    return reply.type('text/html; charset=utf-8').send(renderPage({ summary, queues: fromRedis?.queues, drills: fromRedis?.drills, readOnly }));
  });
  app.get('/api/backups', async (_request, reply) => {
    const [summary, fromRedis] = await Promise.all([loadSummary(), loadRedis()]);
    return reply.send({ ...summary, queues: fromRedis?.queues ?? null, drills: fromRedis?.drills ?? null, readOnly });
  });
  app.get('/metrics', async (_request, reply) => {
    const [summary, fromRedis] = await Promise.all([loadSummary(), loadRedis()]);
    return reply.type(METRICS_CONTENT_TYPE).send(await renderMetrics({ summary, queues: fromRedis?.queues, drills: fromRedis?.drills }));
  });
}

/** Mounts bull-board at `/queues` over `queues`, in its read-only mode (no retries) when the dashboard is. */
async function mountBullBoard(app: App, queues: Queue[], readOnly: boolean): Promise<void> {
  const board = new FastifyAdapter();
  board.setBasePath('/queues');
  createBullBoard({
    queues: queues.map(
      (queue) =>
        new BullMQAdapter(queue, {
          readOnlyMode: readOnly,
          allowRetries: !readOnly,
          description: queue.name === queueNames.maintenance ? 'verify, prune, replicate and drill jobs' : `backups of ${queueNames.sourceOf(queue.name)}`,
        }),
    ),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'botbackup' } },
  });
  await app.register(board.registerPlugin(), { prefix: '/queues' });
}

/** Which kinds of credentials are set, for the log (never the values). */
function describeAuth(auth: DashboardAuth): string {
  return [auth.token !== undefined ? 'token' : undefined, auth.basic !== undefined ? 'basic' : undefined].filter(Boolean).join('+') || 'none';
}

/** A request a browser made for another site's page (Fetch metadata, else an Origin of another host). */
function isCrossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true;
  }
}
