import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { createBot, repoRoot, runCli, useTempDir, writeConfig, type CliResult } from './helpers/bot.js';
import { closedPort } from './helpers/redis.js';

// Every command loads the modules of every other at start-up unless they are imported only where
// used: the AWS SDK (S3 targets), BullMQ and ioredis (Redis) cost a local command most of its
// start-up time (docs/benchmarks.md, "CLI start-up"). A preloaded resolve hook records every
// module a CLI process imports (helpers/import-log.mjs); no timing is measured.

const hook = pathToFileURL(path.join(repoRoot, 'test/helpers/import-log.mjs')).href;
const HEAVY = { awsSdk: '/node_modules/@aws-sdk/', bullmq: '/node_modules/bullmq/', ioredis: '/node_modules/ioredis/' };

/** Runs the CLI with the import log; returns its result and the URLs it imported. */
async function runLogged(dir: string, args: string[], env: Record<string, string> = {}): Promise<CliResult & { imported: string[] }> {
  const log = path.join(dir, `imports-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const result = await runCli(args, {
    env: { ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}`.trim(), BOTBACKUP_IMPORT_LOG: log },
  });
  const imported = (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { ...result, imported };
}

/** Which of the heavy packages the URLs include. */
function heavyIn(imported: readonly string[]): string[] {
  return Object.entries(HEAVY)
    .filter(([, part]) => imported.some((url) => url.includes(part)))
    .map(([name]) => name);
}

describe('modules a command does not need are not loaded', () => {
  const tmp = useTempDir();

  it('backup, list, verify and restore of a local-only config load neither the AWS SDK nor BullMQ nor ioredis', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 50 });
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
    const runs: [string, string[]][] = [
      ['backup', ['--config', config, 'backup']],
      ['list', ['--config', config, '--json', 'list']],
      ['verify', ['--config', config, 'verify', 'latest']],
      ['restore', ['--config', config, 'restore', 'latest', '--target', path.join(tmp.dir, 'restored')]],
      ['--version', ['--version']],
    ];
    for (const [name, args] of runs) {
      const run = await runLogged(tmp.dir, args);
      expect(run.code, `${name}: ${run.stderr}`).toBe(0);
      // The hook saw the command's packages (not an empty log that would pass anything).
      expect(
        run.imported.some((url) => url.includes('/node_modules/commander/')),
        name,
      ).toBe(true);
      expect(heavyIn(run.imported), name).toEqual([]);
      if (name === 'list') expect(JSON.parse(run.stdout)).toHaveLength(1);
    }
  });

  it('jobs, with Redis configured, loads BullMQ and ioredis (even when Redis is down: exit 10)', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 50 });
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), extra: `redis: { url: "redis://127.0.0.1:${await closedPort()}" }\n` });
    const run = await runLogged(tmp.dir, ['--config', config, 'jobs']);
    expect(run.code, run.stderr).toBe(10);
    expect(heavyIn(run.imported)).toEqual(['bullmq', 'ioredis']);
  });

  it('health (a container health check, run every few seconds) loads ioredis alone for Redis, never BullMQ; nothing heavy without Redis', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 50 });
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), extra: `redis: { url: "redis://127.0.0.1:${await closedPort()}" }\n` });
    const run = await runLogged(tmp.dir, ['--config', config, 'health', '--role', 'worker']);
    expect(run.code, run.stderr).toBe(10);
    expect(heavyIn(run.imported)).toEqual(['ioredis']);
    const localOnly = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
    const local = await runLogged(tmp.dir, ['--config', localOnly, 'health']);
    expect(local.code, local.stderr).toBe(0);
    expect(local.imported.some((url) => url.includes('/node_modules/commander/'))).toBe(true);
    expect(heavyIn(local.imported)).toEqual([]);
  });

  describe('with an S3 target', () => {
    let s3: S3rver;
    beforeAll(async () => {
      s3 = await startS3rver();
    });
    afterAll(() => s3.stop());

    it('list loads the AWS SDK once the S3 target is read, and not BullMQ', async () => {
      const root = path.join(tmp.dir, 'bot');
      await createBot(root, { deals: 50 });
      const bucket = await s3.newBucket();
      const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
      const text = (await fs.readFile(config, 'utf8')).replace(
        /^compression:/m,
        `  - { name: s3, type: s3, bucket: ${bucket}, endpoint: "${s3.endpoint}", accessKeyId: "${S3RVER_CREDENTIALS.accessKeyId}", secretAccessKey: "${S3RVER_CREDENTIALS.secretAccessKey}" }\ncompression:`,
      );
      await fs.writeFile(config, text);
      const run = await runLogged(tmp.dir, ['--config', config, '--json', 'list']);
      expect(run.code, run.stderr).toBe(0);
      expect(heavyIn(run.imported)).toEqual(['awsSdk']);
    });
  });
});
