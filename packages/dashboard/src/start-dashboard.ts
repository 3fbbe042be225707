import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import { LogController, fastify, type FastifyReply, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { ConfigError, queueNames, redisHealthProblem, type Config, type DrillRecord, type RedisConnectionOptions } from '@botbackup/core';
import { Catalog, TOOL_VERSION, listWal, type Logger } from '@botbackup/engine';
import { schedulerView, type SchedulerView } from '@botbackup/scheduler';
import type { BackupStore } from '@botbackup/storage';
import { buildModel, type DashboardModel, type RedisRead } from './dashboard-model.js';
import { readLastDrills } from './drill-records.js';
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
import { freshnessBound, type FreshnessBound } from './freshness-bound.js';
import { readQueueStats } from './queue-stats.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './render-metrics.js';
import { renderPage } from './render-page.js';
import { restoreHelp, type RestoreContext, type RestoreHelp } from './restore-help.js';
import { walCommits, type SourceWal } from './rpo.js';
import { groupBackups, summarizeGroups, type BackupView, type BackupsSummary, type SourceBackups } from './summarize-backups.js';
import { TREND_WINDOW_MS } from './trends.js';
import { readHeartbeats } from './workers-view.js';

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

/** A catalog sync (a listing of every target) serves the requests of this long; a request past it starts the next one in the background. */
const SUMMARY_MAX_AGE_MS = 5_000;
/** How long a request waits for Redis before it answers without queue data. */
const QUEUE_READ_TIMEOUT_MS = 5_000;
/** How long `/healthz` waits for Redis's PING: a container health check answers within seconds. */
const HEALTH_PING_TIMEOUT_MS = 3_000;
/** A sync starts no sooner than this many times its predecessor's duration after that one started. */
const SYNC_SPACING = 10;
/** The format version of every `/api/*` answer (its `version` field): raised when a field changes meaning or goes away, not when one is added. */
export const DASHBOARD_API_VERSION = 1;
/** The health check's path: the one route served without credentials (it tells nothing but whether Redis answers). */
const HEALTH_PATH = '/healthz';

/**
 * Starts the dashboard: bull-board at `/queues` over the maintenance queue and each configured
 * source's backup queue; the home page at `/` (each source's health, the schedules, the workers,
 * 90-day trends as inline SVG, the last restore drills, and each source's backups with their
 * restore commands) and the same data as JSON per panel under `/api/` (summary, schedules,
 * workers, trends, drills, backups), from the local catalog synced with the stores and from Redis
 * (queues, job schedulers, workers' heartbeats, drill records); Prometheus metrics at `/metrics`;
 * `/healthz`, 200 `{"ok":true}` while Redis answers a PING, else 503 with why. Every route but
 * `/healthz`, `/metrics` and bull-board's static files included, needs the configured credentials
 * (401 with `WWW-Authenticate` otherwise), and a Host header that names the dashboard (421
 * otherwise: DNS rebinding). A change (read-write mode only) also needs the token as a bearer or
 * the CSRF value its pages get in a cookie, in a header (403 otherwise). Without any credential
 * it only starts on a loopback host, with a warning; elsewhere it throws a {@link ConfigError}.
 * Credentials are never logged.
 *
 * Redis may be down when it starts or later: pages then show the backups without the queues,
 * schedules, workers and drills, `botbackup_redis_up` is 0, and the connection is retried in the
 * background.
 */
export async function startDashboard(options: StartDashboardOptions): Promise<RunningDashboard> {
  const { auth, readOnly, logger } = options;
  checkCredentials(options);
  const { redis, prefix, sourceIds, names, queues } = openQueues(options);
  const catalog = Catalog.open(options.catalogFile, { logger });
  const closing = new AbortController();
  // A catalog sync reads up to 16 manifests at once, each listening to this signal.
  setMaxListeners(64, closing.signal);
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
        await Promise.allSettled([readers.pendingSync(), ...queues.map((q) => q.close())]);
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
  /**
   * The model of every panel, from the newest finished catalog sync (the first request waits for
   * the first; one older than {@link SUMMARY_MAX_AGE_MS} starts the next in the background) and
   * from Redis (undefined parts when it cannot be read in time).
   */
  loadModel(): Promise<DashboardModel>;
  /** The catalog sync under way, if any, for a shutdown to wait for. */
  pendingSync(): Promise<unknown> | undefined;
  /** Undefined when Redis answers a PING now, else why not (never the URL or a credential). */
  redisProblem(): Promise<string | undefined>;
}

/** One finished catalog sync: the backups grouped by source (see groupBackups), or why no target could be listed. */
interface Synced {
  /** When it started, and how long it took. */
  at: number;
  tookMs: number;
  groups: SourceBackups[];
  unreachable: { target: string; error: string }[];
  error: string | undefined;
  /** Each continuous source's shipped commits, from one WAL listing per target at this sync. */
  wal: Map<string, SourceWal>;
}

/**
 * The readers of the backups (the catalog synced with the stores, until `closing` aborts) and of
 * Redis (the queue counts, schedules, workers' heartbeats and drill records, within
 * {@link QUEUE_READ_TIMEOUT_MS}); a failure of either is logged and shown as missing data, never
 * thrown. Requests are served from the catalog's copy in memory: none lists the storage targets
 * itself, so the page's time does not grow with the number of objects stored.
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
  let current: Synced | undefined;
  let syncing: Promise<Synced> | undefined;
  const sync = (): Promise<Synced> =>
    (syncing ??= (async (): Promise<Synced> => {
      const at = Date.now();
      // The WAL listings (keys only) run alongside the catalog's: a request never lists storage.
      const walRead = readWal(config, options.stores, parts.closing, logger);
      try {
        const backups = await catalog.sync(options.stores, { signal: parts.closing });
        const groups = groupBackups(sourceIds, backups);
        const wal = await walRead;
        return (current = { at, tookMs: Date.now() - at, groups, unreachable: catalog.unreachable, error: undefined, wal });
      } catch (error) {
        const message = (error as Error)?.message ?? String(error);
        logger.warn({ err: message }, 'dashboard: the catalog could not be synced');
        const wal = await walRead;
        return (current = { at, tookMs: Date.now() - at, groups: groupBackups(sourceIds, []), unreachable: [], error: message, wal });
      } finally {
        syncing = undefined;
      }
    })());
  const loadSynced = async (): Promise<Synced> => {
    if (!current) return sync();
    // A big repository's sync takes seconds (50,000 backups: about 15 s, mostly waiting on I/O):
    // not back to back, so that it takes at most a tenth of the dashboard's time.
    if (Date.now() - current.at >= Math.max(SUMMARY_MAX_AGE_MS, SYNC_SPACING * current.tookMs)) void sync();
    return current;
  };
  const loadRedis = async (): Promise<RedisRead | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${QUEUE_READ_TIMEOUT_MS / 1000} s`)), QUEUE_READ_TIMEOUT_MS);
    });
    try {
      const read = Promise.all([readQueueStats(queues), readLastDrills(redis, prefix, sourceIds), readSchedulers(queues), readHeartbeats(redis, prefix)]);
      const [queueStats, drills, schedulers, heartbeats] = await Promise.race([read, timeout]);
      return { queues: queueStats, drills, schedulers, heartbeats };
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'dashboard: the queues, schedules, workers and drills could not be read from Redis');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  // The schedules do not change while the dashboard runs: each source's bound is worked out once, at start.
  const boundsFrom = new Date();
  const runsCache = new Map<string, number[]>();
  const bounds = new Map<string, FreshnessBound>(
    sourceIds.map((id) => [id, freshnessBound(config.schedules, id, config.notify.staleAfterMs, boundsFrom, runsCache)]),
  );
  const restore = restoreContext(config);
  const loadModel = async (): Promise<DashboardModel> => {
    const [synced, fromRedis] = await Promise.all([loadSynced(), loadRedis()]);
    const now = new Date();
    const summary = summarizeGroups(synced.groups, { targets: options.stores.map((s) => s.name), unreachable: synced.unreachable, error: synced.error, now });
    return buildModel({ config, summary, redis: fromRedis, localDrills: localDrills(catalog, sourceIds, logger), bounds, restore, wal: synced.wal, now });
  };
  return { loadModel, pendingSync: () => syncing, redisProblem: () => redisHealthProblem(redis, HEALTH_PING_TIMEOUT_MS) };
}

/**
 * Each continuous source's shipped commits: one WAL listing (keys only, nothing read) per target,
 * their union (see walCommits). A target that cannot be listed is logged and named in `errors`;
 * never throws.
 */
async function readWal(config: Config, stores: readonly BackupStore[], signal: AbortSignal, logger: Logger): Promise<Map<string, SourceWal>> {
  const out = new Map<string, SourceWal>();
  await Promise.all(
    config.sources.map(async (source) => {
      if (!source.continuous) return;
      const results = await Promise.allSettled(stores.map((store) => listWal(store, source.id, signal)));
      const errors: string[] = [];
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          const message = `${stores[i]!.name}: ${(r.reason as Error)?.message ?? String(r.reason)}`;
          errors.push(message);
          logger.warn({ source: source.id, err: message }, 'dashboard: the WAL segments could not be listed');
        }
      });
      const databases = walCommits(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
      const newest = databases.reduce<number | null>((m, d) => (d.times.length > 0 && (m === null || d.times.at(-1)! > m) ? d.times.at(-1)! : m), null);
      out.set(source.id, { alertAfterMs: source.continuous.alertAfterMs, databases, newestCommitAt: newest, errors });
    }),
  );
  return out;
}

