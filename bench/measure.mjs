// Measuring commands on a machine that may be shared, for the benchmark scripts (run.mjs,
// incremental.mjs): run a command under GNU time (wall time, peak RSS, CPU), drop the page cache
// and wait for a quiet CPU before each step, notice steps other processes disturbed, and the
// restic, borg and botbackup set-up the scripts share. Node and better-sqlite3 only.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { GENERATOR_VERSION, STAMP, generate } from './generate.mjs';
import { sizeLabel } from './lib.mjs';

export const BENCH = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH, '..');
/** The bot's database inside a generated bot folder. */
export const DB_REL = 'data/trades.db';

/**
 * What the calling script's options set: the per-command time limit and how long to wait for a
 * quiet machine before each step (run.mjs's --timeout-min and --quiet-wait-s).
 */
export const settings = { timeoutMs: 30 * 60_000, quietWaitS: 60 };
export function configure(opts) {
  Object.assign(settings, opts);
}

// ---------------------------------------------------------------------------------------------
// Process helpers

export const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const round = (v, d = 2) => (v === null || v === undefined ? null : Number(v.toFixed(d)));

/** Runs a command to completion (setup, versions, sync); throws with its stderr if it fails. */
export function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r;
}

/**
 * Runs one measured command under GNU time (peak RSS via %M, in KiB; for `sh -c` pipelines it is
 * the largest process of the pipeline, as wait4's rusage reports). The command runs in its own
 * process group so that a timeout kills the whole pipeline, not only /usr/bin/time.
 */
export function timed(cmd, argv, { cwd = ROOT, env = process.env, timeoutMs = settings.timeoutMs } = {}) {
  const rssFile = path.join(os.tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const cpu0 = cpuBusyS();
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, cmd, ...argv], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    // GNU time's peak RSS counts the pages of files a process maps (botbackup maps the database
    // while quick_check reads it): page cache, which read() would fill as well without counting
    // it. So the process tree's anonymous memory (RssAnon) is sampled too, every 100 ms.
    let peakAnonKiB = 0;
    const sampler = setInterval(() => {
      peakAnonKiB = Math.max(peakAnonKiB, treeAnonKiB(child.pid));
    }, 100);
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.on('data', (d) => { if (stdout.length < 16 << 20) stdout += d; });
    child.stderr.on('data', (d) => { if (stderr.length < 1 << 20) stderr += d; });
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(sampler);
      const seconds = (performance.now() - t0) / 1000;
      const busyS = cpuBusyS() - cpu0;
      let peakRssKiB = null, ownCpuS = null;
      // Empty when the timeout killed /usr/bin/time along with the command.
      const m = /^(\d+) ([\d.]+) ([\d.]+)$/m.exec(fs.readFileSync(rssFile, { encoding: 'utf8', flag: 'a+' }));
      if (m) {
        peakRssKiB = Number(m[1]);
        ownCpuS = Number(m[2]) + Number(m[3]);
      }
      fs.rmSync(rssFile, { force: true });
      // CPU the whole machine spent during the step beyond what the command itself used: other
      // processes (a concurrent build), plus a little kernel writeback on the command's behalf.
      const foreignCpuS = ownCpuS === null ? null : Math.max(0, busyS - ownCpuS);
      resolve({ ok: code === 0 && !timedOut, code, signal, timedOut, seconds, peakRssKiB, peakAnonKiB: peakAnonKiB || null, ownCpuS, foreignCpuS, stdout, stderr });
    });
  });
}

/** Sum of RssAnon (KiB) over a process and its descendants, from /proc; 0 once they are gone. */
function treeAnonKiB(pid) {
  let total = 0;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    total += Number(/^RssAnon:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      for (const child of fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += treeAnonKiB(Number(child));
    }
  } catch {
    // the process ended meanwhile
  }
  return total;
}

/** `sync -f` flushes the file system holding `dir`; timed so that every tool pays for durability. */
export function syncFs(dir) {
  const t0 = performance.now();
  run('sync', ['-f', dir]);
  return (performance.now() - t0) / 1000;
}

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
/**
 * The machine's CPU seconds since boot, all cores: busy in processes (user, nice, system), and in
 * total. Interrupt and softirq time (the kernel handling our own disk I/O) and steal time are not
 * "busy": no other process of this machine can be behind them.
 */
export function procStat() {
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { busy: (f[0] + f[1] + f[2]) / CLK_TCK, total: f.reduce((a, b) => a + b, 0) / CLK_TCK };
}
export const cpuBusyS = () => procStat().busy;

