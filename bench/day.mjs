#!/usr/bin/env node
// One simulated day of trading on a database made by bench/generate.mjs, for the incremental
// backup benchmark (bench/incremental.mjs): what changes in a bot's database between two nightly
// backups.
//
// Usage: node bench/day.mjs <db> [--seed N] [--day N] [--no-pages]
//
// What a day is (deterministic for a given database, --seed and --day):
// - Updates about 1 % of the rows of each of deals, orders and tickers. 80 % of them hit the
//   newest 10 % of the rows (orders filled or canceled, fills getting their realized PnL, recent
//   market data revised), the other 20 % are spread uniformly over the older rows (late fee
//   rebates, PnL re-attribution, an exchange's corrected 24 h volumes). Each update rewrites a
//   value of the same type and size in place, as such updates do; the order status changes also
//   move entries of the orders(status) index.
// - Inserts about 0.5 % new rows (of the three tables together), minute by minute after the
//   last one, as generate.mjs writes them at the end of its run (all 32 symbols active): ~20 h of
//   trading at 1 GiB, ~5 h at 256 MiB.
// - Both interleaved, in transactions of about 300 rows (200 updates and 100 inserted rows), as a
//   bot commits a batch of exchange events; SQLite's default synchronous=FULL, WAL mode.
// - At the end `PRAGMA wal_checkpoint(TRUNCATE)` and close: the next backup finds the day in the
//   database file itself and an empty WAL, the way the generator leaves it.
//
// It prints (and simulateDay returns) the rows it updated and inserted and, unless --no-pages,
// how many of the file's pages differ afterwards: per-page hashes of the whole file before and
// after (about 1 s per GiB each, not counted in `seconds`). That count is the least a page-level
// incremental backup has to store, before compression.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { STRATEGIES, SYMBOLS, placeOrder, tick } from './generate.mjs';
import { makeRng, parseArgs } from './lib.mjs';

const TABLES = ['deals', 'orders', 'tickers'];
const UPDATE_SHARE = 0.01;
const RECENT_SHARE = 0.8; // of the updates, on the newest RECENT_ROWS of the rows
const RECENT_ROWS = 0.1;
const INSERT_SHARE = 0.005;
const UPDATES_PER_TX = 200;
const INSERTS_PER_TX = 100;
const MINUTE = 60_000;

/** The day's own random stream: same seed and day, same changes. */
const dayRng = (seed, day) => makeRng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(day >>> 0, 0x85ebca6b)) >>> 0);

/** Hash of every page of the file (16 bytes each), to count the pages a day changed. */
export function pageHashes(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(100);
    fs.readSync(fd, header, 0, 100, 0);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    const size = fs.fstatSync(fd).size;
    const pages = Math.ceil(size / pageSize);
    const out = Buffer.alloc(pages * 16);
    const buf = Buffer.alloc(pageSize * 256);
    for (let p = 0; p < pages; p += 256) {
      const n = fs.readSync(fd, buf, 0, buf.length, p * pageSize);
      for (let i = 0; i * pageSize < n; i++) {
        crypto.createHash('md5').update(buf.subarray(i * pageSize, Math.min(n, (i + 1) * pageSize))).digest().copy(out, (p + i) * 16);
      }
    }
    return { pageSize, pages, hashes: out };
  } finally {
    fs.closeSync(fd);
  }
}

/** Pages that differ between two pageHashes() of the same file, and pages it grew by. */
export function comparePages(before, after) {
  let changed = 0;
  const common = Math.min(before.pages, after.pages);
  for (let i = 0; i < common; i++) if (before.hashes.compare(after.hashes, i * 16, i * 16 + 16, i * 16, i * 16 + 16) !== 0) changed++;
  const added = Math.max(0, after.pages - before.pages);
  return {
    pageSize: after.pageSize, before: before.pages, after: after.pages, changed, added,
    /** Changed plus added pages, as a share of the pages after the day. */
    changedPct: Number(((100 * (changed + added)) / after.pages).toFixed(2)),
    changedBytes: (changed + added) * after.pageSize,
  };
}

/** `n` distinct integers in [lo, hi] (all of them if the range is smaller). */
function sampleIds(rng, lo, hi, n) {
  const span = hi - lo + 1;
  if (span <= 0 || n <= 0) return [];
  if (n >= span) return Array.from({ length: span }, (_, i) => lo + i);
  const set = new Set();
  while (set.size < n) set.add(rng.int(lo, hi));
  return [...set];
}

