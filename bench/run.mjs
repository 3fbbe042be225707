#!/usr/bin/env node
// Benchmark: botbackup vs restic vs borg vs a sqlite3+tar+zstd+sha256sum pipeline, on the same
// generated trading-bot folder, in one run, the tools alternating (ABBA) so that a drift of the
// machine favours none; plus the commit latency of a live bot (writer.mjs) while idle and while
// botbackup backs it up. botbackup runs with the config `botbackup init` writes (encrypted and
// signed). Every restore is checked for exactness (the restored database's .dump equals the
// source's). The targets are issue 18's. See docs/benchmarks.md for what each number means.
//
// Usage: npm run bench -- [--size 1GiB|256MiB|4GiB] [--repeat N] [--skip a,b] [--fresh] [--keep] …
//        (--help lists every option; docs/benchmarks.md explains them)
//
// Work files go to bench/.work/<size>/ (gitignored); raw results to bench/results/<date>-<size>.json.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STAMP } from './generate.mjs';
import { commandLine, fmtBytes, sizeLabel } from './lib.mjs';
import {
  BENCH, CLK_TCK, DB_REL, ROOT, beforeStep, borgEnv, RSS_TARGET, cacheDropWorks, checkEncrypted, configure, cpuBusyS, ensureTools, fingerprint, flatRssTarget, fresh, initBotbackup, log, median, noise, noiseLines, noteForeign, parseJsonOutput, prepareData, resticEnv, resultsHeader, rmrf, round, run, sleep, summarize, timed, treeBytes, undisturbed, verifyRestore,
} from './measure.mjs';

// BOTBACKUP_CLI benchmarks another build (e.g. a checkout of an older commit) on the same data.
const CLI = path.resolve(process.env.BOTBACKUP_CLI ?? path.join(ROOT, 'packages/cli/dist/bin.js'));
const TOOLS = ['botbackup', 'restic', 'borg', 'pipeline'];
const PHASES = ['writer', 'restic-writer', 'pipeline-writer'];
/** Issue 18's targets (the memory one is RSS_TARGET, shared with incremental.mjs). */
const TARGET = { backupVsRestic: 0.6, restoreVsRestic: 1.0, writerP99VsIdle: 1.5 };

const { usage: usageError, parse, size } = commandLine('bench');
const args = parse({
    size: { default: '1GiB' },
    seed: { type: 'number', default: 42 },
    repeat: { type: 'number', default: 3 },
    plaintext: { type: 'boolean', default: false },
    skip: { default: '' },
    fresh: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'writer-seconds': { type: 'number', default: 0 },
    'writer-min-seconds': { type: 'number', default: 30 },
    'writer-synchronous': { default: 'FULL' },
    'timeout-min': { type: 'number', default: 30 },
    'quiet-wait-s': { type: 'number', default: 60 },
    report: { default: undefined },
  });
if (args.help) {
  console.log(`usage: npm run bench -- [options]
  --size 1GiB|256MiB|4GiB database size (default 1GiB)
  --repeat N              backup+restore runs per tool, alternating ABBA, medians reported (default 3)
  --plaintext             botbackup's config from \`init --plaintext\` (no encryption, no signing)
  --skip a,b              skip some of: ${[...TOOLS, ...PHASES].join(', ')}
  --fresh                 regenerate the data even if bench/.work holds a matching copy
  --keep                  keep repositories and restored trees in bench/.work
  --writer-min-seconds N  backups run back to back under the writer for at least N s (default 30)
  --writer-seconds N      idle writer duration when botbackup is unavailable (default: --writer-min-seconds)
  --writer-synchronous S  PRAGMA synchronous of the writer (default FULL)
  --timeout-min N         per-command timeout (default 30)
  --quiet-wait-s N        before each step, wait up to N s for other CPU load to pass (default 60)
  --report FILE           only print the tables of a saved results file (bench/results/*.json)`);
  process.exit(0);
}
if (!Number.isInteger(args.repeat) || args.repeat < 1) usageError(new Error('--repeat needs a whole number ≥ 1'));
const targetBytes = size(args.size);
const SIZE = sizeLabel(targetBytes);
const skip = new Set(args.skip.split(',').map((s) => s.trim()).filter(Boolean));
for (const s of skip) if (![...TOOLS, ...PHASES].includes(s)) usageError(new Error(`--skip: unknown "${s}"`));
const WORK = path.join(BENCH, '.work', SIZE);
const BOT = path.join(WORK, 'bot');
const LIVE = path.join(WORK, 'bot-live'); // copy the writer phases scribble on, so BOT stays reusable
const TIMEOUT_MS = args['timeout-min'] * 60_000;
configure({ timeoutMs: TIMEOUT_MS, quietWaitS: args['quiet-wait-s'] });

