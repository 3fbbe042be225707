#!/usr/bin/env node
// Where a command's CPU went, from the .cpuprofile files `node --cpu-prof` writes (one per
// thread: the main thread and every worker thread). For each file: the sampled time, the time
// the thread was idle, the garbage collector's, and the functions with the most self time.
// Used for the profiles named in docs/benchmarks.md; numbers are sampled, so small ones are noise.
//
// Usage: node bench/profile-summary.mjs [--top N] <file.cpuprofile | folder> …
import fs from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
let top = 12;
const inputs = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--top') top = Number(argv[++i]);
  else inputs.push(argv[i]);
}
if (!inputs.length || !Number.isInteger(top) || top < 1) {
  console.error('usage: node bench/profile-summary.mjs [--top N] <file.cpuprofile | folder> …');
  process.exit(2);
}
const files = inputs.flatMap((p) =>
  fs.statSync(p).isDirectory() ? fs.readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => path.join(p, f)) : [p],
);

/** A function's name as a profile reads: name, file (last two path parts) and line. */
function label(frame) {
  const file = frame.url ? frame.url.replace(/^file:\/\//, '').split('/').slice(-2).join('/') : '';
  return `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
}

const ms = (us) => `${(us / 1000).toFixed(0)} ms`;
for (const file of files) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per sample: the gap to the next sample (timeDeltas[i + 1]) belongs to sample i.
  const self = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const us = deltas[i + 1] ?? 0;
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + us);
  }
  const total = profile.endTime - profile.startTime;
  const idle = self.get('(idle)') ?? 0;
  const gc = self.get('(garbage collector)') ?? 0;
  console.log(`\n${path.basename(file)}: ${ms(total)} sampled, ${ms(total - idle)} busy (GC ${ms(gc)}, idle ${ms(idle)})`);
  const rows = [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, us] of rows) console.log(`  ${ms(us).padStart(8)}  ${((100 * us) / Math.max(1, total - idle)).toFixed(1).padStart(5)} %  ${k}`);
}