/**
 * Applies one day of trading to the database at `db` (see the top of this file) and closes it.
 * Returns what it did; `pages` is null when `pageStats` is false.
 */
export function simulateDay({ db: dbPath, seed = 42, day = 1, pageStats = true }) {
  const before = pageStats ? pageHashes(dbPath) : null;
  const bytesBefore = fs.statSync(dbPath).size;
  const t0 = performance.now();
  const rng = dayRng(seed, day);
  const db = new Database(dbPath, { fileMustExist: true, timeout: 5000 });
  try {
    db.pragma('journal_mode = WAL');

    // --- The updates: which rows, decided up front.
    const rowsBefore = {};
    const updates = [];
    let recentCount = 0;
    for (const table of TABLES) {
      const { lo, hi, n } = db.prepare(`SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM ${table}`).get();
      rowsBefore[table] = n;
      if (!n) continue;
      const total = Math.round(n * UPDATE_SHARE);
      const recent = Math.round(total * RECENT_SHARE);
      const split = hi - Math.floor(n * RECENT_ROWS); // ids above it are the newest 10 %
      const recentIds = sampleIds(rng, split + 1, hi, recent);
      const oldIds = sampleIds(rng, lo, split, total - recentIds.length);
      recentCount += recentIds.length;
      for (const id of recentIds) updates.push([table, id]);
      for (const id of oldIds) updates.push([table, id]);
    }
    // Interleave tables and ages over the day (Fisher–Yates).
    for (let i = updates.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [updates[i], updates[j]] = [updates[j], updates[i]];
    }
    const updOrder = db.prepare(`UPDATE orders SET status = ?, filled_qty = CASE WHEN ? = 'FILLED' THEN qty ELSE filled_qty END,
      updated_ts = max(updated_ts, ?) WHERE id = ?`);
    const updDeal = db.prepare('UPDATE deals SET realized_pnl = round(quote_qty * ?, 4), fee = round(fee * ?, 8) WHERE id = ?');
    const updTicker = db.prepare('UPDATE tickers SET volume_24h = round(volume_24h * ?, 2) WHERE id = ?');

    // --- The inserts: the generator's minute, continued from where the database ends.
    const rowsTotal = Object.values(rowsBefore).reduce((a, b) => a + b, 0);
    const insertGoal = Math.round(rowsTotal * INSERT_SHARE);
    const insTicker = db.prepare('INSERT INTO tickers (ts, exchange, symbol, bid, ask, last, volume_24h) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const insOrder = db.prepare(`INSERT INTO orders (ts, updated_ts, exchange, symbol, side, type, price, qty, filled_qty, status,
      client_order_id, exchange_order_id, strategy, reduce_only, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insDeal = db.prepare(`INSERT INTO deals (ts, exchange, symbol, side, price, qty, quote_qty, fee, fee_asset, order_id,
      client_order_id, trade_id, strategy, is_maker, realized_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Each symbol's latest price, volume and exchange, from the newest tickers (all symbols tick every minute).
    const latest = new Map();
    for (const r of db.prepare('SELECT symbol, exchange, last, volume_24h FROM tickers ORDER BY id DESC LIMIT 5000').iterate()) {
      if (!latest.has(r.symbol)) latest.set(r.symbol, r);
    }
    const state = SYMBOLS.filter((s) => latest.has(s.symbol)).map((s) => {
      const r = latest.get(s.symbol);
      return { ...s, price: r.last, vol: r.volume_24h, exchange: r.exchange };
    });
    if (state.length === 0) throw new Error(`${dbPath}: no tickers of known symbols; not a database made by bench/generate.mjs`);
    const lastSync = Number(db.prepare("SELECT value FROM kv WHERE key = 'last_sync_ts'").pluck().get());
    let ts = Number.isFinite(lastSync) && lastSync > 0 ? lastSync : db.prepare('SELECT max(ts) FROM tickers').pluck().get() + MINUTE;
    const startTs = ts;
    const seq = {
      order: (db.prepare('SELECT max(id) FROM orders').pluck().get() ?? 0) + 1_000, // exchange ids stay unique
      trade: Number(db.prepare('SELECT trade_id FROM deals ORDER BY id DESC LIMIT 1').pluck().get() ?? 1_000_000_000),
    };
    const inserted = { deals: 0, orders: 0, tickers: 0 };
    const updated = { deals: 0, orders: 0, tickers: 0 };

    /** One minute of trading with every known symbol active: generate.mjs's minute() at progress 1. */
    const minute = () => {
      for (const s of state) tick({ rng, s, ts, insTicker, counts: inserted });
      const n = rng.poisson(3.7);
      for (let k = 0; k < n; k++) {
        const s = rng.pick(state);
        const strategy = rng.pick(STRATEGIES);
        placeOrder({ rng, s, strategy, ts, insOrder, insDeal, seq, counts: inserted });
      }
      ts += MINUTE;
    };
    const insertedTotal = () => inserted.deals + inserted.orders + inserted.tickers;

    const update = ([table, id]) => {
      let info;
      if (table === 'orders') {
        const r = rng.next();
        const status = r < 0.62 ? 'FILLED' : r < 0.93 ? 'CANCELED' : r < 0.97 ? 'PARTIALLY_FILLED' : 'EXPIRED';
        info = updOrder.run(status, status, ts, id);
      } else if (table === 'deals') {
        info = updDeal.run(Number((rng.gauss() * 0.01).toFixed(6)), rng.chance(0.5) ? 0.9 : 1.1, id);
      } else {
        info = updTicker.run(Number((1 + rng.gauss() * 0.01).toFixed(6)), id);
      }
      updated[table] += info.changes;
    };

    // --- The day, one bot batch per transaction: its share of the inserts, then of the updates.
    const txCount = Math.max(1, Math.ceil(updates.length / UPDATES_PER_TX), Math.ceil(insertGoal / INSERTS_PER_TX));
    const batch = db.transaction((i) => {
      const insertsUpTo = Math.round((insertGoal * (i + 1)) / txCount);
      while (insertedTotal() < insertsUpTo) minute();
      const from = Math.round((updates.length * i) / txCount), to = Math.round((updates.length * (i + 1)) / txCount);
      for (let k = from; k < to; k++) update(updates[k]);
    });
    for (let i = 0; i < txCount; i++) batch(i);
    db.prepare("INSERT OR REPLACE INTO kv (key, value) VALUES ('last_sync_ts', ?)").run(String(ts));
    const [cp] = db.pragma('wal_checkpoint(TRUNCATE)');
    if (cp.busy) throw new Error(`${dbPath}: wal_checkpoint(TRUNCATE) was blocked by another connection`);
    const seconds = (performance.now() - t0) / 1000;
    db.close();
    const total = (o) => Object.values(o).reduce((a, b) => a + b, 0);
    return {
      day, seed, db: dbPath, seconds: Number(seconds.toFixed(2)), transactions: txCount,
      rowsBefore: { ...rowsBefore, total: rowsTotal },
      updated: { ...updated, total: total(updated), recent: recentCount, old: updates.length - recentCount },
      inserted: { ...inserted, total: total(inserted), minutes: Math.round((ts - startTs) / MINUTE) },
      bytesBefore, bytesAfter: fs.statSync(dbPath).size,
      pages: before ? comparePages(before, pageHashes(dbPath)) : null,
    };
  } finally {
    if (db.open) db.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const usage = 'usage: node bench/day.mjs <db> [--seed N] [--day N] [--no-pages]';
  try {
    const argv = process.argv.slice(2);
    const positional = argv.filter((a, i) => !a.startsWith('--') && !/^--(seed|day)$/.test(argv[i - 1] ?? ''));
    const args = parseArgs(argv.filter((a) => !positional.includes(a)), {
      seed: { type: 'number', default: 42 }, day: { type: 'number', default: 1 }, 'no-pages': { type: 'boolean', default: false },
    });
    if (args.help || positional.length !== 1) {
      console.log(usage);
      process.exit(args.help ? 0 : 2);
    }
    const out = simulateDay({ db: path.resolve(positional[0]), seed: args.seed, day: args.day, pageStats: !args['no-pages'] });
    console.log(JSON.stringify(out, null, 2));
    if (out.pages) {
      console.error(`day ${out.day}: updated ${out.updated.total} rows, inserted ${out.inserted.total} in ${out.transactions} transactions (${out.seconds}s); ` +
        `${out.pages.changed + out.pages.added} of ${out.pages.after} pages differ (${out.pages.changedPct} %), by per-page hashes of the file before and after`);
    }
  } catch (err) {
    console.error(`day: ${err.message}`);
    process.exit(1);
  }
}
