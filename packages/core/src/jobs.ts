import type { JobType, WorkerConfig } from './config/index.js';
import type { JobPayload } from './job-contract.js';
import { queueNames } from './redis-keys.js';

/*
 * Where a job goes and how BullMQ keeps it; what it carries and returns is the job contract
 * (job-contract.ts), queue names and keys are redis-keys.ts's.
 */

/**
 * Default time between two syncs of the scheduler (`runScheduler`). Here, not in the scheduler
 * package, so that the CLI's help can name it without loading BullMQ.
 */
export const DEFAULT_SYNC_INTERVAL_MS = 60_000;

/** The queue a job of this type (for this source) goes to. */
export function queueFor(type: JobType, sourceId: string | undefined): string {
  if (type === 'full' || type === 'incremental') {
    if (sourceId === undefined) throw new RangeError(`a ${type} job needs a source`);
    return queueNames.backup(sourceId);
  }
  return queueNames.maintenance;
}

/** The job name BullMQ shows: the type, and the source when there is one. */
export function jobName(payload: JobPayload): string {
  return payload.sourceId === undefined ? payload.type : `${payload.type}:${payload.sourceId}`;
}

/**
 * BullMQ options of every job (scheduled or one-off): retries with exponential backoff for
 * transient failures, and finished jobs kept for a bounded count and age (BullMQ counts `age`
 * in seconds).
 */
export function jobOptions(worker: WorkerConfig): {
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  removeOnComplete: { count: number; age: number };
  removeOnFail: { count: number; age: number };
} {
  return {
    attempts: worker.attempts,
    backoff: { type: 'exponential', delay: 10_000 },
    removeOnComplete: { count: worker.keepCompleted.count, age: Math.round(worker.keepCompleted.ageMs / 1000) },
    removeOnFail: { count: worker.keepFailed.count, age: Math.round(worker.keepFailed.ageMs / 1000) },
  };
}
