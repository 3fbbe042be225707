import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobName, jobOptions, parseManifest, queueNames, redisKeys, redisOptionsFromUrl, type Config, type JobPayload, type Manifest } from '@botbackup/core';
import { loadConfig } from '@botbackup/engine';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startWebhookReceiver } from './helpers/webhook.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';

async function manifests(repo: string): Promise<Manifest[]> {
  return manifestsOf(repo, 'testbot');
}

async function manifestsOf(repo: string, sourceId: string): Promise<Manifest[]> {
  const dir = path.join(repo, 'manifests', sourceId);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return Promise.all(names.filter((n) => n.endsWith('.json')).map(async (n) => parseManifest(await fs.readFile(path.join(dir, n), 'utf8'), n)));
}

describe('distributed mode: workers run queued backups through a private Redis', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis({ appendfsync: 'always' });
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });

  /** A bot and a config whose worker section lets a crashed worker's job be taken over within seconds. */
  async function setup(options: { deals?: number; prefix: string; extra?: string }) {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: options.deals });
    const repo = path.join(tmp.dir, 'repo');
    const file = await writeConfig(tmp.dir, {
      root,
      repo,
      codec: 'none',
      extra: `redis: { url: "${redis.url}", prefix: ${options.prefix} }\nworker: { sources: [testbot], lockDuration: 2s, stalledInterval: 1s, maxStalledCount: 1, drainTimeout: 30s }\n${options.extra ?? ''}`,
    });
    const config: Config = await loadConfig(file);
    const connection = redisOptionsFromUrl(redis.url);
    const queue = new Queue<JobPayload>(queueNames.backup('testbot'), { connection, prefix: options.prefix });
    const start = (...args: string[]) => {
      const w = startWorkerProcess(file, ...args);
      workers.push(w);
      return w;
    };
    return { root, repo, file, config, queue, start, connection };
  }

  it('backup --queue hands the backup to a worker and follows it; the manifest names the job', async () => {
    const { file, repo, start, queue } = await setup({ prefix: 'q1' });
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    const run = await runCli(['--config', file, '--json', 'backup', '--queue']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { jobId: string; state: string; result: { backupId: string } };
    expect(out.state).toBe('completed');
    const [m] = await manifests(repo);
    expect(m!.id).toBe(out.result.backupId);
    expect(m!.trigger).toMatchObject({ jobId: out.jobId, scheduleId: null });
    const job = await queue.getJob(out.jobId);
    expect(await job!.getState()).toBe('completed');
    expect(JSON.stringify(job!.data)).not.toMatch(/test-secret|test-key/);
    expect((await queue.getJobLogs(out.jobId)).logs.some((l) => l.startsWith('committed full backup'))).toBe(true);
    await queue.close();
  });

  it("run <schedule-id> enqueues that schedule's job and follows it; an unknown schedule is a usage error", async () => {
    const { file, start, repo } = await setup({
      prefix: 'q8',
      extra:
        'schedules:\n  - { id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }\n  - { id: check, source: testbot, job: verify, cron: "0 4 * * *" }\n',
    });
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    // Nothing to verify yet: the job fails at once, and run exits as verify would here (7).
    const early = await runCli(['--config', file, 'run', 'check']);
    expect(early.code, early.stderr).toBe(7);
    expect(early.stderr).toMatch(/^botbackup: Job \S+ failed: Storage "local" holds no backups of source "testbot" yet/m);
    const run = await runCli(['--config', file, '--json', 'run', 'nightly']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { state: string; result: { type: string; backupId: string } };
    expect(out.state).toBe('completed');
    expect(out.result.type).toBe('incremental');
    // The first backup of a source is full, whatever the job asked for.
    expect((await manifests(repo)).map((m) => [m.id, m.type])).toEqual([[out.result.backupId, 'full']]);
    const unknown = await runCli(['--config', file, 'run', 'hourly']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no schedule "hourly"; it has nightly, check.');
  });

  it('backup --queue fails fast with one sentence when Redis is unreachable, and never shows the password', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const file = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), extra: 'redis: { url: "redis://:s3cr3t-pw@127.0.0.1:1/0" }\n' });
    const started = Date.now();
    const run = await runCli(['--config', file, 'backup', '--queue']);
    expect(run.code).toBe(10);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.stderr).toMatch(/^botbackup: Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0 .*; check redis\.url and that the server is running\.$/m);
    expect(run.stderr + run.stdout).not.toContain('s3cr3t-pw');
  });

  it('two workers split a burst; one is SIGKILLed mid-backup; its job completes on the other, and nothing is duplicated or partial', async () => {
    // 150,000 deals, stored uncompressed: a backup of about 30 MB, long enough for the kill to land in it.
    const { file, repo, start, queue, config } = await setup({ prefix: 'q2', deals: 150_000 });
    const a = start();
    const b = start();
    await Promise.all([a.waitFor((r) => r.msg === 'worker started'), b.waitFor((r) => r.msg === 'worker started')]);
    const jobs = await Promise.all(
      Array.from({ length: 4 }, (_, i) => {
        const payload: JobPayload = { type: i % 2 ? 'incremental' : 'full', sourceId: 'testbot' };
        return queue.add(jobName(payload), payload, jobOptions(config.worker));
      }),
    );
    // Kill whichever worker starts a backup first, in the middle of it.
    const [first, started] = await Promise.race([a, b].map((w) => w.waitFor((r) => r.msg === 'backup started').then((r) => [w, r] as const)));
    first.child.kill('SIGKILL');
    await first.exited;
    const survivor = first === a ? b : a;
    const killedJob = String(started.jobId);
    expect(
      first.records.some((r) => r.msg === 'job completed' && r.jobId === killedJob),
      'the kill came after the backup ended',
    ).toBe(false);
    // Every job ends completed, the killed one's on the survivor once its lock expired.
    await survivor.waitFor((r) => r.msg === 'job completed' && r.jobId === killedJob);
    for (const job of jobs) {
      await expect.poll(async () => (await queue.getJob(job.id!))!.getState(), { timeout: 30_000, interval: 200 }).toBe('completed');
    }
    const all = await manifests(repo);
    const byJob = new Map(all.map((m) => [m.trigger?.jobId, m]));
    expect(all).toHaveLength(4);
    expect(new Set(jobs.map((j) => j.id))).toEqual(new Set(byJob.keys()));
    // One source, one backup at a time.
    const spans = all.map((m) => [Date.parse(m.startedAt), Date.parse(m.completedAt)] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    const verify = await runCli(['--config', file, 'verify', '--all']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    await queue.close();
  });

  it('one worker process runs one job at a time across its queues (--concurrency 1): two sources back up in turn', async () => {
    const { file, root, repo, config, connection } = await setup({ prefix: 'q9', deals: 30_000 });
    const text = (await fs.readFile(file, 'utf8'))
      .replace('sources:\n', `sources:\n  - { id: other, root: ${JSON.stringify(root)}, databases: [{ path: data/trades.db }] }\n`)
      .replace('sources: [testbot]', 'sources: [testbot, other]');
    await fs.writeFile(file, text);
    const worker = startWorkerProcess(file);
    workers.push(worker);
    await worker.waitFor((r) => r.msg === 'worker started');
    const queues = ['testbot', 'other'].map((id) => new Queue<JobPayload>(queueNames.backup(id), { connection, prefix: 'q9' }));
    const jobs = await Promise.all(queues.map((q, i) => q.add('full', { type: 'full', sourceId: i ? 'other' : 'testbot' }, jobOptions(config.worker))));
    // Job ids are per queue: match the queue too.
    for (const job of jobs) await worker.waitFor((r) => r.msg === 'job completed' && r.jobId === job.id && r.queue === job.queueName);
    const spans = [...(await manifests(repo)), ...(await manifestsOf(repo, 'other'))]
      .map((m) => [Date.parse(m.startedAt), Date.parse(m.completedAt)] as const)
      .sort((x, y) => x[0] - y[0]);
    expect(spans).toHaveLength(2);
    expect(spans[1]![0]).toBeGreaterThanOrEqual(spans[0]![1]);
    await Promise.all(queues.map((q) => q.close()));
  });

  it('Redis is restarted while a job runs: the job still ends exactly once', async () => {
    const { repo, start, queue, config } = await setup({ prefix: 'q3', deals: 60_000 });
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    const job = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, jobOptions(config.worker));
    await worker.waitFor((r) => r.msg === 'backup started');
    await redis.restart();
    await worker.waitFor((r) => r.msg === 'job completed' && r.jobId === job.id);
    expect(await (await queue.getJob(job.id!))!.getState()).toBe('completed');
    const all = await manifests(repo);
    expect(all.filter((m) => m.trigger?.jobId === job.id)).toHaveLength(1);
    await queue.close();
  });

  it('a scheduled run while its source is busy is skipped, saying which job holds it; a one-off is delayed', async () => {
    const { repo, start, queue, config, connection } = await setup({ prefix: 'q4' });
    // As if a long backup of the source were running on another host.
    const client = new Redis(connection);
    await client.set(redisKeys.sourceLock('q4', 'testbot'), 'job-running-elsewhere', 'PX', 60_000);
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    const scheduled = await queue.add('incremental:testbot', { type: 'incremental', sourceId: 'testbot', scheduleId: 'nightly' }, jobOptions(config.worker));
    await worker.waitFor((r) => r.msg === 'job completed' && r.jobId === scheduled.id);
    const done = await queue.getJob(scheduled.id!);
    expect(done!.returnvalue.skipped).toMatch(/another job \(job-running-elsewhere\) is working on source "testbot"/);
    const oneOff = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, jobOptions(config.worker));
    await expect.poll(async () => (await queue.getJob(oneOff.id!))!.getState(), { timeout: 10_000 }).toBe('delayed');
    expect((await queue.getJobLogs(oneOff.id!)).logs.join('\n')).toContain('source "testbot" is busy (job job-running-elsewhere)');
    expect(await manifests(repo)).toEqual([]);
    client.disconnect();
    await queue.close();
  });

  it('a backup whose source lock is lost mid-run aborts instead of committing', async () => {
    const { repo, file, queue, config, connection } = await setup({ prefix: 'q10', deals: 120_000 });
    // A short lease, renewed every third of a second: the loss is seen long before the backup could end.
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('drainTimeout: 30s', 'drainTimeout: 30s, sourceLockLease: 1s'));
    const worker = startWorkerProcess(file);
    workers.push(worker);
    await worker.waitFor((r) => r.msg === 'worker started');
    const job = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, { ...jobOptions(config.worker), attempts: 1 });
    await worker.waitFor((r) => r.msg === 'backup started');
    // As if the lock had expired and another worker had taken it over.
    const client = new Redis(connection);
    await client.set(redisKeys.sourceLock('q10', 'testbot'), 'job-of-another-worker');
    const failed = await worker.waitFor((r) => r.msg === 'job failed' && r.jobId === job.id);
    expect(String(failed.err)).toContain('the lock of source "testbot" was lost');
    expect(await (await queue.getJob(job.id!))!.getState()).toBe('failed');
    expect(await manifests(repo)).toEqual([]);
    // The other holder's lock is left alone.
    expect(await client.get(redisKeys.sourceLock('q10', 'testbot'))).toBe('job-of-another-worker');
    client.disconnect();
    await queue.close();
  });

  it('a prune job deletes what the retention policy lets go, under the source lock', async () => {
    const { file, repo, start, config, connection } = await setup({
      prefix: 'q12',
      extra: 'defaults:\n  retention: { daily: 1, weekly: 0, monthly: 0, yearly: 0, grace: 0s }\n',
    });
    for (let i = 0; i < 2; i++) expect((await runCli(['--config', file, 'backup'])).code).toBe(0);
    const [older, newer] = (await manifests(repo)).map((m) => m.id).sort();
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    const maintenance = new Queue<JobPayload>(queueNames.maintenance, { connection, prefix: 'q12' });
    const job = await maintenance.add('prune:testbot', { type: 'prune', sourceId: 'testbot' }, jobOptions(config.worker));
    const done = await worker.waitFor((r) => r.msg === 'job completed' && r.jobId === job.id && r.queue === queueNames.maintenance);
    expect(done).toMatchObject({ type: 'prune', deleted: 1 });
    expect((await manifests(repo)).map((m) => m.id)).toEqual([newer]);
    expect(older).not.toBe(newer);
    await maintenance.close();
  });

  it('a job whose payload breaks the job contract fails at once, without retries, saying what is wrong', async () => {
    const { start, config, connection } = await setup({ prefix: 'q13' });
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    // Added by hand, past the types (as an older version or another program could): a prune names its source.
    const maintenance = new Queue(queueNames.maintenance, { connection, prefix: 'q13' });
    const job = await maintenance.add('prune', { type: 'prune', scheduleId: 7 }, jobOptions(config.worker));
    const failed = await worker.waitFor((r) => r.msg === 'job failed' && r.jobId === job.id);
    expect(String(failed.err)).toMatch(/^The job's payload is not a valid botbackup job \(sourceId: .+; scheduleId: .+\); it was not run\.$/);
    const stored = (await maintenance.getJob(job.id!))!;
    expect(await stored.getState()).toBe('failed');
    expect(stored.attemptsMade).toBe(1);
    expect(config.worker.attempts).toBeGreaterThan(1);
    expect(stored.progress).toEqual({ phase: 'failed', code: 'JOB_INVALID', exitCode: 2 });
    await maintenance.close();
  });

  it('SIGTERM drains: the running backup finishes, then the worker exits 0', async () => {
    const { repo, start, queue, config } = await setup({ prefix: 'q5', deals: 60_000 });
    const worker = start();
    await worker.waitFor((r) => r.msg === 'worker started');
    const job = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, jobOptions(config.worker));
    await worker.waitFor((r) => r.msg === 'backup started');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await (await queue.getJob(job.id!))!.getState()).toBe('completed');
    expect((await manifests(repo)).map((m) => m.trigger?.jobId)).toEqual([job.id]);
    await queue.close();
  });

  it('SIGTERM with a backup that outlasts drainTimeout: the backup is aborted, nothing is committed, the job goes back for a retry, the worker exits 0', async () => {
    const { repo, file, queue, config } = await setup({ prefix: 'q11', deals: 100_000 });
    // zstd at level 19 packs a few MB/s: the backup lasts several seconds, well past the 1 s drain.
    // It also holds the event loop for long stretches (close to a minute on a loaded 2-core
    // machine), so a short job lock would expire under it and the aborted attempt could not be
    // recorded: the lock must outlast the longest stall, or the job is left 'active'.
    await fs.writeFile(
      file,
      (await fs.readFile(file, 'utf8'))
        .replace('drainTimeout: 30s', 'drainTimeout: 1s')
        .replace('lockDuration: 2s', 'lockDuration: 180s')
        .replace('compression: { codec: none }', 'compression: { codec: zstd, level: 19 }'),
    );
    const worker = startWorkerProcess(file);
    workers.push(worker);
    await worker.waitFor((r) => r.msg === 'worker started');
    const job = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, jobOptions(config.worker));
    await worker.waitFor((r) => r.msg === 'backup started');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.records.map((r) => r.msg)).toContain('drain timeout: aborting the running jobs');
    // This attempt failed; BullMQ retries it later (attempts: 3), on this or another worker.
    const after = (await queue.getJob(job.id!))!;
    expect(await after.getState()).toBe('delayed');
    expect(after.attemptsMade).toBe(1);
    expect(await manifests(repo)).toEqual([]);
    await queue.close();
  });

  it('a job that keeps crashing its worker ends as failed instead of looping', async () => {
    const { start, queue, config, repo } = await setup({ prefix: 'q6', deals: 60_000 });
    const job = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, jobOptions(config.worker));
    for (let crash = 0; crash < 2; crash++) {
      const w = start();
      await w.waitFor((r) => r.msg === 'backup started');
      w.child.kill('SIGKILL');
      await w.exited;
    }
    // A healthy worker's stalled-job check finds it stalled a second time: more than maxStalledCount (1).
    start('--no-maintenance');
    await expect.poll(async () => (await queue.getJob(job.id!))!.getState(), { timeout: 30_000, interval: 200 }).toBe('failed');
    const failed = await queue.getJob(job.id!);
    expect(await failed!.getState()).toBe('failed');
    expect(failed!.failedReason).toMatch(/stalled/i);
    expect(await manifests(repo)).toEqual([]);
    await queue.close();
  });

  it('notifies a webhook: stale (no backup yet), failure once retries are over, then recovery', async () => {
    const hook = await startWebhookReceiver();
    const { received, events } = hook;
    const headers = hook.authorizations;
    try {
      const { root, start, queue, config } = await setup({
        prefix: 'q7',
        extra: `notify: { webhook: "${hook.url}/hook/T0KEN-in-url", headers: { Authorization: "Bearer hook-secret" }, staleAfter: 1h }\n`,
      });
      // The database is gone: the backup fails; with no retries left, that is its end.
      await fs.rename(path.join(root, 'data/trades.db'), path.join(root, 'data/trades.db.away'));
      const worker = start();
      await events(1);
      expect(received[0]).toMatchObject({ event: 'stale', sourceId: 'testbot', message: 'source "testbot" has no backup at all.' });
      const failing = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, { ...jobOptions(config.worker), attempts: 1 });
      await events(2);
      expect(received[1]).toMatchObject({ event: 'failure', sourceId: 'testbot', job: 'full', jobId: failing.id });
      expect(String(received[1]!.text)).toMatch(/^botbackup failure \(testbot\): full:testbot \(job \S+\) failed: .*trades\.db/);

      await fs.rename(path.join(root, 'data/trades.db.away'), path.join(root, 'data/trades.db'));
      const fixed = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, jobOptions(config.worker));
      await worker.waitFor((r) => r.msg === 'job completed' && r.jobId === fixed.id);
      await events(4);
      expect(received.slice(2).map((e) => e.event)).toEqual(['recovery', 'recovery']);
      expect(received.slice(2).map((e) => e.message)).toEqual(
        expect.arrayContaining(['full:testbot works again (job ' + fixed.id + ' completed).', 'source "testbot" has a fresh backup again.']),
      );
      expect(headers.every((h) => h === 'Bearer hook-secret')).toBe(true);
      // The webhook's URL and header are secrets: no log line of the worker holds them.
      expect(worker.records.length).toBeGreaterThan(5);
      expect(JSON.stringify(worker.records)).not.toMatch(/T0KEN|hook-secret/);
      await queue.close();
    } finally {
      hook.close();
    }
  });
});
