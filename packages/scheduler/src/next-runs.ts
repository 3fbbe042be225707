import { CronExpressionParser } from 'cron-parser';
import type { ScheduleConfig } from '@botbackup/core';

/**
 * The next `count` times a schedule fires strictly after `from`, oldest first: its cron
 * expression read in its time zone by cron-parser, the parser BullMQ's job schedulers use, so
 * these are the times the scheduled jobs become due. Pure (no clock: `from` is passed in).
 * Fewer than `count` only for an expression with no further dates.
 */
export function nextRuns(schedule: Pick<ScheduleConfig, 'cron' | 'timezone'>, from: Date, count: number): Date[] {
  if (count <= 0) return [];
  const expression = CronExpressionParser.parse(schedule.cron, { tz: schedule.timezone, currentDate: from });
  return expression.take(count).map((date) => date.toDate());
}
