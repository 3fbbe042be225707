import { describe, expect, it } from 'vitest';
import { describeCron } from './describe-cron.js';

describe('describeCron', () => {
  it.each([
    ['0 2 * * *', 'every day at 02:00'],
    ['30 3 * * 0', 'every Sunday at 03:30'],
    ['0 3 * * 7', 'every Sunday at 03:00'],
    ['0 4 * * 1-5', 'Monday to Friday at 04:00'],
    ['15 1 * * 1,4', 'on Monday and Thursday at 01:15'],
    ['0 2,14 * * *', 'every day at 02:00 and 14:00'],
    ['0 5 1 * *', 'on day 1 of every month at 05:00'],
    ['*/15 * * * *', 'every 15 minutes'],
    ['* * * * *', 'every minute'],
    ['5 * * * *', 'every hour at minute 5'],
    ['0,30 * * * *', 'every hour at minute 0 and 30'],
    ['10 */6 * * *', 'every 6 hours at minute 10'],
    ['0 0 2 * * *', 'every day at 02:00'],
    ['  0   2 * * *  ', 'every day at 02:00'],
  ])('%s: %s', (cron, words) => {
    expect(describeCron(cron)).toBe(words);
  });

  it.each([
    ['a month field', '0 2 * 1 *'],
    ['seconds other than 0', '30 0 2 * * *'],
    ['both day fields', '0 2 1 * 1'],
    ['a range of hours', '0 1-5 * * *'],
    ['an out-of-range minute', '61 2 * * *'],
    ['too few fields', '0 2 * *'],
    ['names of days', '0 2 * * MON'],
  ])('leaves %s to the expression itself', (_name, cron) => {
    expect(describeCron(cron)).toBeUndefined();
  });
});
