import type { WalPlace } from './wal-segment.js';
import type { WalSegmentName } from './repository-keys.js';

/**
 * Which backup and which WAL segments rebuild a source's databases as of a moment (restore
 * --at, recover). Pure: the backups and the listing of segments come in, no clock, no I/O.
 *
 * The rule that makes it correct (docs/continuous.md): a generation's segments hold every frame
 * committed after its start, in order, with no gap. Writing a sequence of page images into a
 * database in order leaves each page as its last image, so a backup whose database is "the state
 * at position X of the generation, plus some of the frames after X" becomes exactly the state at
 * a later commit C once the frames after X up to C are written into it. A backup is linked to a
 * generation at X when the WAL position its snapshot was pinned at (manifest `databases[].wal`)
 * is one the generation's segments passed through, or it is the generation's own first backup
 * and both saw an empty WAL. C must not come before X: frames never undo a later state.
 */

/** A backup as the planner needs it. */
export interface PitrBackup {
  id: string;
  /** ms since the epoch. */
  startedAt: number;
  completedAt: number;
  /** The generation this backup is the first backup of, when a streamer made it. */
  streamGeneration: string | undefined;
  /** Each database's WAL position at its snapshot, when pinned. */
  databases: Record<string, WalPlace | undefined>;
}

/** A generation as the planner needs it: its start record and its segments' names, per database. */
export interface PitrGeneration {
  id: string;
  /** ms since the epoch when its streamer began following (from its record). */
  startedAt: number;
  start: Record<string, { salt: [number, number] | null; frame: number }>;
  /** Each database's segments in seq order (keys with their parsed names). */
  segments: Record<string, { key: string; name: WalSegmentName }[]>;
}

/** What to apply to one database: whole segments, then at most one more cut at the moment. */
export interface PitrDatabasePlan {
  /** Apply frames after `fromFrame` of the first segment (the base's position inside it), then every frame of the rest. */
  fromFrame: number;
  segments: { key: string; name: WalSegmentName }[];
  /**
   * The next segment, of which only the commits seen at or before the moment are applied (its
   * header says when each was seen); undefined when the moment is past every segment.
   */
  partial: { key: string; name: WalSegmentName } | undefined;
}

export type PitrPlan =
  | { kind: 'segments'; backupId: string; generation: string; databases: Record<string, PitrDatabasePlan> }
  | { kind: 'backup-only'; backupId: string; reason: string }
  | { kind: 'none'; reason: string };

/** Where a backup sits in a generation's stream of one database: after segment `index` (-1: at the start) and frame `frame`. */
interface Link {
  index: number;
  frame: number;
}

/**
 * The plan for `at` (ms; undefined: the newest commit shipped). Generations are tried newest
 * first; within one, the newest linked backup that is not past the moment. With no linked
 * backup, the newest backup started at or before the moment, alone.
 */
export function planPointInTime(
  backups: readonly PitrBackup[],
  generations: readonly PitrGeneration[],
  databases: readonly string[],
  at: number | undefined,
): PitrPlan {
  const byNewest = [...generations].sort((a, b) => (a.id < b.id ? 1 : -1));
  for (const generation of byNewest) {
    if (at !== undefined && generation.startedAt > at) continue;
    const targets = Object.fromEntries(databases.map((db) => [db, targetOf(generation.segments[db] ?? [], at)]));
    let chosen: { backup: PitrBackup; links: Record<string, Link> } | undefined;
    for (const backup of backups) {
      if (at !== undefined && backup.startedAt > at) continue;
      const links: Record<string, Link> = {};
      let linked = true;
      for (const db of databases) {
        const link = linkOf(backup, generation, db);
        // The base must not be past the moment: its position at or before the last whole segment
        // applied, or inside the next one (of which the replay applies the commits after the
        // base's position seen by the moment) when the backup had completed by the moment (every
        // commit in it was made by then). A pack holds minutes of segments, so a base is often inside it.
        const inPartial = link?.index === targets[db]!.lastWhole + 1 && at !== undefined && backup.completedAt <= at;
        if (!link || (link.index > targets[db]!.lastWhole && !inPartial)) {
          linked = false;
          break;
        }
        links[db] = link;
      }
      if (linked && (!chosen || backup.completedAt > chosen.backup.completedAt)) chosen = { backup, links };
    }
    if (!chosen) continue;
    const plans: Record<string, PitrDatabasePlan> = {};
    for (const db of databases) {
      const segments = generation.segments[db] ?? [];
      const link = chosen.links[db]!;
      const target = targets[db]!;
      // A link at the very end of a segment applies nothing of it.
      const first = Math.max(0, link.index);
      const whole = segments.slice(first, target.lastWhole + 1);
      plans[db] = {
        fromFrame: link.index >= 0 ? link.frame : 0,
        segments: whole,
        partial: target.lastWhole + 1 < segments.length ? segments[target.lastWhole + 1] : undefined,
      };
    }
    return { kind: 'segments', backupId: chosen.backup.id, generation: generation.id, databases: plans };
  }
  const alone = [...backups].filter((b) => at === undefined || b.startedAt <= at).sort((a, b) => b.startedAt - a.startedAt)[0];
  if (!alone) return { kind: 'none', reason: at === undefined ? 'there is no backup' : 'no backup was started at or before that time' };
  return {
    kind: 'backup-only',
    backupId: alone.id,
    reason:
      generations.length === 0
        ? 'no WAL segments were shipped for this source'
        : 'no backup is linked to the WAL segments shipped before that time (their generation has no backup taken while it was streamed)',
  };
}

/** The last segment wholly at or before `at` (by its last commit's time): -1 when none is. */
function targetOf(segments: readonly { name: WalSegmentName }[], at: number | undefined): { lastWhole: number } {
  if (at === undefined) return { lastWhole: segments.length - 1 };
  let lastWhole = -1;
  for (const [i, s] of segments.entries()) {
    if (s.name.lastCommitAt <= at) lastWhole = i;
    else break;
  }
  return { lastWhole };
}

/**
 * Where `backup`'s snapshot of `db` sits in `generation`'s stream, or undefined when it is not
 * one of the positions the stream passed through. Segments are contiguous, so the position
 * (salt, M) is inside the segment of that salt with firstFrame - 1 <= M <= lastFrame.
 */
function linkOf(backup: PitrBackup, generation: PitrGeneration, db: string): Link | undefined {
  const place = backup.databases[db];
  const start = generation.start[db];
  if (!start) return undefined;
  if (place) {
    if (start.salt && start.salt[0] === place.salt[0] && start.salt[1] === place.salt[1] && start.frame === place.frame)
      return { index: -1, frame: place.frame };
    const segments = generation.segments[db] ?? [];
    for (const [index, s] of segments.entries()) {
      const n = s.name;
      if (n.salt[0] === place.salt[0] && n.salt[1] === place.salt[1] && n.firstFrame - 1 <= place.frame && place.frame <= n.lastFrame) {
        // At a segment's end the next segment starts the frames to apply.
        return place.frame === n.lastFrame ? { index: index + 1, frame: 0 } : { index, frame: place.frame };
      }
    }
  }
  // The generation's own first backup, taken while the WAL was still empty as at the start: the
  // database file is the start's state (no frame of either could be in it).
  if (backup.streamGeneration === generation.id && start.frame === 0 && (place === undefined || place.frame === 0)) return { index: -1, frame: 0 };
  return undefined;
}
