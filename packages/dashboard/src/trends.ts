import { formatBytes, formatSeconds } from '@botbackup/core';
import { formatAge } from './format-age.js';
import { MAX_MARKS, isoMinute, mergedTitle, renderPlot, thin, thinLine, type PlotPoint } from './plot-svg.js';
import { hourlyRpoWindow, type RpoPoint, type SourceWal } from './rpo.js';
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
   * The recovery point of continuous protection (WAL shipping, docs/continuous.md) over the window,
   * from the segment keys the newest catalog sync listed; null for a source that is not continuous.
   */
  rpo: SourceRpo | null;
}

/** A continuous source's RPO over the window. */
export interface SourceRpo {
  /** `continuous.alertAfter`, drawn on the plot. */
  alertAfterSeconds: number;
  /** Per hour, the worst time between consecutive shipped commits that ended in it (see hourlyRpo), oldest first. */
  points: RpoPoint[];
  /** The newest shipped commit, and its age at `to`; null when none is stored. */
  newestCommitAt: string | null;
  newestCommitAgeSeconds: number | null;
  /** Targets that could not be listed at the sync. */
  errors: string[];
}

/** A source's backups as the trends read them, oldest first, each time parsed once. */
interface TrendInput {
  /** Backups with a readable manifest. */
  points: { t: number; backup: TrendBackup }[];
  /** The good ones' completion times. */
  good: { t: number; backupId: string }[];
  /**
   * The age curve's vertices at the good backups: good[0]'s reset at index 0, then for each
   * good[i] (i > 0) its peak and its reset at 2i - 1 and 2i.
   */
  curve: AgeVertex[];
}

/** One input per backups array: a catalog sync's arrays serve every request until the next sync. */
const inputs = new WeakMap<readonly BackupView[], TrendInput>();

function trendInput(backups: readonly BackupView[]): TrendInput {
  let input = inputs.get(backups);
  if (input) return input;
  const points: TrendInput['points'] = [];
  const good: TrendInput['good'] = [];
  for (const b of backups) {
    if (b.completedAt === undefined || b.type === undefined) continue;
    const t = Date.parse(b.completedAt);
    if (Number.isNaN(t)) continue;
    if (b.good) good.push({ t, backupId: b.backupId });
    if (b.storedBytes === undefined || b.durationSeconds === undefined) continue;
    const backup = {
      backupId: b.backupId,
      type: b.type,
      completedAt: b.completedAt,
      storedBytes: b.storedBytes,
      durationSeconds: b.durationSeconds,
      good: b.good,
    };
    points.push({ t, backup });
  }
  points.sort((a, b) => a.t - b.t || compare(a.backup.backupId, b.backup.backupId));
  good.sort((a, b) => a.t - b.t || compare(a.backupId, b.backupId));
  const curve: AgeVertex[] = [];
  good.forEach((g, i) => {
    const at = new Date(g.t).toISOString();
    if (i > 0) curve.push({ at, ageSeconds: (g.t - good[i - 1]!.t) / 1000, kind: 'peak', backupId: g.backupId });
    curve.push({ at, ageSeconds: 0, kind: 'reset', backupId: g.backupId });
  });
  inputs.set(backups, (input = { points, good, curve }));
  return input;
}

/**
 * A source's trends at `now` (pure, but for a memo of the parsed backups per array), from its
 * backups (any order; those without a readable manifest are left out): each backup completed in
 * the last `windowMs` with its stored size and duration, and the age of the newest good backup
 * over that time: rising with time, back to 0 as each good backup completes (`start`: the
 * window's start, when a good backup was older; `peak`: just before a good backup completes;
 * `reset`: as it completes; `now`).
 */
export function buildTrends(
  sourceId: string,
  backups: readonly BackupView[],
  boundMs: number,
  now: Date,
  windowMs = TREND_WINDOW_MS,
  wal?: SourceWal | undefined,
): SourceTrends {
  const end = now.getTime();
  const start = end - windowMs;
  const { points, good, curve } = trendInput(backups);
  const inWindow: TrendBackup[] = [];
  for (let i = firstAtOrAfter(points, start); i < points.length && points[i]!.t <= end; i++) inWindow.push(points[i]!.backup);
  // The good backups within the window, [first, last); the one before `first` (if any) is older.
  const first = firstAtOrAfter(good, start);
  let last = first;
  while (last < good.length && good[last]!.t <= end) last++;
  const age: AgeVertex[] = [];
  const before = good[first - 1];
  if (before) age.push({ at: new Date(start).toISOString(), ageSeconds: (start - before.t) / 1000, kind: 'start' });
  if (last > first) age.push(...curve.slice(first === 0 ? 0 : 2 * first - 1, 2 * last - 1));
  const newest = good[last - 1];
  if (newest) age.push({ at: now.toISOString(), ageSeconds: (end - newest.t) / 1000, kind: 'now' });
  const rpo = wal ? buildRpo(wal, start, end) : null;
  return { sourceId, from: new Date(start).toISOString(), to: now.toISOString(), backups: inWindow, age, boundSeconds: boundMs / 1000, rpo };
}

