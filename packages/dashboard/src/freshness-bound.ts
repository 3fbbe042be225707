import type { ScheduleConfig } from '@botbackup/core';
import { nextRuns } from '@botbackup/scheduler';

/** How old a source's newest good backup may be before the dashboard calls it stale, and where that comes from. */
export interface FreshnessBound {
  ms: number;
  /** `schedule`: from the source's enabled backup schedules; `staleAfter`: notify.staleAfter (no backup schedule). */
  from: 'schedule' | 'staleAfter';
  /** The backup schedules it comes from (empty for staleAfter). */
  scheduleIds: string[];
  /** The longest time between two runs of those schedules; undefined for staleAfter. */
  gapMs: number | undefined;
}

/** Runs of each schedule looked at: a year of daily runs, a week of every-half-hour ones. */
const RUNS_LOOKED_AT = 366;
/** The least slack a bound gets over the gap: a backup takes time, and a worker may start it late. */
const MIN_SLACK_MS = 10 * 60_000;

/**
 * A source's freshness bound (pure but for `runsCache`, a memo; `from` is where the schedules' runs are read from). With
 * enabled full or incremental schedules for the source: the longest time between two of their
 * runs (together: a daily incremental and a weekly full make a day), plus a quarter of it and at
 * least 10 minutes for the backup itself to run and finish. Without any: `notify.staleAfter`, the
 * bound `status` and the stale notification use.
 */
export function freshnessBound(
  schedules: readonly ScheduleConfig[],
  sourceId: string,
  staleAfterMs: number,
  from: Date,
  /** Runs already worked out from this same `from`, by cron and zone: 50 sources on one schedule read it once. */
  runsCache: Map<string, number[]> = new Map(),
): FreshnessBound {
  const mine = schedules.filter((s) => s.enabled && s.source === sourceId && (s.job === 'full' || s.job === 'incremental'));
  const runs = mine.map((s) => {
    const key = `${s.cron}\0${s.timezone}`;
    let times = runsCache.get(key);
    if (!times) runsCache.set(key, (times = nextRuns(s, from, RUNS_LOOKED_AT).map((d) => d.getTime())));
    return times;
  });
  const seen = runs.filter((r) => r.length > 0);
  if (seen.length === 0) return { ms: staleAfterMs, from: 'staleAfter', scheduleIds: [], gapMs: undefined };
  // Only up to the end of the schedule whose runs end first: past it, that schedule's runs were not looked at, and a gap there would be false.
  const horizon = Math.min(...seen.map((r) => r.at(-1)!));
  const times = [...new Set(seen.flat().filter((t) => t <= horizon))].sort((a, b) => a - b);
  let gapMs = 0;
  for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, times[i]! - times[i - 1]!);
  // A single run in reach (a yearly schedule looked at from just before its run): the gap to it from `from`.
  if (times.length < 2) gapMs = times[0]! - from.getTime();
  return { ms: gapMs + Math.max(MIN_SLACK_MS, gapMs / 4), from: 'schedule', scheduleIds: mine.map((s) => s.id), gapMs };
}
