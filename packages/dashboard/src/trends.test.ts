import { describe, expect, it } from 'vitest';
import type { BackupView } from './summarize-backups.js';
import { TREND_WINDOW_MS, buildTrends, renderTrendPlots } from './trends.js';

const H = 3_600_000;
const D = 24 * H;
const now = new Date('2026-11-26T12:00:00.000Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

function view(backupId: string, completedAt: string, over: Partial<BackupView> = {}): BackupView {
  return {
    sourceId: 'bot',
    backupId,
    type: 'incremental',
    host: 'h',
    startedAt: completedAt,
    completedAt,
    durationSeconds: 2,
    entryBytes: 10,
    storedBytes: 100,
    trigger: null,
    degraded: false,
    good: true,
    error: undefined,
    copies: [],
    archive: { compression: 'zstd', encryption: null },
    databases: [],
    ...over,
  };
}

/** The number of marks of one series of one plot. */
function marks(svg: string, series: string): number {
  const g = new RegExp(`<g class="series series-${series}" data-series="${series}">(.*?)</g>`).exec(svg);
  return g ? (g[1]!.match(/data-point=""/g) ?? []).length : -1;
}

describe('buildTrends', () => {
  it('keeps the backups of the window, oldest first, with their sizes and durations; not older ones, nor those without a manifest', () => {
    const trends = buildTrends(
      'bot',
      [
        view('b3', ago(1 * D), { type: 'full', storedBytes: 3000, durationSeconds: 9 }),
        view('b1', ago(100 * D)),
        view('b2', ago(2 * D), { good: false }),
        view('b4', ago(3 * H), { type: undefined, completedAt: undefined, storedBytes: undefined }),
      ],
      30 * H,
      now,
    );
    expect(trends.from).toBe(ago(TREND_WINDOW_MS));
    expect(trends.backups).toEqual([
      { backupId: 'b2', type: 'incremental', completedAt: ago(2 * D), storedBytes: 100, durationSeconds: 2, good: false },
      { backupId: 'b3', type: 'full', completedAt: ago(1 * D), storedBytes: 3000, durationSeconds: 9, good: true },
    ]);
    expect(trends.boundSeconds).toBe(30 * 3600);
    expect(trends.rpo).toBeNull();
  });

  it('draws the age as a sawtooth: from the window start (a good backup was older), a peak and a reset at each good backup, and now', () => {
    const trends = buildTrends(
      'bot',
      [view('old', ago(91 * D)), view('a', ago(10 * D)), view('bad', ago(5 * D), { good: false }), view('b', ago(2 * D))],
      30 * H,
      now,
    );
    expect(trends.age.map((a) => [a.kind, a.at, a.ageSeconds, a.backupId])).toEqual([
      ['start', ago(90 * D), (1 * D) / 1000, undefined],
      ['peak', ago(10 * D), (81 * D) / 1000, 'a'],
      ['reset', ago(10 * D), 0, 'a'],
      ['peak', ago(2 * D), (8 * D) / 1000, 'b'],
      ['reset', ago(2 * D), 0, 'b'],
      ['now', now.toISOString(), (2 * D) / 1000, undefined],
    ]);
  });

  it('a first good backup within the window starts the curve at 0; none at all gives no curve', () => {
    expect(buildTrends('bot', [view('a', ago(3 * D))], H, now).age.map((a) => a.kind)).toEqual(['reset', 'now']);
    expect(buildTrends('bot', [view('x', ago(3 * D), { good: false })], H, now).age).toEqual([]);
    // Only an older good backup: the age rises over the whole window.
    expect(buildTrends('bot', [view('old', ago(100 * D))], H, now).age.map((a) => [a.kind, a.ageSeconds])).toEqual([
      ['start', (10 * D) / 1000],
      ['now', (100 * D) / 1000],
    ]);
  });
});

describe('renderTrendPlots', () => {
  it('one mark per backup in the stored and duration plots (full and incremental apart), one per peak and now in the age plot', () => {
    const backups = [view('f1', ago(20 * D), { type: 'full' }), view('i1', ago(19 * D)), view('i2', ago(18 * D)), view('f2', ago(10 * D), { type: 'full' })];
    const plots = renderTrendPlots(buildTrends('bot', backups, 30 * H, now));
    for (const svg of [plots.stored, plots.duration]) {
      expect(marks(svg, 'full')).toBe(2);
      expect(marks(svg, 'incremental')).toBe(2);
    }
    // Four good backups, the first in the window: three peaks, and now.
    expect(marks(plots.age, 'age')).toBe(4);
    expect(plots.age).toContain('data-guide="bound"');
    expect(plots.stored).toContain('<title>i2 (incremental), 2026-11-08 12:00 UTC: 100 B stored (100 bytes)</title>');
    expect(plots.duration).toContain('<title>f2 (full), 2026-11-16 12:00 UTC: took 2.0 s (2 s)</title>');
    expect(plots.age).toContain('<title>now: the newest good backup is 10 d 0 h old (864000 s)</title>');
  });

  it('merges marks past the limit, and says how many backups a merged mark stands for', () => {
    const many = Array.from({ length: 1000 }, (_, i) => view(`i${String(i).padStart(4, '0')}`, ago(i * 2 * H)));
    const plots = renderTrendPlots(buildTrends('bot', many, 30 * H, now));
    const n = marks(plots.stored, 'incremental');
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(120);
    expect(plots.stored).toMatch(/<title>\d+ incremental backups from /);
  });

  it('says so when there is nothing to draw', () => {
    const plots = renderTrendPlots(buildTrends('bot', [], 30 * H, now));
    expect(plots.stored).toContain('no backup in the last 90 days');
    expect(plots.age).toContain('no good backup');
  });
});
