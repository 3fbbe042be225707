import type { WalListingLike } from '@botbackup/core';

/**
 * The recovery point of continuous protection (WAL shipping, docs/continuous.md) over time, from
 * the segment keys alone: each segment's name holds its last commit's time, so the time between
 * two consecutive shipped commits is what a disk lost between them, while the bot wrote, would
 * have cost. Pure.
 */

const HOUR_MS = 3_600_000;

/** One database's shipped commits (each segment's lastCommitAt, ms), oldest first. */
export interface DatabaseCommits {
  database: string;
  times: number[];
}

/** A continuous source's shipping as the dashboard's catalog sync read it (one listing per target). */
export interface SourceWal {
  /** `continuous.alertAfter`, the plot's reference line. */
  alertAfterMs: number;
  databases: DatabaseCommits[];
  /** The newest shipped commit of any database (ms), or null when none is stored. */
  newestCommitAt: number | null;
  /** Why a target could not be listed (the others' segments are still counted). */
  errors: string[];
}

/** One hour of the RPO series: the worst gap between consecutive shipped commits that ended in it. */
export interface RpoPoint {
  /** The hour's start (UTC). */
  hour: string;
  gapSeconds: number;
  /** The commit that ended the gap, and the one before it. */
  at: string;
  after: string;
  database: string;
}

/**
 * Each database's shipped commits from every target's listing: the segments of generations with a
 * record (on some target), a segment on several targets counted once, their commit times sorted.
 */
export function walCommits(listings: readonly WalListingLike[]): DatabaseCommits[] {
  const withRecord = new Set<string>();
  for (const l of listings) for (const g of l.generations) if (g.hasRecord) withRecord.add(g.id);
  // A segment by its generation and number; a pack's stand-in times as one array by its generation
  // and first number (a pack of 5 minutes stands for hundreds of times: one key each made 90 days
  // of a busy bot's packs take minutes and gigabytes to count).
  const byDb = new Map<string, Map<string, number | number[]>>();
  for (const l of listings) {
    for (const g of l.generations) {
      if (!withRecord.has(g.id)) continue;
      for (const [database, list] of g.databases) {
        const seen = byDb.get(database) ?? new Map<string, number | number[]>();
        byDb.set(database, seen);
        for (const s of list) {
          if (s.name.lastSeq === undefined) {
            seen.set(`${g.id}/${s.name.seq}`, s.name.lastCommitAt);
            continue;
          }
          const key = `${g.id}/${s.name.seq}+`;
          const times = packTimes(s.name);
          const had = seen.get(key);
          // The same pack on another target: its times again. One with the same first number but
          // another length overwrites as many of the first one's times as it has, as a key per time did.
          if (Array.isArray(had)) times.forEach((t, i) => (had[i] = t));
          else seen.set(key, times);
        }
      }
    }
  }
  return [...byDb.keys()].sort().map((database) => ({ database, times: sortedTimes(byDb.get(database)!.values()) }));
}

/** Every time of `values` (a time or a pack's times), ascending. */
function sortedTimes(values: Iterable<number | number[]>): number[] {
  const all: number[] = [];
  for (const v of values) {
    if (typeof v === 'number') all.push(v);
    else for (const t of v) all.push(t);
  }
  // A Float64Array sorts numbers as numbers, without a comparator call for each of millions.
  return Array.from(Float64Array.from(all).sort());
}

/**
 * A pack (a run of segments stored as one object) keeps only its first and last segments' commit
 * times and the longest time between two of its segments' (the name, WalSegmentName): stood in
 * for by times from the first to the last no further apart than that, one of them exactly that
 * far. The worst gap is then right and falls within the pack's few minutes.
 */
function packTimes(name: { firstSegmentAt?: number; maxGapMs?: number; lastCommitAt: number }): number[] {
  const first = name.firstSegmentAt ?? name.lastCommitAt;
  const step = name.maxGapMs ?? 0;
  const times = [first];
  if (step <= 0) return name.lastCommitAt > first ? [first, name.lastCommitAt] : times;
  for (let t = first + step; t < name.lastCommitAt; t += step) times.push(t);
  if (name.lastCommitAt > first) times.push(name.lastCommitAt);
  return times;
}

/**
 * One point per hour in which a shipped commit followed another: the longest time between a
 * commit and the one before it (of the same database) among those that ended in the hour, oldest
 * hour first. Only gaps ending within [from, to] count (the commit before may be older).
 */
export function hourlyRpo(databases: readonly DatabaseCommits[], from: number, to: number): RpoPoint[] {
  const worst = new Map<number, { gap: number; at: number; after: number; database: string }>();
  for (const { database, times } of databases) {
    // The times are sorted: only those within [from, to] are visited.
    for (let i = Math.max(1, firstAtOrAfter(times, from)); i < times.length && times[i]! <= to; i++) {
      const at = times[i]!;
      const gap = at - times[i - 1]!;
      const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
      const hit = worst.get(hour);
      if (!hit || gap > hit.gap) worst.set(hour, { gap, at, after: times[i - 1]!, database });
    }
  }
  return [...worst.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([hour, w]) => ({
      hour: new Date(hour).toISOString(),
      gapSeconds: w.gap / 1000,
      at: new Date(w.at).toISOString(),
      after: new Date(w.after).toISOString(),
      database: w.database,
    }));
}

/** Every hour's point of a databases array (a catalog sync's, which nothing changes), with the hours' starts (ms) to search. */
const everyHour = new WeakMap<readonly DatabaseCommits[], { hours: number[]; points: RpoPoint[] }>();

/**
 * The same points as {@link hourlyRpo}, for a window that moves with the clock over commits that
 * change only at a catalog sync: every hour's point is worked out once per `databases` array
 * (90 days are 2,160 points, each with three ISO times: most of a page's time when done at each
 * request), and a window takes the whole hours within it from those and works out only the two
 * hours it cuts. The points are shared between calls: read them, do not change them.
 */
export function hourlyRpoWindow(databases: readonly DatabaseCommits[], from: number, to: number): RpoPoint[] {
  const firstHour = Math.floor(from / HOUR_MS) * HOUR_MS;
  const lastHour = Math.floor(to / HOUR_MS) * HOUR_MS;
  // No whole hour between the two cut ones (or a window that is empty or not a number): nothing to reuse.
  if (!(lastHour > firstHour + HOUR_MS)) return hourlyRpo(databases, from, to);
  let all = everyHour.get(databases);
  if (!all) {
    const points = hourlyRpo(databases, -Infinity, Infinity);
    all = { hours: points.map((p) => Date.parse(p.hour)), points };
    everyHour.set(databases, all);
  }
  // The cut hours exactly: [from, the next hour's start] holds the first one's gaps and perhaps some ending right on the next hour, which the whole hours have.
  const head = hourlyRpo(databases, from, firstHour + HOUR_MS).filter((p) => Date.parse(p.hour) === firstHour);
  const whole = all.points.slice(firstAtOrAfter(all.hours, firstHour + HOUR_MS), firstAtOrAfter(all.hours, lastHour));
  return [...head, ...whole, ...hourlyRpo(databases, lastHour, to)];
}

/** The index of the first of `sorted` (ascending) at or after `t`. */
function firstAtOrAfter(sorted: readonly number[], t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
