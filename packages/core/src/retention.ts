/**
 * Retention planning: which backups of a source to keep, and why. Pure: the caller hands in the
 * backups (from manifests), the policy and the current time, and gets back one decision per
 * backup. The semantics are written out in docs/retention.md; the tests check exactly those.
 */
import { formatDuration } from './duration.js';

/** What the planner needs to know about one backup. */
export interface RetentionBackup {
  id: string;
  /** When the backup started (the manifest's `startedAt`): the calendar periods are read from it. */
  time: Date;
  /** The backup an incremental builds on; null for a full backup. */
  parent: string | null;
  /** Complete and not known bad: a backup that a restore can rely on. */
  good: boolean;
  /** A full verify of it passed. */
  verified: boolean;
  /** Committed with fewer copies than configured. */
  degraded: boolean;
  /** The schedule whose job made it, if any (the manifest's `trigger.scheduleId`). */
  scheduleId: string | null;
}

/** How many backups of a source to keep. Every count may be 0 (the rule keeps nothing). */
export interface RetentionPolicy {
  /** The newest this many good backups. */
  keepLast: number;
  /** The newest good backup of each of the last this many days that have one. */
  daily: number;
  /** ... of ISO weeks (Monday to Sunday). */
  weekly: number;
  monthly: number;
  yearly: number;
  /** Every backup at most this old (0: none). */
  keepWithinMs: number;
  /** IANA time zone the days, weeks, months and years are read in. */
  timezone: string;
  /** Every backup younger than this is kept, whatever the policy (a backup still being checked or replicated). */
  graceMs: number;
  /** Per schedule id: every backup made by that schedule at most this old (the seed's `retention_days`). */
  scheduleKeepWithinMs: Record<string, number>;
}

/** The seed's policy: 7 daily, 4 weekly, 12 monthly, 2 yearly, in UTC, with one hour of grace. */
export const DEFAULT_RETENTION: RetentionPolicy = {
  keepLast: 0,
  daily: 7,
  weekly: 4,
  monthly: 12,
  yearly: 2,
  keepWithinMs: 0,
  timezone: 'UTC',
  graceMs: 3_600_000,
  scheduleKeepWithinMs: {},
};

/** Keep or delete one backup, with every rule that keeps it or the reason it goes. */
export interface RetentionDecision {
  id: string;
  keep: boolean;
  /**
   * For a kept backup, every rule that keeps it, in this order: `last 1 of 3`, `daily 2026-11-26`,
   * `weekly 2026-W48`, `monthly 2026-11`, `yearly 2026`, `within 7d`, `schedule nightly within 30d`,
   * `grace`, `newest good`, `newest verified`, `parent of <id>` (once per kept child). For a
   * deleted one, `no rule keeps it`, then `not good` or `degraded` when that is why no period
   * counted it.
   */
  reasons: string[];
}

const PERIODS = ['daily', 'weekly', 'monthly', 'yearly'] as const;
type Period = (typeof PERIODS)[number];

const DAY_MS = 86_400_000;

/**
 * Decides, for every backup, whether retention keeps it, and why. Returns the decisions in the
 * input's order. Rules (docs/retention.md has them precisely, with a worked example):
 *
 * - `keepLast` N: the newest N good backups, plus any not-good backup among the newest N overall.
 * - `daily`/`weekly`/`monthly`/`yearly` N: the newest good backup of each of the last N calendar
 *   periods (in `policy.timezone`) that contain a good backup. A backup may satisfy several rules.
 * - `keepWithinMs`, `scheduleKeepWithinMs`: every backup (of that schedule) at most that old.
 * - Safety, whatever the policy: backups younger than `graceMs` (or dated after `now`), the newest
 *   good backup, the newest verified good backup, and every ancestor (via `parent`) of a kept
 *   backup are kept.
 *
 * "Good" here means `good && !degraded`: a not-good or degraded backup never represents a
 * period or takes a `keepLast` place, so it never causes a good backup to be deleted.
 */
