import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseWalSegmentName } from '@botbackup/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli, useTempDir } from './helpers/bot.js';
import { eventually, startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, useWorkerProcesses } from './helpers/worker.js';

/**
 * Continuous protection in distributed mode: the worker serving a continuous source's queue
 * streams its WAL (with its metrics), survives SIGKILL with the same generation, and what it
 * shipped restores exactly.
 */

const writers = new Set<ChildProcess>();
afterEach(() => {
  for (const w of writers) w.kill('SIGKILL');
  writers.clear();
});

async function segmentCount(repo: string): Promise<{ generation: string; seq: number; lastFrame: number }[]> {
  const root = path.join(repo, 'wal/bot');
  const found = [];
  for (const generation of await fs.readdir(root).catch(() => [] as string[])) {
    for (const file of await fs.readdir(path.join(root, generation, 'trades')).catch(() => [] as string[])) {
      const name = parseWalSegmentName(file);
      if (name) found.push({ generation, seq: name.seq, lastFrame: name.lastFrame });
    }
  }
  return found.sort((a, b) => (a.generation === b.generation ? a.seq - b.seq : a.generation < b.generation ? -1 : 1));
}

describe('continuous protection in a worker', () => {
  const tmp = useTempDir();
  const workers = useWorkerProcesses();
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('streams the source it serves, exports the RPO, continues its generation after SIGKILL, and restores exactly', async () => {
    const dir = tmp.dir;
    const repo = path.join(dir, 'repo');
    await fs.mkdir(path.join(dir, 'bot'));
    const config = path.join(dir, 'botbackup.yaml');
    await fs.writeFile(
      config,
      `version: 1
sources:
  - id: bot
    root: ${JSON.stringify(path.join(dir, 'bot'))}
    continuous: true
    databases:
      - path: trades.db
storage:
  - { name: local, type: local, path: ${JSON.stringify(repo)} }
catalog: ${JSON.stringify(path.join(dir, 'catalog.sqlite'))}
redis: { url: "${redis.url}", prefix: cw }
worker: { sources: [bot], maintenance: false }
`,
    );
    const db = path.join(dir, 'bot/trades.db');
    const writer = spawn(process.execPath, [path.join(repoRoot, 'test/helpers/trade-writer.mjs'), db, path.join(dir, 'truth.txt'), '200'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    writers.add(writer);
    await new Promise((resolve) => writer.stdout!.once('data', resolve));

    const first = startWorkerProcess(config, '--metrics-port', '0');
    workers.push(first);
    const started = await first.waitFor((r) => r.msg === 'worker started');
    expect(started.streaming).toEqual(['bot']);
    await first.waitFor((r) => r.msg === "generation's first backup committed");
    const metricsUrl = `${started.metrics as string}`;
    const scraped = await eventually(
      () => fetch(metricsUrl).then((r) => r.text()),
      (text) => /botbackup_stream_segments_total\{source="bot",database="trades"\} [1-9]/.test(text),
    );
    expect(scraped).toMatch(/botbackup_stream_last_shipped_commit_timestamp_seconds\{source="bot",database="trades"\} 1\d{9}/);
    const before = (await segmentCount(repo)).length;
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startWorkerProcess(config);
    workers.push(second);
    await second.waitFor((r) => r.msg === 'continuing the newest generation');
    await eventually(
      () => segmentCount(repo),
      (list) => list.length >= before + 2,
      60_000,
    );
    writer.kill('SIGTERM');
    await new Promise((resolve) => writer.once('exit', resolve));
    // Everything committed is shipped once the newest segment ends at the WAL-index's last commit.
    await eventually(
      async () => ({ list: await segmentCount(repo), committed: (await fs.readFile(`${db}-shm`)).readUInt32LE(16) }),
      ({ list, committed }) => list.at(-1)?.lastFrame === committed,
      60_000,
    );
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const list = await segmentCount(repo);
    expect(new Set(list.map((s) => s.generation)).size).toBe(1);
    expect(list.map((s) => s.seq)).toEqual(list.map((_, i) => i + 1));
    const restored = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'out')]);
    expect(restored.code, restored.stderr).toBe(0);
    const rows = (file: string) => {
      const d = new Database(file, { readonly: true });
      try {
        return d.prepare('select * from trades order by id').all();
      } finally {
        d.close();
      }
    };
    expect(rows(path.join(dir, 'out/trades.db'))).toEqual(rows(db));
  });
});
