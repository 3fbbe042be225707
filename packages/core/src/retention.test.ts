import { describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION, planRetention, type RetentionBackup, type RetentionDecision, type RetentionPolicy } from './retention.js';
import { seededRandom as random } from '../../../test/helpers/random.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A policy that keeps nothing unless a case says so. */
const NONE: RetentionPolicy = {
  keepLast: 0,
  daily: 0,
  weekly: 0,
  monthly: 0,
  yearly: 0,
  keepWithinMs: 0,
  timezone: 'UTC',
  graceMs: 0,
  scheduleKeepWithinMs: {},
};

type Extra = Partial<Omit<RetentionBackup, 'time'>>;
/** A good, full backup at an ISO time; its id is the time, so cases read easily. */
function backup(iso: string, extra: Extra = {}): RetentionBackup {
  return { id: iso, time: new Date(iso), parent: null, good: true, verified: false, degraded: false, scheduleId: null, ...extra };
}
/** Backups every `stepMs` from `fromIso` up to and including `toIso`. */
function series(fromIso: string, toIso: string, stepMs: number, extra: Extra = {}): RetentionBackup[] {
  const out: RetentionBackup[] = [];
  for (let t = Date.parse(fromIso); t <= Date.parse(toIso); t += stepMs) out.push(backup(new Date(t).toISOString(), extra));
  return out;
}
function keptMap(decisions: RetentionDecision[]): Record<string, string[]> {
  return Object.fromEntries(decisions.filter((d) => d.keep).map((d) => [d.id, d.reasons]));
}