/** The job schedulers of each queue (configured ones: the maintenance queue and each source's backup queue). */
async function readSchedulers(queues: readonly Queue[]): Promise<SchedulerView[]> {
  const lists = await Promise.all(queues.map(async (q) => (await q.getJobSchedulers()).map((s) => schedulerView(q.name, s))));
  return lists.flat();
}

/** The newest drill `botbackup drill` recorded in the local catalog, per source (none when the catalog cannot be read: logged). */
function localDrills(catalog: Catalog, sourceIds: readonly string[], logger: Logger): Record<string, DrillRecord | undefined> {
  const out: Record<string, DrillRecord | undefined> = {};
  try {
    for (const id of sourceIds) {
      for (const record of catalog.drills(id)) if (!out[id] || record.at > out[id].at) out[id] = record;
    }
  } catch (error) {
    logger.warn({ err: (error as Error).message }, 'dashboard: the drill records of the local catalog could not be read');
  }
  return out;
}

/** Where the restore commands point: the config file, and the first local target (the manual steps run in its folder). */
function restoreContext(config: Config): RestoreContext {
  const local = config.storage.find((t) => t.type === 'local');
  return { configFile: path.resolve(config.file), localTarget: local && { name: local.name, path: local.path } };
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
    // The time this process took for the answer, for the bench and a browser's network panel (nothing else: no names, no sizes).
    reply.header('Server-Timing', `app;dur=${reply.elapsedTime.toFixed(1)}`);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Referrer-Policy', 'no-referrer');
    if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
  });
}

