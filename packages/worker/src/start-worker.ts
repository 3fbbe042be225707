import os from 'node:os';
import { DelayedError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  JOB_TYPES,
  UsageError,
  queueNames,
  redactUrl,
  redisHealthProblem,
  type Config,
  type JobPayload,
  type JobResult,
  type RedisConnectionOptions,
} from '@botbackup/core';
import { Catalog, Keyring, checkBackupKeys, checkSourceRoots, defaultCatalogPath, type Logger } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import { reportFailure, reportSuccess, startStaleCheck, type HealthContext } from './health.js';
import { startHeartbeat } from './heartbeat.js';
import { processJob, type JobContext } from './process-job.js';
import { startStreamers } from './streamers.js';
import type { JobObserver, JobResultLabel, WorkerMetrics } from './worker-metrics.js';

export interface StartWorkerOptions {
  /** The worker's config: sources, storage, `redis.prefix`, and the `worker` section's timings. */
  config: Config;
  connection: RedisConnectionOptions;
  stores: BackupStore[];
  logger: Logger;
  /** Sources whose backup queues to serve (default: `worker.sources`). */
  sources?: string[] | undefined;
  /** Whether to serve the maintenance queue (default: `worker.maintenance`). */
  maintenance?: boolean | undefined;
  /** Jobs this process runs at once, across all its queues (default 1: a backup's CPU and disk use stay next to the bot's). */
  concurrency?: number | undefined;
  /** `redis.url`, for the log lines about the connection (shown redacted); default: host and port. */
  url?: string | undefined;
  /** Aborting while the worker waits for Redis at start returns at once; then call close(). */
  signal?: AbortSignal | undefined;
  /** Time between two "Redis is still unreachable" reminders during an outage (default 60 s). */
  outageReminderMs?: number | undefined;
  /**
   * How this worker names itself in Redis, for `botbackup status` (BullMQ's Worker `name`, in its
   * connections' CLIENT SETNAME): printable ASCII without spaces. Default {@link defaultWorkerName}.
   */
  name?: string | undefined;
  /** Serve Prometheus metrics and a health check over HTTP (`GET /metrics`, `GET /healthz`; see worker-metrics.ts); none when undefined. */
  metrics?: { host: string; port: number } | undefined;
  /** How often the worker refreshes its heartbeat in Redis (default core's WORKER_HEARTBEAT_INTERVAL_MS; see heartbeat.ts). */
  heartbeatMs?: number | undefined;
}

