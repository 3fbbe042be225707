// Continuous protection, measured (issue 21; docs/benchmarks.md "Continuous protection"):
//
//   node bench/continuous.mjs [--rpo-runs 20] [--pitr-minutes 60] [--pitr-instants 20] [--cost-seconds 120] [--only rpo,pitr,cost] [--out file.json]
//
// - rpo:  a bot commits numbered trades at 100/s beside `botbackup stream`; at a random moment the
//         bot is killed and its database, WAL and WAL-index deleted (a lost disk); `recover`
//         restores. Reported per run: trades lost (the bot's last committed trade minus the
//         restored last trade) and the time between them; the worst run.
// - pitr: the same bot and streamer for --pitr-minutes; then `restore --at` at random instants,
//         each compared with the trades whose commit had returned at or before the instant. A
//         miss is reported with its distance from the instant.
// - cost: the bot alone, then the bot beside the streamer, for --cost-seconds each: the bot's
//         commit latency p50/p99/max, the streamer's CPU (its process and its WAL follower's,
//         from /proc), and what the repository keeps of the WAL (packs, and segments no pack
//         holds) from the generation's first backup on, against an incremental of that span.
//
// The repository is local and plaintext, so that what is measured is the streamer, not a disk
// far away; every instant and kill moment comes from a seeded generator (--seed).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { foldWalPieces, parseWalSegmentName } from '../packages/core/dist/index.js';
import { makeRng, parseArgs } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'packages/cli/bin/botbackup.js');
const writerScript = path.join(root, 'test/helpers/trade-writer.mjs');