/** A continuous source's RPO between `start` and `end` (ms). */
export function buildRpo(wal: SourceWal, start: number, end: number): SourceRpo {
  const newest = wal.newestCommitAt;
  return {
    alertAfterSeconds: wal.alertAfterMs / 1000,
    points: hourlyRpoWindow(wal.databases, start, end),
    newestCommitAt: newest === null ? null : new Date(newest).toISOString(),
    newestCommitAgeSeconds: newest === null ? null : Math.max(0, end - newest) / 1000,
    errors: wal.errors,
  };
}

/** The index of the first of `sorted` (ascending by `t`) at or after `t`. */
function firstAtOrAfter(sorted: readonly { t: number }[], t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The plots of a source's trends, as inline SVG (`rpo` only for a continuous source). */
export interface TrendPlots {
  stored: string;
  duration: string;
  age: string;
  rpo: string | undefined;
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
  // Thinned first, worded after: only the marks drawn get a title.
  const byType = (type: 'full' | 'incremental', value: (b: TrendBackup) => number, describe: (b: TrendBackup) => string): PlotPoint[] => {
    const raw = trends.backups.filter((b) => b.type === type).map((b) => ({ t: Date.parse(b.completedAt), v: value(b), b }));
    const titleOf = (b: TrendBackup) => `${b.backupId} (${b.type}), ${isoMinute(Date.parse(b.completedAt))}: ${describe(b)}`;
    return thin(raw, from, to, MAX_MARKS).map((m) => ({
      t: m.top.t,
      v: m.top.v,
      title: m.count === 1 ? titleOf(m.top.b) : mergedTitle(m, `${type} backups`, titleOf(m.top.b)),
    }));
  };
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
  const vertices = trends.age.map((a) => ({ t: Date.parse(a.at), v: a.ageSeconds, a }));
  const line = thinLine(vertices, from, to, 3 * MAX_MARKS).map((p) => ({ t: p.t, v: p.v, title: '' }));
  const titleOf = (a: AgeVertex) =>
    a.kind === 'now'
      ? `now: the newest good backup is ${formatAge(a.ageSeconds)} old (${Math.round(a.ageSeconds)} s)`
      : `${isoMinute(Date.parse(a.at))}: ${formatAge(a.ageSeconds)} (${Math.round(a.ageSeconds)} s) without a newer good backup, until ${a.backupId}`;
  const peaks = vertices.filter((p) => p.a.kind === 'peak' || p.a.kind === 'now');
  const marks = thin(peaks, from, to, MAX_MARKS).map((m) => ({
    t: m.top.t,
    v: m.top.v,
    title: m.count === 1 ? titleOf(m.top.a) : mergedTitle(m, 'peaks', titleOf(m.top.a)),
  }));
  const age = renderPlot({
    name: 'age',
    title: `${trends.sourceId}: age of the newest good backup`,
    from,
    to,
    series: [{ name: 'age', label: 'age of the newest good backup', line, marks }],
    guides: [{ name: 'bound', v: trends.boundSeconds, label: `bound: ${formatAge(trends.boundSeconds)} (${trends.boundSeconds} s)` }],
    formatValue: (v) => (v === 0 ? '0' : formatAge(v)),
    emptyText: 'no good backup',
  });
  return { stored, duration, age, rpo: trends.rpo ? renderRpoPlot(trends.sourceId, trends.rpo, from, to) : undefined };
}

/**
 * A continuous source's RPO plot: one mark per hour (its worst time between consecutive shipped
 * commits, titled with the exact value and the two commits) against `continuous.alertAfter`.
 */
export function renderRpoPlot(sourceId: string, rpo: SourceRpo, from: number, to: number): string {
  const titleOf = (p: RpoPoint) =>
    `hour from ${isoMinute(Date.parse(p.hour))}: at worst ${formatSeconds(p.gapSeconds * 1000)} (${p.gapSeconds} s) between shipped commits of ${p.database}, ${p.after} to ${p.at}`;
  const points = rpo.points.map((p) => ({ t: Date.parse(p.hour), v: p.gapSeconds, p }));
  const marks = thin(points, from, to, MAX_MARKS).map((m) => ({
    t: m.top.t,
    v: m.top.v,
    title: m.count === 1 ? titleOf(m.top.p) : mergedTitle(m, 'hours', titleOf(m.top.p)),
  }));
  return renderPlot({
    name: 'rpo',
    title: `${sourceId}: RPO of continuous protection (worst time between shipped commits, per hour)`,
    from,
    to,
    series: [{ name: 'rpo', label: 'worst time between shipped commits', marks }],
    guides: [
      { name: 'alertAfter', v: rpo.alertAfterSeconds, label: `continuous.alertAfter: ${formatAge(rpo.alertAfterSeconds)} (${rpo.alertAfterSeconds} s)` },
    ],
    formatValue: (v) => (v === 0 ? '0' : v < 60 ? formatSeconds(v * 1000) : formatAge(v)),
    emptyText: 'no shipped commit in the last 90 days',
  });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
