import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, createBot, repoRoot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { closedPort, serverPid, startRedis, type PrivateRedis } from './helpers/redis.js';

/** A long-running `botbackup` process: every line it printed (stdout and stderr), and its exit. */
interface Running {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (so far or to come) that matches; rejects if the process exits first or after `timeoutMs`. */
  waitFor(match: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  exited: Promise<number | null>;
}

const running: Running[] = [];

function startCli(...args: string[]): Running {
  const child = spawn(process.execPath, [cliBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve: (line: string) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (w.match.test(line)) w.resolve(line);
      else waiters.push(w);
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: Running = {
    child,
    lines,
    exited,
    waitFor: (match, timeoutMs = 30_000, from = 0) =>
      new Promise((resolve, reject) => {
        const seen = lines.slice(from).find((l) => match.test(l));
        if (seen !== undefined) return resolve(seen);
        const timer = setTimeout(() => reject(new Error(`no line matching ${match} within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`the process exited (${code}) before a line matching ${match}:\n${lines.join('\n')}`));
        });
      }),
  };
  running.push(proc);
  return proc;
}

/** Sends SIGTERM once and returns the exit code and how long the process took to exit. */
async function stopOnce(proc: Running): Promise<{ code: number | null; ms: number }> {
  const at = Date.now();
  proc.child.kill('SIGTERM');
  const code = await Promise.race([proc.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000).unref())]);
  if (code === 'hung') throw new Error(`still running 30 s after SIGTERM:\n${proc.lines.join('\n')}`);
  return { code, ms: Date.now() - at };
}

describe('a Redis that refuses, stops answering or restarts', () => {
  const tmp = useTempDir();
  const password = 'correct-horse-battery-staple';
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startRedis({ password });
  });
  afterAll(() => redis?.stop());
  afterEach(async () => {
    for (const proc of running.splice(0)) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
  });

  const config = async (url: string, extra = ''): Promise<string> => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 20 });
    return writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), codec: 'none', extra: `redis: { url: "${url}" }\n${extra}` });
  };

  it('a worker given a wrong password exits 10 within seconds with one sentence, without the password', async () => {
    const wrong = 'not-the-password-at-all';
    const file = await config(`redis://:${wrong}@127.0.0.1:${redis.port}/0`);
    const at = Date.now();
    const worker = startCli('--config', file, 'worker');
    const code = await Promise.race([worker.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())]);
    expect(code, worker.lines.join('\n')).toBe(10);
    expect(Date.now() - at).toBeLessThan(15_000);
    expect(worker.lines).toEqual([
      `botbackup: Redis at redis://:***@127.0.0.1:${redis.port}/0 refused the login (WRONGPASS invalid username-password pair or user is disabled); check the user and password in redis.url.`,
    ]);
    expect(worker.lines.join('\n')).not.toContain(wrong);
  });

  it('a worker waiting for a Redis that is down at start stops on the first SIGTERM', async () => {
    const file = await config(`redis://127.0.0.1:${await closedPort()}/0`);
    const worker = startCli('--config', file, 'worker');
    await worker.waitFor(/Redis is unreachable; the worker starts once it answers/);
    const { code, ms } = await stopOnce(worker);
    expect(code, worker.lines.join('\n')).toBe(0);
    expect(ms).toBeLessThan(10_000);
  });

  it('worker, scheduler and dashboard stop on the first SIGTERM while their Redis hangs (SIGSTOP)', async () => {
    const file = await config(redis.url, 'schedules:\n  - { id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }\n');
    const worker = startCli('--config', file, 'worker');
    const scheduler = startCli('--config', file, 'scheduler', '--interval', '1s');
    const dashboard = startCli('--config', file, 'dashboard', '--port', '0');
    await worker.waitFor(/"msg":"worker started"/);
    await scheduler.waitFor(/job scheduler\(s\) in Redis as configured/);
    await dashboard.waitFor(/^Dashboard at http/);
    const pid = await serverPid(redis.url);
    process.kill(pid, 'SIGSTOP');
    try {
      const stopped = await Promise.all([stopOnce(worker), stopOnce(scheduler), stopOnce(dashboard)]);
      for (const [i, { code, ms }] of stopped.entries()) {
        expect(code, [worker, scheduler, dashboard][i]!.lines.join('\n')).toBe(0);
        expect(ms).toBeLessThan(15_000);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('a worker logs one line when Redis goes away, none per retry, one when it is back, and stops on the first SIGTERM while it is down', async () => {
    const file = await config(redis.url);
    const worker = startCli('--config', file, 'worker', '--source', 'testbot');
    await worker.waitFor(/"msg":"worker started"/);
    await worker.waitFor(/^Worker serving/);
    const before = worker.lines.length;
    await redis.kill();
    try {
      await worker.waitFor(/lost the connection to Redis/);
      // A bounded window of an outage: BullMQ and ioredis retry every second or two meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      const during = worker.lines.slice(before);
      expect(during, during.join('\n')).toHaveLength(1);
      expect(during[0]).toContain(`"redis":"redis://:***@127.0.0.1:${redis.port}"`);
      expect(during[0]).not.toContain(password);
    } finally {
      await redis.restart();
    }
    const back = await worker.waitFor(/Redis is back; taking jobs again/);
    expect(JSON.parse(back)).toMatchObject({ downForMs: expect.any(Number) });
    // The worker serves again: a queued backup runs.
    const queued = await runCli(['--config', file, '--json', 'backup', '--queue']);
    expect(queued.code, queued.stderr).toBe(0);

    const seen = worker.lines.length;
    await redis.kill();
    try {
      await worker.waitFor(/lost the connection to Redis/, 30_000, seen);
      const { code, ms } = await stopOnce(worker);
      expect(code, worker.lines.join('\n')).toBe(0);
      expect(ms).toBeLessThan(15_000);
    } finally {
      await redis.restart();
    }
  }, 120_000);

  it('a scheduler puts the job schedulers back as soon as a Redis restarted without its data is ready, not at its next tick', async () => {
    const own = await startRedis();
    const queue = new Queue('backup.testbot', { connection: { host: '127.0.0.1', port: own.port, maxRetriesPerRequest: 1 }, prefix: 'botbackup' });
    queue.on('error', () => undefined);
    try {
      const file = await config(own.url, 'schedules:\n  - { id: nightly, source: testbot, job: incremental, cron: "0 2 * * *" }\n');
      // A tick an hour away: only the reconnection can put the schedulers back within the test.
      const scheduler = startCli('--config', file, 'scheduler', '--interval', '1h');
      await scheduler.waitFor(/1 job scheduler\(s\) in Redis as configured: 1 added/);
      expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual(['nightly']);

      // A restart that lost everything: the AOF is gone, as on a Redis without persistence.
      await own.kill();
      await fs.rm(path.join(own.dir, 'appendonlydir'), { recursive: true, force: true });
      await fs.rm(path.join(own.dir, 'appendonly.aof'), { force: true });
      await own.restart();
      const restartedAt = Date.now();
      await scheduler.waitFor(/Redis connection is back; syncing the job schedulers now/);
      await scheduler.waitFor(/job schedulers were missing from Redis and were put back/);
      const deadline = Date.now() + 20_000;
      let keys: string[] = [];
      while (Date.now() < deadline) {
        keys = (await queue.getJobSchedulers()).map((s) => s.key);
        if (keys.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(keys).toEqual(['nightly']);
      expect(Date.now() - restartedAt).toBeLessThan(20_000);

      const { code, ms } = await stopOnce(scheduler);
      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);
    } finally {
      await queue.close();
      await own.stop();
    }
  });
});
