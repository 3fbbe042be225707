import { describe, expect, it } from 'vitest';
import { nextRuns } from './next-runs.js';

describe('nextRuns', () => {
  const cases: { name: string; cron: string; timezone: string; from: string; count: number; want: string[] }[] = [
    {
      name: 'daily at 02:00 UTC (the seed default incremental)',
      cron: '0 2 * * *',
      timezone: 'UTC',
      from: '2026-11-26T00:00:00Z',
      count: 3,
      want: ['2026-11-26T02:00:00.000Z', '2026-11-27T02:00:00.000Z', '2026-11-28T02:00:00.000Z'],
    },
    {
      name: 'strictly after `from`: a run due exactly at `from` is not listed',
      cron: '0 2 * * *',
      timezone: 'UTC',
      from: '2026-11-26T02:00:00Z',
      count: 2,
      want: ['2026-11-27T02:00:00.000Z', '2026-11-28T02:00:00.000Z'],
    },
    {
      name: 'weekly on Sunday at 03:00 (the seed default full), from a Thursday',
      cron: '0 3 * * 0',
      timezone: 'UTC',
      from: '2026-11-26T00:00:00Z',
      count: 3,
      want: ['2026-11-29T03:00:00.000Z', '2026-12-06T03:00:00.000Z', '2026-12-13T03:00:00.000Z'],
    },
    {
      name: 'six fields: seconds first',
      cron: '*/30 * * * * *',
      timezone: 'UTC',
      from: '2026-11-26T00:00:00Z',
      count: 3,
      want: ['2026-11-26T00:00:30.000Z', '2026-11-26T00:01:00.000Z', '2026-11-26T00:01:30.000Z'],
    },
    {
      // 2026-03-29 in Berlin: 02:00 CET becomes 03:00 CEST, so 02:00 does not exist that day; the run moves to 03:00 CEST (01:00Z), once.
      name: 'Europe/Berlin across the spring change: the missing 02:00 runs at 03:00 CEST, and UTC times shift by an hour after it',
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      from: '2026-03-27T12:00:00Z',
      count: 4,
      want: ['2026-03-28T01:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z', '2026-03-31T00:00:00.000Z'],
    },
    {
      // 2026-10-25 in Berlin: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice; the job runs at the first one only.
      name: 'Europe/Berlin across the autumn change: the repeated 02:30 runs once',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      from: '2026-10-23T12:00:00Z',
      count: 4,
      want: ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z'],
    },
    {
      name: 'America/New_York weekdays at 09:00 across its spring change (2026-03-08), skipping the weekend',
      cron: '0 9 * * 1-5',
      timezone: 'America/New_York',
      from: '2026-03-05T00:00:00Z',
      count: 4,
      want: ['2026-03-05T14:00:00.000Z', '2026-03-06T14:00:00.000Z', '2026-03-09T13:00:00.000Z', '2026-03-10T13:00:00.000Z'],
    },
    {
      name: 'every 6 hours in Europe/Berlin on the day of the autumn change: local hours 0, 6, 12, 18',
      cron: '0 */6 * * *',
      timezone: 'Europe/Berlin',
      from: '2026-10-24T20:00:00Z',
      count: 5,
      want: ['2026-10-24T22:00:00.000Z', '2026-10-25T05:00:00.000Z', '2026-10-25T11:00:00.000Z', '2026-10-25T17:00:00.000Z', '2026-10-25T23:00:00.000Z'],
    },
    { name: 'count 0: none', cron: '0 2 * * *', timezone: 'UTC', from: '2026-11-26T00:00:00Z', count: 0, want: [] },
  ];

  it.each(cases)('$name', ({ cron, timezone, from, count, want }) => {
    expect(nextRuns({ cron, timezone }, new Date(from), count).map((d) => d.toISOString())).toEqual(want);
  });
});
