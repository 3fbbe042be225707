import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobOptions, queueNames, redisOptionsFromUrl, type JobPayload } from '@botbackup/core';
import { loadConfig } from '@botbackup/engine';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, useWorkerProcesses } from './helpers/worker.js';

/** Issue 16: a local target whose path cannot be created (it is under a regular file) is a storage problem, not an internal error, and not transient. */
describe('a single local target whose path lies under a regular file', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  const workers = useWorkerProcesses();
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  async function setup(extra = '') {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const file = path.join(tmp.dir, 'a-file');
    await fs.writeFile(file, 'not a folder\n');
    const repo = path.join(file, 'repo');
    return { repo, config: await writeConfig(tmp.dir, { root, repo, codec: 'none', extra }) };
  }

  it('backup: exit 5, one sentence naming the path and the reason', async () => {
    const { repo, config } = await setup();
    const backup = await runCli(['--config', config, 'backup']);
    expect(backup.code, backup.stderr).toBe(5);
    expect(backup.stderr).not.toMatch(/internal error|premature close/i);
    const sentences = backup.stderr.split('\n').filter((line) => line.startsWith('botbackup:'));
    expect(sentences).toEqual([`botbackup: Storage "local": ${repo} is not a folder (a file is in the way); fix the target's path.`]);
  });

  it('a worker fails the job once with that sentence and does not retry it', async () => {
    const { config: file } = await setup(
      `redis: { url: "${redis.url}", prefix: tp }\nworker: { sources: [testbot], lockDuration: 2s, stalledInterval: 1s, maxStalledCount: 1, drainTimeout: 30s }\n`,
    );
    const config = await loadConfig(file);
    const queue = new Queue<JobPayload>(queueNames.backup('testbot'), { connection: redisOptionsFromUrl(redis.url), prefix: 'tp' });
    try {
      const worker = startWorkerProcess(file);
      workers.push(worker);
      await worker.waitFor((r) => r.msg === 'worker started');
      const job = await queue.add('full:testbot', { type: 'full', sourceId: 'testbot' }, { ...jobOptions(config.worker), attempts: 3 });
      await worker.waitFor((r) => r.msg === 'job attempt failed' && r.jobId === job.id);
      const failed = await queue.getJob(job.id!);
      // An unrecoverable failure is final at once: no second attempt is scheduled.
      for (let i = 0; i < 50 && (await failed!.getState()) !== 'failed'; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const final = await queue.getJob(job.id!);
      expect(await final!.getState()).toBe('failed');
      expect(final!.attemptsMade).toBe(1);
      expect(final!.failedReason).toMatch(/^Storage "local": .*a-file\/repo is not a folder \(a file is in the way\); fix the target's path\.$/);
    } finally {
      await queue.close();
    }
  });
});
