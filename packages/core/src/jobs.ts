import type { JobType, WorkerConfig } from './config.js';

import { queueNames } from './redis-keys.js';

/*
 * Job payloads of distributed mode, shared by the scheduler, the workers and the CLI (queue
 * names and keys are redis-keys.ts's).
 */

/** The queue a job of this type (for this source) goes to. */
export function queueFor(type: JobType, sourceId: string | undefined): string {
  if (type === 'full' || type === 'incremental') {
    if (sourceId === undefined) throw new RangeError(`a ${type} job needs a source`);
    return queueNames.backup(sourceId);
  }
  return queueNames.maintenance;
}

/**
 * What a job carries: ids and options only, never data or secrets (a worker reads its config,
 * credentials included, from its own environment).
 */
export interface JobPayload {
  type: JobType;
  /** The source it is for; replicate may have none (every source). */
  sourceId?: string | undefined;
  /** The schedule that produced it, if any. */
  scheduleId?: string | undefined;
  /** verify: the backup (id, prefix, `latest`); default latest. drill: that backup instead of the rotation's pick. */
  backup?: string | undefined;
  /** drill: read only this storage target's copy (its name). */
  store?: string | undefined;
  /** verify: also restore and run integrity_check. */
  deep?: boolean | undefined;
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
