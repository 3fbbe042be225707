import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { DEFAULT_SYNC_INTERVAL_MS, RedisUnavailableError } from '@botbackup/core';
import { syncSchedules, type SyncSchedulesOptions, type SyncSchedulesResult } from './sync-schedules.js';

export interface RunSchedulerOptions extends SyncSchedulesOptions {
  /** Time between two syncs; default 60 s. */
  intervalMs?: number | undefined;
  /** Called after every sync that succeeded, with what it did. */
  onSync?: ((result: SyncSchedulesResult) => void) | undefined;
}

/** Default time between two syncs of {@link runScheduler} (defined in core). */
export { DEFAULT_SYNC_INTERVAL_MS };

/**
 * Keeps Redis's job schedulers equal to the config's schedules until `signal` aborts: a sync at
 * start, then one every `intervalMs`, which puts back what Redis lost (a restart without
 * persistence, a FLUSHALL) or another process removed, and a sync as soon as a watching
 * connection is ready again after Redis restarted or came back (so a restart that lost the
 * schedulers misses no slot). A Redis outage does not end it: the failed sync is logged and the
 * next tick (or Redis coming back) tries again. Resolves once `signal` aborts; rejects only on
 * an error that is not Redis's (a bug), so a supervisor restarts it.
 */
export async function runScheduler(options: RunSchedulerOptions): Promise<void> {
  const { signal, logger } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
  let synced = false;
  let failing = false;
  // A connection that only watches: each time it is ready again (Redis restarted, or came back
  // after an outage) the next sync runs at once, not at the next tick, so that a restart that
  // lost the job schedulers (no AOF) misses no slot after it.
  let wake = new AbortController();
  let wanted = false;
  const watcher = new Redis({
    ...options.connection,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  watcher.on('error', () => undefined);
  let watcherReady = false;
  watcher.on('ready', () => {
    // Its first connection comes with the first sync (it matters only if that one failed); any
    // later one means Redis was away.
    const again = watcherReady;
    watcherReady = true;
    if (!again && synced && !failing) return;
    if (again) logger?.info({}, 'Redis connection is back; syncing the job schedulers now');
    wanted = true;
    wake.abort();
  });
  void watcher.connect().catch(() => undefined);
  try {
    while (!signal?.aborted) {
      wanted = false;
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
      // The watcher was ready again during that sync: that sync may have run before the restart.
      if (wanted) continue;
      wake = new AbortController();
      try {
        await sleep(intervalMs, undefined, { signal: signal ? AbortSignal.any([signal, wake.signal]) : wake.signal });
      } catch {
        // Aborted (the loop ends) or woken (sync now).
      }
    }
  } finally {
    watcher.disconnect();
  }
}
