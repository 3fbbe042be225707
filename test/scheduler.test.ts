import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys, queueNames } from '@botbackup/core';
import { cliBin, repoRoot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { closedPort, startRedis, until, type PrivateRedis } from './helpers/redis.js';

const schedules = (lines: string[]) => `schedules:\n${lines.map((l) => `  - ${l}`).join('\n')}\n`;
const daily = '{ id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }';
const weekly = '{ id: weekly-full, source: testbot, job: full, cron: "0 3 * * 0", timezone: Europe/Berlin }';
const verify = '{ id: verify-daily, source: testbot, job: verify, cron: "0 5 * * *" }';

describe('botbackup scheduler', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    await client?.quit();
    await redis?.stop();
  });

  /** A config whose Redis keys live under a fresh prefix; returns its path and the prefix. */
  async function config(lines: string[], url = redis.url): Promise<{ file: string; prefix: string }> {
    const prefix = `bbc-${randomBytes(4).toString('hex')}`;
    const file = await writeConfig(tmp.dir, {
      root: path.join(tmp.dir, 'bot'),
      repo: path.join(tmp.dir, 'repo'),
      extra: `redis: { url: "${url}", prefix: ${prefix} }\n${schedules(lines)}`,
    });
    return { file, prefix };
  }

  it('--once adds the schedules and says what it did; a second run finds them unchanged (--json)', async () => {
    const { file, prefix } = await config([daily, weekly, verify]);
    const first = await runCli(['--config', file, 'scheduler', '--once']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^added nightly: incremental of testbot, "0 2 \* \* \*" UTC, next run \d{4}-\d\d-\d\dT02:00:00\.000Z$/);
    expect(lines[1]).toMatch(/^added verify-daily: verify of testbot, "0 5 \* \* \*" UTC, next run /);
    expect(lines[2]).toMatch(/^added weekly-full: full of testbot, "0 3 \* \* 0" Europe\/Berlin, next run /);
    expect(lines[3]).toBe('3 job scheduler(s) in Redis as configured: 3 added, 0 updated, 0 removed, 0 unchanged.');
    expect(await client.zrange(queueKeys.of(prefix, queueNames.backup('testbot'), 'repeat'), 0, -1)).toEqual(['nightly', 'weekly-full']);

    const second = await runCli(['--config', file, '--json', 'scheduler', '--once']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ added: [], updated: [], removed: [], unchanged: ['nightly', 'verify-daily', 'weekly-full'] });

    // The schedule removed from the config is removed from Redis.
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace(`  - ${weekly}\n`, ''));
    const third = await runCli(['--config', file, '--json', 'scheduler', '--once']);
    expect(JSON.parse(third.stdout)).toEqual({ added: [], updated: [], removed: ['weekly-full'], unchanged: ['nightly', 'verify-daily'] });
    expect(await client.zrange(queueKeys.of(prefix, queueNames.backup('testbot'), 'repeat'), 0, -1)).toEqual(['nightly']);
  });

  it('two scheduler processes started at the same moment leave exactly one job scheduler per schedule', async () => {
    const { file, prefix } = await config([daily, weekly, verify]);
    const results = await Promise.all([1, 2, 3].map(() => runCli(['--config', file, '--json', 'scheduler', '--once'])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    // Each schedule was added (or found, or upserted again) by every process, never twice.
    for (const r of results) expect(JSON.parse(r.stdout).removed).toEqual([]);
    expect(await client.zrange(queueKeys.of(prefix, queueNames.backup('testbot'), 'repeat'), 0, -1)).toEqual(['nightly', 'weekly-full']);
    expect(await client.zrange(queueKeys.of(prefix, queueNames.maintenance, 'repeat'), 0, -1)).toEqual(['verify-daily']);
    // One next job per scheduler, no duplicate delayed jobs.
    expect(await client.zcard(queueKeys.of(prefix, queueNames.backup('testbot'), 'delayed'))).toBe(2);
    expect(await client.zcard(queueKeys.of(prefix, queueNames.maintenance, 'delayed'))).toBe(1);
  });

  it('fails fast when Redis is down: one sentence, exit code 10, no password', async () => {
    const port = await closedPort();
    const { file } = await config([daily], `redis://botbackup:\${REDIS_PASSWORD}@127.0.0.1:${port}/0`);
    const started = Date.now();
    const result = await runCli(['--config', file, 'scheduler', '--once'], { env: { REDIS_PASSWORD: 'hunter2-secret' } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.code).toBe(10);
    expect(result.stderr).toBe(
      `botbackup: Cannot reach Redis at redis://botbackup:***@127.0.0.1:${port}/0 to connect (ECONNREFUSED); check redis.url and that the server is running.\n`,
    );
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('refuses to run without a redis section, naming the field; an invalid cron is rejected at load, naming the schedule', async () => {
    const file = await writeConfig(tmp.dir, { root: path.join(tmp.dir, 'bot'), repo: path.join(tmp.dir, 'repo'), extra: schedules([daily]) });
    const noRedis = await runCli(['--config', file, 'scheduler', '--once']);
    expect(noRedis.code).toBe(3);
    expect(noRedis.stderr).toBe(
      `botbackup: ${file}: field "redis" is missing; the scheduler keeps the schedules in Redis (redis: { url: "redis://host:6379" }).\n`,
    );

    const { file: badCron } = await config([daily, '{ id: broken, source: testbot, job: full, cron: "0 25 * * *" }']);
    const invalid = await runCli(['--config', badCron, 'scheduler', '--once']);
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toMatch(/^botbackup: .*botbackup\.yaml: field "schedules\[1\]\.cron" is "0 25 \* \* \*", which is not a valid cron expression/);

    const { file: good } = await config([daily]);
    const usage = await runCli(['--config', good, 'scheduler', '--interval', 'soon']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('botbackup: --interval must be a duration such as 30s, 5m or 1h, not "soon".\n');
  });

  it('runs until SIGTERM, survives a Redis restart and puts back the schedules Redis lost', async () => {
    const own = await startRedis();
    const ownClient = new Redis(own.url, { lazyConnect: true });
    ownClient.on('error', () => {});
    try {
      const { file, prefix } = await config([daily, verify], own.url);
      const child = spawn(process.execPath, [cliBin, '--config', file, '--json', 'scheduler', '--interval', '1s'], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const syncs: { added: string[]; removed: string[] }[] = [];
      let stderr = '';
      createInterface({ input: child.stdout }).on('line', (line) => syncs.push(JSON.parse(line)));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

      await until(() => syncs.length === 1);
      expect(syncs[0]).toMatchObject({ added: ['nightly', 'verify-daily'], removed: [] });

      await own.kill();
      await until(() => stderr.includes('could not sync the job schedulers'));
      expect(stderr).toContain('Cannot reach Redis at');
      expect(child.exitCode).toBeNull();

      await own.restart();
      await ownClient.connect();
      await ownClient.flushall();
      // The scheduler syncs as soon as Redis is back, which may be before, during or after the
      // flush, and at every tick; it prints a line only for a sync that changed something. Wait
      // until the lines since the flush name both as put back, then for Redis to hold both (a
      // sync that overlapped the flush is made good by the next tick).
      const afterFlush = syncs.length;
      await until(() => new Set(syncs.slice(afterFlush).flatMap((s) => s.added)).size === 2);
      expect([...new Set(syncs.slice(afterFlush).flatMap((s) => s.added))].sort()).toEqual(['nightly', 'verify-daily']);
      await expect
        .poll(() => ownClient.zrange(queueKeys.of(prefix, queueNames.backup('testbot'), 'repeat'), 0, -1), { timeout: 20_000, interval: 200 })
        .toEqual(['nightly']);

      const stopAt = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // It stops at once (it was waiting for its next tick) and leaves no connection open.
      expect(Date.now() - stopAt).toBeLessThan(5000);
      expect(
        String(await ownClient.client('LIST'))
          .trim()
          .split('\n'),
      ).toHaveLength(1);
    } finally {
      ownClient.disconnect();
      await own.stop();
    }
  });
});
