#!/usr/bin/env node
// Retention planning over a large repository: `planRetention` over 100,000 backups (hourly for
// about 11.4 years, incremental chains of 15), under a few policies. Measures the planner only
// (the backups are generated in memory before the clock starts). Needs `npx tsc -b` first.
//
//   node bench/retention.mjs [--count 100000] [--runs 10] [--out bench/results/<date>-retention.json]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RETENTION, planRetention } from '@botbackup/core';
import { makeRng, parseArgs, percentile } from './lib.mjs';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const here = path.dirname(fileURLToPath(import.meta.url));

const args = parseArgs(process.argv.slice(2), {
  count: { type: 'number', default: 100_000 },
  runs: { type: 'number', default: 10 },
  chain: { type: 'number', default: 15 },
  out: { type: 'string', default: undefined },
});
if (args.help) {
  console.log('node bench/retention.mjs [--count N] [--runs N] [--chain N] [--out file.json]');
  process.exit(0);
}

const now = new Date('2026-11-26T12:00:00.000Z');

/** Hourly backups back from `now`: a full one every `chain`, incrementals between; a few bad, degraded or verified. */
function generate(count, chain) {
  const rng = makeRng(48).next;
  const backups = [];
  let parent = null;
  for (let i = 0; i < count; i++) {
    const time = new Date(now.getTime() - (count - i) * HOUR);
    const id = `${time.toISOString().replace(/[-:]/g, '')}-${String(i).padStart(10, '0')}`;
    const full = i % chain === 0;
    backups.push({
      id,
      time,
      parent: full ? null : parent,
      good: rng() > 0.01,
      verified: i % (7 * 24) === 0,
      degraded: rng() < 0.01,
      scheduleId: full ? 'hourly-full' : 'hourly',
    });
    parent = id;
  }
  return backups;
}

const policies = {
  'seed (7/4/12/2, UTC)': DEFAULT_RETENTION,
  'seed, Europe/Berlin': { ...DEFAULT_RETENTION, timezone: 'Europe/Berlin' },
  'keepLast 48, within 30d, schedule 90d, yearly 20, Berlin': {
    ...DEFAULT_RETENTION,
    keepLast: 48,
    yearly: 20,
    keepWithinMs: 30 * DAY,
    timezone: 'Europe/Berlin',
    scheduleKeepWithinMs: { 'hourly-full': 90 * DAY },
  },
};

const backups = generate(args.count, args.chain);
const span = (backups.at(-1).time - backups[0].time) / (365.25 * DAY);
if (process.env.RETENTION_BENCH_COLD) {
  // The child of coldRun(): one call, nothing compiled yet.
  const start = process.hrtime.bigint();
  planRetention(backups, DEFAULT_RETENTION, now);
  console.log(String(round(Number(process.hrtime.bigint() - start) / 1e6)));
  process.exit(0);
}
const results = [];
for (const [name, policy] of Object.entries(policies)) {
  // Two warm-up runs so the JIT has compiled the planner, then the measured runs.
  for (let i = 0; i < 2; i++) planRetention(backups, policy, now);
  const times = [];
  let kept = 0;
  for (let i = 0; i < args.runs; i++) {
    const start = process.hrtime.bigint();
    const decisions = planRetention(backups, policy, now);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    kept = decisions.filter((d) => d.keep).length;
  }
  const sorted = [...times].sort((a, b) => a - b);
  results.push({ policy: name, backups: backups.length, kept, medianMs: round(percentile(sorted, 50)), maxMs: round(sorted.at(-1)) });
}

// A cold run in a fresh process: what one `botbackup prune` pays, JIT warm-up included.
const cold = await coldRun();

console.log(`${backups.length} backups over ${span.toFixed(1)} years, chains of ${args.chain}, ${args.runs} runs each\n`);
console.log('| policy | kept | median | max |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of results) console.log(`| ${r.policy} | ${r.kept} | ${r.medianMs} ms | ${r.maxMs} ms |`);
console.log(`\ncold (first call in a fresh process, seed policy): ${cold} ms`);

const cpu = os.cpus();
const record = {
  date: new Date().toISOString(),
  command: `node bench/retention.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  machine: { cpu: cpu[0]?.model ?? null, cores: cpu.length, memGiB: round(os.totalmem() / 1024 ** 3, 1), kernel: os.release() },
  node: process.version,
  backups: backups.length,
  years: round(span),
  chain: args.chain,
  runs: args.runs,
  results,
  coldMs: cold,
};
const out = args.out ?? path.join(here, 'results', `${record.date.slice(0, 10)}-retention.json`);
fs.writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
console.log(`\nraw results: ${path.relative(process.cwd(), out)}`);

async function coldRun() {
  const { execFileSync } = await import('node:child_process');
  const argv = [fileURLToPath(import.meta.url), '--count', String(args.count), '--chain', String(args.chain)];
  return Number(
    execFileSync(process.execPath, argv, { env: { ...process.env, RETENTION_BENCH_COLD: '1' } })
      .toString()
      .trim(),
  );
}

function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
