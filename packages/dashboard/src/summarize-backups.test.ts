import { describe, expect, it } from 'vitest';
import type { DrillRecord, ManifestSummary } from '@botbackup/core';
import type { CatalogBackup, CatalogCopy } from '@botbackup/engine';
import type { LastDrills } from './drill-records.js';
import type { QueueStats } from './queue-stats.js';
import { renderMetrics } from './render-metrics.js';
import { buildModel } from './dashboard-model.js';
import { renderPage } from './render-page.js';
import { summarizeBackups, type BackupsSummary } from './summarize-backups.js';

const NOW = new Date('2026-11-26T12:00:00.000Z');

/** A catalog entry: only the manifest fields the dashboard reads, plus a secret file's hash it must never show. */
function backup(
  id: string,
  completedAt: string,
  copies: [string, CatalogCopy['state']][],
  extra: { sourceId?: string; manifest?: false; scheduleId?: string; degraded?: boolean } = {},
): CatalogBackup {
  const sourceId = extra.sourceId ?? 'bot';
  const manifest = {
    id,
    type: 'full',
    source: { id: sourceId, host: 'h1', root: '/srv/bot' },
    startedAt: new Date(Date.parse(completedAt) - 2500).toISOString(),
    completedAt,
    stats: { entryBytes: 900, storedBytes: 300, durationMs: 2500 },
    objects: [
      { key: `data/${sourceId}/${id}/archive.tar.zst`, role: 'archive', size: 280, compression: 'zstd', encryption: null },
      { key: `data/${sourceId}/${id}/files.ndjson.zst`, role: 'file-list', size: 20, compression: 'zstd', encryption: null },
    ],
    databases: [{ path: 'data/trades.db' }],
    files: [{ path: '.env', kind: 'secret', sha256: 'a'.repeat(64) }],
    trigger: extra.scheduleId ? { jobId: `repeat:${extra.scheduleId}:1`, scheduleId: extra.scheduleId } : undefined,
  } as unknown as ManifestSummary;
  return {
    sourceId,
    backupId: id,
    manifest: extra.manifest === false ? undefined : manifest,
    error: extra.manifest === false ? 'No copy of its manifest could be read.' : undefined,
    copies: copies.map(([target, state]) => ({ target, state, at: completedAt, error: state === 'bad' ? 'archive hash mismatch' : undefined })),
    degraded: extra.degraded ?? copies.some(([, s]) => s === 'missing' || s === 'bad'),
  };
}

/** The page of a summary, with Redis's queues and drills (undefined: Redis not read), no schedules and no workers. */
function page(summary: BackupsSummary, queues: QueueStats[] | undefined, drills: LastDrills | undefined): string {
  // The config names the sources the summary calls configured.
  const sources = summary.sources.filter((s) => s.configured).map((s) => ({ id: s.sourceId }));
  const config = { sources, schedules: [], notify: { staleAfterMs: 26 * 3_600_000 }, drillPeriodMs: 30 * 86_400_000 } as never;
  const redis = queues && drills ? { queues, drills, schedulers: [], heartbeats: [] } : undefined;
  const restore = { configFile: '/etc/botbackup.yaml', localTarget: { name: 'local', path: '/srv/backups' } };
  return renderPage({ model: buildModel({ config, summary, redis, localDrills: {}, bounds: new Map(), restore, now: NOW }), readOnly: true });
}

const input = (backups: CatalogBackup[]) => ({ sourceIds: ['bot', 'idle'], targets: ['local', 's3'], backups, unreachable: [], now: NOW });

