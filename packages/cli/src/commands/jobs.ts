import { Command } from 'commander';
import { UsageError } from '@botbackup/core';
import type { JobView, ListedState } from '../inspect.js';
import type { WrapAction } from '../command.js';
import { describeProgress, describeResult } from '../job-text.js';
import { formatTable, formatTime } from '../output.js';
import { redisOf } from '../redis-config.js';

/** The state options of `jobs` and the BullMQ states each lists (a prioritized job is waiting too). */
const STATE_OPTIONS: Record<'active' | 'waiting' | 'delayed' | 'completed' | 'failed', ListedState[]> = {
  active: ['active'],
  waiting: ['waiting', 'prioritized'],
  delayed: ['delayed'],
  completed: ['completed'],
  failed: ['failed'],
};

export function jobsCommand(wrap: WrapAction): Command {
  return new Command('jobs')
    .description('the jobs of every botbackup queue in Redis, newest first (every state unless some are named)')
    .option('--active', 'running jobs')
    .option('--waiting', 'jobs waiting for a worker')
    .option('--delayed', 'jobs waiting for a time: a retry after backoff, the next run of a schedule, a busy source')
    .option('--completed', 'completed jobs')
    .option('--failed', 'jobs that failed for good (no attempt left, or an error that retrying cannot fix)')
    .option('--limit <n>', 'at most this many jobs (default 20)')
    .action(
      wrap(async (ctx, _args, opts) => {
        const limitText = opts.limit as string | undefined;
        const limit = limitText === undefined ? 20 : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
          throw new UsageError(`--limit must be a whole number from 1 to 10000, not "${limitText}".`);
        const config = await ctx.config();
        // Exit 3 naming the field when distributed mode is not configured.
        redisOf(config);
        // Loaded here, not at the top: BullMQ and ioredis would add their start-up time to every other command.
        const { LISTED_STATES, listJobs } = await import('../inspect.js');
        const named = (Object.keys(STATE_OPTIONS) as (keyof typeof STATE_OPTIONS)[]).filter((k) => opts[k]);
        const states = named.length === 0 ? LISTED_STATES : named.flatMap((k) => STATE_OPTIONS[k]);
        const jobs = await listJobs({ config, states, limit, withLogs: ctx.options.json, signal: ctx.signal });
        if (ctx.options.json) {
          ctx.printJson(jobs);
          return;
        }
        if (jobs.length === 0) {
          ctx.print(`No ${named.length === 0 ? '' : `${named.join(' or ')} `}jobs in Redis (prefix ${config.redis!.prefix}).`);
          return;
        }
        ctx.print(formatTable(['JOB', 'QUEUE', 'NAME', 'STATE', 'ATTEMPTS', 'PROGRESS', 'CREATED', 'FINISHED', 'RESULT'], jobs.map(row)));
      }),
    );
}

function row(job: JobView): string[] {
  let outcome = describeResult(job);
  if (job.state === 'delayed' && job.dueAt) outcome = `due ${formatTime(job.dueAt)}${outcome ? `; ${outcome}` : ''}`;
  return [
    job.id,
    job.queue,
    job.name,
    job.state,
    `${job.attemptsMade}/${job.attempts}`,
    job.state === 'active' ? describeProgress(job.progress) : '-',
    formatTime(job.createdAt),
    job.finishedAt ? formatTime(job.finishedAt) : '-',
    outcome,
  ];
}