/**
 * The dashboard's own routes: the page at `/`, a JSON answer per panel at `/api/*` (each with
 * `version`, {@link DASHBOARD_API_VERSION}, and `botbackup`, the tool's version), the Prometheus
 * text at `/metrics`, the health check at `/healthz`.
 */
function addRoutes(app: App, { loadModel, redisProblem }: Readers, readOnly: boolean): void {
  // 200 while Redis answers, 503 otherwise: the dashboard can show nothing of the queues without it.
  app.get(HEALTH_PATH, async (_request, reply) => {
    const problem = await redisProblem();
    return problem === undefined ? reply.send({ ok: true }) : reply.code(503).send({ ok: false, error: problem });
  });
  app.get('/', async (_request, reply) => {
    return reply.type('text/html; charset=utf-8').send(renderPage({ model: await loadModel(), readOnly }));
  });
  // `?source=<id>`: one source's part of the answer (the trends and backups of 50 sources are tens of MB).
  const api = (route: string, answer: (model: DashboardModel, only: (sourceId: string) => boolean) => object) =>
    app.get(`/api/${route}`, async (request, reply) => {
      const model = await loadModel();
      const source = (request.query as Record<string, unknown>).source;
      const only = (id: string) => typeof source !== 'string' || id === source;
      return reply.send({ version: DASHBOARD_API_VERSION, botbackup: TOOL_VERSION, generatedAt: model.generatedAt, ...answer(model, only) });
    });
  api('summary', (m, only) => ({
    sources: m.health
      .filter((h) => only(h.sourceId))
      .map((h) => ({ ...h, newestGood: m.summary.sources.find((s) => s.sourceId === h.sourceId)?.newestGood ?? null })),
    catalogError: m.summary.error ?? null,
    redis: m.queues !== undefined,
  }));
  api('schedules', (m) => ({ schedules: m.schedules ?? null }));
  api('workers', (m) => ({ workers: m.workers?.workers ?? null, unserved: m.workers?.unserved ?? null }));
  api('trends', (m, only) => ({ windowDays: TREND_WINDOW_MS / 86_400_000, sources: m.trends.filter((t) => only(t.sourceId)) }));
  api('drills', (m, only) => ({
    sources: m.drills
      ? m.summary.sources.filter((s) => s.configured && only(s.sourceId)).map((s) => ({ sourceId: s.sourceId, last: m.drills![s.sourceId] ?? null }))
      : null,
  }));
  api('backups', (m, only) => ({
    ...withRestoreHelp({ ...m.summary, sources: m.summary.sources.filter((s) => only(s.sourceId)) }, m.restore),
    queues: m.queues ?? null,
    drills: m.drills ?? null,
    readOnly,
  }));
  app.get('/metrics', async (_request, reply) => {
    const model = await loadModel();
    return reply.type(METRICS_CONTENT_TYPE).send(await renderMetrics({ summary: model.summary, queues: model.queues, drills: model.drills }));
  });
}

/** Each view's restore commands, worked out once: a catalog sync's views serve every request until the next sync (and each dashboard has its own). */
const restoreCache = new WeakMap<BackupView, RestoreHelp | null>();

/** The summary with each backup's restore commands (`restore`, null without a readable manifest). */
function withRestoreHelp(summary: BackupsSummary, context: RestoreContext): BackupsSummary {
  const helpOf = (b: BackupView): RestoreHelp | null => {
    let help = restoreCache.get(b);
    if (help === undefined) {
      help =
        b.type !== undefined && b.archive !== undefined
          ? restoreHelp(context, { sourceId: b.sourceId, backupId: b.backupId, type: b.type, archive: b.archive, databases: b.databases })
          : null;
      restoreCache.set(b, help);
    }
    return help;
  };
  return {
    ...summary,
    sources: summary.sources.map((source) => ({ ...source, backups: source.backups.map((b) => ({ ...b, restore: helpOf(b) })) })),
  };
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