export interface RunningWorker {
  /** The queues it consumes. */
  queues: string[];
  /** The name it gave itself in Redis. */
  name: string;
  /** Where its metrics are served (`http://<host>:<port>/metrics`), when they are. */
  metricsUrl?: string | undefined;
  /**
   * Drains: stops taking jobs, lets the running ones finish for up to `graceMs` (default
   * `worker.drainTimeout`), then aborts them (their jobs fail this attempt and are retried by
   * another worker), and closes every connection.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts BullMQ workers for a source's backup queue (one job at a time per source) and,
 * optionally, the maintenance queue. Locks last `worker.lockDuration` and are renewed while a
 * job runs; a worker that dies (SIGKILL, power) leaves its job to be taken over after about
 * `lockDuration` + `stalledInterval`, and a job that stalls more than `maxStalledCount` times
 * fails instead of looping. A lock that cannot be renewed aborts the job's work at once, so that
 * two hosts never run one job. Workers reconnect to Redis on their own after an outage.
 */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { config, logger } = options;
  const settings = config.worker;
  const name = workerName(options.name);
  const { queues, keyring } = await checkWorkerSetup(options);
  const prefix = config.redis?.prefix ?? 'botbackup';
  // BullMQ requires maxRetriesPerRequest: null on worker connections: commands wait out an outage.
  const connection = { ...options.connection, maxRetriesPerRequest: null };
  const redis = new Redis(connection);
  redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'redis connection error (lock connection)'));
  const where = redactUrl(options.url ?? `redis://${connection.host}:${connection.port}/${connection.db}`);
  const outage = watchConnection(redis, where, logger, options.outageReminderMs ?? OUTAGE_REMINDER_MS);
  const metrics = await serveMetrics(options, queues, redis).catch((error: unknown) => {
    outage.stop();
    redis.disconnect();
    throw error;
  });
  const catalog = Catalog.open(config.catalog ?? defaultCatalogPath(config.file), { logger });
  const context: JobContext = { config, stores: options.stores, catalog, redis, prefix, logger, keyring };
  const health: HealthContext = { config, redis, prefix, logger };
  const outcomes = outcomeReporter(logger);
  const slots = jobSlots(Math.max(1, options.concurrency ?? 1), context, metrics);
  for (const queue of queues) {
    slots.workers.push(openQueueWorker(queue, slots.run, { name, connection, prefix, settings, logger, health, report: outcomes.report }));
  }
  const signal = options.signal;
  await waitUntilReady(slots.workers, signal);
  const stopStaleCheck = queues.includes(queueNames.maintenance) ? startStaleCheck(health, options.stores) : () => undefined;
  // Who serves which queue, for the dashboard (CLIENT LIST, which status reads, is often not allowed).
  const heartbeat = startHeartbeat({ redis, prefix, name, queues, concurrency: slots.limit, logger, intervalMs: options.heartbeatMs });
  // Continuous sources among those served: their WAL is shipped from here, every second.
  const streamers = startStreamers({
    config,
    sources: options.sources ?? settings.sources,
    stores: options.stores,
    keyring,
    logger,
    redis,
    prefix,
    onEvent: (sourceId, event) => metrics?.stream.record(sourceId, event),
  });
  if (!signal?.aborted) logger.info({ name, queues, concurrency: slots.limit, metrics: metrics?.url, streaming: streamers.ids }, 'worker started');
  return {
    queues,
    name,
    metricsUrl: metrics?.url,
    async close(graceMs = settings.drainTimeoutMs) {
      slots.stop();
      // A stopping streamer finishes the segment under way and ends its WAL follower.
      await streamers.stop();
      stopStaleCheck();
      // First: a draining worker takes no new job, so its queues are no longer served.
      await heartbeat.stop();
      outage.stop();
      await drainAndClose({ workers: slots.workers, redis, where, logger, catalog, queues, running: () => slots.running, outcomes: outcomes.settled }, graceMs);
      // Last: a scrape during the drain still sees the running jobs end.
      await metrics?.close();
    },
  };
}

/**
 * The metrics server when `options.metrics` asks for one, its health check on the worker's own
 * Redis connection. prom-client is loaded only then: a worker without metrics does without it.
 */
async function serveMetrics(options: StartWorkerOptions, queues: string[], redis: Redis): Promise<WorkerMetrics | undefined> {
  if (!options.metrics) return undefined;
  const { startWorkerMetrics } = await import('./worker-metrics.js');
  // The continuous sources streamed here: their stream series are there, at 0, from the start.
  const served = options.sources ?? options.config.worker.sources;
  const streams = options.config.sources
    .filter((s) => served.includes(s.id) && s.continuous)
    .map((s) => ({ id: s.id, databases: s.databases.map((d) => d.name), alertAfterMs: s.continuous!.alertAfterMs }));
  return startWorkerMetrics({
    ...options.metrics,
    queues,
    streams,
    logger: options.logger,
    redisProblem: () => redisHealthProblem(redis, HEALTH_PING_TIMEOUT_MS),
  });
}

/** How long the health check waits for Redis's PING. */
const HEALTH_PING_TIMEOUT_MS = 3_000;

/** `<hostname>:<pid>`: tells apart two workers on one host; characters Redis refuses in a client name become `-`. */
export function defaultWorkerName(): string {
  return `${os.hostname()}:${process.pid}`.replace(/[^!-~]/g, '-');
}

