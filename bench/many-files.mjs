#!/usr/bin/env node
// Benchmark of big bot folders (issue 15): a bot folder of N small files (default 1,000,000) is
// backed up, listed and restored, each command under /usr/bin/time -v for its peak RSS and wall
// time. `list` is measured with the catalog holding summaries of M backups of that folder
// (default 100): the manifest of the real backup is copied under M-1 more ids (its `id` field
// rewritten; the repository is unsigned), because M real backups of a million files would take
// hours and M × 200 MB of storage. The first `list` after that reads and summarizes every
// manifest (a "cold" sync, also measured); the next ones read none ("warm"). Separately, M real
// backups of a folder of --small-files files are made and listed, cold and warm.
// See "Big bot folders" in docs/benchmarks.md.
//
// Usage: npm run bench:many-files -- [--files N] [--backups M] [--small-files K] [--skip cold-list,small,restore] [--keep]
//
// Work files go to bench/.work/many-files/ (gitignored); raw results to
// bench/results/<date>-many-files-<N>.json.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, fmtBytes } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.resolve(process.env.BOTBACKUP_CLI ?? path.join(ROOT, 'packages/cli/dist/bin.js'));
const TARGET = { rssBytes: 300 * 1024 ** 2, listSeconds: 1 };

const args = commandLine('bench:many-files').parse({
    files: { type: 'number', default: 1_000_000 },
    backups: { type: 'number', default: 100 },
    'small-files': { type: 'number', default: 1000 },
    'file-bytes': { type: 'number', default: 64 },
    skip: { default: '' },
    keep: { type: 'boolean', default: false },
    'timeout-min': { type: 'number', default: 60 },
    work: { default: path.join(ROOT, 'bench/.work/many-files') },
  });
if (args.help) {
  console.log(`usage: npm run bench:many-files -- [options]
  --files N          small files in the big bot folder (default 1000000)
  --backups M        backups the catalog holds when list is measured (default 100)
  --small-files K    files of the folder backed up M times for real (default 1000)
  --file-bytes B     size of each file (default 64)
  --skip a,b         skip some of: cold-list, small, restore
  --keep             keep bench/.work/many-files afterwards
  --timeout-min N    per-command timeout (default 60)`);
  process.exit(0);
}
const skip = new Set(String(args.skip).split(',').filter(Boolean));
if (!fs.existsSync('/usr/bin/time')) {
  console.error('bench:many-files needs GNU time (/usr/bin/time -v): apt-get install time');
  process.exit(2);
}
if (!fs.existsSync(CLI)) {
  console.error(`bench:many-files: ${CLI} is missing; build first (npx turbo run build)`);
  process.exit(2);
}

const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

