import type { ScheduleConfig } from '@botbackup/core';
import { compareSchedules, type ScheduleStatus, type SchedulerView } from '@botbackup/scheduler';
import { describeCron } from './describe-cron.js';
import type { QueueStats, ScheduleRun } from './queue-stats.js';

/** A schedule as the Schedules panel shows it. */
export interface ScheduleRow extends ScheduleStatus {
  /** Its cron expression in words (`every day at 02:00`); null when it takes a shape describeCron leaves alone. */
  words: string | null;
  /** Its newest run among the jobs Redis keeps; null when none is kept. */
  lastRun: ScheduleRun | null;
  /** Why it needs attention, in words (the states `status` flags); null when it is scheduled or disabled. */
  warning: string | null;
}

/** What `status` says of each state that needs attention (packages/cli's status, STATE_TEXT). */
const WARNINGS: Partial<Record<ScheduleStatus['state'], string>> = {
  outdated: 'Redis holds it with another cron, zone or job: restart "botbackup scheduler" with this config',
  missing: 'not in Redis: is "botbackup scheduler" running with this config?',
  unconfigured: 'in Redis only, not in this config: "botbackup scheduler" with this config removes it',
};

/**
 * The Schedules panel (pure): the config's schedules compared with the job schedulers in Redis
 * (compareSchedules, the check `status` makes), each with its cron in words and its last run.
 */
export function schedulesPanel(
  schedules: readonly ScheduleConfig[],
  inRedis: readonly SchedulerView[],
  queues: readonly QueueStats[],
  now: Date,
): ScheduleRow[] {
  const runs = new Map<string, ScheduleRun>();
  for (const q of queues) {
    for (const run of q.scheduleRuns) {
      if ((runs.get(run.scheduleId)?.finishedOn ?? -1) < run.finishedOn) runs.set(run.scheduleId, run);
    }
  }
  return compareSchedules(schedules, inRedis, now).map((s) => ({
    ...s,
    words: s.cron === null ? null : (describeCron(s.cron) ?? null),
    lastRun: runs.get(s.id) ?? null,
    warning: WARNINGS[s.state] ?? null,
  }));
}