describe('planRetention: tables over generated calendars', () => {
  const cases: { name: string; backups: RetentionBackup[]; policy: Partial<RetentionPolicy>; now: string; kept: Record<string, string[]> }[] = [
    {
      name: 'several backups a day: the newest of each day',
      backups: series('2026-11-24T00:00:00.000Z', '2026-11-26T12:00:00.000Z', 4 * HOUR),
      policy: { daily: 2 },
      now: '2026-11-26T13:00:00.000Z',
      kept: { '2026-11-25T20:00:00.000Z': ['daily 2026-11-25'], '2026-11-26T12:00:00.000Z': ['daily 2026-11-26'] },
    },
    {
      name: 'gaps of days: the last N days that have a backup, not the last N days of the calendar',
      backups: ['2026-11-01', '2026-11-05', '2026-11-20', '2026-11-26'].map((d) => backup(`${d}T02:00:00.000Z`)),
      policy: { daily: 3 },
      now: '2026-11-30T00:00:00.000Z',
      kept: {
        '2026-11-05T02:00:00.000Z': ['daily 2026-11-05'],
        '2026-11-20T02:00:00.000Z': ['daily 2026-11-20'],
        '2026-11-26T02:00:00.000Z': ['daily 2026-11-26'],
      },
    },
    {
      name: 'gaps of weeks: ISO weeks (Monday to Sunday) that have a backup',
      // 2026-10-04 is a Sunday (W40), 2026-10-05 a Monday (W41); W42 to W47 are empty.
      backups: ['2026-10-04T12:00:00.000Z', '2026-10-05T12:00:00.000Z', '2026-10-06T12:00:00.000Z', '2026-11-23T12:00:00.000Z'].map((t) => backup(t)),
      policy: { weekly: 3 },
      now: '2026-11-26T00:00:00.000Z',
      kept: {
        '2026-10-04T12:00:00.000Z': ['weekly 2026-W40'],
        '2026-10-06T12:00:00.000Z': ['weekly 2026-W41'],
        '2026-11-23T12:00:00.000Z': ['weekly 2026-W48'],
      },
    },
    {
      name: 'a month boundary in UTC',
      backups: [backup('2026-10-31T23:30:00.000Z'), backup('2026-11-01T00:30:00.000Z')],
      policy: { monthly: 2 },
      now: '2026-11-26T00:00:00.000Z',
      kept: { '2026-10-31T23:30:00.000Z': ['monthly 2026-10'], '2026-11-01T00:30:00.000Z': ['monthly 2026-11'] },
    },
    {
      name: 'the same instants in Europe/Berlin are both in November',
      backups: [backup('2026-10-31T23:30:00.000Z'), backup('2026-11-01T00:30:00.000Z'), backup('2026-10-31T22:30:00.000Z')],
      policy: { monthly: 2, timezone: 'Europe/Berlin' },
      now: '2026-11-26T00:00:00.000Z',
      kept: { '2026-10-31T22:30:00.000Z': ['monthly 2026-10'], '2026-11-01T00:30:00.000Z': ['monthly 2026-11'] },
    },
    {
      name: 'a year boundary inside ISO week 2026-W53',
      // 2026-12-31 is a Thursday, so Friday 2027-01-01 still belongs to 2026-W53.
      backups: [backup('2026-12-30T10:00:00.000Z'), backup('2026-12-31T10:00:00.000Z'), backup('2027-01-02T10:00:00.000Z'), backup('2027-01-04T10:00:00.000Z')],
      policy: { weekly: 2, yearly: 2 },
      now: '2027-01-05T00:00:00.000Z',
      kept: {
        '2026-12-31T10:00:00.000Z': ['yearly 2026'],
        '2027-01-02T10:00:00.000Z': ['weekly 2026-W53'],
        '2027-01-04T10:00:00.000Z': ['weekly 2027-W01', 'yearly 2027'],
      },
    },
    {
      name: 'the 25-hour day of the autumn DST change in Europe/Berlin is one day',
      // 2026-10-25 local runs from 2026-10-24T22:00Z (CEST) to 2026-10-25T23:00Z (CET): 25 hourly backups.
      backups: series('2026-10-24T21:00:00.000Z', '2026-10-25T23:00:00.000Z', HOUR),
      policy: { daily: 3, timezone: 'Europe/Berlin' },
      now: '2026-10-26T00:00:00.000Z',
      kept: {
        '2026-10-24T21:00:00.000Z': ['daily 2026-10-24'],
        '2026-10-25T22:00:00.000Z': ['daily 2026-10-25'],
        '2026-10-25T23:00:00.000Z': ['daily 2026-10-26'],
      },
    },
    {
      name: 'the 23-hour day of the spring DST change in Europe/Berlin is one day',
      // 2026-03-29 local runs from 2026-03-28T23:00Z (CET) to 2026-03-29T22:00Z (CEST): 23 hourly backups.
      backups: series('2026-03-28T22:00:00.000Z', '2026-03-29T22:00:00.000Z', HOUR),
      policy: { daily: 3, timezone: 'Europe/Berlin' },
      now: '2026-03-30T00:00:00.000Z',
      kept: {
        '2026-03-28T22:00:00.000Z': ['daily 2026-03-28'],
        '2026-03-29T21:00:00.000Z': ['daily 2026-03-29'],
        '2026-03-29T22:00:00.000Z': ['daily 2026-03-30'],
      },
    },
    {
      name: 'a leap day is a day of its own, in February and in ISO week 2028-W09',
      backups: ['2028-02-28', '2028-02-29', '2028-03-01'].map((d) => backup(`${d}T12:00:00.000Z`)),
      policy: { daily: 2, weekly: 1, monthly: 2 },
      now: '2028-03-02T00:00:00.000Z',
      kept: {
        '2028-02-29T12:00:00.000Z': ['daily 2028-02-29', 'monthly 2028-02'],
        '2028-03-01T12:00:00.000Z': ['daily 2028-03-01', 'weekly 2028-W09', 'monthly 2028-03'],
      },
    },
    {
      name: 'a not-good or degraded backup never represents a period; the good one of its day stays',
      backups: [
        backup('2026-11-25T10:00:00.000Z'),
        backup('2026-11-25T20:00:00.000Z', { degraded: true }),
        backup('2026-11-26T10:00:00.000Z'),
        backup('2026-11-26T20:00:00.000Z', { good: false }),
      ],
      policy: { daily: 2 },
      now: '2026-11-27T00:00:00.000Z',
      kept: { '2026-11-25T10:00:00.000Z': ['daily 2026-11-25'], '2026-11-26T10:00:00.000Z': ['daily 2026-11-26', 'newest good'] },
    },
    {
      name: 'keepLast counts good backups; a not-good one among the newest N is kept without taking a place',
      backups: series('2026-11-26T00:00:00.000Z', '2026-11-26T03:00:00.000Z', HOUR).map((b, i) => (i === 3 ? { ...b, good: false } : b)),
      policy: { keepLast: 2 },
      now: '2026-11-27T00:00:00.000Z',
      kept: {
        '2026-11-26T01:00:00.000Z': ['last 2 of 2'],
        '2026-11-26T02:00:00.000Z': ['last 1 of 2', 'newest good'],
        '2026-11-26T03:00:00.000Z': ['among last 2 (not counted: not good)'],
      },
    },
    {
      name: 'within, per-schedule within, grace, and a backup dated after now',
      backups: [
        backup('2026-11-01T00:00:00.000Z', { scheduleId: 'nightly' }),
        backup('2026-11-10T00:00:00.000Z'),
        backup('2026-11-20T00:00:00.000Z', { scheduleId: 'hourly' }),
        backup('2026-11-24T00:00:00.000Z'),
        backup('2026-11-25T23:30:00.000Z', { good: false }),
        backup('2026-11-26T00:10:00.000Z', { good: false }),
      ],
      policy: { keepWithinMs: 5 * DAY, scheduleKeepWithinMs: { nightly: 30 * DAY, hourly: DAY }, graceMs: HOUR },
      now: '2026-11-26T00:00:00.000Z',
      kept: {
        '2026-11-01T00:00:00.000Z': ['schedule nightly within 30d'],
        '2026-11-24T00:00:00.000Z': ['within 5d', 'newest good'],
        '2026-11-25T23:30:00.000Z': ['within 5d', 'grace'],
        '2026-11-26T00:10:00.000Z': ['within 5d', 'grace'],
      },
    },
    {
      name: 'a kept incremental keeps its whole chain; the newest verified backup is kept',
      backups: [
        backup('2026-11-20T00:00:00.000Z', { verified: true }),
        backup('2026-11-22T00:00:00.000Z'),
        backup('2026-11-23T00:00:00.000Z', { parent: '2026-11-22T00:00:00.000Z' }),
        backup('2026-11-24T00:00:00.000Z', { parent: '2026-11-23T00:00:00.000Z', verified: true, good: false }),
        backup('2026-11-25T00:00:00.000Z', { parent: '2026-11-24T00:00:00.000Z' }),
        backup('2026-11-26T00:00:00.000Z', { parent: '2026-11-25T00:00:00.000Z' }),
      ],
      policy: { keepLast: 1 },
      now: '2026-11-27T00:00:00.000Z',
      kept: {
        '2026-11-20T00:00:00.000Z': ['newest verified'],
        '2026-11-22T00:00:00.000Z': ['parent of 2026-11-23T00:00:00.000Z'],
        '2026-11-23T00:00:00.000Z': ['parent of 2026-11-24T00:00:00.000Z'],
        '2026-11-24T00:00:00.000Z': ['parent of 2026-11-25T00:00:00.000Z'],
        '2026-11-25T00:00:00.000Z': ['parent of 2026-11-26T00:00:00.000Z'],
        '2026-11-26T00:00:00.000Z': ['last 1 of 1', 'newest good'],
      },
    },
  ];

  it.each(cases)('$name', ({ backups, policy, now, kept }) => {
    const decisions = planRetention(backups, { ...NONE, ...policy }, new Date(now));
    expect(decisions.map((d) => d.id)).toEqual(backups.map((b) => b.id));
    // Every plan keeps the newest good backup (a safety rule); the tables list the other reasons.
    const newestGood = backups.filter((b) => b.good).reduce<RetentionBackup | undefined>((a, b) => (a && a.time >= b.time ? a : b), undefined);
    const decided = keptMap(decisions);
    if (newestGood) expect(decided[newestGood.id]).toContain('newest good');
    const others = Object.fromEntries(Object.entries(decided).map(([id, reasons]) => [id, reasons.filter((r) => r !== 'newest good')]));
    expect(others).toEqual(Object.fromEntries(Object.entries(kept).map(([id, reasons]) => [id, reasons.filter((r) => r !== 'newest good')])));
    for (const d of decisions) if (!d.keep) expect(d.reasons[0]).toBe('no rule keeps it');
  });

  it('the worked example of docs/retention.md', () => {
    // Nightly backups at 00:00Z (01:00 Berlin in winter) from Sunday 2026-10-25 to 2026-11-26, a
    // full one on Sundays and incrementals in between; 2026-11-22 verified, 2026-11-25 degraded.
    const backups: RetentionBackup[] = [];
    let parent: string | null = null;
    for (let t = Date.parse('2026-10-25T00:00:00.000Z'); t <= Date.parse('2026-11-26T01:00:00.000Z'); t += DAY) {
      const time = new Date(t);
      const id = time.toISOString().slice(0, 10);
      const sunday = time.getUTCDay() === 0;
      backups.push({
        id,
        time,
        parent: sunday ? null : parent,
        good: true,
        verified: id === '2026-11-22',
        degraded: id === '2026-11-25',
        scheduleId: 'nightly',
      });
      parent = id;
    }
    const policy: RetentionPolicy = { ...DEFAULT_RETENTION, daily: 3, weekly: 2, monthly: 2, yearly: 1, timezone: 'Europe/Berlin' };
    const kept = keptMap(planRetention(backups, policy, new Date('2026-11-26T01:30:00.000Z')));
    expect(kept).toEqual({
      '2026-10-25': ['parent of 2026-10-26'],
      '2026-10-26': ['parent of 2026-10-27'],
      '2026-10-27': ['parent of 2026-10-28'],
      '2026-10-28': ['parent of 2026-10-29'],
      '2026-10-29': ['parent of 2026-10-30'],
      '2026-10-30': ['parent of 2026-10-31'],
      '2026-10-31': ['monthly 2026-10'],
      '2026-11-22': ['weekly 2026-W47', 'newest verified', 'parent of 2026-11-23'],
      '2026-11-23': ['daily 2026-11-23', 'parent of 2026-11-24'],
      '2026-11-24': ['daily 2026-11-24', 'parent of 2026-11-25'],
      '2026-11-25': ['parent of 2026-11-26'],
      '2026-11-26': ['daily 2026-11-26', 'weekly 2026-W48', 'monthly 2026-11', 'yearly 2026', 'newest good'],
    });
    expect(backups.length).toBe(33);
  });
});

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'];
const SCHEDULES = [null, 'nightly', 'hourly'];

