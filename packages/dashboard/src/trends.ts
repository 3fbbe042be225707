import { formatBytes, formatSeconds } from '@botbackup/core';
import { formatAge } from './format-age.js';
import { MAX_MARKS, isoMinute, renderPlot, thinMarks, type PlotPoint } from './plot-svg.js';
import type { BackupView } from './summarize-backups.js';

/** The trends look back this far. */
export const TREND_WINDOW_MS = 90 * 86_400_000;

/** One backup completed within the window, as the trends plot it. */
export interface TrendBackup {
  backupId: string;
  type: 'full' | 'incremental';
  completedAt: string;
  /** Its stored size (core's backupSizes). */
  storedBytes: number;
  durationSeconds: number;
  good: boolean;
}

/**
 * A vertex of the age curve: the age of the newest good backup at a time. It rises with time and
 * drops to 0 when a new good backup completes: `start` (the window's start, when a good backup
 * was older), `peak` (just before a good backup completes), `reset` (as it completes), `now`.
 */
export interface AgeVertex {
  at: string;
  ageSeconds: number;
  kind: 'start' | 'peak' | 'reset' | 'now';
  /** For a peak or reset: the good backup that completed then. */
  backupId?: string | undefined;
}

/** A source's trends over the window, as `/api/trends` gives them. */
export interface SourceTrends {
  sourceId: string;
  from: string;
  to: string;
  /** Backups completed within the window (with a readable manifest), oldest first. */
  backups: TrendBackup[];
  /** The age of the newest good backup over the window, oldest first. */
  age: AgeVertex[];
  /** The source's freshness bound (see freshnessBound), drawn on the age plot. */
  boundSeconds: number;
  /**
   * The recovery point of continuous protection (WAL shipping, issue 21) over time. It does not
   * exist yet: always null, and no plot is drawn. This is where its series goes once it does.
   */
  rpo: null;
}

/**
 * A source's trends at `now` (pure), from its backups (any order; those without a readable
 * manifest are left out): each backup completed in the last `windowMs` with its stored size and
 * duration, and the age of the newest good backup over that time.
 */
export function buildTrends(sourceId: string, backups: readonly BackupView[], boundMs: number, now: Date, windowMs = TREND_WINDOW_MS): SourceTrends {
  const end = now.getTime();
  const start = end - windowMs;
  const inWindow: (TrendBackup & { t: number })[] = [];
  const goodTimes: { t: number; backupId: string }[] = [];
  for (const b of backups) {
    if (b.completedAt === undefined || b.type === undefined) continue;
    const t = Date.parse(b.completedAt);
    if (Number.isNaN(t) || t > end) continue;
    if (b.good) goodTimes.push({ t, backupId: b.backupId });
    if (t < start || b.storedBytes === undefined || b.durationSeconds === undefined) continue;
    inWindow.push({
      t,
      backupId: b.backupId,
      type: b.type,
      completedAt: b.completedAt,
      storedBytes: b.storedBytes,
      durationSeconds: b.durationSeconds,
      good: b.good,
    });
  }
  inWindow.sort((a, b) => a.t - b.t || compare(a.backupId, b.backupId));
  goodTimes.sort((a, b) => a.t - b.t || compare(a.backupId, b.backupId));
  return {
    sourceId,
    from: new Date(start).toISOString(),
    to: now.toISOString(),
    backups: inWindow.map(({ t: _t, ...b }) => b),
    age: ageCurve(goodTimes, start, end),
    boundSeconds: boundMs / 1000,
    rpo: null,
  };
}

/** The age curve's vertices over [start, end] from the good backups' completion times (ascending). */
function ageCurve(good: readonly { t: number; backupId: string }[], start: number, end: number): AgeVertex[] {
  const out: AgeVertex[] = [];
  const iso = (t: number) => new Date(t).toISOString();
  let previous: number | undefined;
  for (const g of good) {
    if (g.t < start) {
      previous = g.t;
      continue;
    }
    if (previous !== undefined) {
      if (out.length === 0 && previous < start) out.push({ at: iso(start), ageSeconds: (start - previous) / 1000, kind: 'start' });
      out.push({ at: iso(g.t), ageSeconds: (g.t - previous) / 1000, kind: 'peak', backupId: g.backupId });
    }
    out.push({ at: iso(g.t), ageSeconds: 0, kind: 'reset', backupId: g.backupId });
    previous = g.t;
  }
  if (previous !== undefined) {
    if (out.length === 0) out.push({ at: iso(start), ageSeconds: (start - previous) / 1000, kind: 'start' });
    out.push({ at: iso(end), ageSeconds: (end - previous) / 1000, kind: 'now' });
  }
  return out;
}