// ---------------------------------------------------------------------------------------------
// Tools. Each backs up a whole bot folder into a fresh repository and restores it again.

/**
 * A tool: `init` makes an empty repository (untimed), `backup` and `restore` return measured
 * steps. A step is { seconds, peakRssKiB, ... }; a phase's wall time is the sum of its steps
 * plus a final `sync -f` of the destination, so tools that fsync and tools that do not are
 * compared on the same durable result.
 */
const tools = {
  botbackup: {
    label: 'botbackup',
    available: () => (fs.existsSync(CLI) ? true : `${CLI} is missing: build the CLI first (npm run build)`),
    /** The config `botbackup init` writes (untimed; a new identity and worker key each time). */
    init(w, botDir = BOT, repo = path.join(w, 'bb-repo')) {
      fresh(repo);
      Object.assign(this, initBotbackup(CLI, { botDir, repo, dir: path.join(w, 'bb-config'), plaintext: args.plaintext }));
      return repo;
    },
    async backup() {
      const s = await timed(process.execPath, [CLI, '--config', this.cfg, 'backup', '--json'], { env: this.env });
      return { steps: { backup: { ...s, json: parseJsonOutput(s.stdout) } } };
    },
    /** Restores the newest point; the identity is found through the config's identityFile. */
    async restore(target) {
      rmrf(target); // the CLI creates the target itself; an existing folder could be refused
      // No --deep: issue 18 times the restore with its sha256 proof, without PRAGMA integrity_check.
      const s = await timed(process.execPath, [CLI, '--config', this.cfg, 'restore', 'latest', '--target', target, '--json'], { env: this.env });
      const json = parseJsonOutput(s.stdout);
      return { steps: { restore: { ...s, json } }, integrityS: json?.integrityCheckMs != null ? json.integrityCheckMs / 1000 : null, internalS: json?.durationMs != null ? json.durationMs / 1000 : null };
    },
  },
  restic: {
    label: 'restic',
    available: () => true,
    init(w, botDir = BOT) {
      this.botDir = botDir;
      this.env = resticEnv(w);
      rmrf(this.env.RESTIC_REPOSITORY); rmrf(this.env.RESTIC_CACHE_DIR);
      run('restic', ['init', '--repository-version', '2', '-q'], { env: this.env });
      return this.env.RESTIC_REPOSITORY;
    },
    async backup() {
      // restic always encrypts; --compression auto is its default (zstd, fast level).
      return { steps: { backup: await timed('restic', ['backup', '-q', '--compression', 'auto', '--host', 'bench', this.botDir], { env: this.env }) } };
    },
    async restore(target) {
      fresh(target);
      return { steps: { restore: await timed('restic', ['restore', 'latest', '-q', '--target', target], { env: this.env }) } };
    },
  },
  borg: {
    label: 'borg',
    available: () => true,
    init(w, botDir = BOT) {
      this.botDir = botDir;
      this.env = borgEnv(w);
      rmrf(this.env.BORG_REPO); fresh(this.env.BORG_BASE_DIR);
      run('borg', ['init', '--encryption', 'none'], { env: this.env });
      return this.env.BORG_REPO;
    },
    async backup() {
      // Relative path "." from inside the bot folder, so the archive holds bot-relative paths.
      return { steps: { backup: await timed('borg', ['create', '--compression', 'zstd,3', '::bench', '.'], { env: this.env, cwd: this.botDir }) } };
    },
    async restore(target) {
      fresh(target);
      return { steps: { restore: await timed('borg', ['extract', '::bench'], { env: this.env, cwd: target }) } };
    },
  },
  pipeline: {
    label: 'sqlite3+tar+zstd+sha256sum',
    available: () => true,
    init(w, botDir = BOT) {
      this.botDir = botDir;
      this.out = fresh(path.join(w, 'pipeline-out'));
      this.stage = path.join(w, 'pipeline-stage');
      return this.out;
    },
    /** `deadline` (ms since epoch) bounds the whole backup; used while the writer is running. */
    async backup({ deadline } = {}) {
      fresh(path.join(this.stage, 'data'));
      const left = () => (deadline ? Math.max(1, deadline - Date.now()) : TIMEOUT_MS);
      const steps = {};
      // The online-backup API: consistent even with a live writer, but it restarts whenever
      // another connection writes between its steps (see the writer phase).
      steps.snapshot = await timed('sqlite3', [path.join(this.botDir, DB_REL), `.backup '${path.join(this.stage, DB_REL)}'`], { timeoutMs: left() });
      if (steps.snapshot.ok) {
        // Everything but the live DB from the bot folder, and the snapshot in its place.
        const others = fs.readdirSync(this.botDir).filter((e) => e !== 'data' && e !== STAMP);
        const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
        steps.tarZstd = await timed('sh', ['-c', `tar -cf - -C ${q(this.botDir)} ${others.map(q).join(' ')} -C ${q(this.stage)} data | zstd -3 -T0 -q -o ${q(path.join(this.out, 'bot.tar.zst'))}`], { timeoutMs: left() });
      }
      if (steps.tarZstd?.ok) {
        steps.sha256 = await timed('sh', ['-c', 'sha256sum bot.tar.zst > bot.tar.zst.sha256'], { cwd: this.out, timeoutMs: left() });
      }
      rmrf(this.stage); // the staged 1 GiB copy is scratch space, not stored bytes
      return { steps };
    },
    async restore(target) {
      fresh(target);
      const steps = {};
      steps.sha256Check = await timed('sha256sum', ['-c', '--quiet', 'bot.tar.zst.sha256'], { cwd: this.out });
      const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
      if (steps.sha256Check.ok) steps.unpack = await timed('sh', ['-c', `zstd -d -q -c ${q(path.join(this.out, 'bot.tar.zst'))} | tar -xf - -C ${q(target)}`]);
      return { steps, integrityS: steps.sha256Check.seconds };
    },
  },
};

