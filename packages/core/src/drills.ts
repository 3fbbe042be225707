/**
 * Restore drills: what one drill records and which copy the next drill reads (where records
 * live in Redis: drillKeys, in redis-keys.ts). Pure: no clock (callers pass `now`), no I/O.
 */
import { isFiniteNumber, isString, parseJsonRecord } from './json-record.js';
import { drillKeys } from './redis-keys.js';

/** The outcome of one check query (see CheckConfig). */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** The first value the query returned, or why it could not run (one sentence, never data of a secret file). */
  detail: string;
}

/** One drill: a restore of one backup's copy in one store into a scratch folder, with every check. */
export interface DrillRecord {
  sourceId: string;
  backupId: string;
  /** The storage target whose copy was read. */
  store: string;
  /** When the drill ended (ISO). */
  at: string;
  ok: boolean;
  /** Wall time of the restore with every check: what a real recovery of this backup takes. */
  restoreMs: number;
  /** How old the backup's data was when drilled: `at` minus the backup's start. */
  dataAgeMs: number;
  /** The backups whose archives the drill read (an incremental reads its chain): each is drilled in `store`. */
  read: string[];
  checks: CheckResult[];
  /**
   * A continuous source: the shipped WAL the drill applied after the backup (every segment of
   * its generation from it on), as a recovery would; absent when none was.
   */
  wal?: { segments: number; commits: number; lastCommitAt: string };
  /** Why it failed (one sentence) and the error's code. */
  error?: string;
  code?: string;
}

/** One stored copy a drill can read. */
export interface DrillCopy {
  backupId: string;
  store: string;
}

export interface DrillPlanInput {
  /** Every copy of the source's backups, in every store that holds one. */
  copies: readonly DrillCopy[];
  /** Earlier drills (any order; records of copies that no longer exist are ignored). */
  history: readonly DrillRecord[];
  now: Date;
  /** Every copy should have passed a drill within this many milliseconds. */
  periodMs: number;
}

export interface DrillPlan {
  /** The copy to drill next: the one whose last drill (passed or not) is oldest, never drilled first; ties go to the newest backup. */
  next: DrillCopy | undefined;
  /** Copies with no passed drill within the period, newest backup first. */
  overdue: DrillCopy[];
  /** Per copy (`<store>/<backupId>`): when a drill last read it, and when one last passed. */
  lastRead: Map<string, { attempt: number; passed: number | undefined }>;
}

/**
 * Chooses the next copy to drill so that drills rotate through the whole repository: a drill
 * marks every backup it read (the chain of an incremental) in its store; the copy read longest
 * ago goes next. A failed drill counts as an attempt (so a bad copy does not take every drill),
 * but only a passed one covers the copy for the period.
 */
export function planDrill(input: DrillPlanInput): DrillPlan {
  const lastRead = new Map<string, { attempt: number; passed: number | undefined }>();
  for (const record of input.history) {
    const at = Date.parse(record.at);
    if (Number.isNaN(at)) continue;
    for (const backupId of new Set([record.backupId, ...record.read])) {
      const key = drillKeys.field(record.store, backupId);
      const seen = lastRead.get(key) ?? { attempt: -Infinity, passed: undefined };
      seen.attempt = Math.max(seen.attempt, at);
      if (record.ok) seen.passed = Math.max(seen.passed ?? -Infinity, at);
      lastRead.set(key, seen);
    }
  }
  const attemptOf = (c: DrillCopy) => lastRead.get(drillKeys.field(c.store, c.backupId))?.attempt ?? -Infinity;
  const newestFirst = [...input.copies].sort((a, b) => (a.backupId === b.backupId ? 0 : a.backupId < b.backupId ? 1 : -1));
  let next: DrillCopy | undefined;
  for (const copy of newestFirst) if (next === undefined || attemptOf(copy) < attemptOf(next)) next = copy;
  const since = input.now.getTime() - input.periodMs;
  const overdue = newestFirst.filter((c) => (lastRead.get(drillKeys.field(c.store, c.backupId))?.passed ?? -Infinity) < since);
  return { next, overdue, lastRead };
}

/**
 * A DrillRecord from its JSON as Redis holds it, keeping only the known fields (pure); undefined
 * when it is not one (another version's or a damaged record is ignored rather than shown wrong).
 */
export function parseDrillRecord(text: string): DrillRecord | undefined {
  const r = parseJsonRecord(text);
  if (!r) return undefined;
  const str = isString;
  const num = isFiniteNumber;
  if (!str(r.sourceId) || !str(r.backupId) || !str(r.store) || !str(r.at) || Number.isNaN(Date.parse(r.at))) return undefined;
  if (typeof r.ok !== 'boolean' || !num(r.restoreMs) || !num(r.dataAgeMs)) return undefined;
  const checks: CheckResult[] = Array.isArray(r.checks)
    ? r.checks.flatMap((c: unknown) => {
        const check = c as Partial<CheckResult> | null;
        return check && str(check.name) && typeof check.ok === 'boolean'
          ? [{ name: check.name, ok: check.ok, detail: str(check.detail) ? check.detail : '' }]
          : [];
      })
    : [];
  const record: DrillRecord = {
    sourceId: r.sourceId,
    backupId: r.backupId,
    store: r.store,
    at: r.at,
    ok: r.ok,
    restoreMs: r.restoreMs,
    dataAgeMs: r.dataAgeMs,
    read: Array.isArray(r.read) ? r.read.filter(str) : [],
    checks,
  };
  const wal = r.wal as Record<string, unknown> | null | undefined;
  if (wal && num(wal.segments) && num(wal.commits) && str(wal.lastCommitAt))
    record.wal = { segments: wal.segments, commits: wal.commits, lastCommitAt: wal.lastCommitAt };
  if (str(r.error)) record.error = r.error;
  if (str(r.code)) record.code = r.code;
  return record;
}
