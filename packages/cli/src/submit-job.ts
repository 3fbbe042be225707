import { JobFailedError, type JobPayload } from '@botbackup/core';
import type { CommandContext } from './context.js';

/**
 * Enqueues a job and, with `wait`, follows it: progress on the terminal, then its result, or its
 * failure as this command's failure with the same exit code as if it had run here. Shared by
 * `run`, `backup --queue` and `drill --queue`.
 */
export async function submitJob(ctx: CommandContext, payload: JobPayload, wait: boolean): Promise<void> {
  const config = await ctx.config();
  // Loaded here, not at the top: BullMQ and ioredis would add their start-up time to every command that runs locally.
  const { enqueueJob, followJob } = await import('./queue-client.js');
  const { job, queueName } = await enqueueJob(config, payload, ctx.signal);
  ctx.interruptLine = `Interrupted; job ${job.id} is queued and goes on in a worker (see "botbackup jobs").`;
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
    throw new JobFailedError(job.id!, end.reason, end.exitCode);
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
