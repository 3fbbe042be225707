import type { WalPlace } from './wal-segment.js';
import type { WalSegmentName } from './repository-keys.js';

/**
 * Which shipped WAL objects prune deletes once retention has decided which backups stay
 * (docs/retention.md, "WAL segments"). Pure: the kept backups and the listing of every
 * generation come in, the keys to delete go out, with why each generation keeps what it keeps.
 *
 * A point-in-time restore needs a base backup linked to a generation (planPointInTime: its
 * snapshot's WAL position lies in the generation's segments, or it is the generation's first
 * backup) and every segment from that position on. So within a generation, segments before the
 * oldest kept linked backup's position serve no restore and go; everything from that position on
 * stays, whatever its age. A generation no kept backup is linked to serves no restore and goes
 * whole, except the newest one (a streamer may be writing it, and its first backup may not be
 * committed yet) and one with a commit inside the grace period. Only a prefix of each database's
 * segments ever goes, never one after a segment that stays, so a kept range has no gap; the
 * segment that holds a kept backup's position stays even when the position is its last frame
 * (the next segment may start a new WAL, which links nothing), so each database's newest segment,
 * where a restarted streamer resumes, always stays in a generation that is kept.
 */

/** A backup retention keeps, as this planner needs it. */
export interface WalRetentionBackup {
  id: string;
  /** The generation this backup is the first backup of (manifest `stream.generation`). */
  streamGeneration: string | undefined;
  /** Each database's WAL position at its snapshot (manifest `databases[].wal`), when pinned. */
  databases: Record<string, WalPlace | undefined>;
}

/** A generation as listed over every target (the union of their keys). */
export interface WalRetentionGeneration {
  id: string;
  /** Its record's key, when some target holds it. */
  recordKey: string | undefined;
  /** Where each database's WAL stood at its start (from its record); undefined when no record could be read. */
  start: Record<string, { salt: [number, number] | null; frame: number }> | undefined;
  /** Each database's segments in seq order. */
  segments: Record<string, readonly { key: string; name: WalSegmentName }[]>;
}

export interface WalRetentionOptions {
  /**
   * ms since the epoch: a generation with a commit at or after it is never deleted whole (the
   * retention's grace period, as for backups); undefined: no grace.
   */
  protectFrom?: number | undefined;
}

/** What prune does with one generation. */
export interface WalGenerationDecision {
  id: string;
  /** keep: nothing goes; trim: a prefix of some database's segments goes; delete: the whole generation goes. */
  action: 'keep' | 'trim' | 'delete';
  /**
   * Why, in words: `<database> from segment <n>: backup <id>` (the oldest kept position per
   * database), `no segment yet: first backup <id>`, `newest generation`, `within grace`, or `no
   * kept backup is linked to it`.
   */
  reasons: string[];
  /**
   * The keys to delete, in the order to delete them: a whole generation's record first (it
   * disappears for restore and for the streamer at once), then each database's segments from
   * the lowest number up, so that an interrupted prune leaves a suffix, never a gap.
   */
  delete: string[];
  segments: { kept: number; deleted: number };
}

/** One decision per generation, oldest generation first (by id). */
export function planWalRetention(
  kept: readonly WalRetentionBackup[],
  generations: readonly WalRetentionGeneration[],
  options: WalRetentionOptions = {},
): WalGenerationDecision[] {
  const byAge = [...generations].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const newest = byAge.at(-1)?.id;
  return byAge.map((generation) => decide(generation, kept, generation.id === newest, options));
}

function decide(generation: WalRetentionGeneration, kept: readonly WalRetentionBackup[], newest: boolean, options: WalRetentionOptions): WalGenerationDecision {
  const databases = Object.keys(generation.segments)
    .filter((db) => generation.segments[db]!.length > 0)
    .sort();
  const total = databases.reduce((n, db) => n + generation.segments[db]!.length, 0);
  const keepAll = (reasons: string[]): WalGenerationDecision => ({
    id: generation.id,
    action: 'keep',
    reasons,
    delete: [],
    segments: { kept: total, deleted: 0 },
  });

  // The oldest kept position per database: the index of the segment that holds it (0 for the
  // start). The generation's first backup, when its position is not in the segments (taken while
  // the WAL was empty), needs them all.
  const cut = new Map<string, { index: number; backup: string }>();
  let linked = false;
  for (const backup of kept) {
    for (const db of databases) {
      const index = linkIndex(backup.databases[db], generation, db) ?? (backup.streamGeneration === generation.id ? 0 : undefined);
      if (index === undefined) continue;
      linked = true;
      const current = cut.get(db);
      if (!current || index < current.index) cut.set(db, { index, backup: backup.id });
    }
    if (backup.streamGeneration === generation.id && databases.length === 0) linked = true;
  }
  if (!linked) {
    if (newest) return keepAll(['newest generation']);
    const youngest = Math.max(-Infinity, ...databases.flatMap((db) => generation.segments[db]!.map((s) => s.name.lastCommitAt)));
    if (options.protectFrom !== undefined && youngest >= options.protectFrom) return keepAll(['within grace']);
    const keys = databases.flatMap((db) => generation.segments[db]!.map((s) => s.key));
    return {
      id: generation.id,
      action: 'delete',
      reasons: ['no kept backup is linked to it'],
      delete: generation.recordKey === undefined ? keys : [generation.recordKey, ...keys],
      segments: { kept: 0, deleted: keys.length },
    };
  }
  if (databases.length === 0) return keepAll([`no segment yet: first backup ${kept.find((b) => b.streamGeneration === generation.id)!.id}`]);
  const reasons: string[] = [];
  const doomed: string[] = [];
  for (const db of databases) {
    const at = cut.get(db);
    // A database no kept backup is linked in, in a generation others are linked in: kept whole,
    // since which of its segments a restore needs cannot be told.
    if (!at) {
      reasons.push(`${db}: no kept backup is linked in it, kept whole`);
      continue;
    }
    const segments = generation.segments[db]!;
    reasons.push(`${db} from segment ${segments[at.index]!.name.seq}: backup ${at.backup}`);
    for (const s of segments.slice(0, at.index)) doomed.push(s.key);
  }
  return {
    id: generation.id,
    action: doomed.length > 0 ? 'trim' : 'keep',
    reasons,
    delete: doomed,
    segments: { kept: total - doomed.length, deleted: doomed.length },
  };
}

/**
 * The index of the first segment of `db` a restore from a backup at `place` needs: 0 when the
 * place is the generation's start, else the first segment whose WAL (salts) and frames hold it
 * (firstFrame - 1 <= frame <= lastFrame); undefined when the place is not in this generation.
 */
function linkIndex(place: WalPlace | undefined, generation: WalRetentionGeneration, db: string): number | undefined {
  if (!place) return undefined;
  const start = generation.start?.[db];
  if (start?.salt && sameSalt(start.salt, place.salt) && start.frame === place.frame) return 0;
  const index = (generation.segments[db] ?? []).findIndex(
    (s) => sameSalt(s.name.salt, place.salt) && s.name.firstFrame - 1 <= place.frame && place.frame <= s.name.lastFrame,
  );
  return index < 0 ? undefined : index;
}

function sameSalt(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] === b[0] && a[1] === b[1];
}
