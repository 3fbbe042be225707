#!/usr/bin/env node
// Throughput of small backup jobs through Redis and BullMQ workers (issue 5's benchmark):
// many sources with small databases, all jobs queued at once, drained by one and then by two
// `botbackup worker` processes; and the scheduler's overhead: how late a job produced by a job
// scheduler starts after its slot. A private redis-server on a free port; nothing else shared.
//
//   npm run build && node bench/jobs.mjs [--sources 24] [--deals 3000] [--rounds 2]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Queue, QueueEvents } from 'bullmq';
import { queueNames } from '@botbackup/core';
import { parseArgs } from './lib.mjs';
import { machine } from './measure.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'packages/cli/bin/botbackup.js');
const args = parseArgs(process.argv.slice(2), {
  sources: { type: 'number', default: 24 },
  deals: { type: 'number', default: 3000 },
  rounds: { type: 'number', default: 2 },
  'scheduled-runs': { type: 'number', default: 10 },
});
const log = (m) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bench-jobs-'));
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', work, '--maxmemory-policy', 'noeviction'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => createInterface({ input: redis.stdout }).on('line', (l) => l.includes('Ready to accept connections') && resolve()));
redis.stdout.resume();
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };

// Sources: one small bot each (a WAL database of `deals` rows, a config file, a key file).
const sources = Array.from({ length: args.sources }, (_, i) => `bot${String(i).padStart(2, '0')}`);
for (const id of sources) {
  const root = path.join(work, 'bots', id);
  fs.mkdirSync(path.join(root, 'data'), { recursive: true });
  const db = new Database(path.join(root, 'data/trades.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE deals (id INTEGER PRIMARY KEY, ts INTEGER, symbol TEXT, price REAL, note TEXT)');
  const ins = db.prepare('INSERT INTO deals (ts, symbol, price, note) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let d = 0; d < args.deals; d++) ins.run(1_700_000_000_000 + d, 'BTCUSDT', 60000 + (d % 977), `grid ${d % 40} ${'x'.repeat(60)}`);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ id, risk: 0.01 }));
  fs.writeFileSync(path.join(root, '.env'), `KEY=${id}\n`);
}
const dbBytes = fs.statSync(path.join(work, 'bots', sources[0], 'data/trades.db')).size;

function writeConfig(prefix, schedules = '') {
  const file = path.join(work, `${prefix}.yaml`);
  fs.writeFileSync(
    file,
    [
      'version: 1',
      'sources:',
      ...sources.map(
        (id) =>
          `  - { id: ${id}, root: bots/${id}, databases: [{ path: data/trades.db }], files: [{ kind: config, include: ["config.json"] }, { kind: secret, include: [".env"] }] }`,
      ),
      `storage: [{ name: local, type: local, path: repo-${prefix} }]`,
      `redis: { url: "redis://127.0.0.1:${port}/0", prefix: ${prefix} }`,
      `worker: { sources: [${sources.join(', ')}], maintenance: false }`,
      `defaults: { nice: 0 }`,
      schedules,
      '',
    ].join('\n'),
  );
  return file;
}

function startWorker(config) {
  const child = spawn(process.execPath, [CLI, '--config', config, '--quiet', 'worker'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, XDG_STATE_HOME: path.join(work, 'state') } });
  // Warnings only (--quiet); shown, so that a failing worker is visible.
  child.stderr.pipe(process.stderr);
  return { child };
}

async function waitForWorkers(queues, count) {
  for (;;) {
    const counts = await Promise.all(queues.map((q) => q.getWorkersCount()));
    if (counts.every((c) => c >= count)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Queues one full backup per source and measures until every job has completed. */
async function burst(workersCount, round) {
  const prefix = `b${workersCount}r${round}`;
  const config = writeConfig(prefix);
  const queues = sources.map((id) => new Queue(queueNames.backup(id), { connection, prefix }));
  const workers = Array.from({ length: workersCount }, () => startWorker(config));
  await waitForWorkers(queues, workersCount);
  const events = sources.map((id) => new QueueEvents(queueNames.backup(id), { connection, prefix }));
  await Promise.all(events.map((e) => e.waitUntilReady()));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const jobs = await Promise.all(queues.map((q, i) => q.add(`full:${sources[i]}`, { type: 'full', sourceId: sources[i] })));
  await Promise.all(jobs.map((job, i) => job.waitUntilFinished(events[i], 600_000)));
  const seconds = (performance.now() - t0) / 1000;
  const finished = await Promise.all(jobs.map((job, i) => queues[i].getJob(job.id)));
  const engineMs = fs
    .readdirSync(path.join(work, `repo-${prefix}/manifests`), { recursive: true })
    .filter((f) => String(f).endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(work, `repo-${prefix}/manifests`, String(f)), 'utf8')).stats.durationMs);
  const waits = finished.map((j) => j.processedOn - j.timestamp);
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => w.child.once('exit', r))));
  await Promise.all([...queues.map((q) => q.close()), ...events.map((e) => e.close())]);
  return {
    workers: workersCount,
    round,
    jobs: jobs.length,
    seconds: Number(seconds.toFixed(2)),
    jobsPerS: Number((jobs.length / seconds).toFixed(2)),
    engineMsMedian: median(engineMs),
    benchCpuS: Number(((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6).toFixed(2)),
    firstStartMs: Math.min(...waits),
  };
}

