import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { backupIdTime, formatDuration, redisKeys, type Config, type JobPayload } from '@botbackup/core';
import { isTargetFailure, listBackupIds, sendNotification, type Logger, type NotificationEvent } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';

export interface HealthContext {
  config: Config;
  redis: Redis;
  prefix: string;
  logger: Logger;
}

function eventOf(kind: NotificationEvent['event'], job: Job<JobPayload>, message: string): NotificationEvent {
  return {
    event: kind,
    sourceId: job.data.sourceId,
    job: job.data.type,
    scheduleId: job.data.scheduleId,
    jobId: job.id,
    message,
    at: new Date().toISOString(),
  };
}

/**
 * Records that a job ended in failure (once BullMQ will not retry it) and sends the failure
 * notification. The last outcome of each schedule (or job type and source) is kept in Redis, so
 * that the next success, on any worker, can tell it is a recovery.
 */
export async function reportFailure(ctx: HealthContext, job: Job<JobPayload>, reason: string): Promise<void> {
  await ctx.redis.set(redisKeys.health(ctx.prefix, job.data), 'failed');
  await sendNotification(ctx.config.notify, eventOf('failure', job, `${job.name} (job ${job.id}) failed: ${reason}`), ctx.logger);
}

/**
 * Records a success and sends the recovery notification when the same schedule (or job type and
 * source) had failed last, or when the source's backups had gone stale.
 */
export async function reportSuccess(ctx: HealthContext, job: Job<JobPayload>): Promise<void> {
  const previous = await ctx.redis.set(redisKeys.health(ctx.prefix, job.data), 'ok', 'GET');
  if (previous === 'failed') {
    await sendNotification(ctx.config.notify, eventOf('recovery', job, `${job.name} works again (job ${job.id} completed).`), ctx.logger);
  }
  const backup = job.data.type === 'full' || job.data.type === 'incremental';
  if (backup && job.data.sourceId !== undefined) {
    const stale = await ctx.redis.set(redisKeys.staleHealth(ctx.prefix, job.data.sourceId), 'ok', 'GET');
    if (stale === 'failed') {
      await sendNotification(ctx.config.notify, eventOf('recovery', job, `source "${job.data.sourceId}" has a fresh backup again.`), ctx.logger);
    }
  }
}

/**
 * Checks, every so often, that each source's newest committed backup (in any store) is younger
 * than `notify.staleAfter`, and sends the stale notification once per staleAfter period when it
 * is not (or when a source has no backup at all). Several workers may run it: a short Redis lock
 * lets one check per period. Returns a function that stops it.
 */
export function startStaleCheck(ctx: HealthContext, stores: readonly BackupStore[]): () => void {
  const { staleAfterMs } = ctx.config.notify;
  if (!ctx.config.notify.webhook || !ctx.config.notify.on.includes('stale')) return () => undefined;
  const intervalMs = Math.min(5 * 60_000, Math.max(1000, Math.floor(staleAfterMs / 4)));
  const check = async () => {
    const mine = await ctx.redis.set(redisKeys.staleCheck(ctx.prefix), '1', 'PX', intervalMs, 'NX');
    if (mine !== 'OK') return;
    for (const source of ctx.config.sources) {
      let newest: string | undefined;
      for (const store of stores) {
        try {
          const last = (await listBackupIds(store, source.id)).at(-1)?.backupId;
          if (last !== undefined && (newest === undefined || last > newest)) newest = last;
        } catch (error) {
          if (!isTargetFailure(error)) throw error;
        }
      }
      const age = newest === undefined ? Number.POSITIVE_INFINITY : Date.now() - backupIdTime(newest).getTime();
      if (age <= staleAfterMs) continue;
      await ctx.redis.set(redisKeys.staleHealth(ctx.prefix, source.id), 'failed');
      // Once per staleAfter period, not at every check.
      if ((await ctx.redis.set(redisKeys.staleNotified(ctx.prefix, source.id), '1', 'PX', staleAfterMs, 'NX')) !== 'OK') continue;
      const message =
        newest === undefined
          ? `source "${source.id}" has no backup at all.`
          : `the newest backup of source "${source.id}" (${newest}) is ${formatDuration(age)} old, older than notify.staleAfter (${formatDuration(staleAfterMs)}).`;
      await sendNotification(
        ctx.config.notify,
        { event: 'stale', sourceId: source.id, job: undefined, scheduleId: undefined, jobId: undefined, message, at: new Date().toISOString() },
        ctx.logger,
      );
    }
  };
  const run = () => check().catch((error: unknown) => ctx.logger.warn({ err: (error as Error).message }, 'stale-backup check failed'));
  void run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
