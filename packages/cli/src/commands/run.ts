import { Command } from 'commander';
import { UsageError, parseJobPayload } from '@botbackup/core';
import type { WrapAction } from '../command.js';
import { submitJob } from '../submit-job.js';

export function runCommand(wrap: WrapAction): Command {
  return new Command('run')
    .description("enqueue a schedule's job now, for a worker, and follow it to its end")
    .argument('<schedule-id>', 'a schedule of the config')
    .option('--no-wait', 'return once the job is queued')
    .action(
      wrap(async (ctx, args, opts) => {
        const config = await ctx.config();
        const schedule = config.schedules.find((s) => s.id === args[0]);
        if (!schedule) throw new UsageError(`${config.file} has no schedule "${args[0]}"; it has ${config.schedules.map((s) => s.id).join(', ') || 'none'}.`);
        await submitJob(ctx, parseJobPayload({ type: schedule.job, sourceId: schedule.source }), opts.wait as boolean);
      }),
    );
}