describe('summarizeBackups', () => {
  it.each([
    [
      'every copy readable: good',
      [
        ['local', 'verified'],
        ['s3', 'unverified'],
      ],
      true,
    ],
    [
      'a copy missing (degraded, still restorable): good',
      [
        ['local', 'unverified'],
        ['s3', 'missing'],
      ],
      true,
    ],
    [
      'a copy unreachable now: good',
      [
        ['local', 'unverified'],
        ['s3', 'unreachable'],
      ],
      true,
    ],
    [
      'a copy bad: not good',
      [
        ['local', 'verified'],
        ['s3', 'bad'],
      ],
      false,
    ],
    [
      'no readable copy: not good',
      [
        ['local', 'missing'],
        ['s3', 'unreachable'],
      ],
      false,
    ],
  ] as [string, [string, CatalogCopy['state']][], boolean][])('a backup with %s', (_, copies, good) => {
    const summary = summarizeBackups(input([backup('b1', '2026-11-26T11:00:00.000Z', copies)]));
    expect(summary.sources[0]!.backups[0]!.good).toBe(good);
    expect(summary.sources[0]!.newestGood?.ageSeconds).toBe(good ? 3600 : undefined);
  });

  it('finds the newest good backup, sorts newest first, keeps every configured source and adds unknown ones', () => {
    const summary = summarizeBackups(
      input([
        backup('b1', '2026-11-26T09:00:00.000Z', [
          ['local', 'verified'],
          ['s3', 'verified'],
        ]),
        backup('b3', '2026-11-26T11:00:00.000Z', [
          ['local', 'bad'],
          ['s3', 'verified'],
        ]),
        backup('b2', '2026-11-26T10:00:00.000Z', [
          ['local', 'unverified'],
          ['s3', 'missing'],
        ]),
        backup(
          'b4',
          '2026-11-26T11:45:00.000Z',
          [
            ['local', 'bad'],
            ['s3', 'missing'],
          ],
          { manifest: false },
        ),
        backup(
          'o1',
          '2026-11-26T11:30:00.000Z',
          [
            ['local', 'unverified'],
            ['s3', 'unverified'],
          ],
          { sourceId: 'other' },
        ),
      ]),
    );
    expect(summary.sources.map((s) => [s.sourceId, s.configured, s.backups.map((b) => b.backupId)])).toEqual([
      ['bot', true, ['b3', 'b2', 'b1', 'b4']],
      ['idle', true, []],
      ['other', false, ['o1']],
    ]);
    expect(summary.sources[0]!.newestGood).toEqual({ backupId: 'b2', completedAt: '2026-11-26T10:00:00.000Z', ageSeconds: 7200 });
    expect(summary.sources[1]!.newestGood).toBeUndefined();
  });

  it('never gives a negative age (a backup host whose clock runs ahead)', () => {
    const summary = summarizeBackups(input([backup('b1', '2026-11-26T12:00:05.000Z', [['local', 'unverified']])]));
    expect(summary.sources[0]!.newestGood!.ageSeconds).toBe(0);
  });

  it('marks targets the sync could not list, or all of them when the sync failed', () => {
    expect(summarizeBackups({ ...input([]), unreachable: [{ target: 's3', error: 'timed out' }] }).targets).toEqual([
      { name: 'local', reachable: true, error: undefined },
      { name: 's3', reachable: false, error: 'timed out' },
    ]);
    const failed = summarizeBackups({ ...input([]), error: 'every target failed' });
    expect(failed.targets.every((t) => !t.reachable && t.error === 'every target failed')).toBe(true);
  });
});

