#!/usr/bin/env node
// Benchmark: what encryption (age, X25519 recipients, plus the signed manifest it requires) costs
// on a full botbackup backup and restore of the generated bot, in one run on the same data.
// Plain and encrypted runs alternate (ABBA: plain, encrypted, encrypted, plain, …), each into a
// fresh empty repository, each step after `sync`, a wait for a quiet CPU and a page cache drop.
// Every restore is checked: the restored database's sha256 must equal the plain backup's manifest
// `databases[0].sha256`. See "Encryption" in docs/benchmarks.md.
//
// Usage: npm run bench:encryption -- [--size 1GiB|256MiB] [--repeat N] [--keep] …
//        (--help lists every option)
//
// Work files go to bench/.work/<size>/encryption/ (gitignored; the generated bot in
// bench/.work/<size>/bot is shared with run.mjs and never changed); raw results to
// bench/results/<date>-encryption.json.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STAMP } from './generate.mjs';
import { commandLine, fmtBytes, sizeLabel } from './lib.mjs';
import {
  BENCH,
  DB_REL,
  ROOT,
  beforeStep,
  botbackupConfig,
  botbackupEnv,
  checkEncrypted,
  cacheDropWorks,
  configure,
  fingerprint,
  fresh,
  listFiles,
  log,
  median,
  noise,
  noiseLines,
  machine,
  noteForeign,
  parseJsonOutput,
  prepareData,
  rmrf,
  round,
  run,
  sha256,
  summarize,
  timed,
  treeBytes,
  verifyRestore,
} from './measure.mjs';

const CLI = path.resolve(process.env.BOTBACKUP_CLI ?? path.join(ROOT, 'packages/cli/dist/bin.js'));
/** The issue's target: encryption adds at most 10 % to a full backup's time. */
const TARGET_RATIO = 1.1;
const MODES = ['plain', 'encrypted'];

const { usage: usageError, parse, size } = commandLine('bench:encryption');
const args = parse({
    size: { default: '1GiB' },
    seed: { type: 'number', default: 42 },
    repeat: { type: 'number', default: 3 },
    order: { default: 'abba' },
    fresh: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'skip-restore': { type: 'boolean', default: false },
    'skip-cipher': { type: 'boolean', default: false },
    'timeout-min': { type: 'number', default: 30 },
    'quiet-wait-s': { type: 'number', default: 60 },
    report: { default: undefined },
  });
if (args.help) {
  console.log(`usage: npm run bench:encryption -- [options]
  --size 1GiB|256MiB   database size (default 1GiB; the data is shared with npm run bench)
  --repeat N           pairs of full backups (plain + encrypted), each restored too (default 3)
  --order abba|abab    abba (default): plain first in even pairs, encrypted first in odd ones,
                       so a slow drift of the machine does not favour one mode; abab: plain first always
  --skip-restore       only the backups
  --skip-cipher        leave out the ChaCha20-Poly1305 / age stream throughput runs
  --fresh              regenerate the data even if bench/.work holds a matching copy
  --keep               keep repositories and restored trees in bench/.work/<size>/encryption
  --seed N             generator seed (default 42)
  --timeout-min N      per-command timeout (default 30)
  --quiet-wait-s N     before each step, wait up to N s for other CPU load to pass (default 60)
  --report FILE        only print the tables of a saved results file (bench/results/*-encryption.json)
  BOTBACKUP_CLI=<path> (env) benchmark another build of the CLI`);
  process.exit(0);
}
if (!Number.isInteger(args.repeat) || args.repeat < 1) usageError(new Error('--repeat needs a whole number ≥ 1'));
if (!['abba', 'abab'].includes(args.order)) usageError(new Error('--order is abba or abab'));
const targetBytes = size(args.size);
const SIZE = sizeLabel(targetBytes);
const WORK = path.join(BENCH, '.work', SIZE);
const BOT = path.join(WORK, 'bot');
const EWORK = path.join(WORK, 'encryption');
configure({ timeoutMs: args['timeout-min'] * 60_000, quietWaitS: args['quiet-wait-s'] });

// ---------------------------------------------------------------------------------------------
// Keys and configs

