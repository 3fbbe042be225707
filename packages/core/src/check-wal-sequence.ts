import { lastSeqOf } from './repository-keys.js';
import type { WalGeneration, WalSegmentHeader } from './wal-segment.js';

/**
 * What the sequence check reads of a segment: its key, its number (from its key) and its checked
 * header, or undefined when it could not be read (that is reported on its own; its neighbours
 * are then not compared with it).
 */
export interface WalSequenceSegment {
  key: string;
  seq: number;
  /** A pack's last number (it holds seq to lastSeq); absent on a segment. */
  lastSeq?: number;
  header: Pick<WalSegmentHeader, 'salt' | 'firstFrame' | 'lastFrame' | 'chain'> | undefined;
}

/** A break in one database's sequence, named by the segment after it; `missing`: the numbers a gap lacks. */
export interface WalSequenceProblem {
  key: string;
  message: string;
  missing?: { from: number; to: number };
}

/**
 * The breaks in one database's segments of one generation (docs/format.md, "WAL objects"), in
 * seq order: numbers follow on with no gap (a pack holds a run of them), and each segment continues the previous one: in the
 * same WAL (same salts) at the next frame, its checksum chain starting where the previous one
 * ended; in a new WAL (the bot's WAL restarted) at frame 1. Segment 1 continues the generation's
 * start record the same way, when it is given. The sequence may begin after 1: prune deletes a
 * prefix no kept backup needs (`firstSeq` says where it begins). Pure; the caller reads and checks
 * each segment on its own (signature, header against key, body sha256).
 */
export function checkWalSequence(
  segments: readonly WalSequenceSegment[],
  start: WalGeneration['databases'][string] | undefined,
): { firstSeq: number | undefined; problems: WalSequenceProblem[] } {
  const sorted = [...segments].sort((a, b) => a.seq - b.seq);
  const problems: WalSequenceProblem[] = [];
  let previous: WalSequenceSegment | undefined;
  for (const segment of sorted) {
    const { seq, header: h } = segment;
    const problem = (message: string, missing?: { from: number; to: number }) => problems.push({ key: segment.key, message, ...(missing ? { missing } : {}) });
    const p = previous?.header;
    if (previous) {
      const last = lastSeqOf(previous);
      if (seq <= last) problem(`has the number ${seq} of another segment (${previous.key})`);
      else if (seq !== last + 1)
        problem(
          seq === last + 2 ? `follows segment ${last}: segment ${last + 1} is missing` : `follows segment ${last}: segments ${last + 1}-${seq - 1} are missing`,
          { from: last + 1, to: seq - 1 },
        );
      else if (h && p) {
        const continues = continuation(h, { salt: p.salt, frame: p.lastFrame, checksum: p.chain.end });
        if (continues) problem(`does not continue segment ${last}: ${continues}`);
      }
    } else if (h && seq === 1 && start) {
      const continues = continuation(h, start);
      if (continues) problem(`does not continue the generation's start: ${continues}`);
    }
    previous = segment;
  }
  return { firstSeq: sorted[0]?.seq, problems };
}

/** Why `h` does not follow the position `after` (undefined: it does). */
function continuation(
  h: NonNullable<WalSequenceSegment['header']>,
  after: { salt: readonly [number, number] | null; frame: number; checksum: readonly [number, number] },
): string | undefined {
  const sameWal = after.salt !== null && after.salt[0] === h.salt[0] && after.salt[1] === h.salt[1];
  if (!sameWal) return h.firstFrame === 1 ? undefined : `a new WAL starts at frame 1, not ${h.firstFrame}`;
  if (h.firstFrame !== after.frame + 1) return `frame ${after.frame} then frame ${h.firstFrame}`;
  if (h.chain.start[0] !== after.checksum[0] || h.chain.start[1] !== after.checksum[1]) return 'its checksum chain does not start where the previous one ended';
  return undefined;
}