/** A folder of `count` files of `bytes` bytes, 1000 per sub-folder, plus a config file. */
function generate(root, count, bytes) {
  const marker = path.join(root, '.generated');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === `${count} ${bytes}`) return;
  fs.rmSync(root, { recursive: true, force: true });
  const pad = 'x'.repeat(Math.max(0, bytes - 40));
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, 'state', `d${String(Math.floor(i / 1000)).padStart(4, '0')}`);
    if (i % 1000 === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${String(i).padStart(7, '0')}.json`), `{"i":${i},"pad":"${pad}"}\n`.slice(0, Math.max(bytes, 12)));
    if (i % 100_000 === 99_999) log(`  ${i + 1} files`);
  }
  fs.mkdirSync(path.join(root, 'config'), { recursive: true });
  fs.writeFileSync(path.join(root, 'config/bot.json'), '{"exchange":"binance"}\n');
  fs.writeFileSync(marker, `${count} ${bytes}`);
}

function writeConfig(dir, root, repo) {
  const file = path.join(dir, 'botbackup.yaml');
  fs.writeFileSync(
    file,
    `version: 1
sources:
  - id: bigbot
    root: ${JSON.stringify(root)}
    files:
      - { kind: config, include: ["config/**"] }
      - { kind: other, include: ["state/**"] }
storage:
  - { name: local, type: local, path: ${JSON.stringify(repo)} }
catalog: ${JSON.stringify(path.join(dir, 'catalog.sqlite'))}
compression: { codec: zstd }
`,
  );
  return file;
}

/** Runs the CLI under /usr/bin/time -v: wall seconds, peak RSS bytes, stdout. */
function measured(label, config, cliArgs) {
  const result = spawnSync('/usr/bin/time', ['-v', process.execPath, CLI, '--config', config, ...cliArgs], {
    encoding: 'utf8',
    maxBuffer: 1024 ** 3,
    timeout: args['timeout-min'] * 60_000,
  });
  const stderr = result.stderr ?? '';
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  const cpuSeconds = Number(/User time \(seconds\): ([\d.]+)/.exec(stderr)?.[1]) + Number(/System time \(seconds\): ([\d.]+)/.exec(stderr)?.[1]);
  const exit = result.status;
  const out = { label, command: `botbackup ${cliArgs.join(' ')}`, exit, seconds, cpuSeconds, rssBytes: rssKb * 1024 };
  log(`${label}: exit ${exit}, ${seconds.toFixed(2)} s (CPU ${cpuSeconds.toFixed(2)} s), peak RSS ${fmtBytes(out.rssBytes)}`);
  if (exit !== 0) log(stderr.split('\n').filter((l) => !/^\s/.test(l) || /error/i.test(l)).slice(-15).join('\n'));
  return { ...out, stdout: result.stdout ?? '' };
}

function dirBytes(dir) {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

const work = args.work;
fs.mkdirSync(work, { recursive: true });
const results = { date: new Date().toISOString(), host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memBytes: os.totalmem(), node: process.version }, args, runs: [] };
const keep = (r) => {
  const { stdout: _s, ...rest } = r;
  results.runs.push(rest);
  fs.writeFileSync(path.join(work, 'partial-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  return r;
};

// 1. The big folder: backup, list (cold and warm with M summaries), restore.
const big = path.join(work, `bot-${args.files}`);
log(`generating ${args.files} files of ${args['file-bytes']} B in ${big}`);
generate(big, args.files, args['file-bytes']);
const bigDir = path.join(work, 'big');
fs.rmSync(bigDir, { recursive: true, force: true });
fs.mkdirSync(bigDir, { recursive: true });
const bigRepo = path.join(bigDir, 'repo');
const bigConfig = writeConfig(bigDir, big, bigRepo);
const backup = keep(measured(`backup of ${args.files} files`, bigConfig, ['--json', 'backup']));
if (backup.exit !== 0) process.exit(1);
const backupId = JSON.parse(backup.stdout).id;
const manifestFile = path.join(bigRepo, 'manifests/bigbot', `${backupId}.json`);
results.manifestBytes = fs.statSync(manifestFile).size;
const fileList = JSON.parse(fs.readFileSync(manifestFile, 'utf8')).objects.find((o) => o.role === 'file-list');
results.fileListBytes = fileList ? fileList.size : null;
log(`manifest: ${fmtBytes(results.manifestBytes)}; file list: ${fileList ? fmtBytes(fileList.size) : 'none (schema 3)'}`);
results.catalogBytesAfterBackup = fs.statSync(path.join(bigDir, 'catalog.sqlite')).size;

if (!skip.has('restore')) {
  const target = path.join(bigDir, 'restored');
  const restore = keep(measured(`restore of ${args.files} files`, bigConfig, ['restore', backupId, '--target', target]));
  if (restore.exit === 0) {
    results.restoredBytes = dirBytes(target);
    // Every file came back (the folder's N files, its config file and the generator's marker are not all backed up: N + 1).
    results.restoredFiles = Number(execFileSync('sh', ['-c', 'find "$1" -type f | wc -l', 'sh', target], { encoding: 'utf8' }).trim());
    log(`restored ${results.restoredFiles} files`);
  }
  fs.rmSync(target, { recursive: true, force: true });
}

// M-1 copies of the manifest under other ids (same time, later random part), so the catalog
// has M backups of a million files each.
const text = fs.readFileSync(manifestFile, 'utf8');
const idField = `"id": ${JSON.stringify(backupId)}`;
if (!text.includes(idField)) throw new Error('the manifest does not hold its id as expected');
for (let i = 1; i < args.backups; i++) {
  const id = `${backupId.slice(0, -10)}${`copy${String(i).padStart(6, '0')}`.slice(-10)}`;
  fs.writeFileSync(path.join(bigRepo, 'manifests/bigbot', `${id}.json`), text.replace(idField, `"id": ${JSON.stringify(id)}`));
}
if (!skip.has('cold-list')) keep(measured(`list, cold: ${args.backups} manifests of ${args.files} files to read`, bigConfig, ['list']));
else {
  // Fill the catalog without measuring (the same sync).
  measured('list, cold (not recorded)', bigConfig, ['list']);
}
for (let i = 1; i <= 3; i++) keep(measured(`list, warm #${i}: ${args.backups} backups of ${args.files} files`, bigConfig, ['list']));
keep(measured(`list --json, warm: ${args.backups} backups of ${args.files} files`, bigConfig, ['--json', 'list']));
results.catalogBytesWithSummaries = fs.statSync(path.join(bigDir, 'catalog.sqlite')).size;
log(`catalog with ${args.backups} summaries: ${fmtBytes(results.catalogBytesWithSummaries)}`);

// 2. M real backups of a smaller folder, then list.
if (!skip.has('small')) {
  const small = path.join(work, `bot-${args['small-files']}`);
  generate(small, args['small-files'], args['file-bytes']);
  const smallDir = path.join(work, 'small');
  fs.rmSync(smallDir, { recursive: true, force: true });
  fs.mkdirSync(smallDir, { recursive: true });
  const smallConfig = writeConfig(smallDir, small, path.join(smallDir, 'repo'));
  log(`${args.backups} real backups of ${args['small-files']} files`);
  for (let i = 0; i < args.backups; i++) {
    const r = spawnSync(process.execPath, [CLI, '--config', smallConfig, 'backup'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`backup ${i} failed: ${r.stderr}`);
  }
  fs.rmSync(path.join(smallDir, 'catalog.sqlite'), { force: true });
  fs.rmSync(path.join(smallDir, 'catalog.sqlite-wal'), { force: true });
  fs.rmSync(path.join(smallDir, 'catalog.sqlite-shm'), { force: true });
  keep(measured(`list, cold: ${args.backups} real backups of ${args['small-files']} files`, smallConfig, ['list']));
  keep(measured(`list, warm: ${args.backups} real backups of ${args['small-files']} files`, smallConfig, ['list']));
}

const file = path.join(ROOT, 'bench/results', `${new Date().toISOString().slice(0, 10)}-many-files-${args.files}.json`);
fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\n| step | exit | wall | CPU (user+sys) | peak RSS | within ${fmtBytes(TARGET.rssBytes)} |`);
console.log('|---|---|---|---|---|---|');
for (const r of results.runs) console.log(`| ${r.label} | ${r.exit} | ${r.seconds.toFixed(2)} s | ${r.cpuSeconds.toFixed(2)} s | ${fmtBytes(r.rssBytes)} | ${r.rssBytes <= TARGET.rssBytes ? 'yes' : 'no'} |`);
console.log(`\nmanifest ${fmtBytes(results.manifestBytes)}, file list ${results.fileListBytes === null ? '-' : fmtBytes(results.fileListBytes)}; catalog after the backup ${fmtBytes(results.catalogBytesAfterBackup)}, with ${args.backups} summaries ${fmtBytes(results.catalogBytesWithSummaries)}`);
console.log(`raw results: ${path.relative(ROOT, file)}`);
if (!args.keep) fs.rmSync(path.join(work, 'big'), { recursive: true, force: true });