const args = parseArgs(process.argv.slice(2), {
  only: { type: 'string', default: 'cost,rpo,pitr' },
  'rpo-runs': { type: 'number', default: 20 },
  'pitr-minutes': { type: 'number', default: 60 },
  'pitr-instants': { type: 'number', default: 20 },
  'cost-seconds': { type: 'number', default: 120 },
  seed: { type: 'number', default: 20261207 },
  out: { type: 'string', default: '' },
});
const only = new Set(args.only.split(','));
const RATE = 100;
// The same instants and kill moments on every run with the same seed.
const random = makeRng(args.seed).next;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setup(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bb-cont-${name}-`));
  fs.mkdirSync(path.join(dir, 'bot'));
  const config = path.join(dir, 'botbackup.yaml');
  fs.writeFileSync(
    config,
    `version: 1
sources:
  - id: bot
    root: ${JSON.stringify(path.join(dir, 'bot'))}
    continuous: true
    databases:
      - path: trades.db
storage:
  - { name: local, type: local, path: ${JSON.stringify(path.join(dir, 'repo'))} }
catalog: ${JSON.stringify(path.join(dir, 'catalog.sqlite'))}
`,
  );
  return { dir, config, db: path.join(dir, 'bot/trades.db'), truth: path.join(dir, 'truth.txt') };
}

function start(command, argv, cwd) {
  const child = spawn(command, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', () => undefined);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, out: () => out, exited, waitFor: (re) => waitUntil(() => re.test(out), `${re} in ${argv.join(' ')}`) };
}

async function waitUntil(check, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

const startWriter = (s) => start(process.execPath, [writerScript, s.db, s.truth, String(RATE)], s.dir);
const startStream = (s) => start(process.execPath, [cli, '-c', s.config, 'stream'], s.dir);

function truthLines(file) {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
}

function restoredTrades(file) {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('select id from trades order by id').pluck().all();
  } finally {
    db.close();
  }
}

/** Runs the CLI; exit 0 or one of `ok` (recover: 12 when it restored), else throws with its stderr. */
function run(argv, cwd, ok = [0]) {
  const t0 = performance.now();
  try {
    const out = execFileSync(process.execPath, [cli, ...argv], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { out, ms: performance.now() - t0 };
  } catch (error) {
    if (!ok.includes(error.status)) throw new Error(`botbackup ${argv.join(' ')} exited ${error.status}: ${error.stderr}`);
    return { out: error.stdout, ms: performance.now() - t0 };
  }
}

/** CPU seconds (user + system) of a process and its children that are still alive, from /proc. */
function cpuSeconds(pids) {
  const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  let total = 0;
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick;
    } catch {
      // gone
    }
  }
  return total;
}

/** The stream process and its WAL follower (a detached process whose argument is its socket). */
function streamerPids(stream) {
  const pids = [stream.child.pid];
  // From /proc, not ps: procps is not among the tools the project installs.
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('follower-child.js')) pids.push(Number(pid));
    } catch {
      // gone
    }
  }
  return pids;
}

function dirBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return total;
}

/**
 * What the repository keeps of the shipped WAL once the segments that packs hold are deleted
 * (the streamer deletes them one packEvery after the pack; prune those it left): each database's
 * pieces as a restore reads them, with the generation records. Also the packs and the segments apart.
 */
function walStored(repo) {
  const out = { pieces: 0, packs: 0, segments: 0, all: 0 };
  const root = path.join(repo, 'wal/bot');
  for (const generation of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    for (const entry of fs.readdirSync(path.join(root, generation), { withFileTypes: true })) {
      const file = path.join(root, generation, entry.name);
      if (!entry.isDirectory()) {
        out.pieces += fs.statSync(file).size;
        out.all += fs.statSync(file).size;
        continue;
      }
      const listed = fs.readdirSync(file).map((f) => ({ key: f, name: parseWalSegmentName(f), size: fs.statSync(path.join(file, f)).size }));
      for (const l of listed) {
        out.all += l.size;
        if (l.name?.lastSeq !== undefined) out.packs += l.size;
        else out.segments += l.size;
      }
      for (const p of foldWalPieces(listed.filter((l) => l.name)).pieces) out.pieces += p.size;
    }
  }
  return out;
}

async function stop(p, signal = 'SIGTERM') {
  p.child.kill(signal);
  await p.exited;
}

/** Writes before the measured span, in both runs: long enough for the streamed WAL to reach its bound and be reused, as the bot's own WAL file is. */
const WARM_UP_MS = 90_000;

/** The writer's commit latencies over `seconds` after a warm-up (a second writer process measures only the span). */
async function cost(seconds) {
  const alone = setup('alone');
  const w0 = startWriter(alone);
  await w0.waitFor(/ready/);
  // An idle connection of ours keeps the WAL file when the first writer closes (the last
  // connection to close a WAL database deletes it), as the streamer's does in the other run.
  const keep = new Database(alone.db);
  await sleep(WARM_UP_MS);
  await stop(w0);
  const w1 = startWriter(alone);
  await w1.waitFor(/ready/);
  await sleep(seconds * 1000);
  await stop(w1);
  keep.close();
  const idle = JSON.parse(w1.out().trim().split('\n').at(-1));

  const s = setup('cost');
  const writer = startWriter(s);
  await writer.waitFor(/ready/);
  const stream = startStream(s);
  await stream.waitFor(/first backup \S+ committed/);
  await sleep(WARM_UP_MS);
  await stop(writer);
  // The same bot again, its latencies measured from here; the streamer goes on following it.
  const measured = startWriter(s);
  await measured.waitFor(/ready/);
  const walBefore = fs.existsSync(path.join(s.dir, 'repo/wal')) ? dirBytes(path.join(s.dir, 'repo/wal')) : 0;
  const [streamPid, ...followerPids] = streamerPids(stream);
  const cpu0 = [cpuSeconds([streamPid]), cpuSeconds(followerPids)];
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const split = { stream: cpuSeconds([streamPid]) - cpu0[0], follower: cpuSeconds(followerPids) - cpu0[1] };
  const cpu = split.stream + split.follower;
  const wall = (performance.now() - t0) / 1000;
  await stop(measured);
  const streamed = JSON.parse(measured.out().trim().split('\n').at(-1));
  await sleep(2000);
  // A stop stores the pack being collected: everything shipped is then in packs.
  await stop(stream);
  const walBytes = dirBytes(path.join(s.dir, 'repo/wal')) - walBefore;
  // The whole streamed span (warm-up and measured span, from the generation's first backup) as
  // what the repository keeps of the WAL, against one incremental on that first backup: the same span.
  const stored = walStored(path.join(s.dir, 'repo'));
  const inc = JSON.parse(run(['-c', s.config, '--json', 'backup', '--incremental'], s.dir).out);
  return {
    seconds,
    commitLatency: { alone: idle, streaming: streamed, p99Ratio: streamed.p99Ms / idle.p99Ms },
    streamerCpu: { seconds: cpu, ...split, wall, shareOfCore: cpu / wall },
    storage: {
      span: 'from the first backup to the end (warm-up and measured span)',
      stored,
      incrementalStoredBytes: inc.storedBytes,
      ratio: stored.pieces / inc.storedBytes,
      measuredSpanWalGrowthBytes: walBytes,
    },
  };
}

async function rpoRun(i) {
  const s = setup(`rpo${i}`);
  const writer = startWriter(s);
  await writer.waitFor(/ready/);
  const stream = startStream(s);
  await stream.waitFor(/first backup \S+ committed/);
  await sleep(3000 + random() * 7000);
  // The disk dies: the bot with it, and its files.
  writer.child.kill('SIGKILL');
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${s.db}${suffix}`, { force: true });
  await writer.exited;
  await stream.waitFor(/Shipping stopped/);
  await stop(stream);
  const recovered = run(['-c', s.config, 'recover'], s.dir, [12]);
  const truth = truthLines(s.truth);
  const restored = restoredTrades(s.db);
  const last = truth.at(-1);
  const got = restored.at(-1) ?? 0;
  const gotLine = truth.find((t) => t[0] === got);
  fs.rmSync(s.dir, { recursive: true, force: true });
  return {
    lastCommitted: last[0],
    restoredLast: got,
    lostTrades: last[0] - got,
    lostMs: gotLine ? last[2] - gotLine[2] : null,
    gapless: restored.every((id, k) => id === k + 1),
    recoverMs: Math.round(recovered.ms),
  };
}

