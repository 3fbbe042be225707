import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { closedPort, serverPid, startRedis, type PrivateRedis } from './helpers/redis.js';

// `botbackup health`, the containers' health check: real Redis, a real folder, a real S3 server.

const PASSWORD = 'health-test-redis-password';

describe('botbackup health', () => {
  const tmp = useTempDir('all');
  let redis: PrivateRedis;
  let s3: S3rver;
  let root: string;
  let repo: string;

  /** A config in its own folder: the test bot, the local target `repo` (or `storage` instead), Redis at `redisUrl` unless null. */
  async function config(name: string, options: { redisUrl?: string | null; storage?: string } = {}): Promise<string> {
    const dir = path.join(tmp.dir, name);
    await fs.mkdir(dir, { recursive: true });
    const redisUrl = options.redisUrl === undefined ? redis.url : options.redisUrl;
    const file = await writeConfig(dir, { root, repo, extra: redisUrl === null ? '' : `redis: { url: "${redisUrl}" }\n` });
    if (options.storage === undefined) return file;
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.replace(/^storage:\n.*\n/m, `storage:\n${options.storage}\n`));
    return file;
  }

  beforeAll(async () => {
    [redis, s3] = await Promise.all([startRedis({ password: PASSWORD }), startS3rver()]);
    root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 10 });
    repo = path.join(tmp.dir, 'repo');
  });

  afterAll(async () => {
    await Promise.all([redis?.stop(), s3?.stop()]);
  });

  it('passes for every role: one line per check, the Redis password never shown, exit 0', async () => {
    const file = await config('ok');
    const masked = redis.url.replace(PASSWORD, '***');
    expect(masked).not.toBe(redis.url);

    const worker = await runCli(['--config', file, 'health', '--role', 'worker', '--source', 'testbot']);
    expect(worker.code, worker.stderr).toBe(0);
    // The local target does not exist yet: a put would create it, so it is usable; health creates nothing.
    expect(worker.stdout.split('\n')).toEqual([`redis ok (${masked})`, `storage local ok (${repo})`, `source testbot ok (${root})`, '']);
    await expect(fs.stat(repo)).rejects.toThrow(/ENOENT/);

    const scheduler = await runCli(['--config', file, 'health', '--role', 'scheduler']);
    expect(scheduler.code, scheduler.stderr).toBe(0);
    expect(scheduler.stdout).toBe(`redis ok (${masked})\n`);

    const json = await runCli(['--config', file, '--json', 'health', '--role', 'dashboard']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      checks: [
        { check: 'redis', location: masked, ok: true },
        { check: 'storage', name: 'local', location: repo, ok: true },
      ],
    });

    // No role and no redis section: the storage targets only.
    const local = await runCli(['--config', await config('local-only', { redisUrl: null }), 'health']);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toBe(`storage local ok (${repo})\n`);
    for (const run of [worker, scheduler, json, local]) expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  });

  it('Redis down: exit 10 and one sentence with the URL masked, within seconds; the storage check is still reported', async () => {
    const down = `redis://:${PASSWORD}@127.0.0.1:${await closedPort()}/0`;
    const file = await config('redis-down', { redisUrl: down });
    const started = Date.now();
    const run = await runCli(['--config', file, 'health', '--role', 'worker']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.code).toBe(10);
    const sentence = `Cannot reach Redis at ${down.replace(PASSWORD, '***')} to connect (ECONNREFUSED); check redis.url and that the server is running.`;
    expect(run.stderr).toBe(`botbackup: ${sentence}\n`);
    expect(run.stdout).toBe(`redis FAILED: ${sentence}\nstorage local ok (${repo})\n`);
    expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  });

  it('a Redis that accepts connections but does not answer (SIGSTOP): exit 10 within 10 s', async () => {
    const file = await config('redis-hangs');
    const pid = await serverPid(redis.url);
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const run = await runCli(['--config', file, 'health', '--role', 'scheduler']);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(run.code).toBe(10);
      expect(run.stderr).toMatch(/^botbackup: Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ to connect \(command timed out\); check redis\.url/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect((await runCli(['--config', file, 'health', '--role', 'scheduler'])).code).toBe(0);
  });

  it('a local target with a file in the way: exit 5 for a worker and the dashboard; the scheduler, which needs only Redis, passes', async () => {
    const blocker = path.join(tmp.dir, 'blocker');
    await fs.writeFile(blocker, 'not a folder');
    const file = await config('file-in-the-way', { storage: `  - { name: local, type: local, path: ${JSON.stringify(path.join(blocker, 'repo'))} }` });
    const sentence = `Storage "local": ${path.join(blocker, 'repo')} is not a folder (a file is in the way); fix the target's path.`;
    for (const role of ['worker', 'dashboard']) {
      const run = await runCli(['--config', file, 'health', '--role', role]);
      expect(run.code, role).toBe(5);
      expect(run.stderr).toBe(`botbackup: ${sentence}\n`);
      expect(run.stdout).toContain(`storage local FAILED: ${sentence}\n`);
    }
    expect((await runCli(['--config', file, 'health', '--role', 'scheduler'])).code).toBe(0);
  });

  it('S3 targets: ok when the bucket answers; a missing bucket or a server that is down fails with exit 5', async () => {
    const bucket = await s3.newBucket();
    const { accessKeyId, secretAccessKey } = S3RVER_CREDENTIALS;
    const target = (name: string, bucketName: string, endpoint: string) =>
      `  - { name: ${name}, type: s3, bucket: ${bucketName}, prefix: repo, endpoint: "${endpoint}", accessKeyId: "${accessKeyId}", secretAccessKey: "${secretAccessKey}" }`;
    const ok = await runCli(['--config', await config('s3-ok', { storage: target('s3', bucket, s3.endpoint) }), 'health', '--role', 'worker']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`storage s3 ok (s3://${bucket}/repo/ at ${s3.endpoint.replace(/\/$/, '')})\n`);

    const missing = await runCli(['--config', await config('s3-missing', { storage: target('s3', 'no-such-bucket', s3.endpoint) }), 'health']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(
      /^botbackup: The bucket "no-such-bucket" of storage "s3" \(s3:\/\/no-such-bucket\/repo\/ at http:\/\/127\.0\.0\.1:\d+\) does not exist; create it or fix "bucket" in the config\.\n$/,
    );

    const down = `http://127.0.0.1:${await closedPort()}`;
    const started = Date.now();
    const unreachable = await runCli(['--config', await config('s3-down', { storage: target('s3', bucket, down) }), 'health', '--role', 'dashboard']);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(unreachable.code).toBe(5);
    expect(unreachable.stderr).toContain(`Cannot reach storage "s3" (s3://${bucket}/repo/ at ${down}) for the check of the repository (ECONNREFUSED)`);
    for (const run of [ok, missing, unreachable]) expect(run.stdout + run.stderr).not.toContain(secretAccessKey);
  });

  it('sources: a missing folder fails with exit 3 naming the field; an unknown source is a usage error', async () => {
    const file = await config('sources');
    await fs.rename(root, `${root}.moved`);
    try {
      const run = await runCli(['--config', file, 'health', '--source', 'testbot']);
      expect(run.code).toBe(3);
      expect(run.stderr).toBe(`botbackup: ${file}: field "sources[0].root" points to ${root}, which is not an existing folder.\n`);
    } finally {
      await fs.rename(`${root}.moved`, root);
    }
    const unknown = await runCli(['--config', file, 'health', '--role', 'worker', '--source', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`botbackup: ${file} has no source "nope"; it has testbot.\n`);
    const badRole = await runCli(['--config', file, 'health', '--role', 'cook']);
    expect(badRole.code).toBe(2);
  });
});
