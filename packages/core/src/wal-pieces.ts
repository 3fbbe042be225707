import { lastSeqOf, type WalSegmentName } from './repository-keys.js';

/**
 * One database's stored WAL of one generation as a restore reads it (docs/format.md, "WAL
 * objects"): segments, and packs that each hold a run of consecutive segments of one WAL as one
 * smaller object. The streamer stores every segment on its own first (within a second of its
 * commits) and writes a pack of them later, then deletes the segments it holds; until then, or
 * when it was killed in between, both are listed.
 */
export interface FoldedWal<T> {
  /** In number order: a pack rather than the segments it holds; one of each key. */
  pieces: T[];
  /** Segments (or packs) a listed pack already holds, and repeats of a key: read by no one; prune deletes the segments. */
  shadowed: T[];
}

/**
 * Folds listed segments and packs (of one database and generation, from one target or the union
 * of several) into the pieces to read. Pure. Two different objects with one number (a renamed
 * segment) both stay among the pieces, where the sequence check reports them; so does an object
 * that overlaps a pack only in part (no streamer writes one).
 */
export function foldWalPieces<T extends { key: string; name: WalSegmentName }>(entries: readonly T[]): FoldedWal<T> {
  // By first number, and of two with the same first number the one that holds more first.
  const sorted = [...entries].sort((a, b) => a.name.seq - b.name.seq || lastSeqOf(b.name) - lastSeqOf(a.name));
  const pieces: T[] = [];
  const shadowed: T[] = [];
  const keys = new Set<string>();
  let pack: T | undefined;
  for (const entry of sorted) {
    const covered = pack !== undefined && entry.name.seq >= pack.name.seq && lastSeqOf(entry.name) <= lastSeqOf(pack.name);
    if (keys.has(entry.key) || (covered && entry.key !== pack!.key)) {
      shadowed.push(entry);
      continue;
    }
    keys.add(entry.key);
    pieces.push(entry);
    if (entry.name.lastSeq !== undefined) pack = entry;
  }
  return { pieces, shadowed };
}

/** Of pieces with one number (a segment on two targets under two names), the first: the union over targets, as a restore reads it. */
export function oneOfEachNumber<T extends { name: WalSegmentName }>(pieces: readonly T[]): T[] {
  const out: T[] = [];
  for (const piece of pieces) if (out.at(-1)?.name.seq !== piece.name.seq) out.push(piece);
  return out;
}
