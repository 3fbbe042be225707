import type { WalGeneration, WalSegmentHeader } from './wal-segment.js';

/** What the sequence check reads of a segment: its key and its (checked) header. */
export interface WalSequenceSegment {
  key: string;
  header: Pick<WalSegmentHeader, 'seq' | 'salt' | 'firstFrame' | 'lastFrame' | 'chain'>;
}

/** A break in one database's sequence, named by the segment after it. */
export interface WalSequenceProblem {
  key: string;
  message: string;
}

/**
 * The breaks in one database's segments of one generation (docs/format.md, "WAL objects"), in
 * seq order: numbers follow on with no gap, and each segment continues the previous one: in the
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
  const sorted = [...segments].sort((a, b) => a.header.seq - b.header.seq);
  const problems: WalSequenceProblem[] = [];
  let previous: WalSequenceSegment | undefined;
  for (const segment of sorted) {
    const h = segment.header;
    const problem = (message: string) => problems.push({ key: segment.key, message });
    if (previous) {
      const p = previous.header;
      if (h.seq === p.seq) problem(`has the number ${h.seq} of another segment (${previous.key})`);
      else if (h.seq !== p.seq + 1)
        problem(
          h.seq === p.seq + 2
            ? `follows segment ${p.seq}: segment ${p.seq + 1} is missing`
            : `follows segment ${p.seq}: segments ${p.seq + 1}-${h.seq - 1} are missing`,
        );
      else {
        const continues = continuation(h, { salt: p.salt, frame: p.lastFrame, checksum: p.chain.end });
        if (continues) problem(`does not continue segment ${p.seq}: ${continues}`);
      }
    } else if (h.seq === 1 && start) {
      const continues = continuation(h, start);
      if (continues) problem(`does not continue the generation's start: ${continues}`);
    }
    previous = segment;
  }
  return { firstSeq: sorted[0]?.header.seq, problems };
}

/** Why `h` does not follow the position `after` (undefined: it does). */
function continuation(
  h: WalSequenceSegment['header'],
  after: { salt: readonly [number, number] | null; frame: number; checksum: readonly [number, number] },
): string | undefined {
  const sameWal = after.salt !== null && after.salt[0] === h.salt[0] && after.salt[1] === h.salt[1];
  if (!sameWal) return h.firstFrame === 1 ? undefined : `a new WAL starts at frame 1, not ${h.firstFrame}`;
  if (h.firstFrame !== after.frame + 1) return `frame ${after.frame} then frame ${h.firstFrame}`;
  if (h.chain.start[0] !== after.checksum[0] || h.chain.start[1] !== after.checksum[1]) return 'its checksum chain does not start where the previous one ended';
  return undefined;
}
