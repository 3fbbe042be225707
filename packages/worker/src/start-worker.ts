import { WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { UsageError, queueNames, type Config, type JobPayload, type RedisConnectionOptions } from '@botbackup/core';
import { Catalog, Keyring, checkBackupKeys, checkSourceRoots, defaultCatalogPath, type Logger } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import { reportFailure, reportSuccess, startStaleCheck, type HealthContext } from './health.js';
import { processJob, type JobContext, type JobResult } from './process-job.js';

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
}

export interface RunningWorker {
  /** The queues it consumes. */
  queues: string[];
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
  const sources = options.sources ?? settings.sources;
  for (const id of sources) {
    if (!config.sources.some((s) => s.id === id)) throw new UsageError(`${config.file} has no source "${id}" for this worker to back up.`);
  }
  // A worker that backs up a source must see its files, and be able to sign (and encrypt) what
  // it makes: say so at start, not at the first job.
  await checkSourceRoots(config, sources);
  const keyring = new Keyring({ config });
  if (sources.length > 0) await checkBackupKeys(config, keyring);
  const queues = [...sources.map((id) => queueNames.backup(id)), ...((options.maintenance ?? settings.maintenance) ? [queueNames.maintenance] : [])];
  if (queues.length === 0)
    throw new UsageError(`This worker would serve no queue: name a source (--source or worker.sources in ${config.file}) or allow maintenance jobs.`);
  const prefix = config.redis?.prefix ?? 'botbackup';
  // BullMQ requires maxRetriesPerRequest: null on worker connections: commands wait out an outage.
  const connection = { ...options.connection, maxRetriesPerRequest: null };
  const redis = new Redis(connection);
  redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'redis connection error (lock connection)'));
  const catalog = Catalog.open(config.catalog ?? defaultCatalogPath(config.file), { logger });
  const context: JobContext = { config, stores: options.stores, catalog, redis, prefix, logger, keyring };
  const health: HealthContext = { config, redis, prefix, logger };
  // Outcomes are recorded after BullMQ's events; close() waits for them before it closes Redis.
  const reporting = new Set<Promise<void>>();
  const report = (work: Promise<void>) => {
    const done = work.catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'could not record a job outcome'));
    reporting.add(done);
    void done.finally(() => reporting.delete(done));
  };
  // One BullMQ Worker per queue, but at most `concurrency` jobs per process: while the slots are
  // full the other Workers are paused, and a job one of them fetched anyway is handed back to its
  // queue for a process with a free slot, instead of waiting here.
  const limit = Math.max(1, options.concurrency ?? 1);
  let running = 0;
  const workers: Worker<JobPayload, JobResult>[] = [];
  let closing = false;
  // Never the Worker that runs the job: a paused Worker's close() does not wait for its running
  // job (it would be left active, its lock released, until it stalls). With a concurrency of 1
  // per Worker it fetches nothing more while busy anyway.
  const setPaused = (paused: boolean, runner: Worker<JobPayload, JobResult>) => {
    for (const w of workers) {
      if (w === runner) continue;
      if (paused && !w.isPaused()) void w.pause(true);
      if (!paused && w.isPaused() && !closing) void w.resume();
    }
  };
  const run = async (
    runner: Worker<JobPayload, JobResult>,
    job: Job<JobPayload, JobResult>,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<JobResult> => {
    if (running >= limit) {
      // Straight back to its queue (this process's Workers are paused by now, so another
      // process, or this one once a slot frees, takes it).
      await job.moveToWait(token);
      throw new WaitingError();
    }
    running++;
    if (running >= limit) setPaused(true, runner);
    try {
      return await processJob(job, token, signal!, context);
    } finally {
      running--;
      setPaused(false, runner);
    }
  };
  for (const name of queues) {
    const worker: Worker<JobPayload, JobResult> = new Worker<JobPayload, JobResult>(name, (job, token, signal) => run(worker, job, token, signal), {
      connection,
      prefix,
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
      if (!result.skipped) report(reportSuccess(health, job));
    });
    worker.on('failed', (job, error) => {
      logger.warn({ queue: name, jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, 'job failed');
      // Notify once BullMQ gives up on the job, not at every attempt that will be retried.
      if (job && error.name !== 'DelayedError') {
        report(job.getState().then((state) => (state === 'failed' ? reportFailure(health, job, error.message) : undefined)));
      }
    });
    // Without a listener an 'error' event would crash the process; a Redis outage is survived.
    worker.on('error', (error) => logger.warn({ queue: name, err: error.message }, 'worker error'));
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const stopStaleCheck = queues.includes(queueNames.maintenance) ? startStaleCheck(health, options.stores) : () => undefined;
  logger.info({ queues, concurrency: limit }, 'worker started');
  return {
    queues,
    async close(graceMs = settings.drainTimeoutMs) {
      closing = true;
      stopStaleCheck();
      const closed = Promise.all(workers.map((w) => w.close()));
      const timer = setTimeout(() => {
        logger.warn({ graceMs }, 'drain timeout: aborting the running jobs');
        for (const w of workers) w.cancelAllJobs('the worker is shutting down');
      }, graceMs);
      try {
        await closed;
        await Promise.all(reporting);
      } finally {
        clearTimeout(timer);
        await redis.quit().catch(() => redis.disconnect());
        catalog.close();
      }
      logger.info({ queues }, 'worker stopped');
    },
  };
}
