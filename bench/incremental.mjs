#!/usr/bin/env node
// Benchmark of incremental backups: after a simulated day of trading (bench/day.mjs) on the
// generated bot, how long the next backup takes and how many bytes it adds to the repository,
// for botbackup (`backup --incremental`), restic and borg (their second backup of the same
// change, in the same run); and how long botbackup takes to restore a full plus 7 incrementals
// compared with the full alone. botbackup runs with the config `botbackup init` writes (encrypted
// and signed); every restore is checked for exactness (the restored database's .dump equals the
// work copy's). The targets are issue 18's. See "Incremental backups" in docs/benchmarks.md.
//
// Usage: npm run bench:incremental -- [--size 1GiB|256MiB|4GiB] [--seed N] [--skip restic,borg,botbackup] [--keep]
//        (--help lists every option)
//
// Work files go to bench/.work/<size>/incremental/ (gitignored; the generated bot in
// bench/.work/<size>/bot is copied, never changed); raw results to
// bench/results/<date>-incremental-<size>.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STAMP } from './generate.mjs';
import { simulateDay } from './day.mjs';
import { commandLine, fmtBytes, sizeLabel } from './lib.mjs';
import {
  BENCH, DB_REL, ROOT, RSS_TARGET, beforeStep, borgEnv, cacheDropWorks, checkEncrypted, configure, ensureTools, fingerprint, flatRssTarget, fresh, initBotbackup, listFiles, log, median, noise, noiseLines, noteForeign, parseJsonOutput, prepareData, resticEnv, resultsHeader, rmrf, round, run, sha256, summarize, timed, treeBytes, undisturbed, verifyRestore,
} from './measure.mjs';

const CLI = path.resolve(process.env.BOTBACKUP_CLI ?? path.join(ROOT, 'packages/cli/dist/bin.js'));
const TOOLS = ['restic', 'borg', 'botbackup'];
/** A full plus this many incrementals for the chain restore: a week of nightly backups. */
const CHAIN_DAYS = 7;
/** Issue 18's targets (the memory one is RSS_TARGET, shared with run.mjs). */
const TARGET = { storedShareOfRestic: 0.10, timeShareOfRestic: 0.3, chainRestoreFactor: 1.3 };

const { usage: usageError, parse, size } = commandLine('bench:incremental');
const args = parse({
    size: { default: '1GiB' },
    seed: { type: 'number', default: 42 },
    skip: { default: '' },
    fresh: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    plaintext: { type: 'boolean', default: false },
    'restore-rounds': { type: 'number', default: 3 },
    'timeout-min': { type: 'number', default: 30 },
    'quiet-wait-s': { type: 'number', default: 60 },
    report: { default: undefined },
  });
if (args.help) {
  console.log(`usage: npm run bench:incremental -- [options]
  --size 1GiB|256MiB|4GiB database size (default 1GiB)
  --seed N                seed of the generated data and of the simulated days (default 42)
  --skip a,b              skip some of: ${TOOLS.join(', ')}
  --fresh                 regenerate the data even if bench/.work holds a matching copy
  --keep                  keep the work copies, repositories and restored trees in bench/.work
  --plaintext             botbackup's config from \`init --plaintext\` (no encryption, no signing)
  --restore-rounds N      restores of the full and of the chain's end, alternating; medians compared (default 3)
  --timeout-min N         per-command timeout (default 30)
  --quiet-wait-s N        before each step, wait up to N s for other CPU load to pass (default 60)
  --report FILE           only print the tables of a saved results file (bench/results/*-incremental-*.json)`);
  process.exit(0);
}
const targetBytes = size(args.size);
const SIZE = sizeLabel(targetBytes);
const skip = new Set(args.skip.split(',').map((s) => s.trim()).filter(Boolean));
for (const s of skip) if (!TOOLS.includes(s)) usageError(new Error(`--skip: unknown "${s}"`));
const WORK = path.join(BENCH, '.work', SIZE);
const BOT = path.join(WORK, 'bot');
const INC = path.join(WORK, 'incremental');
configure({ timeoutMs: args['timeout-min'] * 60_000, quietWaitS: args['quiet-wait-s'] });

// ---------------------------------------------------------------------------------------------
// Steps

/** A work copy of the generated bot that the simulated days may change. */
function copyBot(dir) {
  rmrf(dir);
  run('cp', ['-a', BOT, dir]);
  return dir;
}

