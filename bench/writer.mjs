#!/usr/bin/env node
// A stand-in for a live trading bot: a separate process that keeps committing small
// transactions (insert a deal + update an order) to the database, and measures how long each
// commit takes. run.mjs uses it to see what a backup does to the bot it backs up.
//
// Usage: node bench/writer.mjs --db <path> [--seconds N] [--interval-ms 5] [--busy-timeout-ms 5000]
//                              [--synchronous FULL|NORMAL] [--warmup-ms 500]
//
// It prints "READY" on stderr once warmed up (run.mjs waits for that before starting the backup)
// and one JSON object with the latency statistics on stdout when it stops: after --seconds, or on
// SIGTERM/SIGINT. It never crashes on SQLITE_BUSY or other SQLite errors: they are counted.
//
// Choices that make it bot-like:
// - WAL mode with busy_timeout set, as every bot that shares its DB with a dashboard or a backup
//   job must have. synchronous=FULL by default because it is SQLite's default (most bots never
//   change it); it means one fsync of the WAL per commit, so the latency also shows the I/O
//   interference of a backup, not only lock waits. --synchronous NORMAL measures locks alone.
// - Plain deferred transactions (BEGIN), as ORMs and better-sqlite3's db.transaction() issue.
// - The updated order is one of the latest ~2000: bots touch recent, open orders, so the writes
//   hit the hot end of the B-trees and the WAL, as in production.
// - Fixed-delay pacing (one transaction, then wait until `interval` after its start): a bot
//   reacting to market data does not fire a burst to "catch up" after a stall. A stall therefore
//   shows up as one long commit (see max), not as many slightly late ones.
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeRng, parseArgs, percentile } from './lib.mjs';

let args;
try {
  args = parseArgs(process.argv.slice(2), {
    db: { default: undefined },
    seconds: { type: 'number', default: 0 },
    'interval-ms': { type: 'number', default: 5 },
    'busy-timeout-ms': { type: 'number', default: 5000 },
    synchronous: { default: 'FULL' },
    'warmup-ms': { type: 'number', default: 500 },
    seed: { type: 'number', default: 7 },
  });
} catch (err) {
  console.error(`writer: ${err.message}`);
  process.exit(2);
}
if (args.help || !args.db) {
  console.error('usage: node bench/writer.mjs --db <path> [--seconds N] [--interval-ms 5] [--busy-timeout-ms 5000] [--synchronous FULL|NORMAL] [--warmup-ms 500]');
  process.exit(args.help ? 0 : 2);
}
if (!/^(OFF|NORMAL|FULL|EXTRA)$/i.test(args.synchronous)) {
  console.error('writer: --synchronous must be OFF, NORMAL, FULL or EXTRA');
  process.exit(2);
}

const db = new Database(path.resolve(args.db), { fileMustExist: true, timeout: args['busy-timeout-ms'] });
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${args.synchronous.toUpperCase()}`);
db.pragma(`busy_timeout = ${args['busy-timeout-ms']}`);

const rng = makeRng(args.seed + process.pid); // different runs should not replay identical rows
const insDeal = db.prepare(`INSERT INTO deals (ts, exchange, symbol, side, price, qty, quote_qty, fee, fee_asset, order_id,
  client_order_id, trade_id, strategy, is_maker, realized_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
const updOrder = db.prepare('UPDATE orders SET status = ?, filled_qty = filled_qty + ?, updated_ts = ? WHERE id = ?');
const maxOrderId = db.prepare('SELECT max(id) FROM orders').pluck().get() ?? 1;
const symbols = db.prepare('SELECT DISTINCT symbol FROM tickers WHERE id > (SELECT max(id) - 1000 FROM tickers)').pluck().all();
if (symbols.length === 0) symbols.push('BTCUSDT');
let tradeSeq = 2_000_000_000 + (process.pid % 1000) * 1_000_000;

/** One bot "event": a fill arrives, the deal is recorded and its order updated, atomically. */
const onFill = db.transaction((now) => {
  const orderId = maxOrderId - rng.int(0, 2000);
  const price = 100 + rng.next() * 10;
  const qty = Number((rng.next() * 5).toFixed(3));
  insDeal.run(now, 'binance', rng.pick(symbols), rng.chance(0.5) ? 'BUY' : 'SELL', price, qty, price * qty, price * qty * 0.0002,
    'USDT', orderId, `bb-writer-${now.toString(36)}-${rng.hex(8)}`, String(++tradeSeq), 'bench-writer', 1, null);
  updOrder.run(rng.chance(0.7) ? 'FILLED' : 'PARTIALLY_FILLED', qty, now, orderId);
});

const latencies = []; // ms, successful commits only
const errors = { count: 0, byCode: {}, maxMs: 0 };
let measuring = false;
let startedAt = 0;
let stopped = false;
let timer;

function tick() {
  if (stopped) return;
  const t0 = performance.now();
  try {
    onFill(Date.now());
    if (measuring) latencies.push(performance.now() - t0);
  } catch (err) {
    // SQLITE_BUSY after busy_timeout, SQLITE_IOERR, …: a real bot would log and retry later.
    if (measuring) {
      errors.count++;
      const code = err.code ?? err.name ?? 'UNKNOWN';
      errors.byCode[code] = (errors.byCode[code] ?? 0) + 1;
      errors.maxMs = Math.max(errors.maxMs, performance.now() - t0);
    }
  }
  const wait = args['interval-ms'] - (performance.now() - t0);
  timer = wait > 0 ? setTimeout(tick, wait) : setImmediate(tick);
}

function stop() {
  if (stopped) return;
  stopped = true;
  clearTimeout(timer);
  clearImmediate(timer);
  const seconds = measuring ? (performance.now() - startedAt) / 1000 : 0;
  const sorted = Float64Array.from(latencies).sort();
  const r = (v) => (v === null ? null : Number(v.toFixed(3)));
  const stats = {
    seconds: Number(seconds.toFixed(2)),
    commits: sorted.length,
    commitsPerSec: seconds > 0 ? Number((sorted.length / seconds).toFixed(1)) : 0,
    latencyMs: {
      p50: r(percentile(sorted, 50)), p90: r(percentile(sorted, 90)), p99: r(percentile(sorted, 99)),
      p999: r(percentile(sorted, 99.9)), max: r(sorted.length ? sorted[sorted.length - 1] : null),
      mean: r(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null),
    },
    errors: errors.count,
    errorsByCode: errors.byCode,
    errorMaxMs: r(errors.maxMs),
    settings: { intervalMs: args['interval-ms'], busyTimeoutMs: args['busy-timeout-ms'], synchronous: args.synchronous.toUpperCase(), journalMode: 'wal' },
  };
  try { db.close(); } catch { /* closing after an I/O error may fail; the stats are what matter */ }
  process.stdout.write(JSON.stringify(stats) + '\n');
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
tick();
setTimeout(() => {
  // Warm-up excluded: the first commits pay for opening files and faulting in hot pages.
  measuring = true;
  startedAt = performance.now();
  process.stderr.write('READY\n');
  if (args.seconds > 0) setTimeout(stop, args.seconds * 1000);
}, args['warmup-ms']);

// run.mjs sets this and keeps our stdin open: if it dies (even by SIGKILL), the pipe closes and
// we stop instead of writing to the database forever.
if (process.env.BENCH_WRITER_WATCH_STDIN === '1') {
  process.stdin.on('end', stop).on('error', stop).resume();
}