/** The worker's name: `given`, checked (Redis's CLIENT SETNAME takes printable ASCII without spaces), or the default. */
function workerName(given: string | undefined): string {
  if (given === undefined) return defaultWorkerName();
  if (!/^[!-~]{1,128}$/.test(given))
    throw new UsageError(
      `The worker name ${JSON.stringify(given)} cannot be used: give 1 to 128 printable ASCII characters without spaces (Redis refuses others in a client name).`,
    );
  return given;
}

/** A BullMQ Worker of this process, on one queue. */
type QueueWorker = Worker<JobPayload, JobResult>;

/** Runs one job that `runner` fetched (see {@link jobSlots}). */
type RunJob = (runner: QueueWorker, job: Job<JobPayload, JobResult>, token: string | undefined, signal: AbortSignal | undefined) => Promise<JobResult>;

/**
 * Checks at start what the worker needs, rather than at the first job: each source to back up
 * is configured and its files are visible, the storage targets are writable (a warning only),
 * and the keys can sign (and encrypt) what it makes. Returns the queues to serve (each source's
 * backup queue, and maintenance if allowed) and the keyring; a UsageError when there is none.
 */
async function checkWorkerSetup(options: StartWorkerOptions): Promise<{ queues: string[]; keyring: Keyring }> {
  const { config, logger } = options;
  const settings = config.worker;
  const sources = options.sources ?? settings.sources;
  for (const id of sources) {
    if (!config.sources.some((s) => s.id === id)) throw new UsageError(`${config.file} has no source "${id}" for this worker to back up.`);
  }
  // A worker that backs up a source must see its files, and be able to sign (and encrypt) what
  // it makes: say so at start, not at the first job.
  await checkSourceRoots(config, sources);
  await warnUnusableTargets(options.stores, logger);
  const keyring = new Keyring({ config });
  if (sources.length > 0) await checkBackupKeys(config, keyring);
  const queues = [...sources.map((id) => queueNames.backup(id)), ...((options.maintenance ?? settings.maintenance) ? [queueNames.maintenance] : [])];
  if (queues.length === 0)
    throw new UsageError(`This worker would serve no queue: name a source (--source or worker.sources in ${config.file}) or allow maintenance jobs.`);
  return { queues, keyring };
}

/**
 * Records job outcomes (notifications, health keys) off BullMQ's events: report() starts one and
 * logs its failure; settled() waits for those under way, which close() does before it closes Redis.
 */
function outcomeReporter(logger: Logger): { report(work: Promise<void>): void; settled(): Promise<unknown> } {
  const reporting = new Set<Promise<void>>();
  return {
    report(work: Promise<void>) {
      const done = work.catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'could not record a job outcome'));
      reporting.add(done);
      void done.finally(() => reporting.delete(done));
    },
    settled: () => Promise.all(reporting),
  };
}

/**
 * The process's job slots. One BullMQ Worker per queue (in `workers`), but at most `limit` jobs
 * per process: while the slots are full the other Workers are paused, and a job one of them
 * fetched anyway is handed back to its queue for a process with a free slot, instead of waiting
 * here. stop() (at close) keeps paused Workers from resuming.
 */
function jobSlots(
  limit: number,
  context: JobContext,
  observer: JobObserver | undefined,
): { limit: number; workers: QueueWorker[]; readonly running: number; run: RunJob; stop(): void } {
  let running = 0;
  let closing = false;
  const workers: QueueWorker[] = [];
  // Never the Worker that runs the job: a paused Worker's close() does not wait for its running
  // job (it would be left active, its lock released, until it stalls). With a concurrency of 1
  // per Worker it fetches nothing more while busy anyway.
  const setPaused = (paused: boolean, runner: QueueWorker) => {
    for (const w of workers) {
      if (w === runner) continue;
      if (paused && !w.isPaused()) void w.pause(true);
      if (!paused && w.isPaused() && !closing) void w.resume();
    }
  };
  const run: RunJob = async (runner, job, token, signal) => {
    if (running >= limit) {
      // Straight back to its queue (this process's Workers are paused by now, so another
      // process, or this one once a slot frees, takes it).
      await job.moveToWait(token);
      throw new WaitingError();
    }
    running++;
    if (running >= limit) setPaused(true, runner);
    try {
      return await observed(job, observer, () => processJob(job, token, signal!, context));
    } finally {
      running--;
      setPaused(false, runner);
    }
  };
  return {
    limit,
    workers,
    get running() {
      return running;
    },
    run,
    stop() {
      closing = true;
    },
  };
}

