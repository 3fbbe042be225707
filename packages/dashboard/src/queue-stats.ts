import type { Job, Queue } from 'bullmq';
import type { JobPayload } from '@botbackup/core';

/** Finished jobs of each kind read per queue to find the last outcome of each job type and source. */
const RECENT_JOBS = 100;
/** Active jobs shown per queue. */
const ACTIVE_JOBS = 20;

/** When a job of one type (and source) last ended, one way or the other. */
export interface JobOutcome {
  queue: string;
  type: string;
  /** Empty for jobs of no source (replicate of every source). */
  sourceId: string;
  result: 'completed' | 'failed';
  /** Unix milliseconds. */
  finishedOn: number;
  jobId: string;
  /** For a failure: BullMQ's failed reason (the error's message, which never holds a secret). */
  reason: string | undefined;
}

/** The newest run of a schedule among a queue's newest finished jobs. */
export interface ScheduleRun {
  scheduleId: string;
  result: 'completed' | 'failed';
  /** Unix milliseconds. */
  finishedOn: number;
  /** From when a worker last took the job to its end; undefined when BullMQ kept no start. */
  durationMs: number | undefined;
  jobId: string;
  /** For a failure: BullMQ's failed reason. */
  reason: string | undefined;
}

/** One queue as the dashboard shows it. */
export interface QueueStats {
  name: string;
  /** BullMQ's getJobCounts(): waiting, active, delayed, prioritized, waiting-children, paused, completed, failed. */
  counts: Record<string, number>;
  active: { jobId: string; name: string; percent: number | undefined; phase: string | undefined }[];
  /** The newest outcome per job type, source and result among the newest finished jobs. */
  lastOutcomes: JobOutcome[];
  /** The newest run of each schedule among the newest finished jobs (completed or failed, whichever is newer). */
  scheduleRuns: ScheduleRun[];
}

/**
 * Reads the counts, active jobs and recent outcomes of each queue. Completed jobs that did
 * nothing (a scheduled backup skipped because its source was busy) are not outcomes.
 */
export async function readQueueStats(queues: Queue[]): Promise<QueueStats[]> {
  return Promise.all(
    queues.map(async (queue): Promise<QueueStats> => {
      const [counts, active, completed, failed] = await Promise.all([
        queue.getJobCounts(),
        queue.getJobs(['active'], 0, ACTIVE_JOBS - 1),
        queue.getJobs(['completed'], 0, RECENT_JOBS - 1, false),
        queue.getJobs(['failed'], 0, RECENT_JOBS - 1, false),
      ]);
      const newest = new Map<string, JobOutcome>();
      const runs = new Map<string, ScheduleRun>();
      const consider = (job: Job | undefined, result: JobOutcome['result']) => {
        if (!job?.id || job.finishedOn === undefined) return;
        if (result === 'completed' && (job.returnvalue as { skipped?: unknown } | null)?.skipped) return;
        const data = job.data as Partial<JobPayload>;
        const type = typeof data.type === 'string' ? data.type : job.name;
        const sourceId = typeof data.sourceId === 'string' ? data.sourceId : '';
        const key = `${type}\0${sourceId}\0${result}`;
        const scheduleId = typeof data.scheduleId === 'string' ? data.scheduleId : undefined;
        if (scheduleId !== undefined && (runs.get(scheduleId)?.finishedOn ?? -1) < job.finishedOn) {
          runs.set(scheduleId, {
            scheduleId,
            result,
            finishedOn: job.finishedOn,
            durationMs: job.processedOn ? Math.max(0, job.finishedOn - job.processedOn) : undefined,
            jobId: job.id,
            reason: result === 'failed' ? job.failedReason : undefined,
          });
        }
        if ((newest.get(key)?.finishedOn ?? -1) >= job.finishedOn) return;
        newest.set(key, {
          queue: queue.name,
          type,
          sourceId,
          result,
          finishedOn: job.finishedOn,
          jobId: job.id,
          reason: result === 'failed' ? job.failedReason : undefined,
        });
      };
      for (const job of completed) consider(job as Job, 'completed');
      for (const job of failed) consider(job as Job, 'failed');
      return {
        name: queue.name,
        counts,
        active: (active as Job[])
          .filter((job) => job?.id)
          .map((job) => {
            const progress = (typeof job.progress === 'object' && job.progress !== null ? job.progress : {}) as { percent?: unknown; phase?: unknown };
            return {
              jobId: job.id!,
              name: job.name,
              percent: typeof progress.percent === 'number' ? progress.percent : undefined,
              phase: typeof progress.phase === 'string' ? progress.phase : undefined,
            };
          }),
        lastOutcomes: [...newest.values()],
        scheduleRuns: [...runs.values()],
      };
    }),
  );
}
