import { describe, expect, it } from 'vitest';
import type { WalSegmentName } from './repository-keys.js';
import { hasUnshippedFrames, judgeShipping, summarizeWal, type CommittedWal, type WalDatabaseSummary, type WalListingLike } from './summarize-wal.js';

const G1 = '20261207T100000Z-aaaaaa';
const G2 = '20261207T120000Z-bbbbbb';
const SALT: [number, number] = [1, 2];
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

/** A segment `seq` of 10 frames, its last commit seen at T0 + seq seconds, of `size` bytes. */
function seg(seq: number, size = 100, salt: [number, number] = SALT): { name: WalSegmentName; size: number } {
  return { name: { seq, salt, firstFrame: (seq - 1) * 10 + 1, lastFrame: seq * 10, lastCommitAt: T0 + seq * 1000 }, size };
}

function listing(...generations: [id: string, hasRecord: boolean, dbs: Record<string, { name: WalSegmentName; size: number }[]>][]): WalListingLike {
  return { generations: generations.map(([id, hasRecord, dbs]) => ({ id, hasRecord, databases: new Map(Object.entries(dbs)) })) };
}

describe('summarizeWal: per database, from keys alone', () => {
  it.each<[string, WalListingLike[], string[], Partial<WalDatabaseSummary>[]]>([
    ['no listing at all: every named database, nothing shipped', [], ['trades'], [{ database: 'trades', newestCommit: null, generation: null }]],
    [
      'a generation with a record and no segment yet',
      [listing([G1, true, {}])],
      ['trades'],
      [{ newestCommit: null, generation: { id: G1, segments: 0, bytes: 0, firstSeq: null, firstMissingSeq: null, last: null } }],
    ],
    [
      'three segments: the newest commit is the third one',
      [listing([G1, true, { trades: [seg(1), seg(2), seg(3, 50)] }])],
      ['trades'],
      [
        {
          newestCommit: { at: T0 + 3000, generation: G1, seq: 3 },
          generation: {
            id: G1,
            segments: 3,
            bytes: 250,
            firstSeq: 1,
            firstMissingSeq: null,
            last: { seq: 3, salt: SALT, lastFrame: 30, lastCommitAt: T0 + 3000 },
          },
        },
      ],
    ],
    [
      'a pack of segments 1-3 on one target and those segments still on another: counted once, no gap',
      [
        listing([
          G1,
          true,
          {
            trades: [
              { name: { ...seg(1).name, lastSeq: 3, lastFrame: 30, lastCommitAt: T0 + 3000, firstSegmentAt: T0 + 1000, maxGapMs: 1000 }, size: 120 },
              seg(4),
            ],
          },
        ]),
        listing([G1, true, { trades: [seg(1), seg(2), seg(3), seg(4)] }]),
      ],
      ['trades'],
      [
        {
          newestCommit: { at: T0 + 4000, generation: G1, seq: 4 },
          generation: {
            id: G1,
            segments: 4,
            bytes: 220,
            firstSeq: 1,
            firstMissingSeq: null,
            last: { seq: 4, salt: SALT, lastFrame: 40, lastCommitAt: T0 + 4000 },
          },
        },
      ],
    ],
    [
      'a missing number is a gap (the first one missing is named)',
      [listing([G1, true, { trades: [seg(1), seg(2), seg(4), seg(6)] }])],
      ['trades'],
      [
        {
          generation: {
            id: G1,
            segments: 4,
            bytes: 400,
            firstSeq: 1,
            firstMissingSeq: 3,
            last: { seq: 6, salt: SALT, lastFrame: 60, lastCommitAt: T0 + 6000 },
          },
        },
      ],
    ],
    [
      'a generation that begins after 1 (prune deleted a prefix) has no gap there',
      [listing([G1, true, { trades: [seg(4), seg(5)] }])],
      ['trades'],
      [{ generation: expect.objectContaining({ firstSeq: 4, firstMissingSeq: null, segments: 2 }) as WalDatabaseSummary['generation'] }],
    ],
    [
      'a pruned prefix and a gap after it',
      [listing([G1, true, { trades: [seg(4), seg(5), seg(7)] }])],
      ['trades'],
      [{ generation: expect.objectContaining({ firstSeq: 4, firstMissingSeq: 6 }) as WalDatabaseSummary['generation'] }],
    ],
    [
      'two targets: the union by number, each segment counted once; a gap on one target filled by the other',
      [listing([G1, true, { trades: [seg(1), seg(3)] }]), listing([G1, false, { trades: [seg(1), seg(2)] }])],
      ['trades'],
      [{ generation: expect.objectContaining({ segments: 3, bytes: 300, firstMissingSeq: null }) as WalDatabaseSummary['generation'] }],
    ],
    [
      'a newer generation with no segment yet: its numbers are 0, the newest commit is still the older generation’s',
      [listing([G1, true, { trades: [seg(1), seg(2)] }], [G2, true, {}])],
      ['trades'],
      [
        {
          newestCommit: { at: T0 + 2000, generation: G1, seq: 2 },
          generation: { id: G2, segments: 0, bytes: 0, firstSeq: null, firstMissingSeq: null, last: null },
        },
      ],
    ],
    [
      'a generation without a record anywhere is not counted (it cannot be restored)',
      [listing([G1, true, { trades: [seg(1)] }], [G2, false, { trades: [seg(1), seg(2), seg(3)] }])],
      ['trades'],
      [
        {
          newestCommit: { at: T0 + 1000, generation: G1, seq: 1 },
          generation: expect.objectContaining({ id: G1, segments: 1 }) as WalDatabaseSummary['generation'],
        },
      ],
    ],
    [
      'named databases first, in order, then the others the listing holds',
      [listing([G1, true, { zeta: [seg(1)], alpha: [seg(1)], trades: [seg(1), seg(2)] }])],
      ['trades', 'orders'],
      [
        { database: 'trades', newestCommit: { at: T0 + 2000, generation: G1, seq: 2 } },
        { database: 'orders', newestCommit: null, generation: expect.objectContaining({ segments: 0 }) as WalDatabaseSummary['generation'] },
        { database: 'alpha' },
        { database: 'zeta' },
      ],
    ],
  ])('%s', (_name, listings, databases, expected) => {
    const summaries = summarizeWal(listings, databases);
    expect(summaries).toHaveLength(expected.length);
    for (const [i, e] of expected.entries()) expect(summaries[i]).toMatchObject(e);
  });
});

