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
  const byDb = new Map<string, Map<string, number>>();
  for (const l of listings) {
    for (const g of l.generations) {
      if (!withRecord.has(g.id)) continue;
      for (const [database, list] of g.databases) {
        const seen = byDb.get(database) ?? new Map<string, number>();
        byDb.set(database, seen);
        for (const s of list) {
          if (s.name.lastSeq === undefined) seen.set(`${g.id}/${s.name.seq}`, s.name.lastCommitAt);
          else packTimes(s.name).forEach((t, i) => seen.set(`${g.id}/${s.name.seq}+${i}`, t));
        }
      }
    }
  }
  return [...byDb.keys()].sort().map((database) => ({ database, times: [...byDb.get(database)!.values()].sort((a, b) => a - b) }));
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
    for (let i = 1; i < times.length; i++) {
      const at = times[i]!;
      if (at < from || at > to) continue;
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