/** One measured step, as run.mjs measures them: cold cache, quiet sync of `syncDir` included. */
async function measure(label, syncDir, steps) {
  await beforeStep();
  const phase = summarize({ steps: await steps() }, syncDir);
  phase.disturbed = noteForeign(label, phase);
  if (!phase.ok) log(`${label}: FAILED: ${phase.error}`);
  return phase;
}

/** Days already simulated on another tool's copy: the same seed and day give the same bytes. */
const daysSeen = new Map();
/** Applies day `day` to the work copy `bot` (untimed); page statistics the first time only. */
function day(bot, dayNo) {
  const db = path.join(bot, DB_REL);
  const first = !daysSeen.has(dayNo);
  const stats = simulateDay({ db, seed: args.seed, day: dayNo, pageStats: first });
  const dbSha256 = sha256(db);
  if (first) {
    daysSeen.set(dayNo, { ...stats, db: undefined, dbSha256 });
    log(`day ${dayNo}: updated ${stats.updated.total} rows, inserted ${stats.inserted.total} (${stats.transactions} transactions, ${stats.seconds}s); ` +
      `${stats.pages.changed + stats.pages.added} of ${stats.pages.after} pages differ (${stats.pages.changedPct} %)`);
  } else if (daysSeen.get(dayNo).dbSha256 !== dbSha256) {
    // Not fatal, but the tools would not be compared on the same change.
    log(`day ${dayNo}: WARNING: this copy's database differs from the first copy's after the same day (${dbSha256} vs ${daysSeen.get(dayNo).dbSha256})`);
  }
  return { day: dayNo, dbSha256, sameAsFirstCopy: daysSeen.get(dayNo).dbSha256 === dbSha256 };
}

/** Repository growth of one backup, and the step. */
async function backupStep(label, repo, steps) {
  const before = treeBytes(repo);
  const phase = await measure(label, repo, steps);
  return { ...phase, repoAddedBytes: phase.ok ? treeBytes(repo) - before : null, repoBytes: treeBytes(repo) };
}

const stepJson = (phase, name = 'backup') => phase.steps?.[name]?.json ?? null;

// ---------------------------------------------------------------------------------------------
// Tools: a first backup, day 1, a second backup.

async function benchRestic() {
  const w = fresh(path.join(INC, 'restic'));
  const bot = copyBot(path.join(w, 'bot'));
  const env = resticEnv(w);
  run('restic', ['init', '--repository-version', '2', '-q'], { env });
  const repo = env.RESTIC_REPOSITORY;
  // The options of run.mjs: restic always encrypts; --compression auto is its default (zstd, fast level).
  const backup = async () => {
    const s = await timed('restic', ['backup', '-q', '--json', '--compression', 'auto', '--host', 'bench', bot], { env });
    return { backup: { ...s, json: parseJsonOutput(s.stdout) } };
  };
  log('restic: first backup …');
  const first = await backupStep('restic first backup', repo, backup);
  if (!first.ok) return { first, ok: false };
  const d = day(bot, 1);
  log('restic: second backup …');
  const second = await backupStep('restic second backup', repo, backup);
  const summary = stepJson(second);
  log(`restic: second backup ${second.wallS}s, added ${fmtBytes(second.repoAddedBytes)} to the repository`);
  if (!args.keep) rmrf(w);
  return {
    ok: second.ok, first, day: d, second,
    // restic 0.14's JSON summary: data_added counts the new blobs before compression.
    resticDataAdded: summary?.data_added ?? null,
  };
}

async function benchBorg() {
  const w = fresh(path.join(INC, 'borg'));
  const bot = copyBot(path.join(w, 'bot'));
  const env = borgEnv(w);
  fresh(env.BORG_BASE_DIR);
  run('borg', ['init', '--encryption', 'none'], { env });
  const repo = env.BORG_REPO;
  // As run.mjs: "." from inside the bot folder, zstd level 3, no encryption (botbackup has none).
  const create = (name) => async () => {
    const s = await timed('borg', ['create', '--json', '--compression', 'zstd,3', `::${name}`, '.'], { env, cwd: bot });
    return { backup: { ...s, json: parseJsonOutput(s.stdout) } };
  };
  log('borg: first backup …');
  const first = await backupStep('borg first backup', repo, create('day-0'));
  if (!first.ok) return { first, ok: false };
  const d = day(bot, 1);
  log('borg: second backup …');
  const second = await backupStep('borg second backup', repo, create('day-1'));
  log(`borg: second backup ${second.wallS}s, added ${fmtBytes(second.repoAddedBytes)} to the repository`);
  if (!args.keep) rmrf(w);
  return { ok: second.ok, first, day: d, second, borgDeduplicatedSize: stepJson(second)?.archive?.stats?.deduplicated_size ?? null };
}