/** Share of the machine's CPU that was busy over the next `ms`. */
export async function cpuBusyPct(ms) {
  const a = procStat();
  await sleep(ms);
  const b = procStat();
  return b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : 0;
}

/**
 * Everything here is timed on a machine that may be shared (another build or test run): before
 * each step, wait (up to --quiet-wait-s) for the CPU to be idle, and record when it was not, so
 * that a noisy result can be told from a real one.
 */
export const noise = { steps: 0, busySteps: 0, maxBusyPct: 0, waitedS: 0, disturbed: [] };
/**
 * Notes (and returns whether) a measured phase during which other processes used more than
 * ~5 % of the machine; such runs are left out of the medians when cleaner ones exist.
 */
export function noteForeign(label, phase) {
  const f = phase.foreignCpuS;
  if (f === null || f === undefined) return false;
  if (f <= Math.max(0.5, 0.05 * os.cpus().length * phase.wallS)) return false;
  noise.disturbed.push({ phase: label, foreignCpuS: f, wallS: phase.wallS });
  log(`${label}: other processes used ${f} CPU-seconds during this ${phase.wallS}s step: result disturbed`);
  return true;
}
export async function waitQuiet() {
  const limit = settings.quietWaitS * 1000;
  const t0 = performance.now();
  let pct = await cpuBusyPct(1000);
  if (pct >= 15) log(`other processes use ${pct.toFixed(0)} % CPU; waiting up to ${settings.quietWaitS} s for a quiet machine …`);
  while (pct >= 15 && performance.now() - t0 < limit) pct = await cpuBusyPct(2000);
  noise.steps++;
  noise.waitedS = round(noise.waitedS + (performance.now() - t0) / 1000, 1);
  if (pct >= 15) {
    noise.busySteps++;
    noise.maxBusyPct = Math.max(noise.maxBusyPct, Math.round(pct));
    log(`still ${pct.toFixed(0)} % busy: measuring anyway (noted in the results)`);
  }
}

/** Before every measured step: flush, wait for other load to pass, then empty the page cache. */
export async function beforeStep() {
  run('sync', []);
  await waitQuiet();
  dropCaches();
}

export let cacheDropWorks = null;
/**
 * Cold page cache before each measured step, so no tool profits from another having just read
 * the data. Needs root; when it fails every step runs warm and the results say so.
 */
export function dropCaches() {
  run('sync', []);
  if (cacheDropWorks === false) return false;
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    cacheDropWorks = true;
  } catch (err) {
    cacheDropWorks = false;
    log(`cannot drop the page cache (${err.code}); all steps run with a warm cache`);
  }
  return cacheDropWorks;
}

/** Apparent size of everything under `p`, like `du -sb` but without depending on du's flags. */
export function treeBytes(p) {
  let st;
  try { st = fs.lstatSync(p); } catch { return 0; }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of fs.readdirSync(p)) total += treeBytes(path.join(p, e));
  return total;
}

