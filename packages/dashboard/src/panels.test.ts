import { describe, expect, it } from 'vitest';
import type { DrillRecord, ScheduleConfig, WorkerHeartbeat } from '@botbackup/core';
import type { SchedulerView } from '@botbackup/scheduler';
import type { FreshnessBound } from './freshness-bound.js';
import type { QueueStats } from './queue-stats.js';
import { quote, restoreHelp } from './restore-help.js';
import { schedulesPanel } from './schedules-view.js';
import { sourceHealth, type SourceHealthInput } from './source-health.js';
import type { BackupView, SourceView } from './summarize-backups.js';
import { configuredQueues, workersPanel } from './workers-view.js';

const H = 3_600_000;
const now = new Date('2026-11-26T12:00:00.000Z');

describe('sourceHealth', () => {
  const copies = (...states: BackupView['copies'][number]['state'][]) =>
    states.map((state, i) => ({ target: `t${i}`, state, at: undefined, error: undefined }));
  const source = (ageHours: number | undefined, copyStates = copies('verified', 'verified')): SourceView => ({
    sourceId: 'bot',
    configured: true,
    newestGood:
      ageHours === undefined ? undefined : { backupId: 'b1', completedAt: new Date(now.getTime() - ageHours * H).toISOString(), ageSeconds: ageHours * 3600 },
    backups: ageHours === undefined ? [] : [{ backupId: 'b1', copies: copyStates } as BackupView],
  });
  const bound: FreshnessBound = { ms: 30 * H, from: 'schedule', scheduleIds: ['nightly'], gapMs: 24 * H };
  const drill = (hoursAgo: number, ok = true): DrillRecord => ({
    sourceId: 'bot',
    backupId: 'b1',
    store: 't0',
    at: new Date(now.getTime() - hoursAgo * H).toISOString(),
    ok,
    restoreMs: 4200,
    dataAgeMs: H,
    read: ['b1'],
    checks: [],
    ...(ok ? {} : { error: 'the check "trades" failed' }),
  });
  const health = (over: Partial<SourceHealthInput>) =>
    sourceHealth({ source: source(2), bound, lastDrill: drill(1), drillsKnown: true, drillPeriodMs: 720 * H, catalogError: undefined, now, ...over });

  it('green: within the bound, every copy verified, the last drill passed; the line says so', () => {
    const h = health({});
    expect(h.level).toBe('ok');
    expect(h.reasons.map((r) => r.text)).toEqual([
      'newest good backup 2 h 0 min old (bound 1 d 6 h (schedule nightly))',
      'all 2 copies verified',
      'last restore drill passed 1 h 0 min ago (restore took 4.2 s)',
    ]);
  });

  it.each([
    ['stale', { source: source(31) }, 'bad', 'the newest good backup is 1 d 7 h old, over its bound of 1 d 6 h (schedule nightly)'],
    ['no good backup', { source: source(undefined) }, 'bad', 'no good backup'],
    ['a missing copy', { source: source(2, copies('verified', 'missing')) }, 'bad', 'the copy of b1 in "t1" is missing'],
    ['a copy not verified yet', { source: source(2, copies('verified', 'unverified')) }, 'warn', 'the copy of b1 in "t1" is not verified yet'],
    [
      'an unreachable target',
      { source: source(2, copies('unreachable', 'verified')) },
      'warn',
      'the copy of b1 in "t0" could not be checked: the target is unreachable',
    ],
    ['a failed drill', { lastDrill: drill(3, false) }, 'bad', 'the last restore drill failed 3 h 0 min ago: the check "trades" failed'],
    ['no drill', { lastDrill: undefined }, 'warn', 'no restore drill yet'],
    ['an old drill', { lastDrill: drill(800) }, 'warn', 'the last restore drill passed 33 d 8 h ago, longer than drill.period (30 d 0 h)'],
    ['drills unknown', { lastDrill: undefined, drillsKnown: false }, 'warn', 'its restore drills are unknown: Redis could not be read'],
  ] as const)('%s', (_name, over, level, text) => {
    const h = health(over as Partial<SourceHealthInput>);
    expect(h.level).toBe(level);
    expect(h.reasons[0]).toEqual({ level, text });
  });

  it('lists every reason, worst first', () => {
    const h = health({ source: source(40, copies('unverified', 'bad')), lastDrill: undefined });
    expect(h.reasons.map((r) => r.level)).toEqual(['bad', 'bad', 'warn', 'warn']);
  });
});