/** A random calendar: gaps from minutes to weeks, chains of incrementals, some bad, degraded or verified backups. */
function generate(seed: number): { backups: RetentionBackup[]; policy: RetentionPolicy; now: Date } {
  const r = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
  const count = Math.floor(r() * 150);
  const gaps = [5 * 60_000, HOUR, 6 * HOUR, DAY, 3 * DAY, 9 * DAY, 30 * DAY];
  const backups: RetentionBackup[] = [];
  let t = Date.UTC(2023, 0, 1) + Math.floor(r() * 400 * DAY);
  for (let i = 0; i < count; i++) {
    t += Math.floor(r() * pick(gaps));
    const previous = backups[backups.length - 1];
    const id = `${new Date(t).toISOString()}-${i}`;
    backups.push({
      id,
      time: new Date(t),
      parent: previous && r() < 0.6 ? previous.id : null,
      good: r() < 0.85,
      verified: r() < 0.2,
      degraded: r() < 0.1,
      scheduleId: pick(SCHEDULES),
    });
  }
  // Shuffled: the planner must not rely on the input's order.
  for (let i = backups.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [backups[i], backups[j]] = [backups[j]!, backups[i]!];
  }
  const small = () => (r() < 0.3 ? 0 : Math.floor(r() * 6));
  const policy: RetentionPolicy = {
    keepLast: small(),
    daily: small(),
    weekly: small(),
    monthly: small(),
    yearly: small(),
    keepWithinMs: r() < 0.5 ? 0 : Math.floor(r() * 10 * DAY),
    timezone: pick(ZONES),
    graceMs: Math.floor(r() * 2 * HOUR),
    scheduleKeepWithinMs: r() < 0.5 ? {} : { nightly: Math.floor(r() * 20 * DAY) },
  };
  return { backups, policy, now: new Date(t + Math.floor(r() * 3 * DAY) - HOUR) };
}

