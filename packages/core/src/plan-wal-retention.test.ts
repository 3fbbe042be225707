import { describe, expect, it } from 'vitest';
import { planPointInTime, type PitrBackup, type PitrGeneration } from './plan-point-in-time.js';
import { planWalRetention, type WalRetentionBackup, type WalRetentionGeneration } from './plan-wal-retention.js';

const A: [number, number] = [0xaaaa, 1];
const B: [number, number] = [0xbbbb, 2];

/** A database's segments: each [salt, firstFrame, lastFrame, lastCommitAt], numbered from `fromSeq`. */
function segs(gen: string, db: string, list: [[number, number], number, number, number][], fromSeq = 1) {
  return list.map(([salt, firstFrame, lastFrame, lastCommitAt], i) => ({
    key: `wal/s/${gen}/${db}/${fromSeq + i}`,
    name: { seq: fromSeq + i, salt, firstFrame, lastFrame, lastCommitAt },
  }));
}

/** Generation g1: trades in WAL A frames 1-30 in three segments, then a restart into WAL B frames 1-20 in two. */
const g1: WalRetentionGeneration = {
  id: 'g1',
  recordKey: 'wal/s/g1/generation.json',
  start: { trades: { salt: null, frame: 0 } },
  segments: {
    trades: segs('g1', 'trades', [
      [A, 1, 10, 100],
      [A, 11, 20, 200],
      [A, 21, 30, 300],
      [B, 1, 10, 400],
      [B, 11, 20, 500],
    ]),
  },
};
/** Generation g2: WAL B frames 21-40 (it began after g1 lost track, in the same WAL). */
const g2: WalRetentionGeneration = {
  id: 'g2',
  recordKey: 'wal/s/g2/generation.json',
  start: { trades: { salt: B, frame: 20 } },
  segments: {
    trades: segs('g2', 'trades', [
      [B, 21, 30, 600],
      [B, 31, 40, 700],
    ]),
  },
};

const threeDatabases: WalRetentionGeneration = {
  ...g1,
  segments: {
    trades: g1.segments.trades!,
    orders: segs('g1', 'orders', [
      [B, 1, 5, 100],
      [B, 6, 9, 200],
      [B, 10, 12, 300],
    ]),
    logs: segs('g1', 'logs', [[A, 1, 2, 100]]),
  },
};

function backup(id: string, place?: { salt: [number, number]; frame: number }, streamGeneration?: string): WalRetentionBackup {
  return { id, streamGeneration, databases: { trades: place } };
}

function keys(generation: WalRetentionGeneration, db: string, seqs: number[]): string[] {
  return seqs.map((n) => generation.segments[db]!.find((s) => s.name.seq === n)!.key);
}