describe('hasUnshippedFrames and judgeShipping: the database against the newest segment', () => {
  const shipped = summarizeWal([listing([G1, true, { trades: [seg(1), seg(2), seg(3)] }])], ['trades'])[0]!;
  const empty = summarizeWal([listing([G1, true, {}])], ['trades'])[0]!;
  const newerEmpty = summarizeWal([listing([G1, true, { trades: [seg(1)] }], [G2, true, {}])], ['trades'])[0]!;
  const at = (seconds: number) => T0 + 3000 + seconds * 1000;

  it.each<[string, WalDatabaseSummary, CommittedWal, boolean | undefined]>([
    ['the WAL ends where the newest segment does', shipped, { salt: SALT, maxFrame: 30 }, false],
    ['the WAL has frames past it', shipped, { salt: SALT, maxFrame: 31 }, true],
    ['the WAL was restarted and is empty', shipped, { salt: [2, 9], maxFrame: 0 }, false],
    ['the WAL was restarted and has frames: all newer than the segment', shipped, { salt: [2, 9], maxFrame: 1 }, true],
    ['no segment yet, empty WAL', empty, { salt: SALT, maxFrame: 0 }, false],
    ['no segment yet in the newest generation, frames in the WAL: cannot tell', newerEmpty, { salt: SALT, maxFrame: 5 }, undefined],
  ])('%s', (_name, summary, wal, expected) => {
    expect(hasUnshippedFrames(summary, wal)).toBe(expected);
  });

  it.each<[string, WalDatabaseSummary, CommittedWal | undefined, number, string]>([
    ['nothing shipped, nothing to ship', empty, { salt: SALT, maxFrame: 0 }, 0, 'none'],
    ['nothing shipped, the database not readable here', empty, undefined, 600, 'none'],
    ['a quiet bot: the newest commit an hour old, nothing unshipped', shipped, { salt: SALT, maxFrame: 30 }, 3600, 'shipped'],
    ['frames waiting, the newest commit older than the bound: behind', shipped, { salt: SALT, maxFrame: 40 }, 61, 'behind'],
    ['frames waiting, the newest commit within the bound', shipped, { salt: SALT, maxFrame: 40 }, 59, 'recent'],
    ['not readable here, within the bound', shipped, undefined, 60, 'recent'],
    ['not readable here, older than the bound: cannot tell a quiet bot from a stopped streamer', shipped, undefined, 61, 'old'],
    ['cannot tell from the WAL (no segment in the newest generation), older than the bound', newerEmpty, { salt: SALT, maxFrame: 5 }, 7200, 'old'],
  ])('%s: %s', (_name, summary, wal, secondsAfter, expected) => {
    expect(judgeShipping({ summary, wal, now: at(secondsAfter), alertAfterMs: 60_000 })).toBe(expected);
  });
});