/**
 * Runs `work`, one job, and tells `observer` (the metrics) when it starts and how it ends: a
 * result that says `skipped`, a DelayedError (a busy source: tried again later), any other error
 * (failed), else completed.
 */
async function observed(job: Job<JobPayload, JobResult>, observer: JobObserver | undefined, work: () => Promise<JobResult>): Promise<JobResult> {
  if (!observer) return work();
  const queue = job.queueName;
  // Redis may hold any payload (see processJob): a type outside the contract is one label value, not whatever it says.
  const raw: unknown = (job.data as { type?: unknown } | undefined)?.type;
  const type = typeof raw === 'string' && (JOB_TYPES as readonly string[]).includes(raw) ? raw : 'invalid';
  const started = performance.now();
  let result: JobResultLabel = 'failed';
  observer.started(queue);
  try {
    const value = await work();
    result = 'skipped' in value && value.skipped ? 'skipped' : 'completed';
    return value;
  } catch (error) {
    if (error instanceof DelayedError) result = 'delayed';
    throw error;
  } finally {
    observer.finished(queue, type, result, (performance.now() - started) / 1000);
  }
}

/**
 * A BullMQ Worker on the queue `name`, one job at a time, with the `worker` section's lock and
 * stall settings, running its jobs through `run`. Its events are logged; a lost lock aborts the
 * job's work, and a job's outcome is reported (success, or failure once BullMQ gives up on it).
 */
function openQueueWorker(
  name: string,
  run: RunJob,
  opts: {
    /** The worker's name (see StartWorkerOptions.name). */
    name: string;
    connection: RedisConnectionOptions & { maxRetriesPerRequest: null };
    prefix: string;
    settings: Config['worker'];
    logger: Logger;
    health: HealthContext;
    report(work: Promise<void>): void;
  },
): QueueWorker {
  const { settings, logger, health, report } = opts;
  const worker: QueueWorker = new Worker<JobPayload, JobResult>(name, (job, token, signal) => run(worker, job, token, signal), {
    // BullMQ names the Worker's blocking connection `<prefix>:<base64 queue>:w:<name>`
    // (CLIENT SETNAME): Queue.getWorkers() finds it by that, and status shows the name.
    name: opts.name,
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: 1,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
  });
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    for (const id of jobIds) {
      logger.warn({ queue: name, jobId: id }, 'lost the lock of a running job; aborting its work');
      worker.cancelJob(id, 'the worker lost the job lock (another worker may have taken it over)');
    }
  });
  worker.on('stalled', (jobId: string) => logger.warn({ queue: name, jobId }, 'job stalled (its worker stopped renewing its lock); it runs again or fails'));
  worker.on('completed', (job, result) => {
    logger.info({ queue: name, jobId: job.id, ...result }, 'job completed');
    if (!('skipped' in result && result.skipped)) report(reportSuccess(health, job));
  });
  worker.on('failed', (job, error) => {
    logger.warn({ queue: name, jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, 'job failed');
    // Notify once BullMQ gives up on the job, not at every attempt that will be retried.
    if (job && error.name !== 'DelayedError') {
      report(job.getState().then((state) => (state === 'failed' ? reportFailure(health, job, error.message) : undefined)));
    }
  });
  // Without a listener an 'error' event would crash the process; a Redis outage is survived.
  // Connection errors are at debug: watchConnection says once that Redis is gone and when it is back.
  worker.on('error', (error) => {
    if (isConnectionError(error)) logger.debug({ queue: name, err: error.message }, 'worker connection error');
    else logger.warn({ queue: name, err: error.message }, 'worker error');
  });
  return worker;
}

