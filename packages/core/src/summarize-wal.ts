import { formatWalSegmentName, lastSeqOf, type WalSegmentName } from './repository-keys.js';
import { foldWalPieces, oneOfEachNumber } from './wal-pieces.js';

/**
 * What the storage says of a source's continuous shipping, per database, and how far behind the
 * database it is (status, list, metrics; docs/cli.md). Pure: listings and WAL-index readings come
 * in, `now` too; nothing is read.
 *
 * The newest shipped commit's age is the RPO only while the bot writes: a disk lost now would
 * cost the commits after it, and while the bot keeps committing those exist. A quiet bot commits
 * nothing, so the age grows with nothing at risk. Only a look at the database itself (its
 * WAL-index, {@link judgeShipping}) tells the two apart.
 */

/** A store's listing of one source's WAL objects, by key alone (engine's `listWal` gives this shape). */
export interface WalListingLike {
  generations: readonly {
    id: string;
    /** Whether the generation's record is there: segments of a generation without one cannot be restored and are not counted. */
    hasRecord: boolean;
    databases: ReadonlyMap<string, readonly { name: WalSegmentName; size: number }[]>;
  }[];
}

/** One database's shipping, over every target's listing. */
export interface WalDatabaseSummary {
  database: string;
  /** The newest commit in any stored segment (ms since the epoch when the streamer first saw it), with its generation and segment; null when none. */
  newestCommit: { at: number; generation: string; seq: number } | null;
  /** The source's newest generation (with a record on some target); null when there is none. */
  generation: {
    id: string;
    /** Segments of this database in it (a segment on several targets counted once) and their bytes (one copy). */
    segments: number;
    bytes: number;
    /** Its oldest segment's number: above 1 when prune deleted a prefix no kept backup needs; null when it has none. */
    firstSeq: number | null;
    /** The first number missing between its oldest and newest segments (a gap: restore --at stops before it); null when none is. */
    firstMissingSeq: number | null;
    /** Its newest segment's place in the WAL: the salts and last frame it holds; null when it has none yet. */
    last: { seq: number; salt: [number, number]; lastFrame: number; lastCommitAt: number } | null;
  } | null;
}

/**
 * Per database (those named first, in order, then any other the listings hold, by name): the
 * newest shipped commit and the newest generation's segments, the union of every target's
 * listing (a segment is known by its generation, database and number).
 */
export function summarizeWal(listings: readonly WalListingLike[], databases: readonly string[] = []): WalDatabaseSummary[] {
  const withRecord = new Set<string>();
  // generation -> database -> every target's segments and packs (folded below)
  const segments = new Map<string, Map<string, { key: string; name: WalSegmentName; size: number }[]>>();
  const names = new Set<string>(databases);
  const extra = new Set<string>();
  for (const listing of listings) {
    for (const g of listing.generations) {
      if (g.hasRecord) withRecord.add(g.id);
      const byDb = segments.get(g.id) ?? new Map<string, { key: string; name: WalSegmentName; size: number }[]>();
      segments.set(g.id, byDb);
      for (const [db, list] of g.databases) {
        if (!names.has(db)) extra.add(db);
        const all = byDb.get(db) ?? [];
        // Known by its name: the same object on two targets is one.
        for (const s of list) all.push({ key: formatWalSegmentName(s.name), name: s.name, size: s.size });
        byDb.set(db, all);
      }
    }
  }
  const ids = [...withRecord].sort();
  const newestId = ids.at(-1);
  return [...databases, ...[...extra].sort()].map((database) => {
    let newestCommit: WalDatabaseSummary['newestCommit'] = null;
    for (const id of ids) {
      for (const s of segments.get(id)?.get(database) ?? []) {
        if (!newestCommit || s.name.lastCommitAt > newestCommit.at) newestCommit = { at: s.name.lastCommitAt, generation: id, seq: lastSeqOf(s.name) };
      }
    }
    if (newestId === undefined) return { database, newestCommit, generation: null };
    // A segment is known by its generation, database and number; a pack holds a run of them.
    const list = oneOfEachNumber(foldWalPieces(segments.get(newestId)?.get(database) ?? []).pieces);
    const newest = list.at(-1);
    // Numbers follow on from the oldest present; a sequence that begins after 1 is a pruned prefix, not a gap.
    const firstSeq = list[0]?.name.seq ?? null;
    let firstMissingSeq: number | null = null;
    for (const [i, s] of list.entries()) {
      const expected = i === 0 ? firstSeq! : lastSeqOf(list[i - 1]!.name) + 1;
      if (s.name.seq !== expected) {
        firstMissingSeq = expected;
        break;
      }
    }
    return {
      database,
      newestCommit,
      generation: {
        id: newestId,
        segments: list.reduce((sum, s) => sum + lastSeqOf(s.name) - s.name.seq + 1, 0),
        bytes: list.reduce((sum, s) => sum + s.size, 0),
        firstSeq,
        firstMissingSeq,
        last: newest ? { seq: lastSeqOf(newest.name), salt: newest.name.salt, lastFrame: newest.name.lastFrame, lastCommitAt: newest.name.lastCommitAt } : null,
      },
    };
  });
}

/** A database's WAL-index as read on this host: the WAL's salts and its committed frames (`mxFrame`). */
export interface CommittedWal {
  salt: [number, number];
  maxFrame: number;
}

/**
 * How one database's shipping stands:
 *
 * - `none`: nothing shipped yet;
 * - `shipped`: the database (read on this host) holds no committed frame the newest segment lacks: whatever
 *   the age of the newest shipped commit, nothing is at risk (the bot is quiet);
 * - `behind`: the database holds committed frames the newest segment lacks, and the newest shipped commit is
 *   older than the bound: the streamer is not shipping (the caller confirms it by listing again after a
 *   shipping interval, so that a commit made just now by a bot that was quiet is not taken for one);
 * - `recent`: the newest shipped commit is within the bound (what is not shipped yet is younger than it... or
 *   the streamer stopped less than a bound ago);
 * - `old`: the newest shipped commit is older than the bound and the database cannot be read here: the bot
 *   may be quiet (no loss) or the streamer stopped (commits at risk); this host cannot tell which.
 */
export type ShippingState = 'none' | 'shipped' | 'behind' | 'recent' | 'old';

/** Whether the WAL-index shows committed frames past the newest segment (undefined: cannot tell, e.g. the generation has no segment yet). */
export function hasUnshippedFrames(summary: WalDatabaseSummary, wal: CommittedWal): boolean | undefined {
  const last = summary.generation?.last;
  if (!last) return wal.maxFrame === 0 ? false : undefined;
  const sameWal = wal.salt[0] === last.salt[0] && wal.salt[1] === last.salt[1];
  // Another WAL: the bot restarted it after a checkpoint. Frames in it were committed after the newest segment's.
  if (!sameWal) return wal.maxFrame > 0;
  return wal.maxFrame > last.lastFrame;
}

/** The state of one database's shipping (see {@link ShippingState}); `wal` undefined: the database cannot be read on this host. */
export function judgeShipping(input: { summary: WalDatabaseSummary; wal: CommittedWal | undefined; now: number; alertAfterMs: number }): ShippingState {
  const { summary, wal, now, alertAfterMs } = input;
  const unshipped = wal ? hasUnshippedFrames(summary, wal) : undefined;
  if (unshipped === false) return summary.newestCommit ? 'shipped' : 'none';
  if (!summary.newestCommit) return 'none';
  if (now - summary.newestCommit.at <= alertAfterMs) return 'recent';
  return unshipped === true ? 'behind' : 'old';
}