/** The three plots of a source's trends, as inline SVG. */
export interface TrendPlots {
  stored: string;
  duration: string;
  age: string;
}

/**
 * Draws a source's trends: stored bytes per backup and each backup's duration (full backups as
 * squares, incrementals as dots), and the age of the newest good backup as a sawtooth against
 * the freshness bound (a mark at each peak and at now). Each mark's title has the exact value;
 * past {@link MAX_MARKS} marks per series neighbours are merged (thinMarks), each merged mark
 * titled with how many backups it stands for.
 */
export function renderTrendPlots(trends: SourceTrends): TrendPlots {
  const from = Date.parse(trends.from);
  const to = Date.parse(trends.to);
  const byType = (type: 'full' | 'incremental', value: (b: TrendBackup) => number, describe: (b: TrendBackup) => string): PlotPoint[] =>
    thinMarks(
      trends.backups
        .filter((b) => b.type === type)
        .map((b) => ({
          t: Date.parse(b.completedAt),
          v: value(b),
          title: `${b.backupId} (${b.type}), ${isoMinute(Date.parse(b.completedAt))}: ${describe(b)}`,
        })),
      from,
      to,
      MAX_MARKS,
      `${type} backups`,
    );
  const twoSeries = (value: (b: TrendBackup) => number, describe: (b: TrendBackup) => string) => [
    { name: 'full', label: 'full', shape: 'square' as const, marks: byType('full', value, describe) },
    { name: 'incremental', label: 'incremental', marks: byType('incremental', value, describe) },
  ];
  const empty = 'no backup in the last 90 days';
  const stored = renderPlot({
    name: 'stored',
    title: `${trends.sourceId}: stored bytes per backup`,
    from,
    to,
    series: twoSeries(
      (b) => b.storedBytes,
      (b) => `${formatBytes(b.storedBytes)} stored (${b.storedBytes} bytes)`,
    ),
    formatValue: formatBytes,
    emptyText: empty,
  });
  const duration = renderPlot({
    name: 'duration',
    title: `${trends.sourceId}: backup duration`,
    from,
    to,
    series: twoSeries(
      (b) => b.durationSeconds,
      (b) => `took ${formatSeconds(b.durationSeconds * 1000)} (${b.durationSeconds} s)`,
    ),
    formatValue: (v) => formatSeconds(v * 1000),
    emptyText: empty,
  });
  const line = trends.age.map((a) => ({ t: Date.parse(a.at), v: a.ageSeconds, title: '' }));
  const marks = trends.age
    .filter((a) => a.kind === 'peak' || a.kind === 'now')
    .map((a) => ({
      t: Date.parse(a.at),
      v: a.ageSeconds,
      title:
        a.kind === 'now'
          ? `now: the newest good backup is ${formatAge(a.ageSeconds)} old (${Math.round(a.ageSeconds)} s)`
          : `${isoMinute(Date.parse(a.at))}: ${formatAge(a.ageSeconds)} (${Math.round(a.ageSeconds)} s) without a newer good backup, until ${a.backupId}`,
    }));
  const age = renderPlot({
    name: 'age',
    title: `${trends.sourceId}: age of the newest good backup`,
    from,
    to,
    series: [{ name: 'age', label: 'age of the newest good backup', line, marks: thinMarks(marks, from, to, MAX_MARKS, 'peaks') }],
    guides: [{ name: 'bound', v: trends.boundSeconds, label: `bound: ${formatAge(trends.boundSeconds)} (${trends.boundSeconds} s)` }],
    formatValue: (v) => (v === 0 ? '0' : formatAge(v)),
    emptyText: 'no good backup',
  });
  return { stored, duration, age };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
