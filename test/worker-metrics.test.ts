import net from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueNames, redisOptionsFromUrl, type JobPayload } from '@botbackup/core';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { eventually, startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, useWorkerProcesses } from './helpers/worker.js';

// A real `botbackup worker` process serving its metrics, a private redis-server, real backups.

const PASSWORD = 'worker-metrics-redis-password';
/** A sample line of the Prometheus text format: a metric name, optional labels, a number. */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|Nan|[+-]Inf)$/;

async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** The value of the one sample `series` (name and labels, exactly as written) in `text`. */
function valueOf(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  expect(line, `${series} in\n${text}`).toBeDefined();
  return Number(line!.slice(series.length + 1));
}

describe('botbackup worker --metrics-port', () => {
  const tmp = useTempDir('all');
  const workers = useWorkerProcesses();
  let redis: PrivateRedis;
  let file: string;

  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD });
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 20 });
    file = await writeConfig(tmp.dir, {
      root,
      repo: path.join(tmp.dir, 'repo'),
      codec: 'none',
      extra: `catalog: ${JSON.stringify(path.join(tmp.dir, 'catalog.sqlite'))}\nredis: { url: "${redis.url}", prefix: wm }\n`,
    });
  });
  afterAll(() => redis?.stop());

  it('counts the jobs it runs by queue, type and result, with their durations, in Prometheus text; /healthz says whether Redis answers', async () => {
    const worker = startWorkerProcess(file, '--source', 'testbot', '--no-maintenance', '--metrics-port', '0');
    workers.push(worker);
    const started = await worker.waitFor((r) => r.msg === 'worker started');
    const url = started.metrics as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const health = url.replace(/metrics$/, 'healthz');

    const before = await scrape(url);
    expect(before.status).toBe(200);
    expect(before.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(before.text).toContain('# TYPE botbackup_worker_jobs_total counter\n');
    expect(before.text).toContain('# TYPE botbackup_worker_job_duration_seconds histogram\n');
    // Every series of the queue is there from the start, at 0.
    expect(valueOf(before.text, 'botbackup_worker_jobs_total{queue="backup.testbot",type="full",result="completed"}')).toBe(0);
    expect(valueOf(before.text, 'botbackup_worker_jobs_total{queue="backup.testbot",type="incremental",result="failed"}')).toBe(0);
    expect(valueOf(before.text, 'botbackup_worker_jobs_running{queue="backup.testbot"}')).toBe(0);
    expect(valueOf(before.text, 'botbackup_worker_redis_up')).toBe(1);
    expect(before.text).toMatch(/^process_cpu_seconds_total \d/m);
    expect((await fetch(health)).status).toBe(200);
    expect(await (await fetch(health)).json()).toEqual({ ok: true });

    // A real backup through the queue, and a job whose payload breaks the contract (it fails at once).
    const run = await runCli(['--config', file, 'backup', '--queue']);
    expect(run.code, run.stderr).toBe(0);
    const queue = new Queue<JobPayload>(queueNames.backup('testbot'), { connection: redisOptionsFromUrl(redis.url), prefix: 'wm' });
    try {
      await queue.add('bogus', { type: 'bogus' } as unknown as JobPayload, { attempts: 1 });
    } finally {
      await queue.close();
    }
    const failed = 'botbackup_worker_jobs_total{queue="backup.testbot",type="invalid",result="failed"}';
    const after = await eventually(
      () => scrape(url),
      (s) => s.text.includes(`\n${failed} 1\n`),
    );
    expect(valueOf(after.text, failed)).toBe(1);
    expect(valueOf(after.text, 'botbackup_worker_jobs_total{queue="backup.testbot",type="full",result="completed"}')).toBe(1);
    expect(valueOf(after.text, 'botbackup_worker_jobs_total{queue="backup.testbot",type="full",result="failed"}')).toBe(0);
    expect(valueOf(after.text, 'botbackup_worker_job_duration_seconds_count{queue="backup.testbot",type="full",result="completed"}')).toBe(1);
    expect(valueOf(after.text, 'botbackup_worker_job_duration_seconds_sum{queue="backup.testbot",type="full",result="completed"}')).toBeGreaterThan(0);
    expect(valueOf(after.text, 'botbackup_worker_job_duration_seconds_bucket{le="+Inf",queue="backup.testbot",type="full",result="completed"}')).toBe(1);
    expect(valueOf(after.text, 'botbackup_worker_jobs_running{queue="backup.testbot"}')).toBe(0);
    // The whole text parses: comments, blank lines between families, and samples.
    for (const line of after.text.split('\n')) {
      if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      expect(line).toMatch(SAMPLE);
    }
    expect(after.text).not.toContain(PASSWORD);

    // Redis gone: /healthz is 503 with why, and the gauge says so; nothing names the URL.
    await redis.kill();
    try {
      const down = await eventually(
        async () => ({ status: (await fetch(health)).status, body: await (await fetch(health)).text() }),
        (h) => h.status === 503,
      );
      expect(down.status).toBe(503);
      expect(JSON.parse(down.body)).toEqual({ ok: false, error: expect.stringMatching(/^Redis is not connected \((connecting|reconnecting|close)\)$/) });
      expect(down.body).not.toContain(String(redis.port));
      expect(valueOf((await scrape(url)).text, 'botbackup_worker_redis_up')).toBe(0);
    } finally {
      await redis.restart();
    }
    await eventually(
      async () => (await fetch(health)).status,
      (status) => status === 200,
    );
    expect((await fetch(url.replace(/metrics$/, 'nothing'))).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
  });

  it('no metrics without a port; a port in use stops the worker at start with exit 2 and one sentence', async () => {
    const plain = startWorkerProcess(file, '--source', 'testbot', '--no-maintenance');
    workers.push(plain);
    const started = await plain.waitFor((r) => r.msg === 'worker started');
    expect(started.metrics).toBeUndefined();

    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const run = await runCli(['--config', file, 'worker', '--source', 'testbot', '--metrics-port', String(port)]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(
        `botbackup: The worker cannot serve its metrics on 127.0.0.1:${port} (the port is in use); choose another --metrics-port or worker.metrics.port.\n`,
      );
    } finally {
      taken.close();
    }
    const bad = await runCli(['--config', file, 'worker', '--metrics-port', 'ninety']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('botbackup: --metrics-port must be a TCP port (0 to 65535), not "ninety".\n');
  });
});
