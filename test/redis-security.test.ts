import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys, queueNames } from '@botbackup/core';
import { cliBin, createBot, runCli, useTempDir, writeConfig, type CliResult } from './helpers/bot.js';
import { startRedis, type PrivateRedis } from './helpers/redis.js';

/** A `botbackup worker` process, everything it printed, and a promise that it started. */
function startWorker(
  config: string,
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; exited: Promise<number | null>; started: Promise<void> } {
  const child = spawn(process.execPath, [cliBin, '--config', config, '--debug', 'worker'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      output += `${line}\n`;
      if (line.includes('"msg":"worker started"')) resolve();
    });
    void exited.then((code) => reject(new Error(`the worker exited (${code}) before it started:\n${output}`)));
  });
  return { child, output: () => output, exited, started };
}

/**
 * A bot folder and a config for it with this `redis` section (YAML flow mapping, then any other
 * sections); returns the config's path.
 */
async function botConfig(dir: string, redis: string): Promise<string> {
  const root = path.join(dir, 'bot');
  if (!(await fs.stat(root).catch(() => undefined))) await createBot(root, { deals: 200 });
  return writeConfig(dir, { root, repo: path.join(dir, 'repo'), codec: 'none', extra: `redis: ${redis}\n` });
}

/** The failure of a command: its exit code and its stderr, one line holding one sentence (no stack trace). */
function expectOneSentence(run: CliResult, code: number): string {
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(code);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^botbackup: \S.*\.$/);
  expect(run.stderr).not.toMatch(/\n\s+at |node:internal|\.js:\d+/);
  return lines[0]!;
}

describe('Redis over TLS (rediss://)', () => {
  const tmp = useTempDir();
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startRedis({ tls: true });
  });
  afterAll(() => redis?.stop());

  it('status, backup --queue --no-wait, jobs and scheduler --once work with redis.tls.ca (a path relative to the config file)', async () => {
    expect(redis.url).toBe(`rediss://127.0.0.1:${redis.port}`);
    // The CA next to the config, named relatively: resolved against the config's folder, not the cwd.
    await fs.mkdir(path.join(tmp.dir, 'tls'));
    await fs.copyFile(redis.ca!, path.join(tmp.dir, 'tls/redis-ca.pem'));
    const file = await botConfig(
      tmp.dir,
      `{ url: "${redis.url}", tls: { ca: tls/redis-ca.pem } }\nschedules:\n  - { id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }`,
    );

    const sync = await runCli(['--config', file, 'scheduler', '--once']);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toContain('1 job scheduler(s) in Redis as configured: 1 added');

    const queued = await runCli(['--config', file, '--json', 'backup', '--queue', '--no-wait']);
    expect(queued.code, queued.stderr).toBe(0);
    const { jobId } = JSON.parse(queued.stdout) as { jobId: string };
    expect(jobId).toBeTruthy();

    const jobs = await runCli(['--config', file, '--json', 'jobs', '--waiting']);
    expect(jobs.code, jobs.stderr).toBe(0);
    expect((JSON.parse(jobs.stdout) as { id: string }[]).map((j) => j.id)).toContain(jobId);

    const status = await runCli(['--config', file, '--json', 'status']);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as { distributed: { redis: string; error: string | null }; schedules: { id: string; state: string }[] };
    expect(report.distributed).toMatchObject({ redis: redis.url, error: null });
    expect(report.schedules.map((s) => s.id)).toEqual(['nightly']);
    const text = await runCli(['--config', file, 'status']);
    expect(text.code, text.stderr).toBe(0);

    // The data is really in the TLS server (read with the same CA, as a client outside botbackup would).
    const client = new Redis({ host: '127.0.0.1', port: redis.port, tls: { ca: await fs.readFile(redis.ca!, 'utf8') } });
    try {
      expect(await client.exists(queueKeys.of('botbackup', queueNames.backup('testbot'), jobId))).toBe(1);
    } finally {
      await client.quit();
    }
  });

  it('without redis.tls.ca the server certificate is not trusted: exit 10 and one sentence that says so', async () => {
    const file = await botConfig(tmp.dir, `{ url: "${redis.url}" }`);
    for (const args of [['jobs'], ['backup', '--queue', '--no-wait'], ['scheduler', '--once']]) {
      const run = await runCli(['--config', file, ...args]);
      const line = expectOneSentence(run, 10);
      expect(line).toMatch(/TLS certificate/);
      expect(line).toContain('redis.tls.ca');
      expect(line).toContain(`rediss://127.0.0.1:${redis.port}`);
    }
    // status still shows the backups, then fails the same way.
    const status = await runCli(['--config', file, 'status']);
    expect(status.code).toBe(10);
    expect(status.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(status.stderr).toMatch(/TLS certificate/);
  });

  it('a CA file that is missing is a config error naming redis.tls.ca; TLS settings with redis:// are refused', async () => {
    const missing = await botConfig(tmp.dir, `{ url: "${redis.url}", tls: { ca: nowhere/ca.pem } }`);
    const run = await runCli(['--config', missing, 'jobs']);
    const line = expectOneSentence(run, 3);
    expect(line).toContain('"redis.tls.ca"');
    expect(line).toContain(path.join(tmp.dir, 'nowhere/ca.pem'));

    const plain = await botConfig(tmp.dir, `{ url: "redis://127.0.0.1:${redis.port}", tls: { ca: ${JSON.stringify(redis.ca)} } }`);
    expect(expectOneSentence(await runCli(['--config', plain, 'jobs']), 3)).toContain('rediss://');
  });

  it('a plain redis:// URL to the TLS port fails with exit 10 in one sentence', async () => {
    const file = await botConfig(tmp.dir, `{ url: "redis://127.0.0.1:${redis.port}" }`);
    expectOneSentence(await runCli(['--config', file, 'jobs']), 10);
  });
});