/** An age identity and a worker key, made once per run with the CLI under test (untimed). */
function makeKeys(dir) {
  fresh(dir);
  const id = parseJsonOutput(run(process.execPath, [CLI, '--json', 'keygen', '--out', path.join(dir, 'identity.txt')]).stdout);
  const worker = parseJsonOutput(run(process.execPath, [CLI, '--json', 'keygen', '--worker', '--out', path.join(dir, 'worker.key')]).stdout);
  if (!id?.recipient || !worker?.publicKey) throw new Error(`keygen printed no key: ${JSON.stringify({ id, worker })}`);
  return { identityFile: id.file, recipients: [id.recipient], keyFile: worker.file, trusted: [worker.publicKey] };
}

/** The configs are in the run's own folder, and so is the CLI's local catalog (XDG_STATE_HOME). */
function setUp(mode, runDir, keys) {
  fresh(runDir);
  const repo = fresh(path.join(runDir, 'repo'));
  const cfg = botbackupConfig(BOT, repo, path.join(runDir, 'botbackup.yaml'), mode === 'encrypted' ? keys : null);
  return { repo, cfg, env: botbackupEnv(runDir) };
}

// ---------------------------------------------------------------------------------------------
// One run: a full backup into a fresh repository, then its restore

const load = () => os.loadavg().map((v) => round(v, 2));

/**
 * What was measured: the CLI runs from packages/<pkg>/dist, which any `tsc -b` in the working
 * tree rebuilds (with uncommitted changes, too). A hash of the built JavaScript, taken at the
 * start and the end, says whether every run used the same build.
 */
function buildFingerprint() {
  const h = crypto.createHash('sha256');
  let newest = 0;
  for (const pkg of ['core', 'storage', 'engine', 'cli']) {
    const dist = path.join(ROOT, 'packages', pkg, 'dist');
    if (!fs.existsSync(dist)) continue;
    for (const f of listFiles(dist)
      .filter((f) => f.endsWith('.js'))
      .sort()) {
      const file = path.join(dist, f);
      h.update(`${pkg}/${f}\0`).update(fs.readFileSync(file));
      newest = Math.max(newest, fs.statSync(file).mtimeMs);
    }
  }
  return { sha256: h.digest('hex').slice(0, 16), newestFile: new Date(newest).toISOString() };
}