/** One backup into a fresh repository and its restore, checked for exactness (untimed). */
async function oneRun(name, i, w, expected) {
  const tool = tools[name];
  const label = `${tool.label} run ${i + 1}/${args.repeat}`;
  log(`${label}: backup …`);
  const repo = tool.init(w);
  const before = treeBytes(repo);
  await beforeStep();
  const backup = summarize(await tool.backup(), repo);
  const result = { run: i + 1, disturbed: noteForeign(`${name} backup #${i + 1}`, backup), backup, storedBytes: backup.ok ? treeBytes(repo) - before : null, repoBytes: treeBytes(repo) };
  if (!backup.ok) {
    log(`${label}: backup FAILED: ${backup.error}`);
    return result;
  }
  // The init-written config encrypts: a run that stored plain objects would measure something else.
  if (name === 'botbackup') result.encryptedObjects = checkEncrypted(repo, backup.steps.backup.json, !args.plaintext);
  log(`${label}: backup ${backup.wallS}s, stored ${fmtBytes(result.storedBytes)}; restore …`);
  const target = path.join(w, 'restored');
  await beforeStep();
  const phase = await tool.restore(target);
  result.restore = summarize(phase, fs.existsSync(target) ? target : w);
  if (noteForeign(`${name} restore #${i + 1}`, result.restore)) result.disturbed = true;
  if (result.restore.ok) {
    log(`${label}: restore ${result.restore.wallS}s; checking it (untimed: file hashes, the database's .dump) …`);
    result.verify = verifyRestore(target, expected);
    if (result.verify.ok) log(`${label}: restore exact (${result.verify.dbCheck})`);
    else log(`${label}: RESTORE IS WRONG: ${result.verify.problems.join('; ')}: this run is failed`);
  } else log(`${label}: restore FAILED: ${result.restore.error}`);
  if (!args.keep) rmrf(target);
  return result;
}

/**
 * Runs every tool `--repeat` times, alternating: A B C D, then D C B A, … (ABBA), so that no tool
 * always goes first after another's writes, nor profits from a machine that drifts over the run.
 * A tool whose backup failed runs no more.
 */
async function benchTools(names, expected) {
  const w = Object.fromEntries(names.map((n) => [n, fresh(path.join(WORK, n))]));
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  let order = 0;
  for (let i = 0; i < args.repeat; i++) {
    for (const name of i % 2 === 0 ? names : [...names].reverse()) {
      if (runs[name].some((r) => !r.backup.ok)) continue;
      runs[name].push({ order: ++order, ...(await oneRun(name, i, w[name], expected)) });
    }
  }
  if (!args.keep) for (const name of names) rmrf(w[name]);
  return Object.fromEntries(names.map((n) => [n, { label: tools[n].label, runs: runs[n], summary: summarizeRuns(runs[n]) }]));
}

/**
 * Medians over a tool's runs. A run whose restore was wrong is a failed run: it is left out of the
 * medians (and marks the tool unverified); so are disturbed runs when undisturbed ones exist.
 */