describe('Redis ACL users (redis://user:password@host)', () => {
  const tmp = useTempDir();
  const adminPassword = `admin-${randomBytes(8).toString('hex')}`;
  const aclPassword = `acl-${randomBytes(8).toString('hex')}`;
  const wrongPassword = `wrong-${randomBytes(8).toString('hex')}`;
  let redis: PrivateRedis;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    // The default user has another password: botbackup must log in as its own user.
    redis = await startRedis({ password: adminPassword, aclUser: { name: 'botbackup', password: aclPassword } });
  });
  afterAll(() => redis?.stop());
  afterEach(() => {
    for (const w of workers.splice(0)) if (w.exitCode === null) w.kill('SIGKILL');
  });

  const noSecrets = (output: string) => {
    for (const secret of [adminPassword, aclPassword, wrongPassword]) expect(output).not.toContain(secret);
  };
  const url = (password: string) => `redis://botbackup:${password}@127.0.0.1:${redis.port}`;
  const withAdmin = async <T>(work: (admin: Redis) => Promise<T>): Promise<T> => {
    const admin = new Redis({ host: '127.0.0.1', port: redis.port, password: adminPassword });
    try {
      return await work(admin);
    } finally {
      await admin.quit();
    }
  };

  it('a worker, backup --queue (followed), scheduler --once, status and jobs run as the ACL user; its password is never printed', async () => {
    expect(redis.url).toBe(url(aclPassword));
    // The password comes from the environment, as docs/deploy.md advises.
    const file = await botConfig(
      tmp.dir,
      `{ url: "redis://botbackup:\${REDIS_PASSWORD}@127.0.0.1:${redis.port}" }\nworker: { sources: [testbot] }\nschedules:\n  - { id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }`,
    );
    const env = { REDIS_PASSWORD: aclPassword };
    const worker = startWorker(file, env);
    workers.push(worker.child);
    await worker.started;

    const outputs: string[] = [];
    const run = async (...args: string[]) => {
      const result = await runCli(['--config', file, ...args], { env });
      outputs.push(result.stdout, result.stderr);
      expect(result.code, result.stderr).toBe(0);
      return result;
    };
    const backup = await run('--json', 'backup', '--queue');
    const done = JSON.parse(backup.stdout.slice(backup.stdout.indexOf('{'))) as { jobId: string; result: { backupId: string } };
    expect(done.result.backupId).toBeTruthy();
    await run('scheduler', '--once');
    const status = JSON.parse((await run('--json', 'status')).stdout) as {
      distributed: { redis: string; error: string | null };
      sources: { id: string; newestGoodBackup: { id: string } | null; lastJob: { id: string; state: string } | null }[];
      workers: { error: string | null; list: { name: string; queues: string[] }[] | null; unserved: unknown[] | null };
    };
    expect(status.distributed).toMatchObject({ redis: `redis://botbackup:***@127.0.0.1:${redis.port}`, error: null });
    expect(status.sources[0]).toMatchObject({ newestGoodBackup: { id: done.result.backupId }, lastJob: { id: done.jobId, state: 'completed' } });
    // The user may not run CLIENT LIST (-@dangerous): the workers cannot be listed, and status says so in one line.
    expect(status.workers).toEqual({ error: expect.stringMatching(/may not run CLIENT LIST; add "\+client\|list"/), list: null, unserved: null });
    const text = await run('status');
    expect(text.stdout).toContain(`redis://botbackup:***@127.0.0.1:${redis.port}`);
    expect(text.stdout).toMatch(
      /^Workers: cannot be listed: the Redis user may not run CLIENT LIST; add "\+client\|list" to its ACL rules \(docs\/deploy\.md\)$/m,
    );
    // With +client|list, as docs/deploy.md says, the worker is listed.
    await withAdmin((admin) => admin.acl('SETUSER', 'botbackup', '+client|list'));
    const listed = JSON.parse((await run('--json', 'status')).stdout) as typeof status;
    expect(listed.workers).toMatchObject({ error: null, list: [{ name: `${os.hostname()}:${worker.child.pid}`, queues: ['maintenance', 'backup.testbot'] }] });
    const jobs = await run('jobs', '--completed');
    expect(jobs.stdout).toContain(done.jobId);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    outputs.push(worker.output());
    noSecrets(outputs.join('\n'));

    // Every key it wrote is under its prefix (the ACL allows no other), and it logged in as itself.
    const admin = new Redis({ host: '127.0.0.1', port: redis.port, password: adminPassword });
    try {
      const keys = await admin.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((k) => !k.startsWith('botbackup:'))).toEqual([]);
      // Nothing denied but status's CLIENT LIST before the user was given it (ACL LOG entries are flat [field, value, ...] lists).
      const denied = ((await admin.acl('LOG', 10)) as unknown[][]).map((entry) => entry[entry.indexOf('object') + 1]);
      expect(denied).toEqual(['client|list']);
    } finally {
      await admin.quit();
    }
  });

  it('a wrong password: exit 10 and one sentence, and neither the wrong nor the right password appears', async () => {
    const file = await botConfig(tmp.dir, `{ url: "${url(wrongPassword)}" }`);
    for (const args of [['jobs'], ['backup', '--queue', '--no-wait'], ['scheduler', '--once'], ['--json', 'jobs']]) {
      const run = await runCli(['--config', file, ...args]);
      const line = expectOneSentence(run, 10);
      expect(line).toContain(`redis://botbackup:***@127.0.0.1:${redis.port}`);
      expect(line).toMatch(/refused the login \(WRONGPASS/);
      noSecrets(run.stdout + run.stderr);
    }
    const status = await runCli(['--config', file, 'status']);
    expect(status.code).toBe(10);
    expect(status.stderr).toMatch(/refused the login/);
    noSecrets(status.stdout + status.stderr);
    const json = await runCli(['--config', file, '--json', 'status']);
    expect(json.code).toBe(10);
    noSecrets(json.stdout + json.stderr);
    expect((JSON.parse(json.stdout) as { distributed: { error: string } }).distributed.error).toMatch(/refused the login/);
  });

  it("a prefix outside the ACL user's keys: exit 10 and one sentence pointing to the ACL rules", async () => {
    const file = await botConfig(tmp.dir, `{ url: "${url(aclPassword)}", prefix: other }`);
    const run = await runCli(['--config', file, 'backup', '--queue', '--no-wait']);
    const line = expectOneSentence(run, 10);
    expect(line).toMatch(/NOPERM/);
    expect(line).toContain('docs/deploy.md');
    noSecrets(run.stdout + run.stderr);
  });
});