async function pitr(minutes, instants) {
  const s = setup('pitr');
  const writer = startWriter(s);
  await writer.waitFor(/ready/);
  const stream = startStream(s);
  await stream.waitFor(/first backup \S+ committed/);
  const from = Date.now();
  const until = from + minutes * 60_000;
  // A backup each quarter of the span, as a schedule would: --at links to the newest before the instant.
  const backups = [];
  while (Date.now() < until) {
    await sleep(Math.min(until - Date.now(), (minutes * 60_000) / 4));
    if (Date.now() < until) backups.push(JSON.parse(run(['-c', s.config, '--json', 'backup', '--incremental'], s.dir).out).id);
  }
  await stop(writer);
  await sleep(3000);
  await stop(stream);
  const truth = truthLines(s.truth);
  const results = [];
  for (let k = 0; k < instants; k++) {
    const at = Math.round(from + 2000 + random() * (until - from - 4000));
    const target = path.join(s.dir, `at-${k}`);
    const r = run(['-c', s.config, 'restore', '--at', new Date(at).toISOString(), '-t', target], s.dir);
    const restored = restoredTrades(path.join(target, 'trades.db'));
    const expected = truth.filter((t) => t[2] <= at).map((t) => t[0]);
    const got = new Set(restored);
    const wanted = new Set(expected);
    const missing = expected.filter((id) => !got.has(id));
    const extra = restored.filter((id) => !wanted.has(id));
    // How far from the instant each wrong trade's commit returned (truth is in id order, ids from 1).
    const near = [...missing, ...extra].map((id) => truth[id - 1][2] - at);
    results.push({
      at: new Date(at).toISOString(),
      expected: expected.length,
      restored: restored.length,
      missing: missing.length,
      extra: extra.length,
      offsetsMs: near,
      restoreMs: Math.round(r.ms),
    });
    fs.rmSync(target, { recursive: true, force: true });
  }
  fs.rmSync(s.dir, { recursive: true, force: true });
  return { minutes, backups: backups.length, commits: truth.length, instants: results, exact: results.filter((r) => r.missing === 0 && r.extra === 0).length };
}

const result = { date: new Date().toISOString(), host: os.hostname(), cpus: os.cpus().length, rate: RATE };
if (only.has('cost')) {
  result.cost = await cost(args['cost-seconds']);
  console.log('cost', JSON.stringify(result.cost));
}
if (only.has('rpo')) {
  const runs = [];
  for (let i = 0; i < args['rpo-runs']; i++) {
    runs.push(await rpoRun(i));
    console.log('rpo', JSON.stringify(runs.at(-1)));
  }
  result.rpo = {
    runs,
    worstLostTrades: Math.max(...runs.map((r) => r.lostTrades)),
    worstLostMs: Math.max(...runs.map((r) => r.lostMs ?? Infinity)),
    allGapless: runs.every((r) => r.gapless),
  };
}
if (only.has('pitr')) {
  result.pitr = await pitr(args['pitr-minutes'], args['pitr-instants']);
  console.log('pitr', JSON.stringify({ exact: result.pitr.exact, of: result.pitr.instants.length }));
}
if (args.out) fs.writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
