import { formatSeconds, type DrillRecord } from '@botbackup/core';
import { formatAge } from './format-age.js';
import type { FreshnessBound } from './freshness-bound.js';
import type { SourceWal } from './rpo.js';
import type { SourceView } from './summarize-backups.js';

/** `ok` (green), `warn` (amber: not proven yet, or not known), `bad` (red: act now). */
export type HealthLevel = 'ok' | 'warn' | 'bad';

/** One reason a source is not green, or, for a green one, what makes it so. */
export interface HealthReason {
  level: HealthLevel;
  text: string;
}

/** A source's line in the health summary. */
export interface SourceHealth {
  sourceId: string;
  /** The worst level among `reasons`. */
  level: HealthLevel;
  /** Why it is not green, worst first; for a green source, the three facts that make it green. */
  reasons: HealthReason[];
  /** The bound its newest good backup's age is held to (see freshnessBound). */
  boundSeconds: number;
  boundFrom: FreshnessBound['from'];
  /**
   * For a continuous source: its newest shipped commit (from the newest catalog sync's WAL
   * listing), its age now, and `continuous.alertAfter`. The age is the RPO only while the bot
   * writes (a quiet bot ships nothing, with nothing at risk); null for a source that is not continuous.
   */
  continuous: { newestCommitAt: string | null; ageSeconds: number | null; alertAfterSeconds: number } | null;
}

export interface SourceHealthInput {
  source: SourceView;
  bound: FreshnessBound;
  /** The newest drill of the source (Redis or the local catalog); undefined when none is recorded. */
  lastDrill: DrillRecord | undefined;
  /** False when the drills could not be read (Redis down): then they are said to be unknown. */
  drillsKnown: boolean;
  /** drill.period: a passed drill older than this no longer counts as recent. */
  drillPeriodMs: number;
  /** Set when no storage target could be listed: the backups are then unknown. */
  catalogError: string | undefined;
  /** A continuous source's shipped commits (undefined for another source). */
  wal?: SourceWal | undefined;
  now: Date;
}

const RANK: Record<HealthLevel, number> = { ok: 0, warn: 1, bad: 2 };

/**
 * A source's health (pure): green when its newest good backup is within its freshness bound,
 * every copy of that backup (one per storage target) is verified, and its last restore drill
 * passed within drill.period. Otherwise each failing condition in words: red for no good backup,
 * one older than the bound, a copy that is bad or missing, and a failed drill; amber for a copy
 * not verified yet or that could not be checked (its target unreachable), no drill yet or an old
 * one, and for what cannot be known (no target listed, Redis down).
 */
export function sourceHealth(input: SourceHealthInput): SourceHealth {
  const { source, bound, lastDrill, now } = input;
  const reasons: HealthReason[] = [];
  const ok: string[] = [];
  const boundText = `${formatAge(bound.ms / 1000)} (${bound.from === 'schedule' ? `schedule ${bound.scheduleIds.join(', ')}` : 'notify.staleAfter'})`;
  const newest = source.newestGood;
  if (input.catalogError !== undefined) {
    reasons.push({ level: 'warn', text: `its backups are unknown: no storage target could be listed (${input.catalogError})` });
  } else if (!newest) {
    reasons.push({ level: 'bad', text: 'no good backup' });
  } else {
    if (newest.ageSeconds * 1000 > bound.ms) {
      reasons.push({ level: 'bad', text: `the newest good backup is ${formatAge(newest.ageSeconds)} old, over its bound of ${boundText}` });
    } else {
      ok.push(`newest good backup ${formatAge(newest.ageSeconds)} old (bound ${boundText})`);
    }
    const copies = source.backups.find((b) => b.backupId === newest.backupId)?.copies ?? [];
    const notVerified = copies.filter((c) => c.state !== 'verified');
    for (const c of notVerified) {
      const what = `the copy of ${newest.backupId} in "${c.target}"`;
      if (c.state === 'bad') reasons.push({ level: 'bad', text: `${what} is bad${c.error ? `: ${c.error}` : ''}` });
      else if (c.state === 'missing') reasons.push({ level: 'bad', text: `${what} is missing` });
      else if (c.state === 'unreachable') reasons.push({ level: 'warn', text: `${what} could not be checked: the target is unreachable` });
      else reasons.push({ level: 'warn', text: `${what} is not verified yet` });
    }
    if (notVerified.length === 0) ok.push(`${copies.length === 1 ? 'its copy' : `all ${copies.length} copies`} verified`);
  }
  if (!input.drillsKnown && !lastDrill) {
    reasons.push({ level: 'warn', text: 'its restore drills are unknown: Redis could not be read' });
  } else if (!lastDrill) {
    reasons.push({ level: 'warn', text: 'no restore drill yet' });
  } else {
    const agoMs = Math.max(0, now.getTime() - Date.parse(lastDrill.at));
    if (!lastDrill.ok) {
      reasons.push({ level: 'bad', text: `the last restore drill failed ${formatAge(agoMs / 1000)} ago: ${lastDrill.error ?? 'no reason given'}` });
    } else if (agoMs > input.drillPeriodMs) {
      reasons.push({
        level: 'warn',
        text: `the last restore drill passed ${formatAge(agoMs / 1000)} ago, longer than drill.period (${formatAge(input.drillPeriodMs / 1000)})`,
      });
    } else {
      ok.push(`last restore drill passed ${formatAge(agoMs / 1000)} ago (restore took ${formatSeconds(lastDrill.restoreMs)})`);
    }
  }
  reasons.sort((a, b) => RANK[b.level] - RANK[a.level]);
  const level = reasons[0]?.level ?? 'ok';
  return {
    sourceId: source.sourceId,
    level,
    reasons: reasons.length > 0 ? reasons : ok.map((text) => ({ level: 'ok', text })),
    boundSeconds: bound.ms / 1000,
    boundFrom: bound.from,
    continuous: input.wal
      ? {
          newestCommitAt: input.wal.newestCommitAt === null ? null : new Date(input.wal.newestCommitAt).toISOString(),
          ageSeconds: input.wal.newestCommitAt === null ? null : Math.max(0, now.getTime() - input.wal.newestCommitAt) / 1000,
          alertAfterSeconds: input.wal.alertAfterMs / 1000,
        }
      : null,
  };
}
