#!/usr/bin/env node
// Benchmark: upload and download throughput of S3Store against an S3-compatible server (s3rver,
// in its own process), compared with a plain PutObject / GetObject of the same bytes from the
// same process and an S3 client configured the same way, and (upload only) with a plain
// multipart upload by lib-storage's Upload with its defaults. Targets: S3Store within 1.3× of the
// plain calls; its upload at ≥ 0.8× the plain multipart upload's throughput (issue 18); its
// memory flat (streamed, never the whole object in a buffer). See "S3 throughput" in
// docs/benchmarks.md.
//
// Usage: npm run bench:s3 -- [--size 512MiB] [--rounds 3] [--part-size 8MiB] [--keep] …
//        (--help lists every option)
//
// Work files (the generated file, s3rver's data folder) go to a fresh folder bench/.work/s3-*
// (gitignored; on the repository's disk, where /tmp may be a RAM disk), removed at the end
// unless --keep; raw results to bench/results/<date>-s3-<size>.json.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3Store } from '@botbackup/storage';
import { fmtBytes, commandLine, parseSize, sizeLabel } from './lib.mjs';
import { BENCH, CLK_TCK, ROOT, beforeStep, cacheDropWorks, configure, cpuBusyS, log, machine, median, noise, noiseLines, noteForeign, round, run, undisturbed } from './measure.mjs';

const S3RVER_SCRIPT = path.join(ROOT, 'packages/storage/test/s3rver-process.mjs');
/** s3rver accepts only these credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
/**
 * The targets: S3Store within 1.3× of a plain PutObject / GetObject (the foundation issue's), and
 * issue 18's: S3Store's upload at ≥ 0.8× the throughput of a plain multipart upload of the same
 * bytes with the AWS SDK (lib-storage's `Upload` with its defaults, what a user of the SDK writes
 * for a stream), i.e. at most 1.25× its time.
 */
const TARGET = { ratio: 1.3, multipartThroughput: 0.8, rssBytes: 200e6, rssFlatFactor: 1.25 };
/** S3Store's own defaults (packages/storage/src/s3-store.ts), recorded with the results. */
const S3STORE_DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const S3STORE_QUEUE_SIZE = 2;
const OPS = ['upload', 'download'];
/** Per operation: a plain multipart upload is an upload only (its object is read back as GetObject reads any). */
const VARIANTS = { upload: ['s3store', 'plain', 'multipart'], download: ['s3store', 'plain'] };

const { usage: usageError, parse } = commandLine('bench:s3');
const args = parse({
    size: { default: '512MiB' },
    rounds: { type: 'number', default: 3 },
    'part-size': { default: undefined },
    keep: { type: 'boolean', default: false },
    'quiet-wait-s': { type: 'number', default: 60 },
    report: { default: undefined },
  });
if (args.help) {
  console.log(`usage: npm run bench:s3 -- [options]
  --size N              size of the object (default 512MiB; random bytes)
  --rounds N            rounds of (upload, download) per variant, alternating which goes first (default 3)
  --part-size N         S3Store's partSize option (default: S3Store's own, 8MiB)
  --keep                keep the work folder (bench/.work/s3-*: the file and s3rver's data)
  --quiet-wait-s N      before each step, wait up to N s for other CPU load to pass (default 60)
  --report FILE         only print the tables of a saved results file (bench/results/*-s3-*.json)`);
  process.exit(0);
}
let size, partSize;
try {
  size = parseSize(args.size);
  partSize = args['part-size'] === undefined ? undefined : parseSize(args['part-size']);
  if (!Number.isInteger(args.rounds) || args.rounds < 1) throw new Error('--rounds needs a positive whole number');
} catch (err) {
  usageError(err);
}
const SIZE = sizeLabel(size);
configure({ quietWaitS: args['quiet-wait-s'] });

// Every step starts from a collected heap, so that one step's garbage does not count as the next
// one's peak. gc() without --expose-gc on the command line: the flag set at run time is honoured
// by contexts created afterwards.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// ---------------------------------------------------------------------------------------------
// Memory and CPU of this process and of the server

