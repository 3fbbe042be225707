import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WORKER, drillKeys, jobName, jobOptions, queueNames, redisOptionsFromUrl, type DrillRecord, type JobPayload } from '@botbackup/core';
import { cliBin, createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';

/** A `botbackup worker` process and a way to wait for one of its log records (JSON lines on stderr). */
function startWorker(config: string, ...args: string[]): { child: ChildProcess; exited: Promise<number | null>; started: Promise<void> } {
  const child = spawn(process.execPath, [cliBin, '--config', config, 'worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes('"msg":"worker started"')) resolve();
    });
    void exited.then((code) => reject(new Error(`the worker exited (${code}) before it started`)));
  });
  return { child, exited, started };
}

/** `status --json` as the tests read it. */
interface Status {
  distributed: { configured: boolean; redis: string | null; prefix: string | null; error: string | null };
  schedules:
    { id: string; state: string; job: string | null; source: string | null; queue: string | null; next: string | null; nextFrom: string | null }[] | null;
  queues: { name: string; configured: boolean; counts: Record<string, number> }[] | null;
  active: unknown[] | null;
  sources: {
    id: string;
    newestGoodBackup: { id: string; ageMs: number } | null;
    stale: boolean;
    lastJob: { id: string; state: string; failedReason: string | null; result: { backupId?: string } | null } | null;
    drill: {
      last: (DrillRecord & { agoMs: number }) | null;
      periodMs: number;
      copies: number | null;
      overdue: { backupId: string; store: string }[] | null;
    } | null;
  }[];
  recentFailures: { id: string; queue: string; state: string; failedReason: string | null; attemptsMade: number }[] | null;
  workers: {
    error: string | null;
    list:
      { name: string | null; host: string; queues: string[]; connectedForMs: number; connections: { queue: string; addr: string; ageMs: number }[] }[] | null;
    unserved: { queue: string; sourceId: string | null }[] | null;
  } | null;
}

const sched = {
  nightly: '{ id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }',
  oldFull: '{ id: old-full, source: testbot, job: full, cron: "0 3 * * 0" }',
  verifyDaily: '{ id: verify-daily, source: testbot, job: verify, cron: "0 5 * * *" }',
  // Disabled: never synced.
  idleVerify: '{ id: idle-verify, source: idlebot, job: verify, cron: "0 6 * * *", enabled: false }',
};

/**
 * A config with two sources (testbot, and idlebot that never gets a backup), a private Redis under
 * `prefix`, a worker for testbot's queue and the maintenance queue, and these schedules.
 */
async function writeStatusConfig(dir: string, redisUrl: string, prefix: string, schedules: string[]): Promise<string> {
  const root = path.join(dir, 'bot');
  const file = await writeConfig(dir, {
    root,
    repo: path.join(dir, 'repo'),
    codec: 'none',
    extra: [
      `redis: { url: "${redisUrl}", prefix: ${prefix} }`,
      'worker: { sources: [testbot], drainTimeout: 30s }',
      `schedules:\n${schedules.map((s) => `  - ${s}`).join('\n')}`,
      '',
    ].join('\n'),
  });
  // A second source without backups, on the same folder (only its config files).
  const text = await fs.readFile(file, 'utf8');
  await fs.writeFile(
    file,
    text.replace('storage:\n', `  - id: idlebot\n    root: ${JSON.stringify(root)}\n    files: [{ kind: config, include: ["config/*.json"] }]\nstorage:\n`),
  );
  return file;
}