/** A job scheduler every second (6-field cron): how late after its slot each job starts. */
async function schedulerLatency() {
  const prefix = 'sched';
  const schedules = `schedules:\n  - { id: every-second, source: ${sources[0]}, job: full, cron: "* * * * * *" }`;
  const config = writeConfig(prefix, schedules);
  const queue = new Queue(queueNames.backup(sources[0]), { connection, prefix });
  const sync = spawnSync(process.execPath, [CLI, '--config', config, '--json', 'scheduler', '--once'], { encoding: 'utf8' });
  if (sync.status !== 0) throw new Error(`scheduler --once failed: ${sync.stderr}`);
  const worker = startWorker(config);
  await waitForWorkers([queue], 1);
  for (;;) {
    const done = await queue.getCompleted(0, args['scheduled-runs']);
    if (done.length >= args['scheduled-runs']) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await queue.removeJobScheduler('every-second');
  worker.child.kill('SIGTERM');
  await new Promise((r) => worker.child.once('exit', r));
  const done = await queue.getCompleted(0, args['scheduled-runs'] - 1);
  // A scheduled job's slot is timestamp + delay; processedOn is when a worker took it.
  const lateMs = done.map((j) => j.processedOn - (j.timestamp + (j.opts.delay ?? 0)));
  const skipped = done.filter((j) => j.returnvalue?.skipped).length;
  await queue.close();
  return { runs: done.length, lateMsMedian: median(lateMs), lateMsMax: Math.max(...lateMs), skipped };
}

try {
  log(`${sources.length} sources, database ${(dbBytes / 1024).toFixed(0)} KiB each`);
  const runs = [];
  for (let round = 1; round <= args.rounds; round++) {
    for (const n of round % 2 ? [1, 2] : [2, 1]) {
      const r = await burst(n, round);
      log(`round ${round}, ${n} worker(s): ${r.jobs} jobs in ${r.seconds} s = ${r.jobsPerS} jobs/s (engine median ${r.engineMsMedian} ms per backup)`);
      runs.push(r);
    }
  }
  const sched = await schedulerLatency();
  log(`scheduler: ${sched.runs} runs of a 1-second cron, job started ${sched.lateMsMedian} ms after its slot (median), ${sched.lateMsMax} ms at most; ${sched.skipped} skipped (source busy)`);
  const summary = (n) => {
    const rs = runs.filter((r) => r.workers === n);
    return { jobsPerS: median(rs.map((r) => r.jobsPerS)), seconds: median(rs.map((r) => r.seconds)), engineMsMedian: median(rs.map((r) => r.engineMsMedian)) };
  };
  const result = {
    date: new Date().toISOString(),
    command: `node bench/jobs.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    node: process.version,
    sources: sources.length,
    dbBytes,
    runs,
    oneWorker: summary(1),
    twoWorkers: summary(2),
    scheduler: sched,
  };
  const out = path.join(ROOT, 'bench/results', `${result.date.slice(0, 10)}-jobs.json`);
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `one worker: ${result.oneWorker.jobsPerS} jobs/s, two workers: ${result.twoWorkers.jobsPerS} jobs/s (${(result.twoWorkers.jobsPerS / result.oneWorker.jobsPerS).toFixed(2)}x); engine ${result.oneWorker.engineMsMedian} ms per backup; scheduled job late by ${sched.lateMsMedian} ms (median)\nRaw results: ${path.relative(ROOT, out)}\n`,
  );
} finally {
  redis.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