export function listFiles(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

export const sha256 = (file) => run('sha256sum', [file]).stdout.split(' ')[0];
export const rmrf = (p) => fs.rmSync(p, { recursive: true, force: true });
export const fresh = (p) => { rmrf(p); fs.mkdirSync(p, { recursive: true }); return p; };
/** The runs no other process disturbed, or all of them when every one was: what a median is taken of. */
export function undisturbed(runs) {
  const clean = runs.filter((r) => !r.disturbed);
  return clean.length > 0 ? clean : runs;
}

export const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** Parses a command's JSON output: the whole stdout, or else its last line that is JSON. */
export function parseJsonOutput(stdout) {
  try { return JSON.parse(stdout); } catch { /* fall through */ }
  for (const line of stdout.trim().split('\n').reverse()) {
    try { return JSON.parse(line); } catch { /* keep looking */ }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Environment

/** Installs (bench/setup.sh) what is missing of the tools; `skip` names tools a run leaves out (borg). */
export function ensureTools(skip = new Set()) {
  const missing = ['restic', 'borg', 'zstd', 'sqlite3', 'tar', 'sha256sum'].filter((t) => !skip.has(t)).filter((t) => run('sh', ['-c', `command -v ${t}`], { allowFail: true }).status !== 0);
  if (!fs.existsSync('/usr/bin/time')) missing.push('time');
  if (missing.length === 0) return;
  log(`missing tools: ${missing.join(', ')}; running bench/setup.sh`);
  run('sh', [path.join(BENCH, 'setup.sh')], { stdio: 'inherit' });
}

export function versions() {
  const first = (cmd, argv) => {
    let r;
    try { r = run(cmd, argv, { allowFail: true }); } catch { return null; /* not installed (a skipped borg) */ }
    return (r.stdout || r.stderr || '').trim().split('\n')[0] || null;
  };
  const probe = new Database(':memory:');
  const v = {
    node: process.version,
    restic: first('restic', ['version']),
    borg: first('borg', ['--version']),
    zstd: first('zstd', ['--version']),
    sqlite3Cli: first('sqlite3', ['--version'])?.split(' ').slice(0, 2).join(' '),
    betterSqlite3Sqlite: probe.prepare('SELECT sqlite_version()').pluck().get(),
    tar: first('tar', ['--version']),
    sha256sum: first('sha256sum', ['--version']),
    botbackupGit: first('git', ['-C', ROOT, 'describe', '--always', '--dirty']),
  };
  probe.close();
  return v;
}

export function machine() {
  const cpu = os.cpus();
  return {
    cpu: cpu[0]?.model ?? null,
    cores: cpu.length,
    memGiB: round(os.totalmem() / 1024 ** 3, 1),
    kernel: os.release(),
    // findmnt names ext4 as such; `stat -f` says "ext2/ext3" for all three.
    fs: run('findmnt', ['-no', 'FSTYPE', '-T', BENCH], { allowFail: true }).stdout.trim() || null,
  };
}
// ---------------------------------------------------------------------------------------------
// Data

/**
 * Generates the bot folder `bot` unless a complete, matching copy is already there (generation
 * is deterministic, so a matching copy is the same bytes).
 */
export function prepareData({ bot, targetBytes, seed, regenerate = false }) {
  let stamp = null;
  try { stamp = JSON.parse(fs.readFileSync(path.join(bot, STAMP), 'utf8')); } catch { /* none */ }
  const reusable = !regenerate && stamp?.complete && stamp.generatorVersion === GENERATOR_VERSION && stamp.targetBytes === targetBytes &&
    stamp.seed === seed && fs.existsSync(path.join(bot, DB_REL)) && fs.statSync(path.join(bot, DB_REL)).size === stamp.dbBytes;
  if (reusable) {
    log(`reusing generated data in ${path.relative(ROOT, bot)} (--fresh to regenerate)`);
    return { ...stamp, reused: true };
  }
  log(`generating ${sizeLabel(targetBytes)} of bot data in ${path.relative(ROOT, bot)} …`);
  const info = generate({ size: String(targetBytes), out: bot, seed });
  log(`generated in ${info.seconds}s`);
  return { ...info, reused: false };
}

/**
 * How the sqlite3 CLI should open `db` to read it without leaving a trace: immutable=1 takes no
 * locks and leaves no -wal/-shm beside the database (a read-only open of a WAL database creates
 * both, better-sqlite3's too: they would then be backed up, or make the generated bot look used).
 * It ignores a WAL, though: beside a non-empty one the file is opened normally.
 */
function sqliteTarget(db) {
  const wal = `${db}-wal`;
  if (fs.existsSync(wal) && fs.statSync(wal).size > 0) return db;
  return `file:${encodeURI(path.resolve(db)).replaceAll('?', '%3F').replaceAll('#', '%23')}?immutable=1`;
}

/** Runs SQL on `db` with the sqlite3 CLI (see sqliteTarget); its output lines. */
function sqliteQuery(db, sql) {
  return run('sqlite3', ['-bail', sqliteTarget(db), sql]).stdout.trim().split('\n');
}

/**
 * sha256 of `sqlite3 <db> .dump`: the database's content as SQL text, which two files of the same
 * content share even where their bytes differ (header counters, free pages). Streamed from the
 * sqlite3 CLI through sha256sum, so the dump of a 4 GiB database (several GiB of text) is never
 * held in memory. `{ sha256 }`, or `{ sha256: null, error }` when sqlite3 could not read it.
 */
export function dumpSha256(db) {
  const r = run('bash', ['-c', 'set -o pipefail; sqlite3 -bail "$1" .dump | sha256sum', 'dump', sqliteTarget(db)], { allowFail: true });
  // A damaged database makes .dump report on stderr (and sometimes still exit 0): not a match.
  if (r.status !== 0 || r.stderr.trim()) return { sha256: null, error: `sqlite3 .dump exited ${r.status}: ${r.stderr.trim().slice(-400)}` };
  return { sha256: r.stdout.split(' ')[0] };
}

/**
 * What a correct restore must reproduce: each file's hash, the DB's last row ids, its bytes' sha256
 * and the sha256 of its `.dump` (see dumpSha256; for a 1 GiB database some 20 s, untimed).
 */
export function fingerprint(root) {
  const files = {};
  for (const f of listFiles(root)) if (f !== DB_REL && f !== STAMP && !f.startsWith(`${DB_REL}-`)) files[f] = sha256(path.join(root, f));
  const tables = ['deals', 'orders', 'tickers'];
  const ids = sqliteQuery(path.join(root, DB_REL), tables.map((t) => `SELECT max(id) FROM ${t};`).join(' '));
  const lastIds = Object.fromEntries(tables.map((t, i) => [t, Number(ids[i])]));
  const dump = dumpSha256(path.join(root, DB_REL));
  return { files, lastIds, dbSha256: sha256(path.join(root, DB_REL)), dbDumpSha256: dump.sha256, ...(dump.error ? { dbDumpError: dump.error } : {}) };
}

/**
 * Checks a restored tree against the original (outside the timings). Exactness: the restored
 * database's `.dump` must equal the source's, always, so that a fast wrong answer cannot pass.
 * Besides, its bytes are compared; snapshot-based tools may write a DB that differs byte-wise
 * from the live file (header counters), and for them the last row ids and quick_check are
 * reported too. Every other file must have the original's sha256.
 */
export function verifyRestore(target, expected) {
  const found = listFiles(target).find((f) => f === DB_REL || f.endsWith(`/${DB_REL}`));
  if (!found) return { ok: false, dbCheck: 'missing', missing: [DB_REL], differing: [], problems: [`no ${DB_REL} under the restore target`] };
  const root = path.join(target, found.slice(0, -DB_REL.length));
  const got = fingerprint(root);
  const missing = Object.keys(expected.files).filter((f) => !(f in got.files));
  const differing = Object.keys(expected.files).filter((f) => f in got.files && got.files[f] !== expected.files[f]);
  const dbProblems = [];
  if (!expected.dbDumpSha256) dbProblems.push(`cannot check: the source's .dump failed (${expected.dbDumpError ?? 'no dump in the fingerprint'})`);
  else if (!got.dbDumpSha256) dbProblems.push(`the restored database cannot be dumped: ${got.dbDumpError}`);
  else if (got.dbDumpSha256 !== expected.dbDumpSha256) dbProblems.push(`.dump DIFFERS from the source's (sha256 ${got.dbDumpSha256} instead of ${expected.dbDumpSha256})`);
  let dbCheck = dbProblems.length ? 'WRONG' : '.dump equal';
  if (got.dbSha256 === expected.dbSha256) dbCheck += ', identical bytes';
  else {
    const sameIds = JSON.stringify(got.lastIds) === JSON.stringify(expected.lastIds);
    const quick = sqliteQuery(path.join(root, DB_REL), 'PRAGMA quick_check;').join('; ');
    dbCheck += `, other bytes (last ids ${sameIds ? 'match' : 'DIFFER'}, quick_check ${quick})`;
    if (!sameIds || quick !== 'ok') dbProblems.push(`last ids ${sameIds ? 'match' : 'DIFFER'}, quick_check ${quick}`);
  }
  // botbackup leaves out logs older than its logMaxAge (7 days by default): logs/old.log is 30 days old.
  const problems = [...missing.map((f) => `missing ${f}`), ...differing.map((f) => `differs ${f}`), ...dbProblems.map((p) => `database: ${p}`)];
  return { ok: problems.length === 0 || problems.every((p) => p === 'missing logs/old.log'), dbCheck, missing, differing, problems };
}

// ---------------------------------------------------------------------------------------------
// Tools. Each backs up a whole bot folder into a fresh repository and restores it again.

export const resticEnv = (w) => ({ ...process.env, RESTIC_REPOSITORY: path.join(w, 'restic-repo'), RESTIC_PASSWORD: 'bench-password', RESTIC_CACHE_DIR: path.join(w, 'restic-cache') });
export const borgEnv = (w) => ({
  ...process.env, BORG_REPO: path.join(w, 'borg-repo'), BORG_BASE_DIR: path.join(w, 'borg-base'),
  BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
});

/**
 * A hand-written botbackup config, for bench/encryption.mjs, which compares plain and encrypted
 * backups made with the same keys (run.mjs and incremental.mjs use initBotbackup). Without `encryption` the secret file set is stored in
 * plaintext, which the engine refuses unless the source says `allowPlaintextSecrets: true`.
 * With `encryption` ({ recipients, keyFile, trusted }: from `botbackup keygen` and
 * `keygen --worker`) every object is an age file and the manifest is signed (bench/encryption.mjs).
 */
export function botbackupConfig(botDir, repoDir, file, encryption = null) {
  // Paths as JSON strings, which YAML reads as double-quoted scalars: safe with any character.
  const q = JSON.stringify;
  const security = encryption
    ? `encryption:
  recipients: ${q(encryption.recipients)}
signing:
  keyFile: ${q(encryption.keyFile)}
  trusted: ${q(encryption.trusted)}
`
    : '';
  fs.writeFileSync(file, `version: 1
sources:
  - id: benchbot
    root: ${q(botDir)}
    databases:
      - path: ${DB_REL}
    files:
      - { kind: config, include: ["config/**/*.json"] }
      - { kind: secret, include: [".env", "keys/*.key"] }
      - { kind: log, include: ["logs/*.log"] }
${encryption ? '' : '    allowPlaintextSecrets: true\n'}storage:
  - { name: local, type: local, path: ${q(repoDir)} }
compression: { codec: zstd, level: 3 }
${security}`);
  return file;
}

/**
 * The environment botbackup runs in for a benchmark: its local catalog (XDG_STATE_HOME) in `dir`,
 * so that no catalog of an earlier run (or of the user's own backups) is read or grown, and no
 * identity or config from the caller's environment.
 */
export function botbackupEnv(dir) {
  const env = { ...process.env, XDG_STATE_HOME: fresh(path.join(dir, 'state')) };
  delete env.BOTBACKUP_IDENTITY_FILE;
  delete env.BOTBACKUP_CONFIG;
  return env;
}

/**
 * botbackup's config as a user gets it: written by `botbackup init <botDir>` (untimed) into the
 * folder `dir`, which it empties first: what init finds in the bot folder, encrypted to a new age
 * identity and signed by a new worker key (both in `dir`/keys; the config's identityFile points
 * at the identity, so restore finds it), init's default compression. `plaintext` passes init's
 * --plaintext (no keys, secrets stored readable). Returns the config file and the environment
 * to run the CLI in (botbackupEnv).
 */
export function initBotbackup(cli, { botDir, repo, dir, plaintext = false }) {
  fresh(dir);
  const cfg = path.join(dir, 'botbackup.yaml');
  const env = botbackupEnv(dir);
  run(process.execPath, [cli, '--config', cfg, 'init', botDir, '--storage', repo, '--keys', path.join(dir, 'keys'), '--id', 'benchbot', ...(plaintext ? ['--plaintext'] : [])], { env });
  return { cfg, env };
}

/**
 * That a backup is what its config says: with `encrypted`, every data object its manifest (the
 * backup's --json output) lists starts with the age header line; without, none does. Throws
 * otherwise, since a benchmark of the wrong mode measures nothing it claims. Returns how many are.
 * The file list (files.ndjson[.zst|.gz], manifest schema 4) is left out: it is never encrypted
 * (paths, sizes and keyed hashes, as a manifest holds them: docs/format.md).
 */
export function checkEncrypted(repo, manifest, encrypted) {
  const keys = (manifest?.objects ?? []).map((o) => o.key).filter((k) => !/\/files\.ndjson(\.[a-z]+)?$/.test(k));
  const heads = keys.map((k) => {
    const fd = fs.openSync(path.join(repo, k), 'r');
    const buf = Buffer.alloc(21);
    fs.readSync(fd, buf, 0, 21, 0);
    fs.closeSync(fd);
    return buf.toString('latin1') === 'age-encryption.org/v1';
  });
  const ok = encrypted ? heads.every(Boolean) && heads.length > 0 : heads.every((h) => !h);
  if (!ok) throw new Error(`${encrypted ? 'encrypted' : 'plain'} backup: objects age-encrypted: ${JSON.stringify(Object.fromEntries(keys.map((k, i) => [k, heads[i]])))}`);
  return heads.filter(Boolean).length;
}

/** Sums a phase's steps; fails the phase if any step failed. */
export function summarize(phase, syncDir) {
  const steps = Object.values(phase.steps);
  const failed = Object.entries(phase.steps).find(([, s]) => !s.ok);
  const syncS = failed ? 0 : syncFs(syncDir);
  return {
    ok: !failed,
    error: failed ? `${failed[0]}: ${failed[1].timedOut ? 'timed out' : `exit ${failed[1].code}${failed[1].signal ? ` (${failed[1].signal})` : ''}`}: ${failed[1].stderr.trim().slice(-800)}` : undefined,
    wallS: round(steps.reduce((a, s) => a + s.seconds, 0) + syncS, 3),
    cpuS: steps.every((s) => s.ownCpuS !== null) ? round(steps.reduce((a, s) => a + s.ownCpuS, 0), 2) : null,
    syncS: round(syncS, 3),
    peakRssKiB: Math.max(0, ...steps.map((s) => s.peakRssKiB ?? 0)) || null,
    peakAnonKiB: Math.max(0, ...steps.map((s) => s.peakAnonKiB ?? 0)) || null,
    foreignCpuS: round(steps.reduce((a, s) => a + (s.foreignCpuS ?? 0), 0), 2),
    steps: Object.fromEntries(Object.entries(phase.steps).map(([k, s]) => [k, { ok: s.ok, seconds: round(s.seconds, 3), peakRssKiB: s.peakRssKiB, peakAnonKiB: s.peakAnonKiB, cpuS: round(s.ownCpuS, 2), foreignCpuS: round(s.foreignCpuS, 2), ...(s.json ? { json: s.json } : {}) }])),
    ...(phase.integrityS != null ? { integrityS: round(phase.integrityS, 3) } : {}),
    ...(phase.internalS != null ? { internalS: round(phase.internalS, 3) } : {}),
  };
}


/** Issue 18's memory target: /usr/bin/time's peak RSS of every botbackup step, flat across these sizes. */
export const RSS_TARGET = { mib: 150, flatFactor: 1.25, sizes: ['256MiB', '1GiB', '4GiB'] };

/**
 * The "flat from 256 MiB to 4 GiB" target: this run's peak RSS (MiB) against the latest result
 * file (bench/results/<date>-<name(size)>) of each other size of RSS_TARGET.sizes, whose peak
 * `peakOf(results)` reads (null: none). Flat: the largest ≤ flatFactor × the smallest, and all
 * within the limit. Null when this size is not one of them or no other size has a result yet.
 */
export function flatRssTarget(size, ownMiB, name, peakOf) {
  if (!RSS_TARGET.sizes.includes(size)) return null;
  const dir = path.join(BENCH, 'results');
  const peaks = { [size]: { mib: ownMiB, from: 'this run' } };
  for (const other of RSS_TARGET.sizes) {
    if (other === size || !fs.existsSync(dir)) continue;
    const file = fs.readdirSync(dir).filter((f) => f === `${f.slice(0, 10)}-${name(other)}` && /^\d{4}-\d{2}-\d{2}$/.test(f.slice(0, 10))).sort().pop();
    const mib = file ? peakOf(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))) : null;
    if (mib) peaks[other] = { mib, from: file };
  }
  const sizes = RSS_TARGET.sizes.filter((z) => peaks[z]);
  if (sizes.length < 2) return null;
  const v = sizes.map((z) => peaks[z].mib);
  return {
    name: `peak RSS flat from 256 MiB to 4 GiB (largest ≤ ${RSS_TARGET.flatFactor} × smallest, all ≤ ${RSS_TARGET.mib} MiB)`,
    pass: Math.max(...v) <= RSS_TARGET.flatFactor * Math.min(...v) && Math.max(...v) <= RSS_TARGET.mib,
    detail: sizes.map((z) => `${z} ${round(peaks[z].mib, 1)} MiB (${peaks[z].from})`).join(', '),
  };
}

/** The start of a results file: when, what size, the command line, the machine and tool versions. */
export function resultsHeader(script, size, settings) {
  return {
    date: new Date().toISOString(),
    size,
    command: `node bench/${script} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    versions: versions(),
    settings,
  };
}

/** The report's lines about other load on the machine; `disturbedNote` says what happened to disturbed steps. */
export function noiseLines(noise, disturbedNote) {
  const lines = [];
  if (noise?.busySteps) lines.push('', `**Noisy:** ${noise.busySteps} of ${noise.steps} steps started while other processes used up to ${noise.maxBusyPct} % CPU.`);
  if (noise?.disturbed?.length) {
    lines.push('', `**Disturbed** (${disturbedNote}): ${noise.disturbed.map((d) => `${d.phase} (${d.foreignCpuS} CPU-s in ${d.wallS} s)`).join(', ')}.`);
  }
  return lines;
}
