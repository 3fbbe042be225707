import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobName, jobOptions, queueNames, redisOptionsFromUrl, type JobPayload, type JobProgress } from '@botbackup/core';
import { loadConfig } from '@botbackup/engine';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker.js';

const PREFIX = 'prog';

/** A job as `jobs --json` shows it (the fields this test reads). */
interface JobView {
  id: string;
  queue: string;
  state: string;
  progress: { phase: string; done: number; total: number | null; percent: number | null } | null;
}

describe('job progress: a finished job shows its final progress, not an intermediate one', () => {
  const tmp = useTempDir('all');
  let redis: PrivateRedis;
  let worker: WorkerProcess | undefined;
  let file: string;
  let repo: string;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const root = path.join(tmp.dir, 'bot');
    // Enough data that the pack phase reports many times within the worker's 500 ms throttle.
    await createBot(root, { deals: 60_000 });
    repo = path.join(tmp.dir, 'repo');
    file = await writeConfig(tmp.dir, {
      root,
      repo,
      codec: 'none',
      extra: `redis: { url: "${redis.url}", prefix: ${PREFIX} }\nworker: { sources: [testbot], maintenance: true }\n`,
    });
    worker = startWorkerProcess(file);
    await worker.waitFor((r) => r.msg === 'worker started');
  });

  afterAll(async () => {
    for (const close of closers) await close();
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    await redis?.stop();
  });

  async function jobsJson(): Promise<JobView[]> {
    const run = await runCli(['--config', file, '--json', 'jobs']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout.slice(run.stdout.indexOf('['))) as JobView[];
  }

  it('a completed backup job: its stored progress is the pack phase complete (done = total, 100%), also in `jobs`', async () => {
    const run = await runCli(['--config', file, '--json', 'backup', '--queue']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { jobId: string; state: string };
    expect(out.state).toBe('completed');

    const queue = new Queue<JobPayload>(queueNames.backup('testbot'), { connection: redisOptionsFromUrl(redis.url), prefix: PREFIX });
    closers.push(() => queue.close());
    const job = (await queue.getJob(out.jobId))!;
    expect(await job.getState()).toBe('completed');
    const progress = job.progress as JobProgress;
    expect(progress).toMatchObject({ phase: 'pack', percent: 100 });
    if (progress.phase === 'failed') throw new Error('unreachable');
    expect(progress.total).toBeGreaterThan(1_000_000);
    expect(progress.done).toBe(progress.total);

    // Stays so: nothing lands after the job was marked completed.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await queue.getJob(out.jobId))!.progress).toEqual(progress);

    const listed = (await jobsJson()).find((j) => j.queue === 'backup.testbot' && j.id === out.jobId)!;
    expect(listed.state).toBe('completed');
    expect(listed.progress).toMatchObject({ phase: 'pack', done: progress.done, total: progress.total, percent: 100 });
  });

  it('a failed verify job keeps the last phase it really reached, with its exit code, also in `jobs`', async () => {
    // Damage the stored archive: verify reads it all, then the sha256 does not match (exit 6, no retry).
    const config = await loadConfig(file);
    const archives: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (!full.includes(`${path.sep}manifests${path.sep}`) && /archive|\.tar/.test(entry.name)) archives.push(full);
      }
    };
    await walk(repo);
    expect(archives, `archives under ${repo}`).toHaveLength(1);
    const archive = archives[0]!;
    const bytes = await fs.readFile(archive);
    bytes[bytes.length >> 1]! ^= 0xff;
    await fs.writeFile(archive, bytes);

    const connection = redisOptionsFromUrl(redis.url);
    const maintenance = new Queue<JobPayload>(queueNames.maintenance, { connection, prefix: PREFIX });
    const events = new QueueEvents(queueNames.maintenance, { connection, prefix: PREFIX });
    closers.push(
      () => maintenance.close(),
      () => events.close(),
    );
    await events.waitUntilReady();
    const payload: JobPayload = { type: 'verify', sourceId: 'testbot' };
    const added = await maintenance.add(jobName(payload), payload, jobOptions(config.worker));
    await expect(added.waitUntilFinished(events, 60_000)).rejects.toThrow(/sha256|damaged|checksum|match/i);

    const job = (await maintenance.getJob(added.id!))!;
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    const progress = job.progress as JobProgress;
    expect(progress).toMatchObject({ phase: 'failed', exitCode: 6, last: { phase: 'read' } });
    if (progress.phase !== 'failed') throw new Error('unreachable');
    expect(progress.last!.done).toBeGreaterThan(0);
    expect(progress.last!.total).toBe(bytes.length);

    const listed = (await jobsJson()).find((j) => j.queue === 'maintenance' && j.id === added.id)!;
    expect(listed.state).toBe('failed');
    expect(listed.progress).toMatchObject({ phase: 'read', done: progress.last!.done, total: bytes.length });
  });
});