export function planRetention(backups: readonly RetentionBackup[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const n = backups.length;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = backups[i]!.time.getTime();
  // Newest first; equal times by id (ids start with their time, so this is their creation order).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => times[b]! - times[a]! || compareIds(backups[b]!.id, backups[a]!.id));
  const reasons: string[][] = Array.from({ length: n }, () => []);

  // Each step adds its reasons after the previous step's, which gives the order RetentionDecision.reasons documents.
  addKeepLastReasons(backups, order, policy.keepLast, reasons);
  addPeriodReasons(backups, times, order, policy, reasons);
  addAgeReasons(backups, times, now.getTime(), policy, reasons);
  const newestGood = order.find((i) => backups[i]!.good);
  if (newestGood !== undefined) reasons[newestGood]!.push('newest good');
  const newestVerified = order.find((i) => backups[i]!.good && backups[i]!.verified);
  if (newestVerified !== undefined) reasons[newestVerified]!.push('newest verified');
  const { kept, parentOf } = keepAncestors(backups, reasons);

  return backups.map((b, i): RetentionDecision => {
    const children = parentOf[i];
    if (children) for (const c of children.sort((x, y) => x - y)) reasons[i]!.push(`parent of ${backups[c]!.id}`);
    if (kept[i]) return { id: b.id, keep: true, reasons: reasons[i]! };
    const why = ['no rule keeps it'];
    if (!b.good) why.push('not good');
    else if (b.degraded) why.push('degraded');
    return { id: b.id, keep: false, reasons: why };
  });
}

/** Whether a backup may represent a period or take a `keepLast` place: good and not degraded. */
function counts(b: RetentionBackup): boolean {
  return b.good && !b.degraded;
}

/**
 * `keepLast` N: adds `last k of N` to the newest N good backups, and `among last N (not counted:
 * …)` to each not-good or degraded backup among the newest N overall. `order` is newest first.
 */
function addKeepLastReasons(backups: readonly RetentionBackup[], order: readonly number[], keepLast: number, reasons: string[][]): void {
  if (keepLast <= 0) return;
  const n = backups.length;
  let good = 0;
  for (let k = 0; k < n && (good < keepLast || k < keepLast); k++) {
    const i = order[k]!;
    const b = backups[i]!;
    if (counts(b)) {
      if (good < keepLast) reasons[i]!.push(`last ${++good} of ${keepLast}`);
    } else if (k < keepLast) {
      // Kept for inspection, but it does not take a good backup's place.
      reasons[i]!.push(`among last ${keepLast} (not counted: ${b.good ? 'degraded' : 'not good'})`);
    }
  }
}

/**
 * `daily`/`weekly`/`monthly`/`yearly` N: adds `<period> <key>` to the newest good backup of each
 * of the last N periods (in `policy.timezone`) that hold a good backup. `order` is newest first.
 */
function addPeriodReasons(
  backups: readonly RetentionBackup[],
  times: Float64Array,
  order: readonly number[],
  policy: RetentionPolicy,
  reasons: string[][],
): void {
  const n = backups.length;
  const calendar = new Calendar(policy.timezone);
  for (const period of PERIODS) {
    const wanted = policy[period];
    if (wanted <= 0) continue;
    let lastKey: string | undefined;
    let found = 0;
    // Newest first, so the first good backup met in a period is that period's newest.
    for (let k = 0; k < n && found < wanted; k++) {
      const i = order[k]!;
      if (!counts(backups[i]!)) continue;
      const key = calendar.periodKey(times[i]!, period);
      if (key === lastKey) continue;
      lastKey = key;
      found++;
      reasons[i]!.push(`${period} ${key}`);
    }
  }
}

/** The rules by age, for each backup in input order: `within …`, `schedule <id> within …`, then `grace`. */
function addAgeReasons(backups: readonly RetentionBackup[], times: Float64Array, nowMs: number, policy: RetentionPolicy, reasons: string[][]): void {
  for (let i = 0; i < backups.length; i++) {
    const b = backups[i]!;
    const age = nowMs - times[i]!;
    if (policy.keepWithinMs > 0 && age <= policy.keepWithinMs) reasons[i]!.push(`within ${formatDuration(policy.keepWithinMs)}`);
    if (b.scheduleId !== null && Object.hasOwn(policy.scheduleKeepWithinMs, b.scheduleId)) {
      const within = policy.scheduleKeepWithinMs[b.scheduleId]!;
      if (within > 0 && age <= within) reasons[i]!.push(`schedule ${b.scheduleId} within ${formatDuration(within)}`);
    }
    // A backup dated after `now` (another host's clock) is as young as it gets.
    if (age < policy.graceMs || age < 0) reasons[i]!.push('grace');
  }
}

/**
 * Which backups are kept: those with a reason, and every ancestor (via `parent`) of a kept one,
 * since a kept incremental needs its whole chain. `parentOf[p]` lists the kept children (input
 * indexes, unsorted) that keep backup `p`, for its `parent of` reasons.
 */
function keepAncestors(backups: readonly RetentionBackup[], reasons: readonly string[][]): { kept: Uint8Array; parentOf: number[][] } {
  const n = backups.length;
  // Walk parents from every kept backup. Each kept backup is pushed once, so this is linear in
  // the number of backups.
  const indexById = new Map<string, number>();
  for (let i = 0; i < n; i++) indexById.set(backups[i]!.id, i);
  const kept = new Uint8Array(n);
  const stack: number[] = [];
  for (let i = 0; i < n; i++) {
    if (reasons[i]!.length > 0) {
      kept[i] = 1;
      stack.push(i);
    }
  }
  // Sorting "parent of" reasons by the input order of the children (done by the caller) keeps the output deterministic.
  const parentOf: number[][] = [];
  while (stack.length > 0) {
    const i = stack.pop()!;
    const parent = backups[i]!.parent;
    if (parent === null) continue;
    const p = indexById.get(parent);
    if (p === undefined || p === i) continue;
    (parentOf[p] ??= []).push(i);
    if (!kept[p]) {
      kept[p] = 1;
      stack.push(p);
    }
  }
  return { kept, parentOf };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Calendar periods of instants in one time zone. Intl is slow (microseconds a call), so the
 * zone's offset is looked up once per UTC day: when the offsets at both ends of the day agree,
 * that offset holds for the whole day (no zone changes its offset twice within a day and back);
 * on a day with a change, each instant is looked up itself.
 */
class Calendar {
  private readonly format: Intl.DateTimeFormat | undefined;
  private readonly dayOffsets = new Map<number, number>();

  constructor(timezone: string) {
    this.format =
      timezone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', {
            timeZone: timezone,
            hourCycle: 'h23',
            year: 'numeric',
            month: 'numeric',
            day: 'numeric',
            hour: 'numeric',
            minute: 'numeric',
            second: 'numeric',
          });
  }

  periodKey(ms: number, period: Period): string {
    const local = new Date(ms + this.offset(ms));
    const y = local.getUTCFullYear();
    const m = local.getUTCMonth() + 1;
    switch (period) {
      case 'daily':
        return `${pad(y, 4)}-${pad(m, 2)}-${pad(local.getUTCDate(), 2)}`;
      case 'weekly': {
        // ISO 8601: the week belongs to the year of its Thursday.
        const day = Date.UTC(y, m - 1, local.getUTCDate());
        const thursday = day + (3 - ((local.getUTCDay() + 6) % 7)) * DAY_MS;
        const isoYear = new Date(thursday).getUTCFullYear();
        const week = 1 + Math.floor((thursday - Date.UTC(isoYear, 0, 1)) / (7 * DAY_MS));
        return `${pad(isoYear, 4)}-W${pad(week, 2)}`;
      }
      case 'monthly':
        return `${pad(y, 4)}-${pad(m, 2)}`;
      case 'yearly':
        return pad(y, 4);
    }
  }

  /** Milliseconds to add to a UTC instant to get the zone's wall-clock time. */
  private offset(ms: number): number {
    if (!this.format) return 0;
    const day = Math.floor(ms / DAY_MS);
    const start = this.dayOffset(day);
    return start === this.dayOffset(day + 1) ? start : this.exactOffset(ms);
  }

  private dayOffset(day: number): number {
    let offset = this.dayOffsets.get(day);
    if (offset === undefined) {
      offset = this.exactOffset(day * DAY_MS);
      this.dayOffsets.set(day, offset);
    }
    return offset;
  }

  private exactOffset(ms: number): number {
    const parts: Record<string, number> = {};
    for (const part of this.format!.formatToParts(ms)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
    const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
    return wall - (ms - (((ms % 1000) + 1000) % 1000));
  }
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
