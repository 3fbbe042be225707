#!/usr/bin/env node --expose-gc
// Where the memory of a big manifest goes (issue 15, "Big bot folders"): a manifest of N files
// (default 1,000,000) built as runBackup builds it, then serialized, hashed, written, read and
// parsed as the engine does, with the heap and RSS after each step. In-process and synthetic:
// no files are read or archived, so each figure is the manifest's own share of a backup's or a
// restore's peak. See "Big bot folders" in docs/benchmarks.md.
//
// Usage: node --expose-gc bench/manifest-memory.mjs [--files N]
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { manifestBytes, manifestChunks, parseManifest, serializeManifest, summarizeManifest } from '@botbackup/core';
import { fmtBytes, parseArgs } from './lib.mjs';

const args = parseArgs(process.argv.slice(2), { files: { type: 'number', default: 1_000_000 } });
if (!global.gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const rows = [];
const base = { rss: 0, heap: 0 };
function step(label, extra = '') {
  global.gc();
  const m = process.memoryUsage();
  rows.push({ label, rss: m.rss, heap: m.heapUsed + m.external + m.arrayBuffers, extra });
  console.error(`${label}: rss ${fmtBytes(m.rss)}, heap+external ${fmtBytes(m.heapUsed + m.external)} ${extra}`);
}
/** Runs a synchronous step; the RSS after it (garbage collected) still holds what the step returned and kept. */
function peak(label, fn) {
  const t0 = performance.now();
  let result;
  let error;
  try {
    result = fn();
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - t0;
  step(label, error ? `FAILED: ${error.message}` : `${(ms / 1000).toFixed(1)} s`);
  return { result, error };
}

step('start');
base.rss = rows[0].rss;
const id = '20261206T120000.000Z-abcdefghij';
const files = [];
peak(`${args.files} file records`, () => {
  for (let i = 0; i < args.files; i++) {
    files.push({
      path: `state/d${String(Math.floor(i / 1000)).padStart(4, '0')}/f${String(i).padStart(7, '0')}.json`,
      kind: 'other',
      mode: 0o644,
      size: 64,
      mtime: new Date(1_700_000_000_000 + i).toISOString(),
      sha256: createHash('sha256').update(String(i)).digest('hex'),
      storedIn: id,
    });
  }
});
const entries = files.map(({ storedIn: _s, ...e }) => e);
step('+ as many archive entries');
const manifest = {
  format: 'botbackup.manifest', schemaVersion: 3, id, type: 'full', parent: null, chainDepth: 0, fullReason: 'a full backup was requested',
  source: { id: 'bigbot', host: os.hostname(), root: '/bots/big' }, startedAt: new Date().toISOString(), completedAt: new Date().toISOString(),
  tool: { name: 'botbackup', version: '0.1.0' }, sqlite: null, compression: { codec: 'zstd', level: 3 }, databases: [], entries, files, deleted: [],
  objects: [{ key: `data/bigbot/${id}/archive.tar.zst`, role: 'archive', size: 1, sha256: 'b'.repeat(64), compression: 'zstd', encryption: null }],
  excluded: [], warnings: [], stats: { entryBytes: 64 * args.files, storedBytes: 1, durationMs: 1 },
};
const whole = peak('serializeManifest (one string)', () => serializeManifest(manifest));
const size = whole.result?.length;
whole.result = undefined;
step('string dropped');
let bytes = 0;
peak('manifestChunks, hashed', () => {
  const hash = createHash('sha256');
  for (const chunk of manifestChunks(manifest)) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return hash.digest('hex');
});
const file = path.join(os.tmpdir(), `bb-manifest-memory-${process.pid}.json`);
let built = peak('manifestBytes (one Buffer, as backup now writes it)', () => manifestBytes(manifest));
fs.writeFileSync(file, built.result);
built = undefined;
step('Buffer written and dropped');
peak('summarizeManifest', () => JSON.stringify(summarizeManifest(manifest)));
files.length = 0;
entries.length = 0;
step('manifest dropped');
let parsed;
const read = peak('before: readFile as one string + parseManifest (JSON.parse + zod)', () => {
  parsed = parseManifest(fs.readFileSync(file, 'utf8'), 'bench');
});
parsed = undefined;
step('parsed manifest dropped');
const readBytes = peak('now: readFile as a Buffer + parseManifest(bytes) (piece by piece over 256 MiB, + zod)', () => {
  parsed = parseManifest(fs.readFileSync(file), 'bench');
});
const count = parsed?.files.length;
parsed = undefined;
step('parsed manifest dropped', `(${count} files parsed)`);
fs.rmSync(file, { force: true });

console.log(`\nmanifest of ${args.files} files: ${fmtBytes(bytes)} (${Math.round(bytes / args.files)} B per file)${size === undefined ? '; serializeManifest failed' : ''}`);
console.log('\n| step | RSS after (GC run; what the step keeps is still held) | note |\n|---|---|---|');
for (const r of rows) console.log(`| ${r.label} | ${fmtBytes(r.rss)} | ${r.extra} |`);
if (read.error) console.log(`\nreading it back as one string failed: ${read.error.message}`);
if (readBytes.error) console.log(`\nreading it back as bytes failed: ${readBytes.error.message}`);