/** Waits for Redis (a worker may start before it); an abort of `signal` meanwhile returns at once, to close(). */
async function waitUntilReady(workers: readonly QueueWorker[], signal: AbortSignal | undefined): Promise<void> {
  const ready = Promise.all(workers.map((w) => w.waitUntilReady()));
  if (signal && !signal.aborted) {
    let onAbort!: () => void;
    await Promise.race([ready, new Promise<void>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve()), { once: true }))]);
    signal.removeEventListener('abort', onAbort);
  } else if (!signal) await ready;
  ready.catch(() => undefined);
}

/** What close() stops: the Workers, the lock connection, the catalog; and what it waits for. */
interface Closing {
  workers: readonly QueueWorker[];
  redis: Redis;
  /** The redacted Redis URL, for the log. */
  where: string;
  logger: Logger;
  catalog: Catalog;
  queues: string[];
  /** Jobs running now. */
  running(): number;
  /** Waits for the job outcomes being recorded. */
  outcomes(): Promise<unknown>;
}

/**
 * The body of close(): drains (the running jobs get `graceMs`, then are aborted), waits for
 * their outcomes to be recorded, and closes every connection and the catalog. Without Redis, or
 * with a Redis that stops answering, it stops without draining (see {@link dropIfRedisHangs}).
 */
async function drainAndClose(c: Closing, graceMs: number): Promise<void> {
  const { workers, redis, where, logger } = c;
  // Without Redis nothing can be drained (a job's outcome cannot be recorded): abort the
  // running jobs and drop the connections at once; the jobs run again once their locks expire.
  const reachable = redis.status === 'ready';
  if (!reachable) {
    logger.warn({ redis: where }, 'Redis is unreachable: stopping without draining');
    for (const w of workers) w.cancelAllJobs('the worker is shutting down');
  }
  const closed = Promise.all(workers.map((w) => w.close(!reachable)));
  const timer = setTimeout(() => {
    logger.warn({ graceMs }, 'drain timeout: aborting the running jobs');
    for (const w of workers) w.cancelAllJobs('the worker is shutting down');
  }, graceMs);
  const forced = dropIfRedisHangs(c, reachable, c.running() > 0 ? graceMs + FORCE_CLOSE_MS : 0);
  try {
    await Promise.race([closed.then(() => c.outcomes()), forced.dropped]);
  } finally {
    forced.stop();
    clearTimeout(timer);
    if (redis.status === 'ready') {
      let quitTimer: NodeJS.Timeout | undefined;
      await Promise.race([redis.quit().catch(() => undefined), new Promise((resolve) => (quitTimer = setTimeout(resolve, FORCE_CLOSE_MS)))]);
      clearTimeout(quitTimer);
    }
    redis.disconnect();
    c.catalog.close();
  }
  logger.info({ queues: c.queues }, 'worker stopped');
}

/**
 * A Redis that hangs (its socket open, no replies) would hold close() forever: after
 * `firstCheckMs` (0, or with a job running, past the drain and FORCE_CLOSE_MS) and then every
 * FORCE_CLOSE_MS, Redis must answer a PING within 3 s, or the Workers' connections are dropped
 * and `dropped` resolves. A job still aborting (zstd holds the event loop for seconds) is waited
 * for while Redis answers. An unreachable Redis drops them at once. stop() ends the checks.
 */
