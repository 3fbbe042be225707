import { describe, expect, it } from 'vitest';
import { checkWalSequence, type WalSequenceProblem, type WalSequenceSegment } from './check-wal-sequence.js';

const A: [number, number] = [10, 11];
const B: [number, number] = [20, 21];

/** A segment: seq, salts, frames, and its checksum chain's start and end (one number each, for short). */
function seg(seq: number, salt: [number, number], firstFrame: number, lastFrame: number, start: number, end: number): WalSequenceSegment {
  return { key: `k${seq}`, seq, header: { salt, firstFrame, lastFrame, chain: { start: [start, start], end: [end, end] } } };
}

const good = [seg(1, A, 1, 10, 0, 1), seg(2, A, 11, 20, 1, 2), seg(3, B, 1, 5, 9, 3), seg(4, B, 6, 9, 3, 4)];

describe('checkWalSequence: one database of one generation', () => {
  const cases: {
    name: string;
    segments: WalSequenceSegment[];
    start?: { salt: [number, number] | null; frame: number; checksum: [number, number] };
    firstSeq?: number;
    problems: WalSequenceProblem[];
  }[] = [
    { name: 'whole and continuous, across a WAL restart', segments: good, start: { salt: null, frame: 0, checksum: [0, 0] }, problems: [] },
    { name: 'in any order', segments: [...good].reverse(), problems: [] },
    { name: 'a pruned prefix is not a gap', segments: good.slice(2), firstSeq: 3, problems: [] },
    { name: 'none at all', segments: [], firstSeq: undefined, problems: [] },
    {
      name: 'a missing middle segment',
      segments: [good[0]!, good[2]!, good[3]!],
      problems: [{ key: 'k3', message: 'follows segment 1: segment 2 is missing', missing: { from: 2, to: 2 } }],
    },
    {
      name: 'several missing',
      segments: [good[0]!, good[3]!],
      problems: [{ key: 'k4', message: 'follows segment 1: segments 2-3 are missing', missing: { from: 2, to: 3 } }],
    },
    {
      name: 'frames skipped in the same WAL',
      segments: [good[0]!, seg(2, A, 12, 20, 1, 2)],
      problems: [{ key: 'k2', message: 'does not continue segment 1: frame 10 then frame 12' }],
    },
    {
      name: 'a checksum chain that does not follow on',
      segments: [good[0]!, seg(2, A, 11, 20, 7, 2)],
      problems: [{ key: 'k2', message: 'does not continue segment 1: its checksum chain does not start where the previous one ended' }],
    },
    {
      name: 'a new WAL that does not start at frame 1',
      segments: [good[0]!, seg(2, B, 3, 20, 1, 2)],
      problems: [{ key: 'k2', message: 'does not continue segment 1: a new WAL starts at frame 1, not 3' }],
    },
    {
      name: 'two segments with one number',
      segments: [good[0]!, { ...good[1]!, key: 'other', seq: 1 }],
      problems: [{ key: 'other', message: 'has the number 1 of another segment (k1)' }],
    },
    {
      name: 'an unreadable segment (reported on its own) is counted but not compared',
      segments: [good[0]!, { key: 'k2', seq: 2, header: undefined }, seg(3, A, 25, 30, 8, 9)],
      problems: [],
    },
    {
      name: 'a pack of segments 1-2, then segments of the next WAL',
      segments: [{ ...seg(1, A, 1, 20, 0, 2), lastSeq: 2 }, good[2]!, good[3]!],
      problems: [],
    },
    {
      name: 'a segment after a pack that skips a number',
      segments: [{ ...seg(1, A, 1, 20, 0, 2), lastSeq: 2 }, good[3]!],
      problems: [{ key: 'k4', message: 'follows segment 2: segment 3 is missing', missing: { from: 3, to: 3 } }],
    },
    {
      name: 'a segment whose number a pack before it holds',
      segments: [{ ...seg(1, A, 1, 20, 0, 2), lastSeq: 3 }, good[2]!],
      problems: [{ key: 'k3', message: 'has the number 3 of another segment (k1)' }],
    },
    {
      name: "segment 1 continues the generation's start in the same WAL",
      segments: [seg(1, A, 8, 10, 5, 6)],
      start: { salt: A, frame: 7, checksum: [5, 5] },
      problems: [],
    },
    {
      name: "segment 1 that skips frames after the generation's start",
      segments: [seg(1, A, 9, 10, 5, 6)],
      start: { salt: A, frame: 7, checksum: [5, 5] },
      problems: [{ key: 'k1', message: "does not continue the generation's start: frame 7 then frame 9" }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = checkWalSequence(c.segments, c.start);
      expect(result.problems).toEqual(c.problems);
      if ('firstSeq' in c) expect(result.firstSeq).toBe(c.firstSeq);
    });
  }
});
