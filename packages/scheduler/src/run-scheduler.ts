import { setTimeout as sleep } from 'node:timers/promises';
import { RedisUnavailableError } from '@botbackup/core';
import { syncSchedules, type SyncSchedulesOptions, type SyncSchedulesResult } from './sync-schedules.js';

export interface RunSchedulerOptions extends SyncSchedulesOptions {
  /** Time between two syncs; default 60 s. */
  intervalMs?: number | undefined;
  /** Called after every sync that succeeded, with what it did. */
  onSync?: ((result: SyncSchedulesResult) => void) | undefined;
}

/** Default time between two syncs of {@link runScheduler}. */
export const DEFAULT_SYNC_INTERVAL_MS = 60_000;

/**
 * Keeps Redis's job schedulers equal to the config's schedules until `signal` aborts: a sync at
 * start, then one every `intervalMs`, which puts back what Redis lost (a restart without
 * persistence, a FLUSHALL) or another process removed. A Redis outage does not end it: the failed
 * sync is logged and the next tick tries again. Resolves once `signal` aborts; rejects only on
 * an error that is not Redis's (a bug), so a supervisor restarts it.
 */
export async function runScheduler(options: RunSchedulerOptions): Promise<void> {
  const { signal, logger } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
  let synced = false;
  let failing = false;
  while (!signal?.aborted) {
    try {
      const result = await syncSchedules(options);
      if (failing) logger?.info({}, 'Redis is reachable again; job schedulers synced');
      if (synced && result.added.length > 0) {
        logger?.warn(
          { schedules: result.added },
          'job schedulers were missing from Redis and were put back (Redis lost data, or a scheduler with another config removed them)',
        );
      }
      synced = true;
      failing = false;
      options.onSync?.(result);
    } catch (error) {
      if (signal?.aborted) break;
      if (!(error instanceof RedisUnavailableError)) throw error;
      logger?.warn({ err: error.message, retryInMs: intervalMs }, 'could not sync the job schedulers; trying again at the next tick');
      failing = true;
    }
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch {
      // Aborted: the loop ends.
    }
  }
}