function summarizeRuns(runs) {
  const restored = runs.filter((r) => r.backup.ok && r.restore?.ok);
  const ok = restored.filter((r) => r.verify?.ok);
  const wrong = restored.length - ok.length;
  const kib = (xs) => Math.max(0, ...xs.filter((x) => x != null));
  // Peak RSS of every step of every run, wrong or disturbed ones too: the target is for every step.
  const peakRssMiBMax = round(kib(runs.flatMap((r) => [r.backup.peakRssKiB, r.restore?.peakRssKiB])) / 1024, 1) || null;
  if (ok.length === 0) {
    const error = wrong ? `every restore was WRONG (${restored[0].verify.problems.join('; ')})` : (runs.at(-1)?.restore?.error ?? runs.at(-1)?.backup.error);
    return { ok: false, error, verified: wrong === 0, wrongRestores: wrong, restores: restored.length, peakRssMiBMax };
  }
  const used = undisturbed(ok);
  const m = (f) => round(median(used.map(f)), 3);
  return {
    ok: true,
    backupS: m((r) => r.backup.wallS),
    backupCpuS: m((r) => r.backup.cpuS),
    backupPeakRssMiB: m((r) => r.backup.peakRssKiB / 1024),
    storedBytes: m((r) => r.storedBytes),
    // botbackup's restore includes its proof (each restored file's sha256 against the signed
    // manifest), and PRAGMA integrity_check only when this build of the CLI still runs it.
    restoreS: m((r) => r.restore.wallS),
    restorePeakRssMiB: m((r) => r.restore.peakRssKiB / 1024),
    integrityS: m((r) => r.restore.integrityS),
    peakRssMiBMax,
    verified: wrong === 0,
    wrongRestores: wrong,
    restores: restored.length,
    runsUsed: used.length,
    runsDisturbed: ok.filter((r) => r.disturbed).length,
  };
}

// ---------------------------------------------------------------------------------------------
// Writer phases: a live bot's commit latency while idle vs while a backup runs.