async function oneRun(mode, index, keys, expected) {
  const runDir = path.join(EWORK, `${mode}-${index}`);
  const { repo, cfg, env } = setUp(mode, runDir, keys);
  const label = `${mode} #${index + 1}`;

  log(`${label}: backup …`);
  await beforeStep();
  const loadBefore = load();
  const b = await timed(process.execPath, [CLI, '--config', cfg, 'backup', '--json'], { env });
  const manifest = parseJsonOutput(b.stdout);
  const backup = summarize({ steps: { backup: { ...b, json: undefined } } }, repo);
  backup.loadAvg = { before: loadBefore, after: load() };
  backup.storedBytes = treeBytes(repo);
  backup.manifestStoredBytes = manifest?.storedBytes ?? null;
  backup.internalS = manifest?.durationMs != null ? round(manifest.durationMs / 1000, 3) : null;
  backup.disturbed = noteForeign(`${label} backup`, backup);
  const out = { mode, index, backup, dbSha256: manifest?.databases?.[0]?.sha256 ?? null, backupId: manifest?.id ?? null };
  if (!backup.ok) {
    log(`${label}: backup FAILED: ${backup.error}`);
    return out;
  }
  out.encryptedObjects = checkEncrypted(repo, manifest, mode === 'encrypted');
  log(`${label}: backup ${backup.wallS} s, CPU ${backup.cpuS} s, stored ${fmtBytes(backup.storedBytes)}${backup.disturbed ? ' (disturbed)' : ''}`);

  if (!args['skip-restore']) {
    const target = path.join(runDir, 'restore');
    rmrf(target);
    log(`${label}: restore …`);
    await beforeStep();
    const loadBefore2 = load();
    const idArgs = mode === 'encrypted' ? ['--identity', keys.identityFile] : [];
    const r = await timed(process.execPath, [CLI, '--config', cfg, ...idArgs, 'restore', 'latest', '--target', target, '--json'], { env });
    const json = parseJsonOutput(r.stdout);
    const restore = summarize(
      {
        steps: { restore: { ...r, json: undefined } },
        integrityS: json?.integrityCheckMs != null ? json.integrityCheckMs / 1000 : null,
        internalS: json?.durationMs != null ? json.durationMs / 1000 : null,
      },
      target,
    );
    restore.loadAvg = { before: loadBefore2, after: load() };
    restore.noCheckS = restore.ok && restore.integrityS != null ? round(restore.wallS - restore.integrityS, 3) : null;
    restore.disturbed = noteForeign(`${label} restore`, restore);
    out.restore = restore;
    if (restore.ok) {
      // Outside the timings: the restored database against the plain backup's manifest, and
      // every other file against the generated bot.
      const restoredDb = sha256(path.join(target, DB_REL));
      const tree = verifyRestore(target, expected.fingerprint);
      out.verify = {
        restoredDbSha256: restoredDb,
        // An encrypted backup's manifest holds an HMAC of the database, not its sha256
        // (manifest schema 3, `encryption.contentHash`): only the plain manifest can be compared.
        ownManifest: restoredDb === out.dbSha256 ? 'equal' : mode === 'encrypted' ? 'keyed hash (HMAC), not comparable' : 'DIFFERS',
        files: tree.ok ? 'ok' : tree.problems,
      };
      log(
        `${label}: restore ${restore.wallS} s (integrity check ${round(restore.integrityS, 2)} s), CPU ${restore.cpuS} s${restore.disturbed ? ' (disturbed)' : ''}`,
      );
    } else {
      log(`${label}: restore FAILED: ${restore.error}`);
    }
    if (!args.keep) rmrf(target);
  }
  if (!args.keep) rmrf(runDir);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The cipher alone, for comparison: what ChaCha20-Poly1305 costs per byte on this machine

/**
 * Seals `bytes` in 64 KiB chunks with node:crypto's chacha20-poly1305 (a cipher per chunk, as
 * age's STREAM does), in a child process so its CPU time is measured like the backups'. Also the
 * engine's own age stream (createAgeEncryptStream / createAgeDecryptStream) over the same bytes.
 */
async function cipherRuns(bytes) {
  const raw = `
const crypto = require('node:crypto');
const n = ${bytes}, size = 65536, buf = crypto.randomBytes(size), key = crypto.randomBytes(32), nonce = Buffer.alloc(12);
let sink = 0; const t0 = process.hrtime.bigint();
for (let off = 0, i = 0; off < n; off += size, i++) {
  nonce.writeUInt32BE(i, 7);
  const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  sink += c.update(buf).length + c.final().length + c.getAuthTag().length;
}
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ seconds: s, mibPerS: n / 1048576 / s, sink }));`;
  const age = (dir) => `
import crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createAgeEncryptStream, createAgeDecryptStream, generateIdentity } from ${JSON.stringify(path.join(ROOT, 'packages/engine/dist/index.js'))};
const n = ${bytes}, size = 65536, block = crypto.randomBytes(size);
const kp = generateIdentity();
async function* src() { for (let off = 0; off < n; off += size) yield block; }
const sealed = [];
let t0 = process.hrtime.bigint(), out = 0;
${
  dir === 'encrypt'
    ? `await pipeline(Readable.from(src()), createAgeEncryptStream({ recipients: [kp.recipient] }), new Writable({ write(c, _e, cb) { out += c.length; cb(); } }));`
    : `// decrypt: seal 64 MiB once, then open it repeatedly
const m = Math.min(n, 64 * 1048576); const parts = [];
await pipeline(Readable.from((async function* () { for (let off = 0; off < m; off += size) yield block; })()), createAgeEncryptStream({ recipients: [kp.recipient] }), new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
const file = Buffer.concat(parts);
t0 = process.hrtime.bigint();
for (let done = 0; done < n; done += m) {
  await pipeline(Readable.from((function* () { for (let o = 0; o < file.length; o += size) yield file.subarray(o, o + size); })()), createAgeDecryptStream({ identities: [kp.identity] }), new Writable({ write(c, _e, cb) { out += c.length; cb(); } }));
}`
}
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(JSON.stringify({ seconds: s, mibPerS: out / 1048576 / s, bytes: out }));`;
  const res = {};
  for (const [name, argv] of [
    ['chacha20-poly1305 (node:crypto, 64 KiB chunks)', ['-e', raw]],
    ['age encrypt stream (engine)', ['--input-type=module', '-e', age('encrypt')]],
    ['age decrypt stream (engine)', ['--input-type=module', '-e', age('decrypt')]],
  ]) {
    await beforeStep();
    const s = await timed(process.execPath, argv);
    const json = parseJsonOutput(s.stdout);
    res[name] = {
      ok: s.ok,
      wallS: round(s.seconds, 3),
      cpuS: round(s.ownCpuS, 2),
      foreignCpuS: round(s.foreignCpuS, 2),
      ...(json ? { seconds: round(json.seconds, 3), mibPerS: round(json.mibPerS, 0) } : { error: s.stderr.trim().slice(-800) }),
    };
    log(`${name}: ${json ? `${res[name].mibPerS} MiB/s` : `FAILED ${res[name].error}`}`);
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Summary and report

function summarizeRuns(runs) {
  const pairs = [];
  for (let i = 0; i < args.repeat; i++) {
    const p = runs.find((r) => r.mode === 'plain' && r.index === i);
    const e = runs.find((r) => r.mode === 'encrypted' && r.index === i);
    const ratio = (get) => (p && e && get(p) && get(e) ? round(get(e) / get(p), 3) : null);
    pairs.push({
      index: i,
      backupWall: ratio((r) => r.backup.ok && r.backup.wallS),
      backupCpu: ratio((r) => r.backup.ok && r.backup.cpuS),
      restoreWall: ratio((r) => r.restore?.ok && r.restore.wallS),
      restoreNoCheck: ratio((r) => r.restore?.ok && r.restore.noCheckS),
      restoreCpu: ratio((r) => r.restore?.ok && r.restore.cpuS),
      stored: ratio((r) => r.backup.ok && r.backup.storedBytes),
      disturbed: Boolean(p?.backup.disturbed || e?.backup.disturbed),
      restoreDisturbed: Boolean(p?.restore?.disturbed || e?.restore?.disturbed),
    });
  }
  const med = (xs) => round(median(xs), 3);
  const cleanB = pairs.filter((p) => !p.disturbed);
  const cleanR = pairs.filter((p) => !p.restoreDisturbed);
  const byMode = Object.fromEntries(
    MODES.map((m) => {
      const rs = runs.filter((r) => r.mode === m);
      return [
        m,
        {
          backupWallS: med(rs.map((r) => r.backup.ok && r.backup.wallS)),
          backupCpuS: med(rs.map((r) => r.backup.ok && r.backup.cpuS)),
          storedBytes: med(rs.map((r) => r.backup.ok && r.backup.storedBytes)),
          restoreWallS: med(rs.map((r) => r.restore?.ok && r.restore.wallS)),
          restoreNoCheckS: med(rs.map((r) => r.restore?.ok && r.restore.noCheckS)),
          restoreCpuS: med(rs.map((r) => r.restore?.ok && r.restore.cpuS)),
        },
      ];
    }),
  );
  const pick = (k, clean) => med((clean.length ? clean : pairs).map((p) => p[k]));
  const spread = (k) => {
    const v = pairs.map((p) => p[k]).filter((x) => x != null);
    return v.length ? [Math.min(...v), Math.max(...v)] : null;
  };
  const summary = {
    byMode,
    medianRatio: {
      backupWall: pick('backupWall', cleanB),
      backupCpu: pick('backupCpu', cleanB),
      stored: pick('stored', pairs),
      restoreWall: pick('restoreWall', cleanR),
      restoreNoCheck: pick('restoreNoCheck', cleanR),
      restoreCpu: pick('restoreCpu', cleanR),
    },
    allPairsMedianRatio: { backupWall: pick('backupWall', []), restoreWall: pick('restoreWall', []) },
    ratioSpread: { backupWall: spread('backupWall'), backupCpu: spread('backupCpu'), restoreWall: spread('restoreWall') },
    pairsUsed: { backup: cleanB.length || pairs.length, restore: cleanR.length || pairs.length, of: pairs.length },
    verified: runs.every(
      (r) => !r.backup.ok || args['skip-restore'] || (r.verify?.ownManifest !== 'DIFFERS' && r.verify?.matchesPlainManifest && r.verify?.files === 'ok'),
    ),
  };
  summary.target = { limit: TARGET_RATIO, met: summary.medianRatio.backupWall != null ? summary.medianRatio.backupWall <= TARGET_RATIO : null };
  return { pairs, summary };
}

function report(results) {
  const L = [];
  const s = results.summary;
  const f = (v, d = 2) => (v == null ? '–' : Number(v).toFixed(d));
  const pct = (v) => (v == null ? '–' : `${v >= 1 ? '+' : ''}${((v - 1) * 100).toFixed(1)} %`);
  L.push(
    `Encryption cost, ${results.size}, ${results.runs.length} runs (${results.settings.order}), page cache ${results.cacheDropped ? 'dropped before every step' : 'NOT dropped (warm)'}; ${results.versions.botbackupGit}, build ${results.build?.atStart.sha256 ?? '?'}${results.build && !results.build.sameThroughout ? ' (**rebuilt during the run**)' : ''}`,
    '',
  );
  L.push('| run | mode | backup | backup CPU | stored | restore | of which integrity check | restore CPU | load avg (1 min) before | verified |');
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results.runs) {
    const d = (x) => (x?.disturbed ? ' (disturbed)' : '');
    const v = r.verify
      ? r.verify.matchesPlainManifest && r.verify.files === 'ok' && r.verify.ownManifest !== 'DIFFERS'
        ? 'sha256 = plain manifest'
        : `**NO**: ${JSON.stringify(r.verify)}`
      : '–';
    L.push(
      `| ${r.order} | ${r.mode} | ${f(r.backup.wallS)} s${d(r.backup)} | ${f(r.backup.cpuS)} s | ${fmtBytes(r.backup.storedBytes)} | ${f(r.restore?.wallS)} s${d(r.restore)} | ${f(r.restore?.integrityS)} s | ${f(r.restore?.cpuS)} s | ${f(r.backup.loadAvg?.before[0])} | ${v} |`,
    );
  }
  L.push(
    '',
    '| pair | backup enc/plain | backup CPU enc/plain | restore enc/plain | restore without integrity check | restore CPU |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const p of results.pairs)
    L.push(
      `| ${p.index + 1} | ${f(p.backupWall, 3)}${p.disturbed ? ' (disturbed)' : ''} | ${f(p.backupCpu, 3)} | ${f(p.restoreWall, 3)}${p.restoreDisturbed ? ' (disturbed)' : ''} | ${f(p.restoreNoCheck, 3)} | ${f(p.restoreCpu, 3)} |`,
    );
  const m = s.medianRatio;
  L.push('', `| median | plain | encrypted | ratio (median of pairs) |`, '| --- | ---: | ---: | ---: |');
  const bm = s.byMode;
  L.push(`| backup | ${f(bm.plain.backupWallS)} s | ${f(bm.encrypted.backupWallS)} s | ${f(m.backupWall, 3)} (${pct(m.backupWall)}) |`);
  L.push(`| backup CPU | ${f(bm.plain.backupCpuS)} s | ${f(bm.encrypted.backupCpuS)} s | ${f(m.backupCpu, 3)} (${pct(m.backupCpu)}) |`);
  L.push(`| stored | ${fmtBytes(bm.plain.storedBytes)} | ${fmtBytes(bm.encrypted.storedBytes)} | ${f(m.stored, 4)} |`);
  L.push(`| restore | ${f(bm.plain.restoreWallS)} s | ${f(bm.encrypted.restoreWallS)} s | ${f(m.restoreWall, 3)} (${pct(m.restoreWall)}) |`);
  L.push(
    `| restore without integrity check | ${f(bm.plain.restoreNoCheckS)} s | ${f(bm.encrypted.restoreNoCheckS)} s | ${f(m.restoreNoCheck, 3)} (${pct(m.restoreNoCheck)}) |`,
  );
  L.push(`| restore CPU | ${f(bm.plain.restoreCpuS)} s | ${f(bm.encrypted.restoreCpuS)} s | ${f(m.restoreCpu, 3)} (${pct(m.restoreCpu)}) |`);
  L.push(
    '',
    `Backup ratio over ${s.pairsUsed.backup} of ${s.pairsUsed.of} pairs (spread ${s.ratioSpread.backupWall?.map((x) => f(x, 3)).join('–') ?? '–'}); target ≤ ${TARGET_RATIO}: **${s.target.met == null ? 'n/a' : s.target.met ? 'met' : 'MISSED'}**. All restores verified: ${s.verified ? 'yes' : '**NO**'}.`,
  );
  if (results.cipher) {
    L.push('', '| alone, in one process | throughput | CPU |', '| --- | ---: | ---: |');
    for (const [k, v] of Object.entries(results.cipher)) L.push(`| ${k} | ${v.mibPerS ?? '–'} MiB/s | ${f(v.cpuS)} s for ${fmtBytes(results.cipherBytes)} |`);
  }
  L.push(...noiseLines(results.noise, 'their pairs are left out of the median ratios when undisturbed pairs exist'));
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

if (args.report) {
  console.log(report(JSON.parse(fs.readFileSync(args.report, 'utf8'))));
  process.exit(0);
}
if (!fs.existsSync(CLI)) usageError(new Error(`${CLI} is missing: build the CLI first (npx tsc -b)`));

const data = prepareData({ bot: BOT, targetBytes, seed: args.seed, regenerate: args.fresh });
fs.mkdirSync(EWORK, { recursive: true });
const keys = makeKeys(path.join(EWORK, 'keys'));
log('fingerprinting the generated bot (untimed) …');
const expected = { fingerprint: fingerprint(BOT) };

// Not measure.mjs's resultsHeader: its version probes need restic and borg, which this benchmark does not use.
const git = (...argv) => run('git', ['-C', ROOT, ...argv], { allowFail: true }).stdout.trim() || null;
const results = {
  date: new Date().toISOString(),
  size: SIZE,
  command: `node bench/encryption.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  versions: {
    node: process.version,
    openssl: process.versions.openssl,
    botbackupGit: git('describe', '--always', '--dirty'),
    botbackupCommit: git('rev-parse', 'HEAD'),
  },
  settings: {
    seed: args.seed,
    repeat: args.repeat,
    order: args.order,
    compression: 'zstd 3',
    skipRestore: args['skip-restore'],
    quietWaitS: args['quiet-wait-s'],
  },
};
results.cli = path.relative(ROOT, CLI);
results.build = { atStart: buildFingerprint() };
results.data = { ...data, treeBytes: treeBytes(BOT) - treeBytes(path.join(BOT, STAMP)) };
results.loadAvgAtStart = load();
results.runs = [];

let order = 0;
for (let i = 0; i < args.repeat; i++) {
  const modes = args.order === 'abba' && i % 2 === 1 ? [...MODES].reverse() : MODES;
  for (const mode of modes) results.runs.push({ order: ++order, ...(await oneRun(mode, i, keys, expected)) });
}
results.cacheDropped = cacheDropWorks === true;

// Every restore, plain or encrypted, must give the database the plain backups recorded.
const plainSha = [...new Set(results.runs.filter((r) => r.mode === 'plain' && r.dbSha256).map((r) => r.dbSha256))];
results.plainManifestDbSha256 = plainSha;
for (const r of results.runs) if (r.verify) r.verify.matchesPlainManifest = plainSha.length === 1 && r.verify.restoredDbSha256 === plainSha[0];

if (!args['skip-cipher']) {
  results.cipherBytes = 1024 ** 3;
  results.cipher = await cipherRuns(results.cipherBytes);
}
Object.assign(results, summarizeRuns(results.runs));
results.noise = noise;
results.loadAvgAtEnd = load();
results.build.atEnd = buildFingerprint();
results.build.sameThroughout = results.build.atEnd.sha256 === results.build.atStart.sha256;
if (!results.build.sameThroughout) log('the CLI was rebuilt during the run (packages/*/dist changed): runs may have measured different builds');

fs.mkdirSync(path.join(BENCH, 'results'), { recursive: true });
const file = path.join(BENCH, 'results', `${results.date.slice(0, 10)}-encryption${SIZE === '1GiB' ? '' : `-${SIZE}`}.json`);
fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
log(`raw results: ${path.relative(ROOT, file)}`);
console.log(report(results));
if (!results.summary.verified) process.exitCode = 1;
