import { describe, expect, it } from 'vitest';
import type { ScheduleConfig } from '@botbackup/core';
import { freshnessBound } from './freshness-bound.js';

const H = 3_600_000;
const from = new Date('2026-11-26T12:00:00Z');
const schedule = (id: string, job: string, cron: string, over: Partial<ScheduleConfig> = {}): ScheduleConfig =>
  ({ id, job, source: 'bot', cron, timezone: 'UTC', enabled: true, ...over }) as ScheduleConfig;

describe('freshnessBound', () => {
  it('a daily backup: a day and a quarter', () => {
    expect(freshnessBound([schedule('nightly', 'incremental', '0 2 * * *')], 'bot', 26 * H, from)).toEqual({
      ms: 30 * H,
      from: 'schedule',
      scheduleIds: ['nightly'],
      gapMs: 24 * H,
    });
  });

  it('an hourly backup: an hour and at least ten minutes more', () => {
    expect(freshnessBound([schedule('hourly', 'incremental', '5 * * * *')], 'bot', 26 * H, from).ms).toBe(H + 15 * 60_000);
    expect(freshnessBound([schedule('often', 'incremental', '*/10 * * * *')], 'bot', 26 * H, from).ms).toBe(20 * 60_000);
  });

  it('weekdays only: the weekend is the longest gap', () => {
    expect(freshnessBound([schedule('weekdays', 'full', '0 2 * * 1-5')], 'bot', 26 * H, from).gapMs).toBe(72 * H);
  });

  it('a daily incremental and a weekly full together: the daily one bounds it', () => {
    const both = [schedule('weekly-full', 'full', '0 3 * * 0'), schedule('daily', 'incremental', '0 2 * * *')];
    expect(freshnessBound(both, 'bot', 26 * H, from)).toMatchObject({ gapMs: 24 * H, scheduleIds: ['weekly-full', 'daily'] });
  });

  it('in a time zone with summer time, the night the clocks go back is 25 hours', () => {
    const berlin = schedule('nightly', 'incremental', '30 1 * * *', { timezone: 'Europe/Berlin' });
    expect(freshnessBound([berlin], 'bot', 26 * H, new Date('2026-10-01T00:00:00Z')).gapMs).toBe(25 * H);
  });

  it('no enabled backup schedule of the source (another source, a verify, a disabled one): notify.staleAfter', () => {
    const others = [
      schedule('other', 'incremental', '0 * * * *', { source: 'other' }),
      schedule('verify', 'verify', '0 * * * *'),
      schedule('off', 'incremental', '0 * * * *', { enabled: false }),
    ];
    expect(freshnessBound(others, 'bot', 26 * H, from)).toEqual({ ms: 26 * H, from: 'staleAfter', scheduleIds: [], gapMs: undefined });
  });
});
