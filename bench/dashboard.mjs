#!/usr/bin/env node
// The dashboard's server time with many sources and backups (issue 22): 50 sources × 1,000
// backups over 90 days in a local repository (manifests copied from two real backups the CLI
// makes, a full and an incremental, with their ids, times, sizes and durations changed), a
// private redis-server on a free port, and `botbackup dashboard` as a process. The first
// request waits for the first catalog sync (every manifest read once); after it, every request
// is served from the catalog's copy in memory. Each route is timed from the client (the whole
// answer received) and by the server's own Server-Timing header.
//
// The first `--continuous` sources are `continuous: true`, each with a generation of shipped WAL
// segments over the same 90 days (`--segments-per-hour`, at uneven times), so that the RPO path
// is timed too: one WAL listing per continuous source and target at each catalog sync, and the
// RPO plot (one point per hour) on every page. The dashboard reads only the segments' keys
// (listWal lists, nothing is read), so their bodies are short placeholders. `--packs` stores
// instead what a streamer leaves of a bot that commits all the time: a pack per 5 minutes
// (packEvery's default) of segments shipped about every second.
//
//   npm run build && node bench/dashboard.mjs [--sources 50] [--backups 1000] [--continuous 5]
//     [--segments-per-hour 4 | --packs] [--requests 20] [--screenshot docs/images/x.png] [--out bench/results/x.json]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createBackupId, newGenerationId, repositoryKeys } from '@botbackup/core';
import { parseArgs, percentile } from './lib.mjs';
import { machine } from './measure.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'packages/cli/bin/botbackup.js');
const args = parseArgs(process.argv.slice(2), {
  sources: { type: 'number', default: 50 },
  backups: { type: 'number', default: 1000 },
  continuous: { type: 'number', default: 5 },
  'segments-per-hour': { type: 'number', default: 4 },
  packs: { type: 'boolean', default: false },
  requests: { type: 'number', default: 20 },
  screenshot: { type: 'string', default: '' },
  out: { type: 'string', default: '' },
});
if (args.continuous > args.sources) throw new Error(`--continuous ${args.continuous} is more than --sources ${args.sources}`);
const TOKEN = 'bench-dashboard-token-0123456789';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const log = (m) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

const loadAtStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
const commit = spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim() || null;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-bench-dashboard-'));
const children = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});

// Redis: a private server on a free port, nothing shared.
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.push(redis);
await new Promise((resolve) => createInterface({ input: redis.stdout }).on('line', (l) => l.includes('Ready to accept connections') && resolve()));
redis.stdout.resume();

// A small bot, and two real backups of it (a full and an incremental) as manifest templates.
const bot = path.join(work, 'bot');
fs.mkdirSync(path.join(bot, 'data'), { recursive: true });
fs.mkdirSync(path.join(bot, 'config'));
const db = new Database(path.join(bot, 'data/trades.db'));
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE deals (id INTEGER PRIMARY KEY, ts INTEGER, note TEXT)');
for (let i = 0; i < 500; i++) db.prepare('INSERT INTO deals (ts, note) VALUES (?, ?)').run(i, 'x'.repeat(80));
db.close();
fs.writeFileSync(path.join(bot, 'config/bot.json'), '{"exchange":"binance"}');
const repo = path.join(work, 'repo');
const sources = Array.from({ length: args.sources }, (_, i) => `bot${String(i).padStart(2, '0')}`);
const continuous = new Set(sources.slice(0, args.continuous));
const sourceYaml = (id) =>
  `  - id: ${id}\n    root: ${JSON.stringify(bot)}\n    databases: [{ path: data/trades.db }]\n    files: [{ kind: config, include: ["config/*.json"] }]\n${continuous.has(id) ? '    continuous: true\n' : ''}`;
const config = path.join(work, 'botbackup.yaml');
const template = path.join(work, 'template.yaml');
fs.writeFileSync(
  template,
  `version: 1\ncatalog: ${JSON.stringify(path.join(work, 'template-catalog.sqlite'))}\nsources:\n${sourceYaml('tmpl')}storage:\n  - { name: local, type: local, path: ${JSON.stringify(path.join(work, 'template-repo'))} }\n`,
);
for (const extra of [[], ['--incremental']]) {
  const r = spawnSync(process.execPath, [CLI, '--config', template, 'backup', ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`template backup failed: ${r.stderr}`);
}
const tmplDir = path.join(work, 'template-repo/manifests/tmpl');
const [fullTmpl, incTmpl] = fs
  .readdirSync(tmplDir)
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(tmplDir, f), 'utf8')));