describe('restoreHelp', () => {
  const context = { configFile: '/etc/botbackup/bot backup.yaml', localTarget: { name: 'local', path: '/srv/backups' } };
  const backup = {
    sourceId: 'bot',
    backupId: '20261126T020001.120Z-a8d0k2mzq1',
    type: 'full' as const,
    archive: { compression: 'zstd' as const, encryption: null },
    databases: ['data/trades.db'],
  };

  it('gives the botbackup command, with every word a shell reads as one', () => {
    expect(restoreHelp(context, backup).command).toBe(
      "botbackup --config '/etc/botbackup/bot backup.yaml' restore 20261126T020001.120Z-a8d0k2mzq1 --source bot --target ./restored-bot",
    );
    expect(quote("it's")).toBe(`'it'\\''s'`);
  });

  it('gives a full backup the documented steps by hand, for its codec and encryption', () => {
    const plain = restoreHelp(context, backup).manual!;
    expect(plain.split('\n')).toEqual([
      'cd /srv/backups   # the "local" target',
      'ID=20261126T020001.120Z-a8d0k2mzq1 SRC=bot',
      'M=manifests/$SRC/$ID.json',
      `A=$(jq -r '.objects[] | select(.role == "archive") | .key' "$M")`,
      `jq -r '.objects[] | select(.role != "page-map") | "\\(.sha256)  \\(.key)"' "$M" | sha256sum -c -`,
      'mkdir restored',
      'zstd -dc "$A" | tar -xf - -C restored',
      "sqlite3 restored/data/trades.db 'PRAGMA integrity_check'",
    ]);
    const encrypted = restoreHelp(context, { ...backup, archive: { compression: 'zstd', encryption: 'recipients' } });
    expect(encrypted.manual).toContain('age -d -i "$KEY" "$A" | zstd -dc | tar -xf - -C restored');
    expect(encrypted.notes).toEqual(['Encrypted: run it where the identity is, with --identity <file> (or BOTBACKUP_IDENTITY_FILE).']);
    expect(restoreHelp(context, { ...backup, archive: { compression: 'gzip', encryption: 'passphrase' } }).manual).toContain(
      'age -d "$A" | gzip -dc | tar -xf - -C restored',
    );
    expect(restoreHelp(context, { ...backup, archive: { compression: 'none', encryption: null } }).manual).toContain('cat "$A" | tar -xf - -C restored');
    expect(restoreHelp({ ...context, localTarget: undefined }, backup).manual).toMatch(
      /^# from S3: copy manifests\/bot\/20261126T020001\.120Z-a8d0k2mzq1\.json and data\/bot\/20261126T020001\.120Z-a8d0k2mzq1\//,
    );
  });

  it('leaves the manual steps of an incremental to docs/format.md', () => {
    expect(restoreHelp(context, { ...backup, type: 'incremental' }).manual).toBeUndefined();
  });
});

describe('workersPanel', () => {
  const heartbeat = (name: string, queues: string[], secondsAgo: number): WorkerHeartbeat => ({
    name,
    host: 'h',
    pid: 1,
    version: '0.1.0',
    queues,
    sources: queues.filter((q) => q.startsWith('backup.')).map((q) => q.slice(7)),
    concurrency: 1,
    startedAt: now.toISOString(),
    at: new Date(now.getTime() - secondsAgo * 1000).toISOString(),
    intervalMs: 10_000,
  });

  it('lists the workers by name with their heartbeat age, late past two intervals, and the queues none serves', () => {
    const panel = workersPanel([heartbeat('w2', ['maintenance'], 25), heartbeat('w1', ['backup.a'], 3)], configuredQueues(['a', 'b']), now);
    expect(panel.workers.map((w) => [w.name, w.heartbeatAgeSeconds, w.late])).toEqual([
      ['w1', 3, false],
      ['w2', 25, true],
    ]);
    expect(panel.unserved).toEqual([{ queue: 'backup.b', sourceId: 'b' }]);
    expect(workersPanel([], configuredQueues(['a']), now).unserved.map((q) => q.queue)).toEqual(['maintenance', 'backup.a']);
  });
});

describe('schedulesPanel', () => {
  const schedules: ScheduleConfig[] = [
    { id: 'nightly', job: 'incremental', source: 'bot', cron: '0 2 * * *', timezone: 'UTC', enabled: true },
    { id: 'weekly', job: 'full', source: 'bot', cron: '0 3 * * 0', timezone: 'Europe/Berlin', enabled: true },
  ] as ScheduleConfig[];
  const held: SchedulerView = {
    id: 'nightly',
    queue: 'backup.bot',
    name: 'incremental:bot',
    cron: '0 2 * * *',
    timezone: 'UTC',
    next: '2026-11-27T02:00:00.000Z',
    payload: { type: 'incremental', sourceId: 'bot', scheduleId: 'nightly' },
  };
  const queue = (runs: QueueStats['scheduleRuns']): QueueStats => ({ name: 'backup.bot', counts: {}, active: [], lastOutcomes: [], scheduleRuns: runs });

  it('puts each schedule in words with its next and last run, and warns of one Redis does not hold', () => {
    const run = (finishedOn: number, result: 'completed' | 'failed') => ({
      scheduleId: 'nightly',
      result,
      finishedOn,
      durationMs: 1500,
      jobId: String(finishedOn),
      reason: undefined,
    });
    const rows = schedulesPanel(schedules, [held], [queue([run(1, 'failed')]), queue([run(2, 'completed')])], now);
    expect(rows.map((r) => [r.id, r.state, r.words, r.next, r.lastRun?.finishedOn ?? null, r.warning])).toEqual([
      ['nightly', 'scheduled', 'every day at 02:00', '2026-11-27T02:00:00.000Z', 2, null],
      ['weekly', 'missing', 'every Sunday at 03:00', '2026-11-29T02:00:00.000Z', null, 'not in Redis: is "botbackup scheduler" running with this config?'],
    ]);
  });
});
