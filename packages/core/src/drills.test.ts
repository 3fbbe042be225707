import { describe, expect, it } from 'vitest';
import { planDrill, type DrillRecord } from './drills.js';

const DAY = 86_400_000;
const now = new Date('2026-11-26T12:00:00Z');
const ago = (days: number) => new Date(now.getTime() - days * DAY).toISOString();
const record = (store: string, backupId: string, at: string, ok = true, read: string[] = [backupId]): DrillRecord => ({
  sourceId: 'bot',
  backupId,
  store,
  at,
  ok,
  restoreMs: 1000,
  dataAgeMs: 0,
  read,
  checks: [],
});

describe('planDrill', () => {
  const copies = ['a', 'b', 'c'].flatMap((backupId) => ['local', 's3'].map((store) => ({ backupId, store })));

  it('drills the newest never-drilled copy first, then the one drilled longest ago', () => {
    expect(planDrill({ copies, history: [], now, periodMs: 30 * DAY }).next).toEqual({ backupId: 'c', store: 'local' });
    const history = copies.filter((c) => !(c.backupId === 'a' && c.store === 's3')).map((c, i) => record(c.store, c.backupId, ago(10 - i)));
    expect(planDrill({ copies, history, now, periodMs: 30 * DAY }).next).toEqual({ backupId: 'a', store: 's3' });
    history.push(record('s3', 'a', ago(0)));
    // Now every copy was drilled; the oldest drill was of a in local (10 days ago).
    expect(planDrill({ copies, history, now, periodMs: 30 * DAY }).next).toEqual({ backupId: 'a', store: 'local' });
  });

  it('a drill of an incremental covers every link it read, in its store only', () => {
    const history = [record('local', 'c', ago(1), true, ['a', 'b', 'c'])];
    const plan = planDrill({ copies, history, now, periodMs: 30 * DAY });
    expect(plan.overdue).toEqual([
      { backupId: 'c', store: 's3' },
      { backupId: 'b', store: 's3' },
      { backupId: 'a', store: 's3' },
    ]);
    expect(plan.next).toEqual({ backupId: 'c', store: 's3' });
  });

  it('a failed drill is an attempt, not coverage; drills older than the period are overdue', () => {
    const history = copies.map((c) => record(c.store, c.backupId, ago(c.backupId === 'b' ? 40 : 2), c.backupId !== 'c'));
    const plan = planDrill({ copies, history, now, periodMs: 30 * DAY });
    expect(plan.overdue.map((c) => `${c.store}/${c.backupId}`)).toEqual(['local/c', 's3/c', 'local/b', 's3/b']);
    // b was tried 40 days ago: it goes next, before c, which failed 2 days ago.
    expect(plan.next).toEqual({ backupId: 'b', store: 'local' });
  });

  it('ignores records of copies that are gone, and has nothing to drill without copies', () => {
    expect(planDrill({ copies: [], history: [record('local', 'x', ago(1))], now, periodMs: DAY })).toMatchObject({ next: undefined, overdue: [] });
  });
});
