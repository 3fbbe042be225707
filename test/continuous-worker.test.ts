import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldWalPieces } from '@botbackup/core';
import { runCli, useTempDir } from './helpers/bot.js';
import { shippedSegments, tradeRows, tradeWriter, useProcesses, writeContinuousConfig } from './helpers/continuous.js';
import { eventually, startRedis, type PrivateRedis } from './helpers/redis.js';
import { startWorkerProcess, useWorkerProcesses } from './helpers/worker.js';

/**
 * Continuous protection in distributed mode: the worker serving a continuous source's queue
 * streams its WAL (with its metrics), survives SIGKILL with the same generation, what it
 * shipped restores exactly, and a verify job checks the shipped WAL with the backup.
 */

describe('continuous protection in a worker', () => {
  const tmp = useTempDir();
  const workers = useWorkerProcesses();
  const start = useProcesses();
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
    const config = await writeContinuousConfig(dir, { extra: `redis: { url: "${redis.url}", prefix: cw }\nworker: { sources: [bot], maintenance: false }\n` });
    const db = path.join(dir, 'bot/trades.db');
    const writer = start([tradeWriter, db, path.join(dir, 'truth.txt'), '200'], { cwd: dir });
    await writer.waitFor(/ready/, 'the writer');

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
    const before = (await shippedSegments(repo)).length;
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startWorkerProcess(config);
    workers.push(second);
    await second.waitFor((r) => r.msg === 'continuing the newest generation');
    await eventually(
      () => shippedSegments(repo),
      (list) => list.length >= before + 2,
      60_000,
    );
    await writer.stop();
    // Everything committed is shipped once the newest segment ends at the WAL-index's last commit.
    await eventually(
      async () => ({ list: await shippedSegments(repo), committed: (await fs.readFile(`${db}-shm`)).readUInt32LE(16) }),
      ({ list, committed }) => list.at(-1)?.name.lastFrame === committed,
      60_000,
    );
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const list = await shippedSegments(repo);
    expect(new Set(list.map((s) => s.generation)).size).toBe(1);
    expect(list.map((s) => s.name.seq)).toEqual(list.map((_, i) => i + 1));
    const restored = await runCli(['-c', config, 'restore', '--at', new Date(Date.now() + 1000).toISOString(), '-t', path.join(dir, 'out')]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(tradeRows(path.join(dir, 'out/trades.db'))).toEqual(tradeRows(db));

    // A verify job of the continuous source checks its shipped WAL too, and fails on a damaged segment.
    const checker = await writeContinuousConfig(
      dir,
      {
        extra: `redis: { url: "${redis.url}", prefix: cw }\nworker: { sources: [], maintenance: true }\nschedules:\n  - { id: check, source: bot, job: verify, cron: "0 4 * * *" }\n`,
      },
      'checker.yaml',
    );
    const maintenance = startWorkerProcess(checker);
    workers.push(maintenance);
    await maintenance.waitFor((r) => r.msg === 'worker started');
    const good = await runCli(['-c', checker, '--json', 'run', 'check']);
    expect(good.code, good.stderr).toBe(0);
    const result = (JSON.parse(good.stdout.slice(good.stdout.indexOf('{'))) as { result: { wal?: { store: string; ok: boolean; segments: number }[] } }).result;
    // What verify reads: the packs the stopping streamers stored, and the segments no pack holds.
    const { pieces } = foldWalPieces([...list, ...(await shippedSegments(repo, 'packs'))]);
    expect(result.wal).toEqual([{ store: 'local', ok: true, segments: pieces.length }]);
    const victim = pieces.at(-1)!;
    const bytes = await fs.readFile(victim.file);
    bytes[bytes.length - 1]! ^= 0xff;
    await fs.writeFile(victim.file, bytes);
    const bad = await runCli(['-c', checker, 'run', 'check']);
    expect(bad.code, bad.stderr).toBe(6);
    expect(bad.stderr).toMatch(/The shipped WAL of "bot" failed verification in "local": .*/);
    expect(bad.stderr).toContain(victim.key);
  });
});