/** When the CLI's build was last written: the newest file under packages/<name>/dist (null without a build). */
function builtAt() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  const packages = path.join(ROOT, 'packages');
  for (const name of fs.existsSync(packages) ? fs.readdirSync(packages) : []) {
    if (fs.existsSync(path.join(packages, name, 'dist'))) walk(path.join(packages, name, 'dist'));
  }
  return newest ? new Date(newest).toISOString() : null;
}

/** Whether this build of the CLI has `backup --incremental` (it is being built). */
function botbackupAvailable() {
  if (!fs.existsSync(CLI)) return `${CLI} is missing: build the CLI first (npm run build)`;
  const help = run(process.execPath, [CLI, 'backup', '--help'], { allowFail: true });
  if (!/--incremental\b/.test(help.stdout + help.stderr)) return 'this build of the CLI has no `backup --incremental` yet';
  return true;
}

/**
 * Restores `id` into `target` (without --deep: its sha256 proof, no integrity_check unless this
 * build still runs one) and checks it against `expected` (a fingerprint: .dump and every file)
 * and the exact DB bytes.
 */
async function restoreStep(label, { cfg, env }, id, target, expected) {
  rmrf(target); // the CLI creates the target itself
  const phase = await measure(label, path.dirname(target), async () => {
    const s = await timed(process.execPath, [CLI, '--config', cfg, 'restore', id, '--target', target, '--json'], { env });
    return { restore: { ...s, json: parseJsonOutput(s.stdout) } };
  });
  const json = stepJson(phase, 'restore');
  const result = {
    ...phase,
    integrityS: json?.integrityCheckMs != null ? round(json.integrityCheckMs / 1000, 3) : null,
    internalS: json?.durationMs != null ? round(json.durationMs / 1000, 3) : null,
  };
  // Only for reading older results next to these: issue 18 compares the wall times.
  result.noCheckS = phase.ok ? round(phase.wallS - (result.integrityS ?? 0), 3) : null;
  if (phase.ok) {
    const found = listFiles(target).find((f) => f === DB_REL || f.endsWith(`/${DB_REL}`));
    result.dbSha256 = found ? sha256(path.join(target, found)) : null;
    result.dbIdentical = result.dbSha256 === expected.dbSha256;
    result.verify = verifyRestore(target, expected);
    result.verified = result.dbIdentical && result.verify.ok;
    if (!result.verified) {
      log(`${label}: RESTORE IS WRONG: database ${result.dbIdentical ? 'identical' : `NOT identical (sha256 ${result.dbSha256} instead of ${expected.dbSha256}; ${result.verify.dbCheck})`}` +
        `${result.verify.problems.length ? `; ${result.verify.problems.join('; ')}` : ''}`);
    } else log(`${label}: ${result.wallS}s (integrity_check ${result.integrityS}s), exact (${result.verify.dbCheck})`);
  }
  if (!args.keep) rmrf(target);
  return result;
}

/**
 * The run with the median wall time among the clean successful ones (all successful ones when
 * every one was disturbed), marked verified only when every run was exact; the first failure if
 * none succeeded.
 */
function medianRun(runs) {
  const ok = runs.filter((r) => r.ok);
  if (!ok.length) return runs[0];
  const used = undisturbed(ok).toSorted((a, b) => a.wallS - b.wallS);
  const mid = used[(used.length - 1) >> 1];
  return { ...mid, rounds: runs.length, roundsUsed: used.length, wallSAll: runs.map((r) => r.wallS), verified: runs.every((r) => r.verified) };
}

