import { Command } from 'commander';
import { BotbackupError, UsageError, parseJobPayload, type JobPayload } from '@botbackup/core';
import type { CommandAction } from '../main.js';
import { enqueueJob, followJob } from '../queue-client.js';
import type { CommandContext } from '../context.js';

export function runCommand(wrap: (action: CommandAction) => (...args: unknown[]) => Promise<void>): Command {
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

/**
 * Enqueues a job and, with `wait`, follows it: progress on the terminal, then its result, or its
 * failure as this command's failure with the same exit code as if it had run here.
 */
export async function submitJob(ctx: CommandContext, payload: JobPayload, wait: boolean): Promise<void> {
  const config = await ctx.config();
  const { job, queueName } = await enqueueJob(config, payload, ctx.signal);
  if (!wait) {
    if (ctx.options.json) ctx.printJson({ jobId: job.id, queue: queueName, state: 'queued' });
    else ctx.print(`Queued job ${job.id} (${job.name}) on ${queueName}.`);
    return;
  }
  ctx.print(`Queued job ${job.id} (${job.name}) on ${queueName}; waiting for a worker...`);
  const end = await followJob(config, queueName, job.id!, ctx.progress.update, ctx.signal);
  ctx.progress.done();
  if (end.state === 'failed') {
    if (ctx.options.json) ctx.printJson({ jobId: job.id, queue: queueName, state: 'failed', reason: end.reason, exitCode: end.exitCode });
    throw new BotbackupError('JOB_FAILED', `Job ${job.id} failed: ${end.reason.replace(/\.$/, '')}.`, end.exitCode);
  }
  const r = end.result;
  if (ctx.options.json) {
    ctx.printJson({ jobId: job.id, queue: queueName, state: 'completed', result: r });
    return;
  }
  // `in`: each job type's result has its own fields (JobResult).
  if ('skipped' in r && r.skipped) ctx.print(`Job ${job.id} did nothing: ${r.skipped}.`);
  else if ('backupId' in r && r.backupId)
    ctx.print(
      `Job ${job.id} completed: ${r.type} of "${r.sourceId}", backup ${r.backupId}${'reused' in r && r.reused ? ' (committed by an earlier attempt)' : ''}.`,
    );
  else ctx.print(`Job ${job.id} completed.`);
  if ('failedTargets' in r && r.failedTargets && r.failedTargets.length > 0)
    ctx.print(`  degraded: not stored in ${r.failedTargets.map((t) => `"${t}"`).join(', ')}`);
}