function dropIfRedisHangs(c: Closing, reachable: boolean, firstCheckMs: number): { dropped: Promise<void>; stop(): void } {
  const { workers, redis, where, logger } = c;
  let forceTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const dropped = new Promise<void>((resolve) => {
    const check = async () => {
      if (stopped) return;
      if (await answersPing(redis, 3_000)) {
        if (!stopped) forceTimer = setTimeout(() => void check(), FORCE_CLOSE_MS);
        return;
      }
      if (stopped) return;
      logger.warn({ redis: where }, 'Redis did not answer while closing: dropping the connections');
      for (const w of workers) void w.disconnect().catch(() => undefined);
      resolve();
    };
    if (!reachable) {
      for (const w of workers) void w.disconnect().catch(() => undefined);
      resolve();
      return;
    }
    forceTimer = setTimeout(() => void check(), firstCheckMs);
  });
  return {
    dropped,
    stop() {
      stopped = true;
      clearTimeout(forceTimer);
    },
  };
}

/** How long close() waits for Redis to answer (beyond a running job's drain) before it drops the connections. */
const FORCE_CLOSE_MS = 5_000;
/** Default time between two "still unreachable" reminders during a Redis outage. */
const OUTAGE_REMINDER_MS = 60_000;

/** Whether `redis` answers a PING within `timeoutMs`. */
function answersPing(redis: Redis, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    // After the poll phase: a reply that arrived while a long job held the event loop (zstd) is
    // read first, and is not taken for a Redis that does not answer.
    const timer = setTimeout(() => setImmediate(() => resolve(false)), timeoutMs);
    redis.ping().then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

/**
 * Whether a BullMQ or ioredis error is about the connection (refused, reset, closed, timed out)
 * rather than a reply or a bug: those repeat at every reconnection attempt.
 */
function isConnectionError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return true;
  return /Connection is closed|Stream isn't writeable|Command timed out|max retries per request|Connection (was )?reset|connect E[A-Z]+|Socket closed/i.test(
    error.message,
  );
}

/**
 * Logs a Redis outage as seen by `redis` (a connection that reconnects on its own): one warning
 * when the connection is lost, saying what the worker does meanwhile; a reminder every
 * `reminderMs` while it lasts; one line when it is back. stop() ends the watch.
 */
function watchConnection(redis: Redis, where: string, logger: Logger, reminderMs: number): { stop(): void } {
  let lostAt: number | undefined;
  let reminder: NodeJS.Timeout | undefined;
  let stopped = false;
  let everReady = false;
  const onLost = () => {
    if (stopped || lostAt !== undefined || !everReady) return;
    lostAt = Date.now();
    logger.warn(
      { redis: where },
      'lost the connection to Redis: no job is taken meanwhile (a running one goes on, and records its outcome once Redis is back); reconnecting on its own',
    );
    reminder = setInterval(() => {
      logger.warn({ redis: where, downForMs: Date.now() - lostAt! }, 'Redis is still unreachable; reconnecting');
    }, reminderMs);
    reminder.unref();
  };
  const onReady = () => {
    everReady = true;
    if (lostAt === undefined) return;
    clearInterval(reminder);
    if (!stopped) logger.info({ redis: where, downForMs: Date.now() - lostAt }, 'Redis is back; taking jobs again');
    lostAt = undefined;
  };
  redis.on('close', onLost);
  redis.on('ready', onReady);
  return {
    stop() {
      stopped = true;
      clearInterval(reminder);
      redis.off('close', onLost);
      redis.off('ready', onReady);
    },
  };
}

/**
 * One warning line per storage target this worker could not write to now (local targets:
 * checkWritable; S3 targets are not probed). Not fatal: other targets may be enough (minCopies),
 * and a target can come back before the next job.
 */
async function warnUnusableTargets(stores: BackupStore[], logger: Logger): Promise<void> {
  for (const store of stores) {
    try {
      await store.checkWritable?.();
    } catch (error) {
      const reason = (error as Error).message;
      logger.warn({ target: store.name, location: store.location, reason }, `storage target "${store.name}" is unusable: ${reason}`);
    }
  }
}