async function benchBotbackup() {
  const w = fresh(path.join(INC, 'botbackup'));
  const bot = copyBot(path.join(w, 'bot'));
  const repo = fresh(path.join(w, 'bb-repo'));
  // As run.mjs: the config `botbackup init` writes (untimed), encrypted and signed unless --plaintext.
  const setup = initBotbackup(CLI, { botDir: bot, repo, dir: path.join(w, 'bb-config'), plaintext: args.plaintext });
  const backup = (flags) => async () => {
    const s = await timed(process.execPath, [CLI, '--config', setup.cfg, 'backup', ...flags, '--json'], { env: setup.env });
    const json = parseJsonOutput(s.stdout);
    // Outside the timing, but inside the step: a backup of the wrong mode measures nothing claimed.
    if (s.ok) checkEncrypted(repo, json, !args.plaintext);
    return { backup: { ...s, json } };
  };
  log('botbackup: fingerprinting the work copy (untimed: every file\'s sha256, the database\'s .dump) …');
  const expectedFull = fingerprint(bot);
  log('botbackup: full backup …');
  const full = await backupStep('botbackup full backup', repo, backup([]));
  const out = { ok: false, full, incrementals: [] };
  if (!full.ok) return out;
  const fullId = stepJson(full)?.id;
  if (!fullId) {
    out.error = `backup --json printed no id: ${full.steps.backup.json ? JSON.stringify(full.steps.backup.json) : 'no JSON'}`;
    log(`botbackup: ${out.error}`);
    return out;
  }
  for (let d = 1; d <= CHAIN_DAYS; d++) {
    const dd = day(bot, d);
    log(`botbackup: incremental backup after day ${d} …`);
    const inc = await backupStep(`botbackup incremental after day ${d}`, repo, backup(['--incremental']));
    const json = stepJson(inc);
    out.incrementals.push({ ...inc, day: dd });
    if (!inc.ok) break;
    if (json?.type !== 'incremental') log(`botbackup: WARNING: backup --incremental after day ${d} made a backup of type ${JSON.stringify(json?.type)}, not "incremental"`);
    log(`botbackup: incremental after day ${d}: ${inc.wallS}s, storedBytes ${fmtBytes(json?.storedBytes)}, repository +${fmtBytes(inc.repoAddedBytes)}`);
  }
  const last = out.incrementals.at(-1);
  if (out.incrementals.length !== CHAIN_DAYS || !last.ok) {
    out.error = `the chain stopped after ${out.incrementals.length} incremental(s): ${last?.error ?? 'see the log'}`;
    return out;
  }
  const lastId = stepJson(last)?.id;
  log('botbackup: fingerprinting the work copy after day 7 (untimed) …');
  const expectedLast = fingerprint(bot);
  // Each restore --restore-rounds times, the two alternating (full first, then chain first, …) so
  // that a drift of the machine favours neither; the run with the median time stands for each.
  out.restoreFullRuns = [];
  out.restoreChainRuns = [];
  for (let r = 1; r <= args['restore-rounds']; r++) {
    for (const which of r % 2 ? ['full', 'chain'] : ['chain', 'full']) {
      if (which === 'full') {
        log(`botbackup: restoring the full alone (round ${r}) …`);
        out.restoreFullRuns.push(await restoreStep('botbackup restore of the full', setup, fullId, path.join(w, 'restored-full'), expectedFull));
      } else {
        log(`botbackup: restoring the full + ${CHAIN_DAYS} incrementals (round ${r}) …`);
        out.restoreChainRuns.push(await restoreStep(`botbackup restore of full + ${CHAIN_DAYS} incrementals`, setup, lastId, path.join(w, 'restored-chain'), expectedLast));
      }
    }
  }
  out.restoreFull = medianRun(out.restoreFullRuns);
  out.restoreChain = medianRun(out.restoreChainRuns);
  out.ok = out.restoreFull.ok && out.restoreChain.ok;
  out.verified = !!(out.restoreFull.verified && out.restoreChain.verified);
  out.peakRssMiBMax = stepsPeakMiB(out);
  if (!args.keep) rmrf(w);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Targets and report

const mibOf = (kib) => (kib == null ? null : kib / 1024);

/** Every restore of a run: all rounds, or (files from before the rounds) the one of each. */
const restoreRuns = (bb) => [...(bb?.restoreFullRuns ?? [bb?.restoreFull]), ...(bb?.restoreChainRuns ?? [bb?.restoreChain])].filter(Boolean);

/** /usr/bin/time's peak RSS (MiB) of every botbackup step: the full, the incrementals, every restore. */
function stepsPeakMiB(bb) {
  const kib = [bb?.full, ...(bb?.incrementals ?? []), ...restoreRuns(bb)].map((x) => x?.peakRssKiB).filter((x) => x != null);
  return kib.length ? round(mibOf(Math.max(...kib)), 1) : null;
}

/** Issue 18's targets for incrementals. */
function checkTargets(results) {
  const out = [];
  // `steps`: the measured steps a target compares; when one was disturbed, the verdict is shaky and says so.
  const add = (name, pass, detail, steps = []) => out.push({ name, pass, detail, ...(steps.some((s) => s?.disturbed) ? { disturbed: true } : {}) });
  const t = results.tools;
  const bb = t.botbackup, restic = t.restic;
  if (!bb?.full?.ok) return out;
  const inc1 = bb.incrementals?.[0];
  if (inc1?.ok && restic?.second?.ok) {
    const share = inc1.repoAddedBytes / restic.second.repoAddedBytes;
    add(`incremental after one trading day stores ≤ ${TARGET.storedShareOfRestic} × the bytes restic adds`, share <= TARGET.storedShareOfRestic,
      `${fmtBytes(inc1.repoAddedBytes)} vs ${fmtBytes(restic.second.repoAddedBytes)} = ${round(share, 3)} × (repository growth of each; botbackup's storedBytes ${fmtBytes(inc1.steps.backup.json?.storedBytes)})`, [inc1, restic.second]);
    add(`incremental time ≤ ${TARGET.timeShareOfRestic} × restic's second backup`, inc1.wallS <= TARGET.timeShareOfRestic * restic.second.wallS,
      `${inc1.wallS}s vs ${restic.second.wallS}s = ${round(inc1.wallS / restic.second.wallS)} ×`, [inc1, restic.second]);
  }
  const rf = bb.restoreFull, rc = bb.restoreChain;
  if (rf?.ok && rc?.ok) {
    // Wall times as the user waits for them: each includes its sha256 proof, and an integrity_check
    // only if this build of the CLI still runs one on a plain restore (said in the detail).
    const checks = rf.integrityS > 0 || rc.integrityS > 0 ? `; **includes PRAGMA integrity_check** (${rc.integrityS}s and ${rf.integrityS}s): this build runs it on every restore` : '; no integrity_check ran';
    add(`restore of full + ${CHAIN_DAYS} incrementals ≤ ${TARGET.chainRestoreFactor} × a restore of the full`, rc.verified && rf.verified && rc.wallS <= TARGET.chainRestoreFactor * rf.wallS,
      `${rc.wallS}s vs ${rf.wallS}s = ${round(rc.wallS / rf.wallS)} ×${checks}${rc.verified && rf.verified ? '' : '; NOT comparable: a restore was wrong'}`, [rc, rf]);
    add('restores exact (restored .dump = the work copy\'s, database byte-identical, files match)', rf.verified && rc.verified, `full: ${rf.verified ? 'exact' : 'WRONG'}, chain: ${rc.verified ? 'exact' : 'WRONG'}`);
  }
  const peak = stepsPeakMiB(bb);
  add(`peak RSS ≤ ${RSS_TARGET.mib} MiB for every botbackup step (/usr/bin/time %M)`, peak != null && peak <= RSS_TARGET.mib,
    `largest ${peak} MiB of the full, ${bb.incrementals.length} incrementals and ${restoreRuns(bb).length} restores (anonymous memory, sampled: ${round(mibOf(Math.max(0, ...[bb.full, ...bb.incrementals, ...restoreRuns(bb)].map((x) => x?.peakAnonKiB ?? 0))), 1)} MiB)`);
  const flat = flatRssTarget(SIZE, peak, (size) => `incremental-${size}.json`, (r) => stepsPeakMiB(r.tools?.botbackup));
  if (flat) out.push(flat);
  return out;
}

function report(results) {
  const lines = [];
  const mib = (kib) => (kib == null ? '–' : `${mibOf(kib).toFixed(0)} MiB`);
  // "RSS (anonymous)": see measure.mjs.
  const mem = (phase) => (phase?.peakAnonKiB ? `${mib(phase.peakRssKiB)} (${mib(phase.peakAnonKiB)})` : mib(phase?.peakRssKiB));
  const s = (v) => (v == null ? '–' : `${v.toFixed(1)} s`);
  const s2 = (v) => (v == null ? '–' : `${v.toFixed(2)} s`);
  const d1 = results.days?.[1];
  lines.push(`### ${results.size} (DB ${fmtBytes(results.data.dbBytes)}), ${results.date}`, '');
  if (d1) {
    lines.push(`Day 1: ${d1.updated.total} rows updated (${d1.updated.recent} among the newest 10 %, ${d1.updated.old} older), ${d1.inserted.total} inserted ` +
      `(${d1.inserted.minutes} simulated minutes), ${d1.transactions} transactions; ${d1.pages.changed} pages changed and ${d1.pages.added} added = ` +
      `${d1.pages.changedPct} % of the file's ${d1.pages.after} pages (${fmtBytes(d1.pages.changedBytes)}), by per-page hashes before and after.`, '');
  }
  lines.push('| tool | first (full) backup | second backup, after day 1 | its CPU | its peak RSS (anonymous) | added to the repository | the tool\'s own figure |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const name of TOOLS) {
    const t = results.tools[name];
    if (!t) { lines.push(`| ${name} | skipped | | | | | |`); continue; }
    if (t.pending) { lines.push(`| ${name} | pending: ${t.pending} | | | | | |`); continue; }
    const first = name === 'botbackup' ? t.full : t.first;
    const second = name === 'botbackup' ? t.incrementals?.[0] : t.second;
    if (!first?.ok || !second?.ok) {
      const err = (!first?.ok ? first?.error : second?.error) ?? t.error ?? 'failed';
      lines.push(`| ${name} | ${first?.ok ? s(first.wallS) : ''} | FAILED: ${String(err).split('\n')[0].slice(0, 160)} | | | | |`);
      continue;
    }
    const own = name === 'restic' ? `data_added ${fmtBytes(t.resticDataAdded)} (before compression)`
      : name === 'borg' ? `deduplicated_size ${fmtBytes(t.borgDeduplicatedSize)}`
      : `storedBytes ${fmtBytes(second.steps.backup.json?.storedBytes)}, type ${second.steps.backup.json?.type}`;
    const tag = first.disturbed || second.disturbed ? ' (disturbed)' : '';
    lines.push(`| ${name}${tag} | ${s(first.wallS)} | ${s2(second.wallS)} | ${s2(second.cpuS)} | ${mem(second)} | ${fmtBytes(second.repoAddedBytes)} | ${own} |`);
  }
  const bb = results.tools.botbackup;
  if (bb?.incrementals?.length) {
    lines.push('', `botbackup's chain (full ${s(bb.full.wallS)}, ${fmtBytes(bb.full.repoAddedBytes)}):`, '');
    lines.push('| day | rows updated | rows inserted | pages changed | incremental backup | peak RSS (anonymous) | storedBytes | repository growth |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const inc of bb.incrementals) {
      const d = results.days?.[inc.day.day];
      const json = inc.steps?.backup?.json;
      // A backup --incremental that became a full one says why (fullReason); the table must too.
      const kind = json && json.type !== 'incremental' ? ` (**${json.type}**: ${json.fullReason ?? 'no reason given'})` : '';
      lines.push(`| ${inc.day.day} | ${d?.updated.total ?? '–'} | ${d?.inserted.total ?? '–'} | ${d?.pages ? `${d.pages.changedPct} %` : '–'} | ${inc.ok ? s2(inc.wallS) : `FAILED: ${String(inc.error).split('\n')[0].slice(0, 120)}`}${inc.disturbed ? ' (disturbed)' : ''}${kind} | ${mem(inc)} | ${fmtBytes(json?.storedBytes)} | ${fmtBytes(inc.repoAddedBytes)} |`);
    }
    const ok = bb.incrementals.filter((i) => i.ok);
    if (ok.length > 1) lines.push('', `Median of the ${ok.length} incrementals: ${s2(median(ok.map((i) => i.wallS)))}, ${fmtBytes(median(ok.map((i) => i.repoAddedBytes)))} each.`);
  }
  if (bb?.restoreFull || bb?.restoreChain) {
    lines.push('', '| botbackup restore | wall | of which integrity_check | peak RSS (anonymous) | database |', '| --- | ---: | ---: | ---: | --- |');
    for (const [label, r] of [['full alone', bb.restoreFull], [`full + ${CHAIN_DAYS} incrementals`, bb.restoreChain]]) {
      if (!r) continue;
      if (!r.ok) { lines.push(`| ${label} | FAILED: ${String(r.error).split('\n')[0].slice(0, 160)} | | | |`); continue; }
      const chain = r.steps?.restore?.json?.chain;
      const rounds = r.rounds > 1 ? `, median of ${r.roundsUsed} of ${r.wallSAll.map((x) => x ?? 'failed').join(' / ')} s` : '';
      lines.push(`| ${label}${Array.isArray(chain) ? ` (${chain.length} archive${chain.length > 1 ? 's' : ''} read${rounds})` : rounds ? ` (${rounds.slice(2)})` : ''}${r.disturbed ? ' (disturbed)' : ''} | ${s2(r.wallS)} | ${s2(r.integrityS)} | ${mem(r)} | ${r.verified ? (r.verify?.dbCheck?.includes('.dump') ? `exact (${r.verify.dbCheck})` : `byte-identical (${r.verify?.dbCheck ?? ''}; before the .dump check)`) : `**WRONG**: ${r.dbIdentical ? 'identical bytes' : 'NOT byte-identical'}; ${r.verify?.problems?.join('; ') || r.verify?.dbCheck}`} |`);
    }
  }
  if (results.targets?.length) {
    lines.push('', '| target | result | |', '| --- | --- | --- |');
    for (const t of results.targets) lines.push(`| ${t.name} | ${t.pass ? 'pass' : '**FAIL**'}${t.disturbed ? ' (a compared step was disturbed)' : ''} | ${t.detail} |`);
  }
  lines.push(...noiseLines(results.noise, 'other processes used CPU during the step'));
  lines.push('', `Page cache dropped before each step: ${results.cacheDropped ? 'yes' : 'no (warm cache)'}. restic ${results.versions.restic?.split(' ')[1] ?? '?'}, borg ${results.versions.borg?.split(' ')[1] ?? '?'}; botbackup ${results.versions.botbackupGit ?? '?'}${results.versions.botbackupBuiltAt ? ` (built ${results.versions.botbackupBuiltAt.slice(0, 16)})` : ''}${results.versions.botbackupRebuiltDuringRun ? ' **rebuilt during the run**' : ''}; ${results.machine.cores} cores, ${results.machine.cpu}.`);
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
  const results = resultsHeader('incremental.mjs', SIZE, { seed: args.seed, chainDays: CHAIN_DAYS, skipped: [...skip] });
  // The CLI is built from the work tree, which may be ahead of the commit git describe names.
  results.versions.botbackupBuiltAt = builtAt();
  const data = prepareData({ bot: BOT, targetBytes, seed: args.seed, regenerate: args.fresh });
  results.data = { ...data, treeBytes: treeBytes(BOT) - treeBytes(path.join(BOT, STAMP)) };
  // The database must be as the generator left it (checkpointed, no WAL): the days run on copies.
  if (fs.existsSync(path.join(BOT, `${DB_REL}-wal`))) throw new Error(`${path.join(BOT, DB_REL)}-wal exists: the generated data is not pristine (rerun with --fresh)`);
  fresh(INC);
  results.tools = {};
  const bench = { restic: benchRestic, borg: benchBorg, botbackup: benchBotbackup };
  for (const name of TOOLS) {
    if (skip.has(name)) continue;
    if (name === 'botbackup') {
      const avail = botbackupAvailable();
      if (avail !== true) {
        log(`botbackup: skipped: ${avail}`);
        results.tools.botbackup = { pending: avail };
        continue;
      }
    }
    results.tools[name] = await bench[name]();
  }
  results.days = Object.fromEntries([...daysSeen.entries()]);
  if (builtAt() !== results.versions.botbackupBuiltAt) {
    results.versions.botbackupRebuiltDuringRun = builtAt();
    log(`WARNING: the botbackup packages were rebuilt during the run (${results.versions.botbackupBuiltAt} → ${builtAt()}): its steps may mix two builds`);
  }
  results.cacheDropped = cacheDropWorks;
  results.noise = noise;
  results.targets = checkTargets(results);
  if (!args.keep) rmrf(INC);

  const dir = path.join(BENCH, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${results.date.slice(0, 10)}-incremental-${SIZE}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(report(results));
  console.log(`\nRaw results: ${path.relative(ROOT, file)}`);
  const bb = results.tools.botbackup;
  const failed = Object.values(results.tools).some((t) => !t.pending && !t.ok) || (bb && !bb.pending && bb.ok && !bb.verified);
  if (bb && !bb.pending && bb.ok && !bb.verified) log('RESTORE IS WRONG: see the restore table');
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  log(`error: ${err.stack ?? err.message}`);
  process.exit(1);
});