// The repository: per source, `backups` manifests spread evenly over the last 90 days, a full
// every 24th and incrementals between, each with its own size and duration.
log(`writing ${args.sources} × ${args.backups} manifests`);
const now = Date.now();
let rng = 12345;
const random = () => (rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
for (const source of sources) {
  const dir = path.join(repo, 'manifests', source);
  fs.mkdirSync(dir, { recursive: true });
  let parent = null;
  let depth = 0;
  for (let i = 0; i < args.backups; i++) {
    const completed = now - ((args.backups - i) * 90 * DAY) / args.backups;
    const durationMs = Math.round(400 + random() * 3000);
    const id = createBackupId(new Date(completed - durationMs), randomBytes(10));
    const full = i % 24 === 0;
    const m = structuredClone(full ? fullTmpl : incTmpl);
    m.id = id;
    m.source.id = source;
    m.parent = full ? null : parent;
    m.chainDepth = full ? 0 : ++depth;
    if (full) depth = 0;
    m.startedAt = new Date(completed - durationMs).toISOString();
    m.completedAt = new Date(completed).toISOString();
    const stored = Math.round((full ? 8_000_000 : 300_000) * (0.8 + random() * 0.4) * (1 + i / args.backups));
    m.stats = { entryBytes: stored * 3, storedBytes: stored, durationMs };
    m.objects = m.objects.map((o) => ({
      ...o,
      key: o.key.replace('/tmpl/', `/${source}/`).replace(/\d{8}T[^/]+/, id),
      size: o.role === 'archive' ? stored : o.size,
    }));
    m.trigger = { jobId: `repeat:hourly-${source}:${i}`, scheduleId: `hourly-${source}` };
    fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(m));
    parent = id;
  }
}
// The continuous sources' shipping: per source one generation (its record first) that began 90
// days ago, and `segments-per-hour` segments of the trades database in each hour since (or with
// --packs a pack per 5 minutes), numbered from 1 with contiguous frames, each named as the
// streamer names it (repositoryKeys.walSegment: its last commit's time in the name).
// A placeholder stands for each body: listWal takes only the keys, and nothing in the dashboard
// reads an object under wal/.
let segmentCount = 0;
for (const source of continuous) {
  const began = now - 90 * DAY;
  const generation = newGenerationId(new Date(began));
  const put = (key, text) => {
    const file = path.join(repo, key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  };
  put(repositoryKeys.walGenerationRecord(source, generation), 'placeholder: bench/dashboard.mjs (the dashboard lists keys only)\n');
  const salt = [0x24d9c38a, 0x2ff33bbd];
  let seq = 0;
  let frame = 0;
  const PACK_MS = 5 * 60_000;
  for (let slot = began; args.packs && slot + PACK_MS <= now; slot += PACK_MS) {
    // 300 segments, one about every second: the longest time between two of them 1 to 3 s.
    const frames = 300 * 4;
    const name = {
      seq: seq + 1,
      lastSeq: seq + 300,
      lastCommitAt: Math.round(slot + PACK_MS - random() * 1000),
      salt,
      firstFrame: frame + 1,
      lastFrame: frame + frames,
      firstSegmentAt: Math.round(slot + random() * 1000),
      maxGapMs: 1000 + Math.floor(random() * 2000),
    };
    seq += 300;
    frame += frames;
    segmentCount++;
    put(repositoryKeys.walSegment(source, generation, 'trades', name), 'placeholder\n');
  }
  const perHour = args.packs ? 0 : args['segments-per-hour'];
  for (let hour = began; perHour > 0 && hour < now; hour += HOUR) {
    for (let j = 0; j < perHour; j++) {
      const lastCommitAt = Math.round(hour + ((j + random()) * HOUR) / perHour);
      if (lastCommitAt > now) break;
      const frames = 1 + Math.floor(random() * 20);
      const name = { seq: ++seq, lastCommitAt, salt, firstFrame: frame + 1, lastFrame: frame + frames };
      frame += frames;
      put(repositoryKeys.walSegment(source, generation, 'trades', name), 'placeholder\n');
      segmentCount++;
    }
  }
}
if (continuous.size > 0) log(`wrote ${segmentCount} WAL ${args.packs ? 'pack' : 'segment'} keys for ${continuous.size} continuous sources`);

fs.writeFileSync(
  config,
  `version: 1
catalog: ${JSON.stringify(path.join(work, 'catalog.sqlite'))}
sources:
${sources.map(sourceYaml).join('')}storage:
  - { name: local, type: local, path: ${JSON.stringify(repo)} }
redis: { url: "redis://127.0.0.1:${port}", prefix: bench }
dashboard: { token: "${TOKEN}" }
schedules:
${sources.map((s) => `  - { id: hourly-${s}, source: ${s}, job: incremental, cron: "0 * * * *" }\n  - { id: daily-full-${s}, source: ${s}, job: full, cron: "0 3 * * *" }\n`).join('')}`,
);

// The job schedulers in Redis, as a deployment has them (the Schedules panel compares them).
const synced = spawnSync(process.execPath, [CLI, '--config', config, 'scheduler', '--once'], { encoding: 'utf8' });
if (synced.status !== 0) throw new Error(`scheduler --once failed: ${synced.stderr}`);

// The dashboard, and its first request: the first catalog sync reads every manifest.
const dashboard = spawn(process.execPath, [CLI, '--config', config, 'dashboard', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
children.push(dashboard);
const url = await new Promise((resolve) =>
  createInterface({ input: dashboard.stdout }).on('line', (line) => {
    const match = /Dashboard at (http:\/\/\S+\/)/.exec(line);
    if (match) resolve(match[1]);
  }),
);
const headers = { Authorization: `Bearer ${TOKEN}` };
async function timed(route) {
  const started = performance.now();
  const response = await fetch(url + route, { headers });
  const body = await response.arrayBuffer();
  const clientMs = performance.now() - started;
  if (response.status !== 200) throw new Error(`${route}: ${response.status}`);
  const server = /app;dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '');
  return { clientMs, serverMs: server ? Number(server[1]) : null, bytes: body.byteLength };
}
log('first request (waits for the first catalog sync)');
const first = await timed('api/summary');
log(`first sync and request: ${(first.clientMs / 1000).toFixed(1)} s`);
// The RPO path is exercised: one point per hour with a shipped commit, for each continuous source.
let rpoPoints = null;
if (continuous.size > 0) {
  const one = await (await fetch(`${url}api/trends?source=${sources[0]}`, { headers })).json();
  rpoPoints = one.sources[0]?.rpo?.points.length ?? 0;
  log(`${sources[0]}: ${rpoPoints} RPO points`);
  if (rpoPoints === 0) throw new Error(`${sources[0]} is continuous but its RPO plot has no point`);
}

const routes = ['', 'api/summary', 'api/schedules', 'api/workers', 'api/trends', 'api/drills', 'api/backups', 'metrics'];
const results = {};
for (const route of routes) {
  for (let i = 0; i < 3; i++) await timed(route); // warm-up
  const samples = [];
  for (let i = 0; i < args.requests; i++) samples.push(await timed(route));
  const server = samples.map((s) => s.serverMs).sort((a, b) => a - b);
  const client = samples.map((s) => s.clientMs).sort((a, b) => a - b);
  results[`/${route}`] = {
    serverMedianMs: percentile(server, 50),
    serverP95Ms: percentile(server, 95),
    serverMaxMs: server.at(-1),
    clientMedianMs: Math.round(percentile(client, 50) * 10) / 10,
    clientP95Ms: Math.round(percentile(client, 95) * 10) / 10,
    bytes: samples[0].bytes,
  };
  log(
    `/${route}: server median ${results[`/${route}`].serverMedianMs} ms, p95 ${results[`/${route}`].serverP95Ms} ms; client median ${results[`/${route}`].clientMedianMs} ms; ${(samples[0].bytes / 1024).toFixed(0)} KiB`,
  );
}

if (args.screenshot) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  // Wide enough for a continuous source's four plots in one row.
  const page = await (await browser.newContext({ javaScriptEnabled: false, extraHTTPHeaders: headers, viewport: { width: 1600, height: 800 } })).newPage();
  await page.goto(url);
  await page.locator(`.trend[data-source="${sources[0]}"]`).screenshot({ path: args.screenshot });
  await browser.close();
  log(`screenshot: ${args.screenshot}`);
}

const out = {
  at: new Date().toISOString(),
  machine: machine(),
  node: process.version,
  commit,
  sources: args.sources,
  backupsPerSource: args.backups,
  continuousSources: args.continuous,
  walObjects: args.packs ? 'packs' : 'segments',
  walObjectsPerSource: continuous.size > 0 ? segmentCount / continuous.size : 0,
  rpoPointsPerSource: rpoPoints,
  requestsPerRoute: args.requests,
  loadAverageAtStart: loadAtStart,
  loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  firstSyncAndRequestMs: Math.round(first.clientMs),
  routes: results,
};
const file = args.out ? path.resolve(args.out) : path.join(ROOT, 'bench/results', `${out.at.slice(0, 10)}-dashboard.json`);
fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
log(`results: ${path.relative(ROOT, file)}`);
dashboard.kill('SIGTERM');
await new Promise((r) => dashboard.once('exit', r));
redis.kill('SIGTERM');
