import { Command } from 'commander';
import { ConfigError, DEFAULT_SYNC_INTERVAL_MS, UsageError, parseDuration, redisConnectionOptions, type Config } from '@botbackup/core';
import type { SyncSchedulesResult } from '@botbackup/scheduler';
import type { CommandContext } from '../context.js';
import type { WrapAction } from '../command.js';

export function schedulerCommand(wrap: WrapAction): Command {
  return new Command('scheduler')
    .description("keep Redis's job schedulers equal to the config's schedules: sync now, then every --interval until stopped")
    .option('--once', 'sync once and exit')
    .option('--interval <duration>', `time between two syncs (e.g. 30s, 5m; default ${DEFAULT_SYNC_INTERVAL_MS / 1000}s)`)
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        if (!config.redis) {
          throw new ConfigError(config.file, 'redis', 'is missing; the scheduler keeps the schedules in Redis (redis: { url: "redis://host:6379" })');
        }
        const interval = opts.interval as string | undefined;
        const intervalMs = interval === undefined ? DEFAULT_SYNC_INTERVAL_MS : parseDuration(interval);
        if (!intervalMs) throw new UsageError(`--interval must be a duration such as 30s, 5m or 1h, not "${interval}".`);
        const connection = redisConnectionOptions(config.redis, config.file);
        // Loaded here, not at the top: BullMQ and ioredis would add their start-up time to every other command.
        const { nextRuns, runScheduler, syncSchedules } = await import('@botbackup/scheduler');
        const printResult = (result: SyncSchedulesResult) => printSyncResult(ctx, config, result, nextRuns);
        const common = { config, connection, signal: ctx.signal };
        if (opts.once) {
          // No logger: the lines printed below are the record of a one-off sync.
          const result = await syncSchedules(common);
          if (ctx.options.json) ctx.printJson(result);
          else printResult(result);
          return;
        }
        let first = true;
        await runScheduler({
          ...common,
          logger: ctx.logger,
          intervalMs,
          onSync: (result) => {
            // The first sync, then only those that changed something.
            if (!first && result.added.length + result.updated.length + result.removed.length === 0) return;
            first = false;
            // One JSON line per sync, for a log shipper.
            if (ctx.options.json) process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...result })}\n`);
            else printResult(result);
          },
        });
        ctx.logger.info({}, 'scheduler stopped');
      }),
    );
}

function printSyncResult(ctx: CommandContext, config: Config, result: SyncSchedulesResult, nextRuns: typeof import('@botbackup/scheduler').nextRuns): void {
  const now = new Date();
  const describe = (id: string) => {
    const s = config.schedules.find((x) => x.id === id)!;
    const next = nextRuns(s, now, 1)[0];
    return `${s.job}${s.source ? ` of ${s.source}` : ''}, "${s.cron}" ${s.timezone}${next ? `, next run ${next.toISOString()}` : ''}`;
  };
  for (const id of result.added) ctx.print(`added ${id}: ${describe(id)}`);
  for (const id of result.updated) ctx.print(`updated ${id}: ${describe(id)}`);
  for (const id of result.removed) ctx.print(`removed ${id}`);
  const inRedis = result.added.length + result.updated.length + result.unchanged.length;
  ctx.print(
    `${inRedis} job scheduler(s) in Redis as configured: ${result.added.length} added, ${result.updated.length} updated, ${result.removed.length} removed, ${result.unchanged.length} unchanged.`,
  );
}