/** An independent reading of the calendar: one Intl call per backup, no caching. */
function periodKeys(time: Date, timezone: string): Record<'daily' | 'weekly' | 'monthly' | 'yearly', string> {
  const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(time)
    .split('-')
    .map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  const weekday = (date.getUTCDay() + 6) % 7;
  const thursday = new Date(date.getTime() + (3 - weekday) * DAY);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.ceil(((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / DAY + 1) / 7);
  const p = (n: number) => String(n).padStart(2, '0');
  return { daily: `${y}-${p(m)}-${p(d)}`, weekly: `${isoYear}-W${p(week)}`, monthly: `${y}-${p(m)}`, yearly: String(y) };
}

describe('planRetention: properties over random calendars', () => {
  const seeds = Array.from({ length: 300 }, (_, i) => i + 1);
  const counts = (b: RetentionBackup) => b.good && !b.degraded;

  it.each(seeds)('seed %i', (seed) => {
    const { backups, policy, now } = generate(seed);
    const decisions = planRetention(backups, policy, now);
    expect(decisions.map((d) => d.id)).toEqual(backups.map((b) => b.id));
    const byId = new Map(backups.map((b) => [b.id, b]));
    const keep = new Map(decisions.map((d) => [d.id, d]));
    const newestFirst = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));

    // The newest good backup is never deleted.
    const newestGood = newestFirst.find((b) => b.good);
    if (newestGood) expect(keep.get(newestGood.id)!.keep).toBe(true);

    // No kept backup loses its parent (so, by induction, its whole chain).
    for (const d of decisions) {
      const parent = byId.get(d.id)!.parent;
      if (d.keep && parent !== null && byId.has(parent)) expect(keep.get(parent)!.keep).toBe(true);
    }

    // The period rules are exactly "the newest good backup of each of the last N periods that have one".
    for (const period of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
      const expected = new Map<string, string>();
      for (const b of newestFirst) {
        if (!counts(b) || expected.size >= policy[period]) continue;
        const key = periodKeys(b.time, policy.timezone)[period];
        if (!expected.has(key) && [...expected.keys()].length < policy[period]) expected.set(key, b.id);
      }
      const actual = new Map<string, string>();
      for (const d of decisions) for (const r of d.reasons) if (r.startsWith(`${period} `)) actual.set(r.slice(period.length + 1), d.id);
      expect(actual).toEqual(new Map([...expected].map(([k, id]) => [k, id])));
    }

    // A not-good or degraded backup never represents a period or takes a keepLast place.
    for (const d of decisions) {
      if (counts(byId.get(d.id)!)) continue;
      expect(d.reasons.filter((r) => /^(last|daily|weekly|monthly|yearly) /.test(r))).toEqual([]);
    }

    // The number kept never exceeds the policy's counts plus what the other rules add.
    const kept = decisions.filter((d) => d.keep);
    const added = kept.filter((d) => d.reasons.every((r) => !/^(last|daily|weekly|monthly|yearly) /.test(r))).length;
    expect(kept.length).toBeLessThanOrEqual(policy.keepLast + policy.daily + policy.weekly + policy.monthly + policy.yearly + added);
    // ... and what they add is each for a reason that holds.
    for (const d of kept) {
      const b = byId.get(d.id)!;
      const age = now.getTime() - b.time.getTime();
      for (const r of d.reasons) {
        if (r === 'grace') expect(age < policy.graceMs || age < 0).toBe(true);
        else if (r.startsWith('within ')) expect(age).toBeLessThanOrEqual(policy.keepWithinMs);
        else if (r.startsWith('schedule ')) expect(age).toBeLessThanOrEqual(policy.scheduleKeepWithinMs[b.scheduleId!]!);
        else if (r.startsWith('parent of ')) expect(byId.get(r.slice('parent of '.length))!.parent).toBe(b.id);
        else if (r.startsWith('among last ')) expect(newestFirst.indexOf(b)).toBeLessThan(policy.keepLast);
      }
    }
    expect(kept.filter((d) => d.reasons.includes('newest verified')).length).toBeLessThanOrEqual(1);

    // Planning again over the kept backups only deletes nothing more.
    const keptBackups = backups.filter((b) => keep.get(b.id)!.keep);
    const again = planRetention(keptBackups, policy, now);
    expect(again.filter((d) => !d.keep).map((d) => d.id)).toEqual([]);
  });

  it('the default policy keeps at most 7 + 4 + 12 + 2 of hourly full backups, plus grace and the newest verified', () => {
    const backups = series('2024-01-01T00:00:00.000Z', '2026-11-26T00:00:00.000Z', HOUR, { verified: false });
    backups[100] = { ...backups[100]!, verified: true };
    const decisions = planRetention(backups, DEFAULT_RETENTION, new Date('2026-11-26T00:30:00.000Z'));
    const kept = decisions.filter((d) => d.keep);
    // The newest backup is daily, weekly, monthly and yearly at once; the newest verified one is old.
    expect(kept.length).toBeLessThanOrEqual(7 + 4 + 12 + 2 + 1);
    expect(keptMap(decisions)[backups[100]!.id]).toEqual(['newest verified']);
    expect(keptMap(decisions)['2025-12-31T23:00:00.000Z']).toEqual(['monthly 2025-12', 'yearly 2025']);
    expect(keptMap(decisions)['2026-11-26T00:00:00.000Z']).toEqual([
      'daily 2026-11-26',
      'weekly 2026-W48',
      'monthly 2026-11',
      'yearly 2026',
      'grace',
      'newest good',
    ]);
  });
});
