import { describe, expect, it } from 'vitest';
import type { ScheduleConfig } from '@botbackup/core';
import { compareSchedules, payloadIds, type SchedulerView } from './compare-schedules.js';

const now = new Date('2026-11-26T00:00:00Z');
const schedule = (over: Partial<ScheduleConfig> = {}): ScheduleConfig => ({
  id: 'nightly',
  job: 'incremental',
  source: 'bot',
  cron: '0 2 * * *',
  timezone: 'UTC',
  enabled: true,
  ...over,
});
const held = (over: Partial<SchedulerView> = {}): SchedulerView => ({
  id: 'nightly',
  queue: 'backup.bot',
  name: 'incremental:bot',
  cron: '0 2 * * *',
  timezone: 'UTC',
  next: '2026-11-26T02:00:00.000Z',
  payload: { type: 'incremental', sourceId: 'bot', scheduleId: 'nightly' },
  ...over,
});

describe('compareSchedules', () => {
  const cases: { name: string; config: ScheduleConfig[]; redis: SchedulerView[]; want: [string, string, string | null, string | null][] }[] = [
    { name: 'held as configured', config: [schedule()], redis: [held()], want: [['nightly', 'scheduled', '2026-11-26T02:00:00.000Z', 'redis']] },
    {
      name: 'another cron in Redis',
      config: [schedule()],
      redis: [held({ cron: '0 3 * * *' })],
      want: [['nightly', 'outdated', '2026-11-26T02:00:00.000Z', 'redis']],
    },
    {
      name: 'another zone in Redis',
      config: [schedule()],
      redis: [held({ timezone: 'Europe/Berlin' })],
      want: [['nightly', 'outdated', '2026-11-26T02:00:00.000Z', 'redis']],
    },
    { name: 'not in Redis: next run from the cron', config: [schedule()], redis: [], want: [['nightly', 'missing', '2026-11-26T02:00:00.000Z', 'cron']] },
    { name: 'disabled and absent', config: [schedule({ enabled: false })], redis: [], want: [['nightly', 'disabled', null, null]] },
    {
      name: 'in another queue (the job type changed)',
      config: [schedule({ job: 'verify' })],
      redis: [held()],
      want: [['nightly', 'outdated', '2026-11-26T02:00:00.000Z', 'redis']],
    },
    { name: 'only in Redis', config: [], redis: [held({ id: 'old' })], want: [['old', 'unconfigured', '2026-11-26T02:00:00.000Z', 'redis']] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(compareSchedules(c.config, c.redis, now).map((s) => [s.id, s.state, s.next, s.nextFrom])).toEqual(c.want);
    });
  }
});

describe('payloadIds', () => {
  it('keeps the known ids and options only', () => {
    const raw = { type: 'verify', sourceId: 'bot', backup: 'latest', deep: true, password: 'x', scheduleId: 's' } as never;
    expect(payloadIds(raw)).toEqual({ type: 'verify', sourceId: 'bot', backup: 'latest', deep: true, scheduleId: 's' });
  });
});