/** Starts writer.mjs on the live copy and resolves once it has warmed up and is measuring. */
async function startWriter() {
  const child = spawn(process.execPath, [path.join(BENCH, 'writer.mjs'), '--db', path.join(LIVE, DB_REL), '--synchronous', args['writer-synchronous']], {
    stdio: ['pipe', 'pipe', 'pipe'], // stdin stays open: its end tells the writer we are gone
    env: { ...process.env, BENCH_WRITER_WATCH_STDIN: '1' },
  });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((r) => child.on('close', (code) => r(code)));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('writer did not become ready in 30 s')), 30_000);
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('READY')) { clearTimeout(timer); resolve(); }
    });
    child.on('close', (code) => { clearTimeout(timer); reject(new Error(`writer exited ${code}: ${stderr.trim()}`)); });
  });
  /** CPU seconds the writer used so far: utime + stime, fields 14 and 15 of /proc/PID/stat. */
  const writerCpu = () => {
    try {
      const f = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(')').pop().trim().split(' ');
      return (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch { return null; /* already exited */ }
  };
  // Over the same window as the writer's statistics: from READY to stop.
  const busy0 = cpuBusyS();
  const writer0 = writerCpu();
  return {
    /** Stops the writer; `machineBusyS` and `writerCpuS` let the caller spot foreign load. */
    async stop() {
      const w1 = writerCpu();
      const writerCpuS = w1 === null || writer0 === null ? null : w1 - writer0;
      const machineBusyS = cpuBusyS() - busy0;
      child.kill('SIGTERM');
      await exited;
      const stats = parseJsonOutput(stdout);
      if (!stats) throw new Error(`writer printed no stats: ${stderr.trim()}`);
      return { stats, writerCpuS, machineBusyS };
    },
  };
}

/** Runs `during` (backups) or sleeps `seconds` while the writer commits; returns both results. */
async function writerPhase(label, { seconds, during }) {
  log(`writer: ${label} …`);
  await beforeStep();
  const writer = await startWriter();
  let backups = null;
  if (during) backups = await during();
  else await sleep(seconds * 1000);
  const { stats, writerCpuS, machineBusyS } = await writer.stop();
  log(`writer: ${label}: p50 ${stats.latencyMs.p50} ms, p99 ${stats.latencyMs.p99} ms, max ${stats.latencyMs.max} ms, errors ${stats.errors}`);
  // A backup killed by its time limit has no CPU figure: then the phase cannot be judged.
  const backupsCpuS = (backups ?? []).every((b) => b.ok) ? (backups ?? []).reduce((a, b) => a + b.cpuS, 0) : null;
  const foreignCpuS = writerCpuS === null || backupsCpuS === null ? null : round(Math.max(0, machineBusyS - writerCpuS - backupsCpuS), 2);
  const disturbed = noteForeign(`writer ${label}`, { foreignCpuS, wallS: stats.seconds });
  return { ...stats, writerCpuS: round(writerCpuS, 2), foreignCpuS, disturbed, ...(backups ? { backups } : {}) };
}

/**
 * Backs up the live copy with `name` back to back, each into its own fresh repository, until
 * the window reaches --writer-min-seconds. One 256 MiB backup lasts about 3 s, i.e. ~600
 * commits, whose p99 is the 6th-worst sample: too noisy to compare against a 1.5x target.
 * Repositories are made before the writer starts because `restic init` burns ~2 s of CPU
 * (key derivation) that is no part of a backup.
 */
function backToBack(name, w, standaloneS) {
  // Enough repositories even if backups run faster under the writer than standalone (warm cache).
  const n = Math.min(30, Math.ceil((1.5 * args['writer-min-seconds']) / Math.max(0.5, standaloneS)) + 2);
  const runs = Array.from({ length: n }, (_, i) => {
    const tool = Object.create(tools[name]);
    const dir = fresh(path.join(w, `${name}-${i}`));
    return { tool, repo: tool.init(dir, LIVE, ...(name === 'botbackup' ? [path.join(dir, 'bb-repo')] : [])) };
  });
  return async () => {
    const t0 = performance.now();
    const out = [];
    for (const { tool, repo } of runs) {
      out.push(summarize(await tool.backup(), repo));
      if (!out.at(-1).ok || performance.now() - t0 >= args['writer-min-seconds'] * 1000) break;
    }
    return out;
  };
}

/** A fresh copy of the bot for the writer phases (they add rows to it). */
function copyLive() {
  rmrf(LIVE);
  run('cp', ['-a', BOT, LIVE]);
}

async function benchWriter(results) {
  const out = {};
  const t = results.tools;
  const w = fresh(path.join(WORK, 'writer'));
  if (!skip.has('writer') && t.botbackup?.summary?.ok) {
    copyLive();
    out.duringBotbackup = await writerPhase('during botbackup backups', { during: backToBack('botbackup', w, t.botbackup.summary.backupS) });
  }
  if (!skip.has('restic-writer') && t.restic?.summary?.ok) {
    // Control: restic takes no SQLite lock at all (it just reads the file), so whatever it does
    // to the writer's latency is pure CPU and I/O contention on this machine.
    copyLive();
    out.duringRestic = await writerPhase('during restic backups (control: no SQLite locks)', { during: backToBack('restic', w, t.restic.summary.backupS) });
  }
  if (!skip.has('pipeline-writer') && t.pipeline?.summary?.ok) {
    // Not a target, but the reason the pipeline is no answer for a live bot: sqlite3's .backup
    // restarts from the first page whenever the bot commits, so it may never finish.
    copyLive();
    const tool = Object.create(tools.pipeline);
    const dest = tool.init(w, LIVE);
    const limitS = Math.max(60, Math.ceil(4 * t.pipeline.summary.backupS));
    out.duringPipeline = await writerPhase(`during the pipeline backup (gives up after ${limitS}s)`, {
      during: async () => [{ ...summarize(await tool.backup({ deadline: Date.now() + limitS * 1000 }), dest), limitS }],
    });
  }
  if (!skip.has('writer')) {
    // Idle for as long as the botbackup window lasted, so both see the same number of
    // checkpoints and the same chance of a rare slow commit.
    const seconds = out.duringBotbackup?.seconds ?? (args['writer-seconds'] || args['writer-min-seconds']);
    copyLive();
    out.idle = await writerPhase(`idle for ${round(seconds, 1)}s`, { seconds });
  }
  rmrf(LIVE);
  if (!args.keep) rmrf(w);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Targets and report

const ratio = (a, b) => (a != null && b ? round(a / b, 2) : null);

/** The restores that were not exact, as "tool run N: problems" (old result files: those not verified). */
function wrongRestores(results) {
  return Object.entries(results.tools ?? {}).flatMap(([name, t]) => (t.runs ?? [])
    .filter((r) => r.restore?.ok && r.verify && !r.verify.ok)
    .map((r) => `${name} run ${r.run ?? '?'}: ${(r.verify.problems ?? []).join('; ')}`));
}

/** The largest peak RSS (MiB) of the backups run under the writer, or null when none ran. */
function writerPeakMiB(results) {
  const backups = results.writer?.duringBotbackup?.backups ?? [];
  return backups.length ? round(Math.max(...backups.map((b) => b.peakRssKiB ?? 0)) / 1024, 1) : null;
}

/**
 * The largest peak RSS (MiB) of every botbackup step of a run: its backups and restores and the
 * backups under the writer. Files written before issue 18 have no peakRssMiBMax: the larger of
 * their two medians then.
 */
function largestPeakMiB(results) {
  const x = results.tools?.botbackup?.summary;
  const runs = x?.peakRssMiBMax ?? (x?.ok ? Math.max(x.backupPeakRssMiB, x.restorePeakRssMiB) : 0);
  return Math.max(runs ?? 0, writerPeakMiB(results) ?? 0);
}

/** Issue 18's targets, checked when botbackup has results. */
function checkTargets(results) {
  const t = results.tools;
  const bb = t.botbackup?.summary;
  if (!bb) return [];
  const out = [];
  const add = (name, pass, detail) => out.push({ name, pass, detail });
  const restic = t.restic?.summary;
  const runsOf = (a, b) => `medians of ${a.runsUsed} and ${b.runsUsed} runs`;
  if (bb.ok && restic?.ok) {
    const r = ratio(bb.backupS, restic.backupS);
    add(`full backup ≤ ${TARGET.backupVsRestic.toFixed(1)} × restic`, bb.backupS <= TARGET.backupVsRestic * restic.backupS,
      `${bb.backupS}s vs ${restic.backupS}s = ${r} × (${runsOf(bb, restic)})`);
    const check = bb.integrityS == null ? 'integrityCheckMs not reported'
      : bb.integrityS > 0 ? `**includes ${bb.integrityS}s of PRAGMA integrity_check**: this build runs it on every restore`
      : 'no integrity_check ran (integrityCheckMs 0)';
    // A comparison with a wrong restore (either side) proves nothing.
    const exact = bb.verified && restic.verified;
    add(`restore of the newest point ≤ ${TARGET.restoreVsRestic.toFixed(1)} × restic (botbackup's sha256 proof included)`,
      exact && bb.restoreS <= TARGET.restoreVsRestic * restic.restoreS,
      `${bb.restoreS}s vs ${restic.restoreS}s = ${ratio(bb.restoreS, restic.restoreS)} × (${runsOf(bb, restic)}); ${check}${exact ? '' : '; NOT comparable: a restore was wrong'}`);
  }
  const checked = Object.entries(t).filter(([, x]) => x.summary);
  add('every restore exact (restored .dump = source\'s, every file\'s sha256)', checked.every(([, x]) => x.summary.verified && x.summary.ok),
    checked.map(([name, x]) => `${name}: ${x.summary.restores != null ? `${x.summary.restores - x.summary.wrongRestores}/${x.summary.restores} exact` : 'no restore'}`).join(', '));
  const writerBackups = results.writer?.duringBotbackup?.backups ?? [];
  const writerMiB = writerPeakMiB(results);
  const rss = largestPeakMiB(results);
  add(`peak RSS ≤ ${RSS_TARGET.mib} MiB for every botbackup step (/usr/bin/time %M)`, rss > 0 && rss <= RSS_TARGET.mib,
    `largest ${rss} MiB (runs: backup median ${round(bb.backupPeakRssMiB, 1) ?? '–'}, restore median ${round(bb.restorePeakRssMiB, 1) ?? '–'}, largest ${bb.peakRssMiBMax ?? '–'}; ${writerBackups.length} backups under the writer: largest ${writerMiB ?? '–'})`);
  // The other sizes' files by the same measure, so that every size counts its writer's backups too.
  const flat = flatRssTarget(SIZE, rss, (size) => `${size}.json`, (r) => largestPeakMiB(r) || null);
  if (flat) out.push(flat);
  const wr = results.writer;
  if (wr?.duringBotbackup && wr.idle) {
    add(`writer p99 during botbackup backups ≤ ${TARGET.writerP99VsIdle} × idle p99`, wr.duringBotbackup.latencyMs.p99 <= TARGET.writerP99VsIdle * wr.idle.latencyMs.p99,
      `${wr.duringBotbackup.latencyMs.p99} ms vs ${wr.idle.latencyMs.p99} ms idle = ${ratio(wr.duringBotbackup.latencyMs.p99, wr.idle.latencyMs.p99)} ×`);
    add('no writer error during botbackup backups', wr.duringBotbackup.errors === 0, `${wr.duringBotbackup.errors} errors`);
  }
  return out;
}

function report(results) {
  const lines = [];
  const mib = (v) => (v == null ? '–' : `${v.toFixed(0)} MiB`);
  const s = (v) => (v == null ? '–' : `${v.toFixed(1)} s`);
  const st = results.settings ?? {};
  lines.push(`### ${results.size} (DB ${fmtBytes(results.data.dbBytes)}, bot folder ${fmtBytes(results.data.treeBytes)}), ${results.date}`, '');
  lines.push(`Runs per tool: ${st.repeat ?? 'n/a'}${st.order ? `, alternating (${st.order.toUpperCase()})` : ''}; botbackup config: ${st.botbackupConfig ?? 'n/a (hand-written, before issue 18)'}. Medians of the exact, undisturbed runs.`, '');
  lines.push('| tool | backup | backup CPU | backup peak RSS | stored | restore | of which integrity_check | restore peak RSS | largest peak RSS | exact restores |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const exactOf = (x) => (x.restores != null ? `${x.restores - x.wrongRestores}/${x.restores}` : 'n/a');
  for (const name of TOOLS) {
    const t = results.tools[name];
    const label = tools[name].label;
    if (!t) { lines.push(`| ${label} | skipped | | | | | | | | |`); continue; }
    if (t.pending) { lines.push(`| ${label} | pending: ${t.pending} | | | | | | | | |`); continue; }
    const x = t.summary;
    if (!x.ok) { lines.push(`| ${label} | FAILED: ${String(x.error).split('\n')[0].slice(0, 160)} | | | | | | | | ${exactOf(x)} |`); continue; }
    const tag = !x.runsDisturbed ? '' : x.runsDisturbed === x.runsUsed && x.runsUsed === t.runs.length ? ' (all runs disturbed)' : ` (median of ${x.runsUsed} undisturbed run${x.runsUsed > 1 ? 's' : ''})`;
    lines.push(`| ${label}${tag}${x.verified ? '' : ' (**a restore was WRONG**)'} | ${s(x.backupS)} | ${s(x.backupCpuS)} | ${mib(x.backupPeakRssMiB)} | ${fmtBytes(x.storedBytes)} | ${s(x.restoreS)} | ${x.integrityS == null ? '–' : s(x.integrityS)} | ${mib(x.restorePeakRssMiB)} | ${mib(x.peakRssMiBMax)} | ${exactOf(x)} |`);
  }
  const bb = results.tools.botbackup?.summary, rs = results.tools.restic?.summary;
  const r = (f) => (bb?.ok && rs?.ok && ratio(f(bb), f(rs)) != null ? `${ratio(f(bb), f(rs)).toFixed(2)} × (${s(f(bb))} vs ${s(f(rs))})` : 'n/a');
  lines.push('', `- botbackup/restic backup: ${r((x) => x.backupS)}`, `- botbackup/restic restore: ${r((x) => x.restoreS)}`);
  // Every run in the order it ran, so the alternation and the spread can be seen (new files only).
  const seq = Object.entries(results.tools).flatMap(([name, t]) => (t.runs ?? []).filter((x) => x.order != null).map((x) => ({ name, ...x })))
    .sort((a, b) => a.order - b.order);
  if (seq.length) {
    lines.push('', '| # | tool | run | backup | restore | restore check |', '| ---: | --- | ---: | ---: | ---: | --- |');
    for (const x of seq) {
      const check = !x.verify ? '–' : x.verify.ok ? `exact (${x.verify.dbCheck})` : `**WRONG**: ${x.verify.problems.join('; ')}`;
      lines.push(`| ${x.order} | ${tools[x.name]?.label ?? x.name} | ${x.run} | ${x.backup.ok ? s(x.backup.wallS) : 'FAILED'}${x.disturbed ? ' (disturbed)' : ''} | ${x.restore ? (x.restore.ok ? s(x.restore.wallS) : 'FAILED') : '–'} | ${check} |`);
    }
  }
  const p = results.tools.pipeline?.runs?.[0];
  if (p?.backup.ok && p.restore?.ok) {
    const st = p.backup.steps, rt = p.restore.steps;
    lines.push('', `Pipeline steps: sqlite3 .backup ${s(st.snapshot.seconds)}, tar | zstd ${s(st.tarZstd.seconds)}, sha256sum ${s(st.sha256.seconds)}, sync ${s(p.backup.syncS)}; ` +
      `restore: sha256sum -c ${s(rt.sha256Check.seconds)}, zstd -d | tar x ${s(rt.unpack.seconds)}, sync ${s(p.restore.syncS)}.`);
  }
  const w = results.writer ?? {};
  if (Object.keys(w).length) {
    const ws = Object.values(w)[0].settings;
    lines.push('', `Writer (synchronous=${ws.synchronous}, one deal insert + one order update per transaction, every ${ws.intervalMs} ms):`, '');
    lines.push('| writer phase | duration | commits | p50 | p99 | max | errors |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    const row = (name, x, note = '') => x && lines.push(`| ${name}${note}${x.disturbed ? ' (disturbed)' : ''} | ${s(x.seconds)} | ${x.commits} | ${x.latencyMs.p50} ms | ${x.latencyMs.p99} ms | ${x.latencyMs.max} ms | ${x.errors} |`);
    row('idle', w.idle);
    const n = (x) => {
      if (!x) return '';
      if (!x.backups.every((b) => b.ok)) return ' (a backup FAILED)';
      const ws = x.backups.map((b) => b.wallS);
      return ` (${ws.length} backup${ws.length > 1 ? 's' : ''} back to back, ${ws.length > 1 ? `${Math.min(...ws).toFixed(1)}–${Math.max(...ws).toFixed(1)} s each` : s(ws[0])})`;
    };
    row('during botbackup backup', w.duringBotbackup, n(w.duringBotbackup));
    if (!w.duringBotbackup && results.tools.botbackup?.pending) lines.push('| during botbackup backup | pending | | | | | |');
    row('during restic backup (control)', w.duringRestic, n(w.duringRestic));
    const pb = w.duringPipeline?.backups[0];
    row('during pipeline backup', w.duringPipeline, pb ? (pb.ok ? ` (finished in ${s(pb.wallS)})` : ` (did NOT finish in ${pb.limitS} s)`) : '');
  }
  if (results.targets?.length) {
    lines.push('', '| target | result | |', '| --- | --- | --- |');
    for (const t of results.targets) lines.push(`| ${t.name} | ${t.pass ? 'pass' : '**FAIL**'} | ${t.detail} |`);
  }
  const wrong = wrongRestores(results);
  if (wrong.length) lines.push('', `**RESTORE IS WRONG** (the run is failed and left out of the medians): ${wrong.join(' | ')}`);
  lines.push(...noiseLines(results.noise, 'other processes used CPU; left out of the medians where a clean run exists'));
  lines.push('', `Page cache dropped before each step: ${results.cacheDropped ? 'yes' : 'no (warm cache)'}. restic ${results.versions.restic?.split(' ')[1] ?? '?'}, borg ${results.versions.borg?.split(' ')[1] ?? '?'}, zstd ${results.versions.zstd?.match(/v[\d.]+/)?.[0] ?? '?'}; ${results.machine.cores} cores, ${results.machine.cpu}.`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (args.report) {
    console.log(report(JSON.parse(fs.readFileSync(args.report, 'utf8'))));
    return;
  }
  if (os.platform() !== 'linux') throw new Error('the benchmark needs Linux (GNU time, /proc, sync -f)');
  ensureTools(skip);
  fs.mkdirSync(WORK, { recursive: true });
  const results = resultsHeader('run.mjs', SIZE, { repeat: args.repeat, order: 'abba', botbackupConfig: args.plaintext ? 'init --plaintext' : 'init (encrypted + signed)', seed: args.seed, writerSynchronous: args['writer-synchronous'], skipped: [...skip] });
  const data = prepareData({ bot: BOT, targetBytes, seed: args.seed, regenerate: args.fresh });
  results.data = { ...data, treeBytes: treeBytes(BOT) - treeBytes(path.join(BOT, STAMP)) };
  log('fingerprinting the source (untimed: every file\'s sha256, the database\'s .dump) …');
  const expected = fingerprint(BOT);
  if (expected.dbDumpError) throw new Error(`cannot check restores: the source's .dump failed: ${expected.dbDumpError}`);
  results.tools = {};
  const names = [];
  for (const name of TOOLS) {
    if (skip.has(name)) continue;
    const avail = tools[name].available();
    if (avail !== true) {
      log(`${tools[name].label}: skipped: ${avail}`);
      results.tools[name] = { label: tools[name].label, pending: avail };
    } else names.push(name);
  }
  Object.assign(results.tools, await benchTools(names, expected));
  results.writer = await benchWriter(results);
  results.cacheDropped = cacheDropWorks;
  results.noise = noise;
  results.targets = checkTargets(results);

  const dir = path.join(BENCH, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${results.date.slice(0, 10)}-${SIZE}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(report(results));
  console.log(`\nRaw results: ${path.relative(ROOT, file)}`);
  const failed = Object.values(results.tools).some((t) => t.summary && (!t.summary.ok || !t.summary.verified));
  const wrong = wrongRestores(results);
  if (wrong.length) log(`RESTORE IS WRONG in ${wrong.length} run(s): ${wrong.join(' | ')}`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  log(`error: ${err.stack ?? err.message}`);
  process.exit(1);
});