describe('renderMetrics and renderPage', () => {
  const summary = summarizeBackups(
    input([
      backup(
        'b1',
        '2026-11-26T09:00:00.000Z',
        [
          ['local', 'verified'],
          ['s3', 'verified'],
        ],
        { scheduleId: 'nightly' },
      ),
      backup('b2', '2026-11-26T11:00:00.000Z', [
        ['local', 'unverified'],
        ['s3', 'missing'],
      ]),
      backup(
        'q"1',
        '2026-11-26T10:00:00.000Z',
        [
          ['local', 'unverified'],
          ['s3', 'unverified'],
        ],
        { sourceId: 'we"ird\\id' },
      ),
    ]),
  );
  const queues: QueueStats[] = [
    {
      name: 'backup.bot',
      counts: { waiting: 2, failed: 1 },
      active: [{ jobId: '7', name: 'full:bot', percent: 40, phase: 'upload' }],
      lastOutcomes: [
        { queue: 'backup.bot', type: 'full', sourceId: 'bot', result: 'failed', finishedOn: 1_700_000_002_000, jobId: '5', reason: 'disk full' },
        { queue: 'backup.bot', type: 'full', sourceId: 'bot', result: 'completed', finishedOn: 1_700_000_001_000, jobId: '4', reason: undefined },
      ],
      scheduleRuns: [],
    },
  ];

  it('reports the backup, copy and queue series, with escaped labels', async () => {
    const text = await renderMetrics({ summary, queues, drills: {} });
    const lines = text.split('\n');
    for (const expected of [
      'botbackup_catalog_up 1',
      'botbackup_newest_backup_age_seconds{source="bot"} 3600',
      'botbackup_newest_backup_timestamp_seconds{source="bot"} 1795690800',
      'botbackup_schedule_newest_backup_age_seconds{schedule="nightly",source="bot"} 10800',
      'botbackup_backup_last_duration_seconds{source="bot"} 2.5',
      'botbackup_backup_last_stored_bytes{source="bot"} 300',
      'botbackup_backups{source="bot",degraded="false"} 1',
      'botbackup_backups{source="bot",degraded="true"} 1',
      'botbackup_backups{source="idle",degraded="false"} 0',
      'botbackup_newest_backup_age_seconds{source="we\\"ird\\\\id"} 7200',
      'botbackup_copies{target="local",state="verified"} 1',
      'botbackup_copies{target="local",state="unverified"} 2',
      'botbackup_copies{target="s3",state="missing"} 1',
      'botbackup_copies{target="s3",state="bad"} 0',
      'botbackup_redis_up 1',
      'botbackup_queue_jobs{queue="backup.bot",state="failed"} 1',
      'botbackup_queue_jobs{queue="backup.bot",state="waiting"} 2',
      'botbackup_job_last_finished_timestamp_seconds{type="full",source="bot",result="failed"} 1700000002',
      'botbackup_job_last_failed{type="full",source="bot"} 1',
    ]) {
      expect(lines, expected).toContain(expected);
    }
    expect(lines).toContain('# TYPE botbackup_newest_backup_age_seconds gauge');
    expect(lines.some((l) => l.startsWith('botbackup_newest_backup_age_seconds{source="idle"}'))).toBe(false);
  });

  it('without the catalog: catalog_up 0, every target unreachable, and no backup series rather than zeros', async () => {
    const failed = summarizeBackups({ ...input([]), error: 'every target failed' });
    const text = await renderMetrics({ summary: failed, queues, drills: {} });
    expect(text).toContain('\nbotbackup_catalog_up 0\n');
    expect(text).toContain('\nbotbackup_target_reachable{target="s3"} 0\n');
    expect(text).not.toMatch(/^botbackup_(backups|copies|newest_backup_age_seconds)\{/m);
    expect(text).toContain('botbackup_queue_jobs{queue="backup.bot",state="waiting"} 2');
    const html = page(failed, queues, {});
    expect(html).toContain('The catalog could not be synced: every target failed');
    expect(html).not.toContain('No backups yet');
  });

  it('without Redis: redis_up 0 and no queue series', async () => {
    const text = await renderMetrics({ summary, queues: undefined, drills: undefined });
    expect(text).toContain('\nbotbackup_redis_up 0\n');
    expect(text).not.toContain('botbackup_queue_jobs');
    expect(text).not.toMatch(/^botbackup_drill_\w+\{/m);
    const html = page(summary, undefined, undefined);
    expect(html).toContain('Redis could not be read: schedules, workers, queue counts and restore drills are not shown.');
    expect(html).not.toContain('class="drill');
  });

  it('the page escapes every value and shows no hash', () => {
    const html = page(summary, queues, {});
    expect(html).toContain('we&quot;ird\\id');
    expect(html).not.toContain('we"ird');
    expect(html).toContain('Newest good backup: <code>b2</code>, 1 h 0 min ago');
    expect(html).toContain('full:bot #7 upload 40%');
    expect(html).not.toMatch(/[0-9a-f]{64}/);
  });

  it('the page gives each backup its two sizes as list does, packed then stored (the sum of its objects)', () => {
    const html = page(summary, queues, {});
    expect(html).toContain('<th>Duration</th><th>Packed</th><th>Stored</th><th>Trigger</th>');
    expect(html).toContain('<td class="packed"><span title="900 bytes">900 B</span></td><td class="stored"><span title="300 bytes">300 B</span></td>');
    expect(summary.sources[0]!.backups[0]).toMatchObject({ entryBytes: 900, storedBytes: 300 });
  });

  const passed: DrillRecord = {
    sourceId: 'bot',
    backupId: 'b1',
    store: 's3',
    at: '2026-11-26T09:00:00.000Z',
    ok: true,
    restoreMs: 4210,
    dataAgeMs: 93_600_000,
    read: ['b1'],
    checks: [{ name: 'trades', ok: true, detail: '1204' }],
  };
  const failedDrill: DrillRecord = {
    ...passed,
    sourceId: 'we"ird\\id',
    backupId: 'q"1',
    store: 'local',
    at: '2026-11-26T11:00:00.000Z',
    ok: false,
    restoreMs: 900,
    dataAgeMs: 3_600_000,
    checks: [{ name: 'trades', ok: false, detail: 'returned 0' }],
    error: 'the check "trades" failed: <returned 0>',
    code: 'DRILL_CHECK_FAILED',
  };
  const drills: LastDrills = { bot: passed, [failedDrill.sourceId]: failedDrill };

  it('reports the four drill gauges per source with a drill, and none for a source without one', async () => {
    const lines = (await renderMetrics({ summary, queues, drills })).split('\n');
    for (const expected of [
      '# HELP botbackup_drill_last_timestamp_seconds When the newest restore drill of the source ended (Unix seconds).',
      '# TYPE botbackup_drill_last_timestamp_seconds gauge',
      '# TYPE botbackup_drill_last_success gauge',
      '# TYPE botbackup_drill_restore_seconds gauge',
      '# TYPE botbackup_drill_data_age_seconds gauge',
      'botbackup_drill_last_timestamp_seconds{source="bot"} 1795683600',
      'botbackup_drill_last_success{source="bot"} 1',
      'botbackup_drill_restore_seconds{source="bot"} 4.21',
      'botbackup_drill_data_age_seconds{source="bot"} 93600',
      'botbackup_drill_last_timestamp_seconds{source="we\\"ird\\\\id"} 1795690800',
      'botbackup_drill_last_success{source="we\\"ird\\\\id"} 0',
      'botbackup_drill_restore_seconds{source="we\\"ird\\\\id"} 0.9',
      'botbackup_drill_data_age_seconds{source="we\\"ird\\\\id"} 3600',
    ]) {
      expect(lines, expected).toContain(expected);
    }
    expect(lines.filter((l) => l.startsWith('botbackup_drill_'))).toHaveLength(8);
    expect(lines.some((l) => /^botbackup_drill_\w+\{source="idle"\}/.test(l))).toBe(false);
    // No drill at all: the families are described, with no series.
    const none = await renderMetrics({ summary, queues, drills: {} });
    expect(none).toContain('# TYPE botbackup_drill_last_success gauge\n');
    expect(none).not.toMatch(/^botbackup_drill_\w+\{/m);
  });

  it('the page shows the last drill of each configured source: ok with its measures, FAILED with why, or none yet', () => {
    const unconfigured = page(summary, queues, drills);
    // The odd source is not in the config: drills are read for configured sources only.
    expect(unconfigured).not.toContain('<p class="drill warn"');
    const configured = page({ ...summary, sources: summary.sources.map((s) => ({ ...s, configured: true })) }, queues, drills);
    expect(configured).toContain(
      '<p class="drill ok" data-source="bot" title="trades: ok (1204)">Last restore drill: ok, 3 h 0 min ago: backup <code>b1</code> from "s3", restore 4.2 s, data age 1 d 2 h</p>',
    );
    expect(configured).toContain(
      '<p class="drill warn" data-source="we&quot;ird\\id" title="trades: FAILED (returned 0)">Last restore drill: FAILED, 1 h 0 min ago (backup <code>q&quot;1</code> from "local"): the check &quot;trades&quot; failed: &lt;returned 0&gt;</p>',
    );
    expect(configured).toContain('<p class="drill" data-source="idle">Last restore drill: none yet.</p>');
    expect(configured).not.toContain('<returned');
  });
});
