import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WalListingLike, WalSegmentName } from '@botbackup/core';
import { hourlyRpo, hourlyRpoWindow, walCommits, type DatabaseCommits } from './rpo.js';
import { buildTrends, renderTrendPlots } from './trends.js';

const H = 3_600_000;
const T0 = Date.parse('2026-11-26T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const db = (times: number[], database = 'trades'): DatabaseCommits => ({ database, times: times.map((t) => T0 + t) });

describe('hourlyRpo', () => {
  const cases: {
    name: string;
    databases: DatabaseCommits[];
    from?: number;
    to?: number;
    expected: [hour: number, gapMs: number, atMs: number, database?: string][];
  }[] = [
    { name: 'no commit', databases: [], expected: [] },
    { name: 'one commit: no gap yet', databases: [db([1000])], expected: [] },
    { name: 'two commits in one hour: their gap', databases: [db([1000, 3500])], expected: [[0, 2500, 3500]] },
    { name: 'the worst gap of the hour, not the last', databases: [db([0, 60_000, 61_000, 62_000])], expected: [[0, 60_000, 60_000]] },
    {
      name: 'a gap counts in the hour its later commit is in',
      databases: [db([H - 1000, H + 4000, H + 5000])],
      expected: [[H, 5000, H + 4000]],
    },
    {
      name: 'an hour without a commit has no point; a quiet spell shows as the gap that ends it',
      databases: [db([0, 1000, 3 * H + 500])],
      expected: [
        [0, 1000, 1000],
        [3 * H, 3 * H - 500, 3 * H + 500],
      ],
    },
    {
      name: 'databases apart: no gap between two databases’ commits, the worse database’s gap per hour',
      databases: [db([0, 10_000], 'a'), db([5000, 7000, H + 1000], 'b')],
      expected: [
        [0, 10_000, 10_000, 'a'],
        [H, H - 6000, H + 1000, 'b'],
      ],
    },
    {
      name: 'only gaps that end within the window, the commit before it may be older',
      databases: [db([0, 2 * H, 3 * H, 5 * H])],
      from: T0 + 2 * H,
      to: T0 + 4 * H,
      expected: [
        [2 * H, 2 * H, 2 * H],
        [3 * H, H, 3 * H],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const points = hourlyRpo(c.databases, c.from ?? T0 - 90 * 24 * H, c.to ?? T0 + 24 * H);
      expect(points).toEqual(
        c.expected.map(([hour, gap, end, database = 'trades']) => ({
          hour: at(hour),
          gapSeconds: gap / 1000,
          at: at(end),
          after: at(end - gap),
          database,
        })),
      );
    });
  }
});

describe('hourlyRpoWindow', () => {
  it('gives what hourlyRpo gives for any window, from every hour’s point worked out once per databases array', () => {
    // Any ms, or on a quarter hour: commits and window ends right on an hour's start are the edge cases.
    const time = (max: number) =>
      fc.oneof(
        fc.integer({ min: 0, max }),
        fc.integer({ min: 0, max: max / 900_000 }).map((q) => q * 900_000),
      );
    const times = fc.array(time(10 * H), { maxLength: 60 }).map((t) => [...t].sort((a, b) => a - b));
    fc.assert(
      fc.property(
        fc.array(times, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(time(11 * H), time(12 * H)), { minLength: 1, maxLength: 5 }),
        (lists, windows) => {
          // One array across the windows, as one catalog sync's is across requests.
          const databases = lists.map((t, i) => db(t, `db${i}`));
          for (const [from, length] of windows) {
            expect(hourlyRpoWindow(databases, T0 + from, T0 + from + length)).toEqual(hourlyRpo(databases, T0 + from, T0 + from + length));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  it('cuts the window’s first and last hours exactly: a gap ending before `from` or right on the next hour is in neither cut hour', () => {
    const databases = [db([0, 10 * 60_000, H - 60_000, H, H + 1000, 3 * H + 5000, 3 * H + 9000])];
    const from = T0 + 30 * 60_000;
    const to = T0 + 3 * H + 6000;
    expect(hourlyRpoWindow(databases, from, to).map((p) => [p.hour, p.gapSeconds])).toEqual([
      [at(0), (H - 60_000 - 10 * 60_000) / 1000],
      [at(H), 60],
      [at(3 * H), (2 * H + 4000) / 1000],
    ]);
  });
});

describe('walCommits', () => {
  const segment = (seq: number, lastCommitAt: number): { name: WalSegmentName; size: number } => ({
    name: { seq, lastCommitAt, salt: [1, 2], firstFrame: seq, lastFrame: seq },
    size: 10,
  });
  it('counts a segment on several targets once, and only generations with a record on some target', () => {
    const a: WalListingLike = {
      generations: [
        { id: 'g1', hasRecord: true, databases: new Map([['trades', [segment(1, 100), segment(2, 300)]]]) },
        { id: 'g2', hasRecord: false, databases: new Map([['trades', [segment(1, 900)]]]) },
        { id: 'g3', hasRecord: false, databases: new Map([['trades', [segment(1, 500)]]]) },
      ],
    };
    const b: WalListingLike = {
      generations: [
        { id: 'g1', hasRecord: false, databases: new Map([['trades', [segment(2, 300), segment(3, 400)]]]) },
        { id: 'g3', hasRecord: true, databases: new Map() },
      ],
    };
    expect(walCommits([a, b])).toEqual([{ database: 'trades', times: [100, 300, 400, 500] }]);
  });
  it('stands in for a pack by times no further apart than its longest gap, one that far: the worst gap of its hour is right', () => {
    // Segments 2 to 6 packed: the first one's commit at 1000, the last at 9000, at worst 3000 apart.
    const pack = { ...segment(2, 9000), name: { ...segment(2, 9000).name, lastSeq: 6, firstSegmentAt: 1000, maxGapMs: 3000 } };
    const listing: WalListingLike = {
      generations: [{ id: 'g1', hasRecord: true, databases: new Map([['trades', [segment(1, 500), pack, segment(7, 9800)]]]) }],
    };
    const [commits] = walCommits([listing]);
    expect(commits!.times).toEqual([500, 1000, 4000, 7000, 9000, 9800]);
    expect(hourlyRpo([commits!], 0, H)[0]).toMatchObject({ gapSeconds: 3 });
  });
});

describe('walCommits over many listings', () => {
  /** walCommits as it was first written, a key for each time: the reference for the one that keeps a pack's times together. */
  const keyPerTime = (listings: readonly WalListingLike[]): DatabaseCommits[] => {
    const withRecord = new Set(listings.flatMap((l) => l.generations.filter((g) => g.hasRecord).map((g) => g.id)));
    const byDb = new Map<string, Map<string, number>>();
    for (const l of listings) {
      for (const g of l.generations) {
        if (!withRecord.has(g.id)) continue;
        for (const [database, list] of g.databases) {
          const seen = byDb.get(database) ?? new Map<string, number>();
          byDb.set(database, seen);
          for (const s of list) {
            if (s.name.lastSeq === undefined) seen.set(`${g.id}/${s.name.seq}`, s.name.lastCommitAt);
            else {
              const { firstSegmentAt = s.name.lastCommitAt, maxGapMs = 0, lastCommitAt } = s.name;
              const times = [firstSegmentAt];
              if (maxGapMs > 0) for (let t = firstSegmentAt + maxGapMs; t < lastCommitAt; t += maxGapMs) times.push(t);
              if (lastCommitAt > firstSegmentAt) times.push(lastCommitAt);
              times.forEach((t, i) => seen.set(`${g.id}/${s.name.seq}+${i}`, t));
            }
          }
        }
      }
    }
    return [...byDb.keys()].sort().map((database) => ({ database, times: [...byDb.get(database)!.values()].sort((a, b) => a - b) }));
  };
  it('counts what a key per time counted, segments and packs on several targets alike', () => {
    const piece = fc.record({
      seq: fc.integer({ min: 1, max: 8 }),
      pack: fc.option(fc.record({ length: fc.integer({ min: 1, max: 5 }), span: fc.integer({ min: 0, max: 20_000 }), gap: fc.integer({ min: 0, max: 4000 }) })),
      at: fc.integer({ min: 0, max: 100_000 }),
    });
    const generation = fc.record({
      id: fc.constantFrom('g1', 'g2'),
      hasRecord: fc.boolean(),
      databases: fc.array(fc.tuple(fc.constantFrom('trades', 'orders'), fc.array(piece, { maxLength: 6 })), { maxLength: 2 }),
    });
    const listings = fc.array(fc.record({ generations: fc.array(generation, { maxLength: 3 }) }), { maxLength: 3 }).map((ls) =>
      ls.map((l): WalListingLike => ({
        generations: l.generations.map((g) => ({
          id: g.id,
          hasRecord: g.hasRecord,
          databases: new Map(
            g.databases.map(([database, pieces]) => [
              database,
              pieces.map((p) => ({
                size: 1,
                name: p.pack
                  ? {
                      seq: p.seq,
                      lastSeq: p.seq + p.pack.length,
                      lastCommitAt: p.at + p.pack.span,
                      firstSegmentAt: p.at,
                      maxGapMs: p.pack.gap,
                      salt: [1, 2],
                      firstFrame: 1,
                      lastFrame: 2,
                    }
                  : { seq: p.seq, lastCommitAt: p.at, salt: [1, 2], firstFrame: 1, lastFrame: 2 },
              })),
            ]),
          ),
        })),
      })),
    );
    fc.assert(
      fc.property(listings, (ls) => {
        expect(walCommits(ls)).toEqual(keyPerTime(ls));
      }),
      { numRuns: 300 },
    );
  });
});

describe('the RPO plot', () => {
  it('one mark per hour with its exact value, against continuous.alertAfter; none for a source that is not continuous', () => {
    const now = new Date(T0 + 3 * H);
    const wal = { alertAfterMs: 60_000, databases: [db([0, 1000, H + 500, 2 * H + 2500])], newestCommitAt: T0 + 2 * H + 2500, errors: [] };
    const trends = buildTrends('bot', [], 1000, now, undefined, wal);
    expect(trends.rpo).toMatchObject({ alertAfterSeconds: 60, newestCommitAt: at(2 * H + 2500), newestCommitAgeSeconds: (H - 2500) / 1000 });
    expect(trends.rpo!.points).toHaveLength(3);
    const svg = renderTrendPlots(trends).rpo!;
    expect((svg.match(/data-point=""/g) ?? []).length).toBe(3);
    expect(svg).toContain(`hour from 2026-11-26 00:00 UTC: at worst 1.0 s (1 s) between shipped commits of trades, ${at(0)} to ${at(1000)}`);
    expect(svg).toMatch(/data-guide="alertAfter"[^>]*><title>continuous.alertAfter: 1 min \(60 s\)<\/title>/);
    expect(renderTrendPlots(buildTrends('bot', [], 1000, now)).rpo).toBeUndefined();
  });
});
