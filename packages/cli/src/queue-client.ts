import { Queue, QueueEvents, type Job } from 'bullmq';
import {
  AbortedError,
  ExitCode,
  jobName,
  jobOptions,
  queueFor,
  type Config,
  type ExitCodeValue,
  type JobPayload,
  type JobProgress,
  type JobResult,
} from '@botbackup/core';
import type { ProgressEvent } from '@botbackup/engine';
import { closeProducer, connectProducer, redisError } from '@botbackup/scheduler';
import { redisOf } from './redis-config.js';

// BullMQ and ioredis (through the scheduler): only the commands that hand jobs to workers load
// this module, with import() when they do (submit-job.ts).

/**
 * Adds a one-off job for a worker: the payload's queue, the same retry and retention options as
 * scheduled jobs. Fails fast, in one sentence, when Redis cannot be reached.
 */
export async function enqueueJob(config: Config, payload: JobPayload, signal: AbortSignal): Promise<{ job: Job<JobPayload, JobResult>; queueName: string }> {
  const redis = redisOf(config);
  const client = await connectProducer(redis.connection, redis.url, signal);
  const queueName = queueFor(payload.type, payload.sourceId);
  const queue = new Queue<JobPayload, JobResult>(queueName, { connection: client, prefix: redis.prefix });
  try {
    const job = await queue.add(jobName(payload), payload, jobOptions(config.worker));
    return { job, queueName };
  } catch (error) {
    throw redisError(error, redis.url, `add a job to ${queueName}`, client);
  } finally {
    await queue.close().catch(() => undefined);
    await closeProducer(client);
  }
}

/** How a followed job ended. */
export type FollowedJob = { state: 'completed'; result: JobResult } | { state: 'failed'; reason: string; exitCode: ExitCodeValue };

/**
 * Follows a job to its end through Redis (QueueEvents): its progress, then its result or the
 * reason it failed and the exit code its error maps to. Waits through retries: a job is failed
 * only when BullMQ gives up on it.
 */
export async function followJob(
  config: Config,
  queueName: string,
  jobId: string,
  onProgress: (event: ProgressEvent) => void,
  signal: AbortSignal,
): Promise<FollowedJob> {
  const redis = redisOf(config);
  const events = new QueueEvents(queueName, { connection: { ...redis.connection, maxRetriesPerRequest: null }, prefix: redis.prefix });
  const queue = new Queue<JobPayload, JobResult>(queueName, { connection: { ...redis.connection, maxRetriesPerRequest: null }, prefix: redis.prefix });
  events.on('error', () => undefined);
  queue.on('error', () => undefined);
  let settled = false;
  try {
    await events.waitUntilReady();
    const finished = new Promise<FollowedJob>((resolve) => {
      events.on('progress', ({ jobId: id, data }) => {
        // The event stream may carry the progress as JSON text.
        const parsed: unknown = typeof data === 'string' ? JSON.parse(data) : data;
        if (id !== jobId || typeof parsed !== 'object' || parsed === null) return;
        const progress = parsed as JobProgress;
        // Stored as JSON, an unknown total is absent; the engine's event names it undefined.
        if (progress.phase !== 'failed') onProgress({ ...progress, total: progress.total });
      });
      events.on('completed', ({ jobId: id, returnvalue }) => {
        if (id === jobId) resolve({ state: 'completed', result: (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as JobResult });
      });
      events.on('failed', ({ jobId: id, failedReason }) => {
        if (id !== jobId || settled) return;
        // 'failed' is emitted for every failed attempt; the job has ended only when it is not
        // retried. The lookup may race with the end of this function (the queue is closed then).
        queue
          .getJob(jobId)
          .then(async (job) => ({ job, state: await job?.getState() }))
          .then(
            // The exit code is read from the job, not from a progress event this side may have missed.
            ({ job, state }) =>
              state === 'failed' &&
              resolve({ state: 'failed', reason: failedReason ?? job?.failedReason ?? 'no reason recorded', exitCode: exitCodeOf(job?.progress) }),
            () => undefined,
          );
      });
    });
    // It may have ended before we listened: QueueEvents reads only events after its first read
    // of the stream, which may come after waitUntilReady and after this check (seen once on a
    // loaded machine: the job completed, its event was missed, and `run` waited for ever). So
    // the job's state is also read every few seconds until it ends.
    const ended = endedState(queue, jobId, () => settled);
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(new AbortedError(`Stopped following job ${jobId}; it goes on in the worker (see "botbackup jobs").`)));
    });
    return await Promise.race([finished, ended, aborted]);
  } catch (error) {
    throw redisError(error, redis.url, `follow job ${jobId}`);
  } finally {
    settled = true;
    await Promise.allSettled([events.close(), queue.close()]);
  }
}

/** How often a followed job's state is read, besides its events. */
const STATE_POLL_MS = 2000;

/** Resolves once the job is completed or failed (read now, then every STATE_POLL_MS), unless `done` first. */
async function endedState(queue: Queue<JobPayload, JobResult>, jobId: string, done: () => boolean): Promise<FollowedJob> {
  for (;;) {
    // Read the job again after its state: the state may have changed since the first read.
    const state = await (await queue.getJob(jobId))?.getState();
    const job = await queue.getJob(jobId);
    if (job && state === 'completed') return { state: 'completed', result: job.returnvalue };
    if (job && state === 'failed') return { state: 'failed', reason: job.failedReason ?? 'no reason recorded', exitCode: exitCodeOf(job.progress) };
    await new Promise((resolve) => setTimeout(resolve, STATE_POLL_MS).unref());
    if (done()) return new Promise<never>(() => undefined);
  }
}

/** The exit code a failed job's last progress carries (the worker records it), else "internal". */
function exitCodeOf(progress: unknown): ExitCodeValue {
  const p = progress as JobProgress | undefined;
  return (p && typeof p === 'object' && p.phase === 'failed' ? p.exitCode : ExitCode.internal) as ExitCodeValue;
}