describe('botbackup status and jobs', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  afterEach(() => {
    for (const w of workers.splice(0)) if (w.exitCode === null) w.kill('SIGKILL');
  });

  it('shows schedules with their next run, queue counts, the newest good backup per source and the failure; jobs --failed lists it', async () => {
    await createBot(path.join(tmp.dir, 'bot'));
    const file = await writeStatusConfig(tmp.dir, redis.url, 'st1', [sched.nightly, sched.oldFull, sched.idleVerify]);

    // A worker completes a queued backup, and a verify of a source without backups fails (at once: "not found" is not retried).
    const worker = startWorker(file);
    workers.push(worker.child);
    await worker.started;
    const backup = await runCli(['--config', file, '--json', 'backup', '--source', 'testbot', '--queue']);
    expect(backup.code, backup.stderr).toBe(0);
    const done = JSON.parse(backup.stdout.slice(backup.stdout.indexOf('{'))) as { jobId: string; result: { backupId: string } };
    // Added here rather than with `run`: the test needs the job to fail, not a command to follow it.
    const queue = new Queue<JobPayload>(queueNames.maintenance, { connection: redisOptionsFromUrl(redis.url), prefix: 'st1' });
    const payload: JobPayload = { type: 'verify', sourceId: 'idlebot' };
    const job = await queue.add(jobName(payload), payload, jobOptions(DEFAULT_WORKER));
    await expect.poll(() => queue.getJobState(job.id!), { timeout: 30_000, interval: 100 }).toBe('failed');
    const failed = { jobId: job.id!, reason: (await queue.getJob(job.id!))!.failedReason };
    await queue.close();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);

    // The scheduler syncs nightly and old-full; then the config drops old-full and gains verify-daily, unsynced.
    const sync = await runCli(['--config', file, 'scheduler', '--once']);
    expect(sync.code, sync.stderr).toBe(0);
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace(sched.oldFull, sched.verifyDaily));

    const started = Date.now();
    const run = await runCli(['--config', file, '--json', 'status']);
    expect(run.code, run.stderr).toBe(0);
    const status = JSON.parse(run.stdout) as Status;
    expect(status.distributed).toEqual({ configured: true, redis: redis.url, prefix: 'st1', error: null });

    const byId = new Map(status.schedules!.map((s) => [s.id, s]));
    expect([...byId.keys()]).toEqual(['idle-verify', 'nightly', 'old-full', 'verify-daily']);
    const nightly = byId.get('nightly')!;
    expect(nightly).toMatchObject({ state: 'scheduled', job: 'incremental', source: 'testbot', queue: 'backup.testbot', nextFrom: 'redis' });
    expect(nightly.next).toMatch(/T02:00:00\.000Z$/);
    expect(Date.parse(nightly.next!)).toBeGreaterThan(started);
    expect(Date.parse(nightly.next!) - started).toBeLessThanOrEqual(86_400_000);
    expect(byId.get('old-full')).toMatchObject({ state: 'unconfigured', job: 'full', source: 'testbot', nextFrom: 'redis' });
    expect(byId.get('verify-daily')).toMatchObject({ state: 'missing', queue: 'maintenance', nextFrom: 'cron' });
    expect(byId.get('verify-daily')!.next).toMatch(/T05:00:00\.000Z$/);
    expect(byId.get('idle-verify')).toMatchObject({ state: 'disabled', next: null });

    const counts = new Map(status.queues!.map((q) => [q.name, q.counts]));
    expect([...counts.keys()]).toEqual(['maintenance', 'backup.testbot', 'backup.idlebot']);
    // backup.testbot: the backup, and the next job of each of its two job schedulers.
    expect(counts.get('backup.testbot')).toMatchObject({ completed: 1, failed: 0, active: 0, waiting: 0, delayed: 2 });
    expect(counts.get('maintenance')).toMatchObject({ completed: 0, failed: 1, active: 0, waiting: 0, delayed: 0 });
    expect(status.active).toEqual([]);

    const [testbot, idlebot] = status.sources;
    expect(testbot).toMatchObject({ id: 'testbot', stale: false, lastJob: { id: done.jobId, state: 'completed', result: { backupId: done.result.backupId } } });
    expect(testbot!.newestGoodBackup!.id).toBe(done.result.backupId);
    expect(testbot!.newestGoodBackup!.ageMs).toBeGreaterThanOrEqual(0);
    expect(testbot!.newestGoodBackup!.ageMs).toBeLessThan(Date.now() - started + 120_000);
    expect(idlebot).toMatchObject({ id: 'idlebot', stale: true, newestGoodBackup: null, lastJob: { id: failed.jobId, state: 'failed' } });

    expect(status.recentFailures).toHaveLength(1);
    expect(status.recentFailures![0]).toMatchObject({ id: failed.jobId, queue: 'maintenance', state: 'failed', attemptsMade: 1 });
    expect(status.recentFailures![0]!.failedReason).toBe(failed.reason);
    expect(failed.reason).toMatch(/holds no backups of source "idlebot"|no backups/);

    // jobs --failed: exactly the failed one, payload ids only, with its log.
    const jobs = await runCli(['--config', file, '--json', 'jobs', '--failed']);
    expect(jobs.code, jobs.stderr).toBe(0);
    const listed = JSON.parse(jobs.stdout) as { id: string; queue: string; state: string; payload: unknown; failedReason: string; logs: string[] }[];
    // Job ids are per queue (both jobs here are "1"): the queue tells them apart.
    expect(listed.map((j) => [j.queue, j.id, j.state])).toEqual([['maintenance', failed.jobId, 'failed']]);
    expect(listed[0]!.payload).toEqual({ type: 'verify', sourceId: 'idlebot' });
    expect(listed[0]!.failedReason).toBe(failed.reason);

    const all = await runCli(['--config', file, '--json', 'jobs', '--limit', '10']);
    const every = JSON.parse(all.stdout) as { id: string; queue: string; state: string; payload: { type: string }; dueAt: string | null; logs: string[] }[];
    expect(every.map((j) => j.state).sort()).toEqual(['completed', 'delayed', 'delayed', 'failed']);
    expect(every.find((j) => j.queue === 'backup.testbot' && j.id === done.jobId)!.logs).toContainEqual(expect.stringMatching(/^committed full backup /));
    for (const j of every.filter((x) => x.state === 'delayed')) expect(Date.parse(j.dueAt!)).toBeGreaterThan(started);
    expect(all.stdout).not.toMatch(/test-secret|test-key/);
    const newestFirst = await runCli(['--config', file, '--json', 'jobs', '--completed', '--failed', '--limit', '1']);
    expect((JSON.parse(newestFirst.stdout) as { id: string; queue: string }[]).map((j) => [j.queue, j.id])).toEqual([['maintenance', failed.jobId]]);

    // For people: the schedule ids and their state, the sources with the age of their newest good backup.
    const text = await runCli(['--config', file, 'status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^nightly +incremental +testbot +0 2 \* \* \* +UTC +\d{4}-\d\d-\d\d 02:00:00Z \(in \d+[hms](?: \d+[hms])?\) +ok$/m);
    expect(text.stdout).toMatch(/^verify-daily .*MISSING from Redis/m);
    expect(text.stdout).toMatch(/^old-full .*NOT CONFIGURED/m);
    expect(text.stdout).toMatch(
      new RegExp(
        `^testbot +${done.result.backupId} +\\d+[sm]( \\d+s)? +[\\d.]+ \\S*B +[\\d.]+ \\S*B +ok +full ok \\d+[sm].* ago: backup ${done.result.backupId}$`,
        'm',
      ),
    );
    expect(text.stdout).toMatch(/^idlebot +none +- +- +- +STALE \(no good backup\) +verify FAILED .* ago: /m);
    expect(text.stdout).toMatch(new RegExp(`^${failed.jobId} +maintenance +verify:idlebot +\\d+[sm].* ago +1/3 +`, 'm'));

    const table = await runCli(['--config', file, 'jobs', '--failed']);
    expect(table.stdout.split('\n')[0]).toMatch(/^JOB +QUEUE +NAME +STATE +ATTEMPTS +PROGRESS +CREATED +FINISHED +RESULT$/);
    expect(table.stdout).toMatch(
      new RegExp(`^${failed.jobId} +maintenance +verify:idlebot +failed +1/3 +- +[\\d-]+ [\\d:]+Z +[\\d-]+ [\\d:]+Z +Storage "local" holds no backups`, 'm'),
    );
  });

  it('lists the workers connected to Redis by name, with their queues, and each configured queue no worker serves', async () => {
    await createBot(path.join(tmp.dir, 'bot'));
    const file = await writeStatusConfig(tmp.dir, redis.url, 'st4', [sched.nightly]);
    // One named on the command line (testbot's backups and maintenance), one by default (`<hostname>:<pid>`, testbot's backups only).
    const named = startWorker(file, '--name', 'worker-bot');
    const unnamed = startWorker(file, '--no-maintenance');
    workers.push(named.child, unnamed.child);
    await Promise.all([named.started, unnamed.started]);
    const byDefault = `${os.hostname()}:${unnamed.child.pid}`;

    const json = await runCli(['--config', file, '--json', 'status']);
    expect(json.code, json.stderr).toBe(0);
    const { workers: listed } = JSON.parse(json.stdout) as Status;
    expect(listed).toMatchObject({
      error: null,
      list: [
        { name: byDefault, host: '127.0.0.1', queues: ['backup.testbot'] },
        { name: 'worker-bot', host: '127.0.0.1', queues: ['maintenance', 'backup.testbot'] },
      ].sort((a, b) => a.name.localeCompare(b.name)),
      unserved: [{ queue: 'backup.idlebot', sourceId: 'idlebot' }],
    });
    for (const w of listed!.list!) {
      expect(w.connectedForMs).toBeLessThan(120_000);
      expect(w.connections.map((c) => c.queue)).toEqual(w.queues);
      for (const c of w.connections) expect(c.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    }

    const text = await runCli(['--config', file, 'status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Workers\nWORKER +QUEUES +ADDRESS +CONNECTED FOR$/m);
    expect(text.stdout).toMatch(/^worker-bot +maintenance, backup\.testbot +127\.0\.0\.1 +\d+s$/m);
    expect(text.stdout).toMatch(new RegExp(`^${byDefault.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +backup\\.testbot +127\\.0\\.0\\.1 +\\d+s$`, 'm'));
    expect(text.stdout).toMatch(/^backup\.idlebot  no worker: backups of "idlebot" will wait$/m);
    expect(text.stdout).not.toMatch(/^(maintenance|backup\.testbot) +no worker/m);

    // Once they stop, their connections are gone: every configured queue waits.
    for (const w of [named, unnamed]) w.child.kill('SIGTERM');
    expect(await Promise.all([named.exited, unnamed.exited])).toEqual([0, 0]);
    const after = await runCli(['--config', file, 'status']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(
      /^Workers: none connected\nmaintenance     no worker: verify, prune, replicate and drill jobs will wait\nbackup\.testbot  no worker: backups of "testbot" will wait\nbackup\.idlebot  no worker: backups of "idlebot" will wait$/m,
    );
  });

  it('shows the last restore drill of each source, and the copies no drill passed within drill.period', async () => {
    await createBot(path.join(tmp.dir, 'bot'));
    const file = await writeStatusConfig(tmp.dir, redis.url, 'st3', [sched.nightly]);
    for (const args of [
      ['backup', '--source', 'testbot'],
      ['backup', '--source', 'testbot', '--incremental'],
    ]) {
      const run = await runCli(['--config', file, ...args]);
      expect(run.code, run.stderr).toBe(0);
    }
    const [full, incremental] = (await fs.readdir(path.join(tmp.dir, 'repo/manifests/testbot'))).map((n) => n.replace(/\.json$/, '')).sort() as [
      string,
      string,
    ];
    expect(incremental).toBeDefined();

    // Records as the worker keeps them: the newest drill read the full backup 3 h ago; the
    // incremental's copy last passed a drill 40 days ago, outside the default period of 30 days.
    const now = Date.now();
    const ago = (ms: number) => new Date(now - ms).toISOString();
    const passed: DrillRecord = {
      sourceId: 'testbot',
      backupId: full,
      store: 'local',
      at: ago(3 * 3_600_000 + 60_000),
      ok: true,
      restoreMs: 4210,
      dataAgeMs: 93_600_000,
      read: [full],
      checks: [{ name: 'trades', ok: true, detail: '3' }],
    };
    const old: DrillRecord = { ...passed, backupId: incremental, at: ago(40 * 86_400_000), read: [full, incremental] };
    const client = new Redis(redis.url);
    try {
      await client.set(drillKeys.last('st3', 'testbot'), JSON.stringify(passed));
      await client.hset(drillKeys.copies('st3', 'testbot'), {
        [drillKeys.field('local', full)]: JSON.stringify(passed),
        [drillKeys.field('local', incremental)]: JSON.stringify(old),
      });
      // A record this version cannot read counts as none.
      await client.set(drillKeys.last('st3', 'idlebot'), 'not a record');

      const json = await runCli(['--config', file, '--json', 'status']);
      expect(json.code, json.stderr).toBe(0);
      const [testbot, idlebot] = (JSON.parse(json.stdout) as Status).sources;
      expect(testbot!.drill).toMatchObject({
        last: { ...passed, agoMs: expect.any(Number) },
        periodMs: 30 * 86_400_000,
        copies: 2,
        overdue: [{ backupId: incremental, store: 'local' }],
      });
      expect(testbot!.drill!.last!.agoMs).toBeGreaterThanOrEqual(3 * 3_600_000 + 60_000);
      expect(testbot!.drill!.last!.agoMs).toBeLessThan(3 * 3_600_000 + 60_000 + 120_000);
      expect(idlebot!.drill).toEqual({ last: null, periodMs: 30 * 86_400_000, copies: 0, overdue: [] });

      const text = await runCli(['--config', file, 'status']);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/^Restore drills\nSOURCE +COPIES +LAST DRILL$/m);
      expect(text.stdout).toMatch(
        new RegExp(`^testbot +1 of 2 copies not drilled within 30d +drill ok 3h 1m ago: backup ${full} from "local", restore 4\\.2 s, data age 1d 2h$`, 'm'),
      );
      expect(text.stdout).toMatch(/^idlebot +no copies +drill never$/m);

      // A failed drill of the incremental: FAILED with why; it covers no copy.
      const failed: DrillRecord = {
        ...passed,
        backupId: incremental,
        at: ago(3_600_000 + 5_000),
        ok: false,
        restoreMs: 800,
        read: [full, incremental],
        checks: [{ name: 'trades', ok: false, detail: 'returned 0' }],
        error: 'the check "trades" failed: it returned 0',
        code: 'DRILL_CHECK_FAILED',
      };
      await client.set(drillKeys.last('st3', 'testbot'), JSON.stringify(failed));
      await client.hset(drillKeys.copies('st3', 'testbot'), drillKeys.field('local', incremental), JSON.stringify(failed));
      const after = await runCli(['--config', file, 'status']);
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).toMatch(/^testbot +1 of 2 copies not drilled within 30d +drill FAILED 1h ago: the check "trades" failed: it returned 0$/m);
      const afterJson = JSON.parse((await runCli(['--config', file, '--json', 'status'])).stdout) as Status;
      expect(afterJson.sources[0]!.drill).toMatchObject({
        last: { ok: false, backupId: incremental, error: failed.error, code: 'DRILL_CHECK_FAILED' },
        overdue: [{ backupId: incremental, store: 'local' }],
      });
    } finally {
      client.disconnect();
    }
  });

  it('with Redis down: the backups part, then one sentence and exit 10 within seconds, never the password', async () => {
    const own = await startRedis({ password: 'hunter2-secret' });
    await createBot(path.join(tmp.dir, 'bot'));
    const file = await writeStatusConfig(tmp.dir, `redis://:\${REDIS_PASSWORD}@127.0.0.1:${own.port}/0`, 'st2', [sched.nightly]);
    const env = { REDIS_PASSWORD: 'hunter2-secret' };
    expect((await runCli(['--config', file, 'backup', '--source', 'testbot'], { env })).code).toBe(0);
    const up = await runCli(['--config', file, '--json', 'status'], { env });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).not.toContain('hunter2');
    expect((JSON.parse(up.stdout) as Status).distributed.redis).toBe(`redis://:***@127.0.0.1:${own.port}/0`);
    await own.stop();

    const sentence = `botbackup: Cannot reach Redis at redis://:***@127.0.0.1:${own.port}/0 to connect (ECONNREFUSED); check redis.url and that the server is running.\n`;
    const started = Date.now();
    const text = await runCli(['--config', file, 'status'], { env });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(text.code).toBe(10);
    expect(text.stderr).toBe(sentence);
    expect(text.stdout).toMatch(/could not be read; showing the backups only/);
    expect(text.stdout).toMatch(/^testbot +\S+ +\d+[sm].* +ok +-$/m);
    expect(text.stdout + text.stderr).not.toContain('hunter2');

    const json = await runCli(['--config', file, '--json', 'status'], { env });
    expect(json.code).toBe(10);
    const status = JSON.parse(json.stdout) as Status;
    expect(status.distributed.error).toBe(sentence.slice('botbackup: '.length, -1));
    expect(status.schedules).toBeNull();
    expect(status.sources[0]!.newestGoodBackup).not.toBeNull();
    // The workers' drills are in Redis: unknown now, so no drills part rather than a wrong "never".
    expect(status.sources[0]!.drill).toBeNull();
    expect(text.stdout).not.toMatch(/Restore drills/);
    expect(json.stdout + json.stderr).not.toContain('hunter2');

    const jobs = await runCli(['--config', file, 'jobs', '--failed'], { env });
    expect(jobs.code).toBe(10);
    expect(jobs.stderr).toBe(sentence);
  });

  it('without a redis section: the backups only, saying distributed mode is not configured; jobs exits 3 naming the field', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const file = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), codec: 'none' });
    const before = await runCli(['--config', file, 'status']);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/^Distributed mode is not configured \(no "redis" in .*\); showing the backups only\.$/m);
    expect(before.stdout).toMatch(/^testbot +none +- +- +- +STALE \(no good backup\) +-$/m);
    expect((await runCli(['--config', file, 'backup'])).code).toBe(0);
    const json = JSON.parse((await runCli(['--config', file, '--json', 'status'])).stdout) as Status;
    expect(json.distributed).toEqual({ configured: false, redis: null, prefix: null, error: null });
    expect(json.queues).toBeNull();
    expect(json.sources[0]).toMatchObject({ id: 'testbot', stale: false, lastJob: null, drill: { last: null, copies: 1 } });
    // A drill run here is kept in the local catalog: status shows it without Redis.
    const drill = await runCli(['--config', file, 'drill']);
    expect(drill.code, drill.stderr).toBe(0);
    const drilled = JSON.parse((await runCli(['--config', file, '--json', 'status'])).stdout) as Status;
    expect(drilled.sources[0]!.drill).toMatchObject({ last: { ok: true, store: 'local' }, copies: 1, overdue: [] });
    const drilledText = await runCli(['--config', file, 'status']);
    expect(drilledText.stdout).toMatch(
      /^testbot +0 of 1 copy not drilled within 30d +drill ok \d+s ago: backup \S+ from "local", restore \d+\.\d s, data age \d+[sm]( \d+s)?$/m,
    );
    const jobs = await runCli(['--config', file, 'jobs']);
    expect(jobs.code).toBe(3);
    expect(jobs.stderr).toMatch(/field "redis" is missing/);
  });
});
