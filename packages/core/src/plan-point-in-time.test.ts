import { describe, expect, it } from 'vitest';
import { planPointInTime, type PitrBackup, type PitrGeneration } from './plan-point-in-time.js';

const S: [number, number] = [7, 1234];
const T: [number, number] = [8, 999];

/** Segments 1..n of the trades database: each `frames` long, the first after `start`, the last commit of each at `at[i]`. */
function segments(salt: [number, number], start: number, at: number[], frames = 10) {
  return at.map((lastCommitAt, i) => ({
    key: `k${i + 1}`,
    name: { seq: i + 1, salt, firstFrame: start + i * frames + 1, lastFrame: start + (i + 1) * frames, lastCommitAt },
  }));
}

const generation: PitrGeneration = {
  id: 'g1',
  startedAt: 1000,
  start: { trades: { salt: S, frame: 100 } },
  // Frames 101-110 (commit seen at 2000), 111-120 (3000), 121-130 (4000), 131-140 (5000).
  segments: { trades: segments(S, 100, [2000, 3000, 4000, 5000]) },
};

function backup(id: string, startedAt: number, wal: { salt: [number, number]; frame: number } | undefined, streamGeneration?: string): PitrBackup {
  return { id, startedAt, completedAt: startedAt + 100, streamGeneration, databases: { trades: wal } };
}

describe('planPointInTime', () => {
  it.each([
    {
      name: 'a backup inside segment 2: the rest of segment 2, segment 3 whole, segment 4 cut at the moment',
      backups: [backup('b1', 2500, { salt: S, frame: 115 })],
      at: 4500,
      expected: { kind: 'segments', backupId: 'b1', databases: { trades: { fromFrame: 115, segments: ['k2', 'k3'], partial: 'k4' } } },
    },
    {
      name: 'the newest linked backup not past the moment wins over an older one',
      backups: [
        backup('first', 1100, { salt: S, frame: 103 }, 'g1'),
        backup('b1', 2500, { salt: S, frame: 115 }),
        backup('late', 4600, { salt: S, frame: 135 }),
      ],
      at: 4500,
      expected: { kind: 'segments', backupId: 'b1', databases: { trades: { fromFrame: 115, segments: ['k2', 'k3'], partial: 'k4' } } },
    },
    {
      name: 'a backup past the moment is not a base: the older one is',
      backups: [backup('first', 1100, { salt: S, frame: 103 }, 'g1'), backup('b1', 2500, { salt: S, frame: 125 })],
      at: 2500,
      expected: { kind: 'segments', backupId: 'first', databases: { trades: { fromFrame: 103, segments: ['k1'], partial: 'k2' } } },
    },
    {
      name: 'a backup inside the segment the moment cuts (a pack, often), completed by the moment: the commits after it in that segment',
      backups: [backup('first', 1100, { salt: S, frame: 103 }, 'g1'), backup('b1', 3100, { salt: S, frame: 125 })],
      at: 3500,
      expected: { kind: 'segments', backupId: 'b1', databases: { trades: { fromFrame: 125, segments: [], partial: 'k3' } } },
    },
    {
      name: 'one inside that segment that completed after the moment is not a base (some commit in it may be past the moment): the older one is',
      backups: [backup('first', 1100, { salt: S, frame: 103 }, 'g1'), backup('b1', 3450, { salt: S, frame: 125 })],
      at: 3500,
      expected: { kind: 'segments', backupId: 'first', databases: { trades: { fromFrame: 103, segments: ['k1', 'k2'], partial: 'k3' } } },
    },
    {
      name: "a backup at a segment's end starts at the next segment",
      backups: [backup('b1', 2500, { salt: S, frame: 120 })],
      at: undefined,
      expected: { kind: 'segments', backupId: 'b1', databases: { trades: { fromFrame: 0, segments: ['k3', 'k4'], partial: undefined } } },
    },
    {
      name: "a backup at the generation's start position applies everything",
      backups: [backup('b1', 1100, { salt: S, frame: 100 })],
      at: undefined,
      expected: { kind: 'segments', backupId: 'b1', databases: { trades: { fromFrame: 0, segments: ['k1', 'k2', 'k3', 'k4'], partial: undefined } } },
    },
  ])('$name', ({ backups, at, expected }) => {
    const plan = planPointInTime(backups, [generation], ['trades'], at);
    expect(plan.kind).toBe(expected.kind);
    if (plan.kind !== 'segments') return;
    expect(plan.backupId).toBe(expected.backupId);
    const db = plan.databases.trades!;
    expect({ fromFrame: db.fromFrame, segments: db.segments.map((s) => s.key), partial: db.partial?.key }).toEqual(expected.databases.trades);
  });

  it("links the first backup of a generation that began with an empty WAL only when it is that generation's", () => {
    const empty: PitrGeneration = { id: 'g2', startedAt: 1000, start: { trades: { salt: null, frame: 0 } }, segments: { trades: segments(T, 0, [2000]) } };
    expect(planPointInTime([backup('own', 1100, { salt: [0, 0], frame: 0 }, 'g2')], [empty], ['trades'], undefined)).toMatchObject({
      kind: 'segments',
      backupId: 'own',
    });
    expect(planPointInTime([backup('other', 1100, { salt: [0, 0], frame: 0 })], [empty], ['trades'], undefined)).toMatchObject({
      kind: 'backup-only',
      backupId: 'other',
    });
  });

  it('a position of another WAL is not linked: the backup is restored alone, and says why', () => {
    const plan = planPointInTime([backup('b1', 2500, { salt: T, frame: 115 })], [generation], ['trades'], 4500);
    expect(plan).toEqual({ kind: 'backup-only', backupId: 'b1', reason: expect.stringContaining('no backup is linked') });
  });

  it('a generation that began after the moment is not used', () => {
    const plan = planPointInTime([backup('b0', 500, undefined), backup('b1', 2500, { salt: S, frame: 115 })], [generation], ['trades'], 900);
    expect(plan).toMatchObject({ kind: 'backup-only', backupId: 'b0' });
  });

  it('with no segments shipped at all, the newest backup before the moment', () => {
    expect(planPointInTime([backup('b0', 500, undefined), backup('b1', 900, undefined)], [], ['trades'], 1000)).toEqual({
      kind: 'backup-only',
      backupId: 'b1',
      reason: 'no WAL segments were shipped for this source',
    });
  });

  it('nothing to restore before the moment', () => {
    expect(planPointInTime([backup('b1', 2500, undefined)], [generation], ['trades'], 1000)).toMatchObject({ kind: 'none' });
  });
});