describe('planWalRetention: which WAL objects prune deletes', () => {
  const cases: {
    name: string;
    kept: WalRetentionBackup[];
    generations: WalRetentionGeneration[];
    protectFrom?: number;
    expected: { id: string; action: string; delete: string[]; reasons?: string[] }[];
  }[] = [
    {
      name: 'no kept backup: an old generation goes whole, record first; the newest stays',
      kept: [],
      generations: [g1, g2],
      expected: [
        {
          id: 'g1',
          action: 'delete',
          delete: ['wal/s/g1/generation.json', ...keys(g1, 'trades', [1, 2, 3, 4, 5])],
          reasons: ['no kept backup is linked to it'],
        },
        { id: 'g2', action: 'keep', delete: [], reasons: ['newest generation'] },
      ],
    },
    {
      name: 'a kept backup inside segment 3: segments 1 and 2 go, 3 on stays (a prefix)',
      kept: [backup('b1', { salt: A, frame: 25 })],
      generations: [g1, g2],
      expected: [
        { id: 'g1', action: 'trim', delete: keys(g1, 'trades', [1, 2]), reasons: ['trades from segment 3: backup b1'] },
        { id: 'g2', action: 'keep', delete: [] },
      ],
    },
    {
      name: "the oldest kept backup decides, whatever the kept backups' order",
      kept: [backup('b2', { salt: B, frame: 15 }), backup('b1', { salt: A, frame: 12 })],
      generations: [g1],
      expected: [{ id: 'g1', action: 'trim', delete: keys(g1, 'trades', [1]), reasons: ['trades from segment 2: backup b1'] }],
    },
    {
      name: "a position at a segment's last frame keeps that segment (the next one starts a new WAL, which links nothing)",
      kept: [backup('b1', { salt: A, frame: 30 })],
      generations: [g1],
      expected: [{ id: 'g1', action: 'trim', delete: keys(g1, 'trades', [1, 2]) }],
    },
    {
      name: "a position at the newest segment's end: every older segment goes, the newest stays (a streamer resumes from it)",
      kept: [backup('b1', { salt: B, frame: 20 })],
      generations: [g1],
      expected: [{ id: 'g1', action: 'trim', delete: keys(g1, 'trades', [1, 2, 3, 4]) }],
    },
    {
      name: 'a position at frame 0 of a new WAL is in its first segment',
      kept: [backup('b1', { salt: B, frame: 0 })],
      generations: [g1],
      expected: [{ id: 'g1', action: 'trim', delete: keys(g1, 'trades', [1, 2, 3]) }],
    },
    {
      name: "the generation's first backup, taken while the WAL was empty, keeps everything",
      kept: [backup('first', undefined, 'g1')],
      generations: [g1, g2],
      expected: [
        { id: 'g1', action: 'keep', delete: [], reasons: ['trades from segment 1: backup first'] },
        { id: 'g2', action: 'keep', delete: [] },
      ],
    },
    {
      name: "a backup at a generation's start keeps everything (matched by its record)",
      kept: [backup('b1', { salt: B, frame: 20 })],
      generations: [g2, { ...g1, id: 'g3', recordKey: 'wal/s/g3/generation.json', segments: {} }],
      expected: [
        { id: 'g2', action: 'keep', delete: [], reasons: ['trades from segment 1: backup b1'] },
        { id: 'g3', action: 'keep', delete: [], reasons: ['newest generation'] },
      ],
    },
    {
      name: 'one position in two generations (the same WAL) keeps each from there',
      kept: [backup('b1', { salt: B, frame: 25 })],
      generations: [g1, g2],
      expected: [
        { id: 'g1', action: 'delete', delete: ['wal/s/g1/generation.json', ...keys(g1, 'trades', [1, 2, 3, 4, 5])] },
        { id: 'g2', action: 'keep', delete: [], reasons: ['trades from segment 1: backup b1'] },
      ],
    },
    {
      name: 'a backup of another WAL (its salts in no segment) links nothing',
      kept: [backup('b1', { salt: [7, 7], frame: 5 })],
      generations: [g1, g2],
      expected: [
        { id: 'g1', action: 'delete', delete: ['wal/s/g1/generation.json', ...keys(g1, 'trades', [1, 2, 3, 4, 5])] },
        { id: 'g2', action: 'keep', delete: [] },
      ],
    },
    {
      name: 'an unlinked generation with a commit inside the grace period stays',
      kept: [],
      generations: [g1, g2],
      protectFrom: 450,
      expected: [
        { id: 'g1', action: 'keep', delete: [], reasons: ['within grace'] },
        { id: 'g2', action: 'keep', delete: [] },
      ],
    },
    {
      name: 'a generation whose record is gone (an interrupted prune) goes by its segments alone',
      kept: [],
      generations: [{ ...g1, recordKey: undefined, start: undefined, segments: { trades: g1.segments.trades!.slice(2) } }, g2],
      expected: [
        { id: 'g1', action: 'delete', delete: keys(g1, 'trades', [3, 4, 5]) },
        { id: 'g2', action: 'keep', delete: [] },
      ],
    },
    {
      name: 'a prefix already pruned: positions are found in what is left, and nothing more goes',
      kept: [backup('b1', { salt: A, frame: 25 })],
      generations: [{ ...g1, segments: { trades: g1.segments.trades!.slice(2) } }],
      expected: [{ id: 'g1', action: 'keep', delete: [], reasons: ['trades from segment 3: backup b1'] }],
    },
    {
      name: 'two databases: each trimmed by its own oldest position; one no kept backup is linked in stays whole',
      kept: [{ id: 'b1', streamGeneration: undefined, databases: { trades: { salt: A, frame: 15 }, orders: { salt: B, frame: 6 } } }],
      generations: [threeDatabases],
      expected: [
        {
          id: 'g1',
          action: 'trim',
          delete: [...keys(threeDatabases, 'orders', [1]), ...keys(threeDatabases, 'trades', [1])],
          reasons: ['logs: no kept backup is linked in it, kept whole', 'orders from segment 2: backup b1', 'trades from segment 2: backup b1'],
        },
      ],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = planWalRetention(c.kept, c.generations, { protectFrom: c.protectFrom });
      expect(
        plan.map((d) => ({ id: d.id, action: d.action, delete: d.delete, ...(c.expected.find((e) => e.id === d.id)?.reasons ? { reasons: d.reasons } : {}) })),
      ).toEqual(c.expected);
      for (const d of plan) expect(d.segments.deleted).toBe(d.delete.filter((k) => !k.endsWith('generation.json')).length);
    });
  }

  it('never deletes anything a point-in-time restore from a kept backup reads, and leaves each database a gap-free suffix', () => {
    // Every kept position in g1 and every moment after it: the plan over what prune leaves equals the plan over everything.
    const positions: { salt: [number, number]; frame: number }[] = [
      ...[0, 1, 9, 10, 11, 20, 29, 30].map((frame) => ({ salt: A, frame })),
      ...[0, 1, 10, 19, 20].map((frame) => ({ salt: B, frame })),
    ];
    const asPitr = (g: WalRetentionGeneration): PitrGeneration => ({
      id: g.id,
      startedAt: 0,
      start: g.start!,
      segments: g.segments as PitrGeneration['segments'],
    });
    for (const place of positions) {
      const kept = [backup('b', place)];
      const plan = planWalRetention(kept, [g1]);
      const doomed = new Set(plan.flatMap((d) => d.delete));
      const left: WalRetentionGeneration = { ...g1, segments: { trades: g1.segments.trades!.filter((s) => !doomed.has(s.key)) } };
      const seqs = left.segments.trades!.map((s) => s.name.seq);
      expect(seqs, JSON.stringify(place)).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(seqs.at(-1)).toBe(5);
      // It completed once the frames up to its position were committed: by the last commit of the segment that holds them.
      const held = g1.segments.trades!.find((s) => s.name.salt === place.salt && s.name.lastFrame >= place.frame)!;
      const pitr: PitrBackup[] = [{ id: 'b', startedAt: 0, completedAt: held.name.lastCommitAt, streamGeneration: undefined, databases: { trades: place } }];
      for (const at of [150, 250, 350, 450, 550, undefined]) {
        const whole = planPointInTime(pitr, [asPitr(g1)], ['trades'], at);
        const pruned = planPointInTime(pitr, [asPitr(left)], ['trades'], at);
        expect(pruned, `${JSON.stringify(place)} at ${at}`).toEqual(whole);
      }
    }
  });

  it('a pack goes or stays whole: a kept position inside it keeps it, one after it lets it go', () => {
    // Segments 1-3 of WAL A packed (frames 1-30), then segments 4 and 5 of WAL B.
    const [s4, s5] = g1.segments.trades!.slice(3);
    const pack = {
      key: 'wal/s/g1/trades/1-3',
      name: { seq: 1, lastSeq: 3, salt: A, firstFrame: 1, lastFrame: 30, lastCommitAt: 300, firstSegmentAt: 100, maxGapMs: 100 },
    };
    const packed: WalRetentionGeneration = { ...g1, segments: { trades: [pack, s4!, s5!] } };
    const inside = planWalRetention([backup('b', { salt: A, frame: 25 })], [packed]);
    expect(inside[0]).toMatchObject({ action: 'keep', delete: [], reasons: ['trades from segment 1: backup b'] });
    const after = planWalRetention([backup('b', { salt: B, frame: 5 })], [packed]);
    expect(after[0]).toMatchObject({ action: 'trim', delete: [pack.key], reasons: ['trades from segment 4: backup b'] });
  });
});