const statusKiB = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/**
 * Resets this process's peak RSS (VmHWM) to its current RSS (Linux: "5" to clear_refs), so that
 * VmHWM after a step is that step's exact peak; when that is not allowed, the sampled maximum
 * (every 20 ms) stands in.
 */
let peakResetWorks = true;
function resetPeakRss() {
  if (!peakResetWorks) return;
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    peakResetWorks = false;
    log('cannot reset the peak RSS (/proc/self/clear_refs); peak RSS is sampled every 20 ms instead');
  }
}

/** CPU seconds (user + system, all threads) a process has used, from /proc/<pid>/stat. */
function processCpuS(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// s3rver in its own process (as packages/storage/test/s3rver.ts starts it)

async function startServer(dir) {
  // Its paginated listing needs --openssl-legacy-provider, which this process must not run with.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', S3RVER_SCRIPT, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const port = /^port (\d+)$/.exec(line)?.[1];
  if (!port) throw new Error(`s3rver said ${JSON.stringify(line)}, not "port N"`);
  return {
    pid: child.pid,
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Times every request a client sends (middleware around the whole command, retries included),
 * summed per command name: where an upload's time goes (parts against CompleteMultipartUpload).
 */
function timeCommands(client) {
  let current = null;
  client.middlewareStack.add(
    (next, context) => async (input) => {
      const t0 = performance.now();
      try {
        return await next(input);
      } finally {
        if (current) {
          const c = (current[context.commandName] ??= { count: 0, totalS: 0, maxS: 0 });
          const s = (performance.now() - t0) / 1000;
          c.count++;
          c.totalS += s;
          c.maxS = Math.max(c.maxS, s);
        }
      }
    },
    { step: 'initialize', name: 'benchCommandTiming' },
  );
  return {
    start() {
      current = {};
    },
    stop() {
      const out = current;
      current = null;
      for (const c of Object.values(out)) {
        c.totalS = round(c.totalS, 3);
        c.maxS = round(c.maxS, 3);
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Data

/** Writes `bytes` of random bytes (incompressible) to `file`; returns their sha256. */
function generateFile(file, bytes) {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1024 * 1024);
  const fd = fs.openSync(file, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(chunk.length, bytes - done);
      const part = chunk.subarray(0, n);
      randomFillSync(part);
      hash.update(part);
      fs.writeSync(fd, part);
      done += n;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Hashes a readable to the end: the same sink for both variants. */
async function sha256Of(readable) {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    readable,
    new Writable({
      write(chunk, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done();
      },
    }),
  );
  return { sha256: hash.digest('hex'), bytes };
}

// ---------------------------------------------------------------------------------------------
// One measured step

/**
 * Runs `fn` as one measured step: cold page cache and a quiet machine first (beforeStep), a
 * collected heap, then wall time, this process's CPU and the server's, the CPU other processes
 * used meanwhile, this process's peak RSS and anonymous RSS, the server's peak anonymous RSS.
 */
async function measure(label, server, fn) {
  await beforeStep();
  gc();
  const baseRssKiB = statusKiB('self', 'VmRSS');
  resetPeakRss();
  let sampledRssKiB = baseRssKiB, peakAnonKiB = statusKiB('self', 'RssAnon'), serverPeakAnonKiB = 0;
  const sample = () => {
    sampledRssKiB = Math.max(sampledRssKiB, statusKiB('self', 'VmRSS'));
    peakAnonKiB = Math.max(peakAnonKiB, statusKiB('self', 'RssAnon'));
    try {
      serverPeakAnonKiB = Math.max(serverPeakAnonKiB, statusKiB(server.pid, 'RssAnon'));
    } catch {
      // the server is gone; the step will fail on its own
    }
  };
  const sampler = setInterval(sample, 20);
  const cpu0 = process.cpuUsage(), server0 = processCpuS(server.pid), busy0 = cpuBusyS(), t0 = performance.now();
  let detail, error;
  try {
    detail = await fn();
  } catch (err) {
    error = err;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ownCpuS = (cpu.user + cpu.system) / 1e6;
  const serverCpuS = processCpuS(server.pid) - server0;
  const busyS = cpuBusyS() - busy0;
  clearInterval(sampler);
  sample();
  const peakRssKiB = peakResetWorks ? Math.max(statusKiB('self', 'VmHWM'), sampledRssKiB) : sampledRssKiB;
  const result = {
    ok: !error,
    ...(error ? { error: error.message } : {}),
    seconds: round(seconds, 3),
    mibPerS: error ? null : round(size / 1024 ** 2 / seconds, 1),
    cpuS: round(ownCpuS, 2),
    serverCpuS: round(serverCpuS, 2),
    // Machine CPU beyond this process and the server: other processes (and a little kernel writeback).
    foreignCpuS: round(Math.max(0, busyS - ownCpuS - serverCpuS), 2),
    baseRssKiB,
    peakRssKiB,
    peakAnonKiB,
    serverPeakAnonKiB,
    ...detail,
  };
  result.disturbed = noteForeign(label, { foreignCpuS: result.foreignCpuS, wallS: result.seconds });
  if (error) log(`${label}: FAILED: ${error.message}`);
  else log(`${label}: ${result.seconds} s (${result.mibPerS} MiB/s), peak RSS ${Math.round(peakRssKiB / 1024)} MiB (from ${Math.round(baseRssKiB / 1024)} MiB)`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report

const mib = (kib) => (kib == null ? '–' : `${Math.round(kib / 1024)} MiB`);

/** Medians of one variant's runs of one operation; disturbed runs are left out when clean ones exist. */
function summarizeRuns(runs) {
  const ok = runs.filter((r) => r.ok);
  const used = undisturbed(ok);
  const seconds = median(used.map((r) => r.seconds));
  return {
    runs: runs.length,
    runsUsed: used.length,
    runsDisturbed: ok.filter((r) => r.disturbed).length,
    failed: runs.length - ok.length,
    medianS: round(seconds, 3),
    mibPerS: seconds ? round(size / 1024 ** 2 / seconds, 1) : null,
    medianCpuS: round(median(used.map((r) => r.cpuS)), 2),
    medianServerCpuS: round(median(used.map((r) => r.serverCpuS)), 2),
    // Multipart only: the server's work after the last part (s3rver copies the parts into one file).
    medianCompleteS: round(median(used.map((r) => r.commands?.CompleteMultipartUploadCommand?.totalS)), 3),
    maxPeakRssKiB: Math.max(0, ...ok.map((r) => r.peakRssKiB)) || null,
    maxPeakAnonKiB: Math.max(0, ...ok.map((r) => r.peakAnonKiB)) || null,
    maxRssGrowthKiB: Math.max(0, ...ok.map((r) => r.peakRssKiB - r.baseRssKiB)) || null,
  };
}

function checkTargets(results) {
  const out = [];
  const add = (name, pass, detail, disturbed = false) => out.push({ name, pass, detail, ...(disturbed ? { disturbed: true } : {}) });
  for (const op of OPS) {
    const s = results.summary[op];
    if (!s.s3store.medianS || !s.plain.medianS) continue;
    add(`${op}: S3Store within ${TARGET.ratio} × the plain ${op === 'upload' ? 'PutObject' : 'GetObject'}`, s.ratio <= TARGET.ratio,
      `${s.s3store.medianS} s vs ${s.plain.medianS} s = ${s.ratio} ×`, s.s3store.runsDisturbed + s.plain.runsDisturbed > 0);
  }
  const up = results.summary.upload;
  if (up.multipart?.medianS && up.s3store.medianS) {
    add(`upload: S3Store at ≥ ${TARGET.multipartThroughput} × the throughput of a plain multipart upload (lib-storage Upload, its defaults)`,
      up.multipartThroughput >= TARGET.multipartThroughput,
      `${up.s3store.mibPerS} MiB/s vs ${up.multipart.mibPerS} MiB/s = ${up.multipartThroughput} × (${up.s3store.medianS} s vs ${up.multipart.medianS} s)`,
      up.s3store.runsDisturbed + up.multipart.runsDisturbed > 0);
  }
  const s3 = results.runs.filter((r) => r.variant === 's3store' && r.ok);
  if (s3.length) {
    const peak = Math.max(...s3.map((r) => r.peakRssKiB));
    const growth = Math.max(...s3.map((r) => r.peakRssKiB - r.baseRssKiB));
    add('peak RSS during the S3Store runs < 200 MB (the whole process)', peak * 1024 < TARGET.rssBytes,
      `${mib(peak)} = ${round((peak * 1024) / 1e6, 1)} MB, of which at most ${mib(growth)} above the RSS before the step (object: ${fmtBytes(size)})`);
  }
  // Flat across sizes: against the latest result of another size, if there is one.
  const dir = path.join(BENCH, 'results');
  const others = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /-s3-.+\.json$/.test(f) && !f.endsWith(`-s3-${results.size}.json`)).sort() : [];
  const prevFile = others.pop();
  if (prevFile && s3.length) {
    const prev = JSON.parse(fs.readFileSync(path.join(dir, prevFile), 'utf8'));
    const prevS3 = prev.runs?.filter((r) => r.variant === 's3store' && r.ok) ?? [];
    if (prevS3.length && prev.settings?.partSize === results.settings.partSize) {
      const [small, big] = prev.bytes < results.bytes
        ? [Math.max(...prevS3.map((r) => r.peakRssKiB)), Math.max(...s3.map((r) => r.peakRssKiB))]
        : [Math.max(...s3.map((r) => r.peakRssKiB)), Math.max(...prevS3.map((r) => r.peakRssKiB))];
      const [smallSize, bigSize] = prev.bytes < results.bytes ? [prev.size, results.size] : [results.size, prev.size];
      add(`S3Store peak RSS flat ${smallSize} → ${bigSize} (≤ +${Math.round((TARGET.rssFlatFactor - 1) * 100)} %)`, big <= small * TARGET.rssFlatFactor,
        `${mib(small)} → ${mib(big)} (other size from ${prevFile})`);
    }
  }
  return out;
}

function report(results) {
  const lines = [];
  const s = (v) => (v == null ? '–' : `${v.toFixed(2)} s`);
  const rate = (v) => (v == null ? '–' : `${v} MiB/s`);
  lines.push(`### ${results.size} object, ${results.date}`, '');
  lines.push(`S3Store: part size ${fmtBytes(results.settings.partSize)}, ${results.settings.queueSize} parts in flight; ` +
    `s3rver ${results.versions.s3rver} in its own process on ${results.machine.fs ?? '?'}; ${results.settings.rounds} rounds, the variants alternating.`, '');
  lines.push('| operation | S3Store | | plain call | | S3Store / plain | CPU, this process (S3Store / plain) | CPU, s3rver (S3Store / plain) |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const op of OPS) {
    const x = results.summary[op];
    const tag = (v) => (v.runsDisturbed ? ` (median of ${v.runsUsed} undisturbed)` : '') + (v.failed ? ` (${v.failed} FAILED)` : '');
    lines.push(`| ${op === 'upload' ? 'upload (put / PutObject)' : 'download (get / GetObject) into sha256'} | ${s(x.s3store.medianS)}${tag(x.s3store)} | ${rate(x.s3store.mibPerS)} | ` +
      `${s(x.plain.medianS)}${tag(x.plain)} | ${rate(x.plain.mibPerS)} | **${x.ratio ?? '–'} ×** | ${s(x.s3store.medianCpuS)} / ${s(x.plain.medianCpuS)} | ${s(x.s3store.medianServerCpuS)} / ${s(x.plain.medianServerCpuS)} |`);
  }
  const m = results.summary.upload.multipart;
  if (m) {
    lines.push('', `Plain multipart upload (lib-storage \`Upload\`, its defaults: 5 MiB parts, 4 in flight): ${s(m.medianS)}${m.runsDisturbed ? ` (median of ${m.runsUsed} undisturbed)` : ''} (${rate(m.mibPerS)}), ` +
      `CPU ${s(m.medianCpuS)} here and ${s(m.medianServerCpuS)} in s3rver; S3Store's throughput is **${results.summary.upload.multipartThroughput ?? '–'} ×** its.`);
  }
  const up = results.summary.upload;
  if (up.s3store.medianCompleteS != null && up.plain.medianS) {
    const parts = up.s3store.medianS - up.s3store.medianCompleteS;
    lines.push('', `Of S3Store's upload, CompleteMultipartUpload took ${s(up.s3store.medianCompleteS)} (median): the server joining the parts into one object ` +
      `(s3rver reads them back and writes the object again). Without it: ${s(parts)}, ${round(parts / up.plain.medianS, 2)} × the plain PutObject.`);
  }
  lines.push('', '| round | step | seconds | MiB/s | CPU (this process) | CPU (s3rver) | peak RSS (anonymous) | RSS before | s3rver peak anonymous | requests |');
  lines.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results.runs) {
    const reqs = Object.entries(r.commands ?? {}).map(([name, c]) => `${name.replace(/Command$/, '')} ${c.count > 1 ? `${c.count}× ` : ''}${c.totalS.toFixed(2)} s`).join(', ');
    lines.push(`| ${r.round} | ${r.op} ${r.variant}${r.disturbed ? ' (disturbed)' : ''} | ${r.ok ? s(r.seconds) : `FAILED: ${String(r.error).slice(0, 120)}`} | ${rate(r.mibPerS)} | ${s(r.cpuS)} | ${s(r.serverCpuS)} | ` +
      `${mib(r.peakRssKiB)} (${mib(r.peakAnonKiB)}) | ${mib(r.baseRssKiB)} | ${mib(r.serverPeakAnonKiB)} | ${reqs} |`);
  }
  if (results.targets.length) {
    lines.push('', '| target | result | |', '| --- | --- | --- |');
    for (const t of results.targets) lines.push(`| ${t.name} | ${t.pass ? 'pass' : '**FAIL**'}${t.disturbed ? ' (a compared run was disturbed)' : ''} | ${t.detail} |`);
  }
  lines.push(...noiseLines(results.noise, 'other processes used CPU; left out of the medians where a clean run exists'));
  lines.push('', `Page cache dropped before each step: ${results.cacheDropped ? 'yes' : 'no (warm cache)'}. Peak RSS: ${results.peakRssMethod}. ` +
    `Node ${results.versions.node}, @aws-sdk/client-s3 ${results.versions.clientS3}, lib-storage ${results.versions.libStorage}; botbackup ${results.versions.botbackupGit ?? '?'}; ` +
    `${results.machine.cores} cores, ${results.machine.cpu}.`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

const packageVersion = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;

async function main() {
  if (args.report) {
    console.log(report(JSON.parse(fs.readFileSync(args.report, 'utf8'))));
    return;
  }
  if (os.platform() !== 'linux') throw new Error('the benchmark needs Linux (/proc, sync)');
  // measure.mjs's resultsHeader() also asks restic and borg for their versions, which this
  // benchmark does not need (nor install): the same header, with the versions that matter here.
  const results = {
    date: new Date().toISOString(),
    size: SIZE,
    bytes: size,
    command: `node bench/s3.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    versions: {
      node: process.version,
      clientS3: packageVersion('@aws-sdk/client-s3'),
      libStorage: packageVersion('@aws-sdk/lib-storage'),
      s3rver: packageVersion('s3rver'),
      botbackupGit: run('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { allowFail: true }).stdout.trim() || null,
      storageBuiltAt: fs.statSync(path.join(ROOT, 'packages/storage/dist/s3-store.js')).mtime.toISOString(),
    },
    settings: { rounds: args.rounds, partSize: partSize ?? S3STORE_DEFAULT_PART_SIZE, queueSize: S3STORE_QUEUE_SIZE, quietWaitS: args['quiet-wait-s'] },
  };

  fs.mkdirSync(path.join(BENCH, '.work'), { recursive: true });
  const work = fs.mkdtempSync(path.join(BENCH, '.work', 's3-'));
  const file = path.join(work, 'object.bin');
  const dataDir = path.join(work, 's3rver');
  fs.mkdirSync(dataDir);
  let server;
  try {
    log(`generating ${fmtBytes(size)} of random bytes in ${path.relative(ROOT, file)} …`);
    const t0 = performance.now();
    const digest = generateFile(file, size);
    results.file = { sha256: digest, generateS: round((performance.now() - t0) / 1000, 2) };

    server = await startServer(dataDir);
    log(`s3rver (pid ${server.pid}) at ${server.endpoint}, data in ${path.relative(ROOT, dataDir)}`);
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const bucket = 'bench';
    // The plain client is configured as S3Store configures its own (s3-store.ts).
    const plain = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: CREDENTIALS,
      maxAttempts: 5,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await plain.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3Store({ name: 'bench', bucket, endpoint: server.endpoint, credentials: CREDENTIALS, ...(partSize ? { partSize } : {}) });
    // The store's client is private and made on first use (sdk(), since the SDK is loaded
    // lazily); reaching it here only adds a timing middleware to it.
    const storeTimer = timeCommands((await store.sdk()).client);
    const plainTimer = timeCommands(plain);

    const steps = {
      upload: {
        s3store: async () => {
          storeTimer.start();
          const { size: put } = await store.put('s3store.bin', fs.createReadStream(file));
          const commands = storeTimer.stop();
          if (put !== size) throw new Error(`S3Store.put reported ${put} bytes, not ${size}`);
          return { commands };
        },
        plain: async () => {
          plainTimer.start();
          await plain.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain.bin', Body: fs.createReadStream(file), ContentLength: size }));
          return { commands: plainTimer.stop() };
        },
        // lib-storage's Upload as its documentation shows it: a stream body, its defaults
        // (5 MiB parts, 4 in flight), the same client as the plain calls.
        multipart: async () => {
          plainTimer.start();
          await new Upload({ client: plain, params: { Bucket: bucket, Key: 'multipart.bin', Body: fs.createReadStream(file) } }).done();
          return { commands: plainTimer.stop() };
        },
      },
      download: {
        s3store: async () => {
          storeTimer.start();
          const got = await sha256Of(await store.get('s3store.bin'));
          const commands = storeTimer.stop();
          if (got.sha256 !== digest || got.bytes !== size) throw new Error(`S3Store.get returned ${got.bytes} bytes with sha256 ${got.sha256}, not the file's`);
          return { commands, verified: true };
        },
        plain: async () => {
          plainTimer.start();
          const response = await plain.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain.bin' }));
          const got = await sha256Of(response.Body);
          const commands = plainTimer.stop();
          if (got.sha256 !== digest || got.bytes !== size) throw new Error(`GetObject returned ${got.bytes} bytes with sha256 ${got.sha256}, not the file's`);
          return { commands, verified: true };
        },
      },
    };

    results.runs = [];
    for (let round_ = 1; round_ <= args.rounds; round_++) {
      // Alternate which variant goes first, so that neither always runs on a fresher server.
      for (const op of OPS) {
        const order = round_ % 2 ? VARIANTS[op] : [...VARIANTS[op]].reverse();
        for (const variant of order) {
          const r = await measure(`round ${round_}: ${op} ${variant}`, server, steps[op][variant]);
          results.runs.push({ round: round_, op, variant, ...r });
        }
      }
      // Next round's uploads start from an empty bucket.
      for (const key of ['s3store.bin', 'plain.bin', 'multipart.bin']) await plain.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }
    plain.destroy();

    results.summary = {};
    for (const op of OPS) {
      const by = Object.fromEntries(VARIANTS[op].map((v) => [v, summarizeRuns(results.runs.filter((r) => r.op === op && r.variant === v))]));
      by.ratio = by.s3store.medianS && by.plain.medianS ? round(by.s3store.medianS / by.plain.medianS, 2) : null;
      // Throughput of S3Store over that of the plain multipart upload (time of the one over the other's).
      if (by.multipart) by.multipartThroughput = by.s3store.medianS && by.multipart.medianS ? round(by.multipart.medianS / by.s3store.medianS, 2) : null;
      results.summary[op] = by;
    }
    results.peakRssMethod = peakResetWorks ? 'VmHWM reset before each step (exact); anonymous RSS sampled every 20 ms' : 'sampled every 20 ms';
    results.cacheDropped = cacheDropWorks;
    results.noise = noise;
    results.targets = checkTargets(results);
  } finally {
    await server?.stop();
    if (args.keep) log(`kept ${path.relative(ROOT, work)}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }

  const dir = path.join(BENCH, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `${results.date.slice(0, 10)}-s3-${SIZE}.json`);
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(report(results));
  console.log(`\nRaw results: ${path.relative(ROOT, out)}`);
  const failed = results.runs.some((r) => !r.ok);
  if (failed) log('a step FAILED: see the table');
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  log(`error: ${err.stack ?? err.message}`);
  process.exit(1);
});
