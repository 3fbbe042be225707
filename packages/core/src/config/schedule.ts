import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { duration, ms, slug, timeZoneProblem } from './fields.js';
import type { Problem } from './issues.js';
import { JOB_TYPES } from './kinds.js';

/** A `schedules` entry; its cron expression and source are checked by {@link scheduleProblems}. */
export const scheduleSchema = z
  .strictObject({
    id: slug,
    /** The source the job is for; replicate may leave it out (every source). */
    source: slug.optional(),
    job: z.enum(JOB_TYPES),
    /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
    cron: z.string().min(1, 'a cron expression such as "0 2 * * *"'),
    /** IANA time zone the cron expression is read in. */
    timezone: z.string().min(1).default('UTC'),
    enabled: z.boolean().default(true),
    /** Backup schedules: every backup this schedule made is kept this long (the seed's retention_days). */
    keepWithin: duration.optional(),
  })
  // keepWithinMs is there only when configured, as retention looks for schedules that set one.
  .transform(({ keepWithin, ...schedule }) => ({
    ...schedule,
    source: schedule.source,
    ...(keepWithin === undefined ? {} : { keepWithinMs: ms(keepWithin) }),
  }));
/** A schedule from the config, its cron expression checked. */
export type ScheduleConfig = z.output<typeof scheduleSchema>;

/**
 * The first problem of the schedules: a repeated id, a source that is not configured or is
 * missing, a cron expression or zone the scheduler could not use, a keepWithin on a job that
 * makes no backup.
 */
export function scheduleProblems(schedules: readonly ScheduleConfig[], sourceIds: readonly string[]): Problem | undefined {
  const seen = new Set<string>();
  for (const [i, schedule] of schedules.entries()) {
    const at = (field: string): Problem['path'] => ['schedules', i, field];
    if (seen.has(schedule.id)) return { path: at('id'), message: `repeats the schedule id "${schedule.id}"; ids must be unique` };
    seen.add(schedule.id);
    if (schedule.source !== undefined && !sourceIds.includes(schedule.source)) {
      return { path: at('source'), message: `names the source "${schedule.source}", which is not configured (sources: ${sourceIds.join(', ')})` };
    }
    if (schedule.source === undefined && schedule.job !== 'replicate') {
      return { path: at('source'), message: `is missing; a ${schedule.job} job is for one source` };
    }
    const problem = cronProblem(schedule.cron, schedule.timezone);
    if (problem) return { path: at(problem.field === 'timezone' ? 'timezone' : 'cron'), message: problem.message };
    if (schedule.keepWithinMs !== undefined && schedule.job !== 'full' && schedule.job !== 'incremental') {
      return { path: at('keepWithin'), message: `is set on a ${schedule.job} schedule; only full and incremental schedules make backups to keep` };
    }
  }
  return undefined;
}

/**
 * Why a cron expression (read in `timezone`) cannot be used, or undefined when it can: the
 * same parser BullMQ uses (cron-parser), so what passes here is what the scheduler runs.
 */
export function cronProblem(cron: string, timezone: string): { field: 'cron' | 'timezone'; message: string } | undefined {
  const zone = timeZoneProblem(timezone);
  if (zone) return { field: 'timezone', message: zone };
  const fields = cron.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6)
    return { field: 'cron', message: `is "${cron}", which has ${fields} field(s); use 5 (minute hour day month weekday), e.g. "0 2 * * *"` };
  try {
    CronExpressionParser.parse(cron, { tz: timezone }).next();
  } catch (error) {
    return { field: 'cron', message: `is "${cron}", which is not a valid cron expression (${(error as Error).message})` };
  }
  return undefined;
}
