#!/usr/bin/env node
// Generates a realistic trading-bot folder for the benchmarks:
//
//   <out>/data/trades.db          SQLite, WAL mode: deals, orders, tickers (+ indexes)
//   <out>/config/bot.json, config/strategies/*.json
//   <out>/.env, keys/binance.key, keys/bybit.key   (fake secrets, mode 0600)
//   <out>/logs/bot.log (a few MiB), logs/old.log (mtime 30 days ago)
//
// Usage: node bench/generate.mjs [--size 1GiB|256MiB|<bytes>] [--out <dir>] [--seed N]
//
// Why it looks the way it does:
// - Rows are written in time order, minute by minute, mixing the three tables, as a bot that
//   ran for months would have written them. Pages of the three tables and of the indexes are
//   therefore interleaved in the file, which is what a backup tool reads in practice; a
//   table-by-table bulk load would give an unrealistically tidy file.
// - Prices are per-symbol random walks rounded to the tick size and quantities are rounded to
//   lot sizes, so the data compresses like real data does (neither random bytes nor zeros).
// - The bot "grows": it trades more symbols later in its life, so recent days are denser.
// - Everything comes from a seeded PRNG and a fixed start date: the same --size and --seed give
//   the same rows, so numbers from two runs or two machines are comparable.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeRng, parseArgs, parseSize, sizeLabel } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Written into every generated folder; lets us wipe a folder we made without wiping a user's. */
export const STAMP = '.bench-bot.json';
/** Bumped whenever the generated content changes, so run.mjs never reuses a stale folder. */
export const GENERATOR_VERSION = 1;

const START_TS = Date.UTC(2024, 0, 1); // fixed, for determinism
const MINUTE = 60_000;

/** Symbols the bot trades, in the order it adopted them; tick/lot sizes as on real exchanges. */
export const SYMBOLS = [
  ['BTCUSDT', 42000, 0.1, 0.00001], ['ETHUSDT', 2300, 0.01, 0.0001], ['SOLUSDT', 100, 0.01, 0.01],
  ['BNBUSDT', 310, 0.1, 0.001], ['XRPUSDT', 0.6, 0.0001, 1], ['ADAUSDT', 0.5, 0.0001, 1],
  ['DOGEUSDT', 0.09, 0.00001, 1], ['AVAXUSDT', 35, 0.01, 0.01], ['LINKUSDT', 15, 0.001, 0.01],
  ['DOTUSDT', 7, 0.001, 0.1], ['MATICUSDT', 0.9, 0.0001, 1], ['LTCUSDT', 70, 0.01, 0.001],
  ['TRXUSDT', 0.11, 0.00001, 1], ['ATOMUSDT', 10, 0.001, 0.01], ['UNIUSDT', 6, 0.001, 0.1],
  ['NEARUSDT', 3, 0.001, 0.1], ['APTUSDT', 9, 0.001, 0.01], ['ARBUSDT', 1.8, 0.0001, 0.1],
  ['OPUSDT', 3.5, 0.001, 0.1], ['FILUSDT', 5.5, 0.001, 0.1], ['INJUSDT', 35, 0.01, 0.01],
  ['SUIUSDT', 1.2, 0.0001, 0.1], ['SEIUSDT', 0.6, 0.0001, 1], ['TIAUSDT', 15, 0.001, 0.01],
  ['PEPEUSDT', 0.0000012, 0.0000000001, 1000], ['WIFUSDT', 2.5, 0.0001, 0.1],
  ['RUNEUSDT', 6, 0.001, 0.1], ['FTMUSDT', 0.5, 0.0001, 1], ['AAVEUSDT', 95, 0.01, 0.01],
  ['MKRUSDT', 2000, 0.1, 0.001], ['ETCUSDT', 25, 0.001, 0.01], ['XLMUSDT', 0.12, 0.00001, 1],
].map(([symbol, price, tick, lot]) => ({ symbol, price, tick, lot }));
export const EXCHANGES = ['binance', 'bybit'];
export const STRATEGIES = ['grid-btc-eth', 'mean-reversion-5m', 'momentum-breakout', 'funding-arb', 'dca-weekly', 'market-maker-alts'];

/** Rounds to a step (tick or lot size) without accumulating binary-float noise in the digits. */
export function roundTo(v, step) {
  const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  return Number((Math.round(v / step) * step).toFixed(decimals));
}

const SCHEMA = `
CREATE TABLE tickers (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,            -- ms since epoch
  exchange TEXT NOT NULL,
  symbol TEXT NOT NULL,
  bid REAL NOT NULL, ask REAL NOT NULL, last REAL NOT NULL,
  volume_24h REAL NOT NULL
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  updated_ts INTEGER NOT NULL,
  exchange TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('BUY','SELL')),
  type TEXT NOT NULL,
  price REAL,
  qty REAL NOT NULL,
  filled_qty REAL NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  client_order_id TEXT NOT NULL,
  exchange_order_id TEXT,
  strategy TEXT NOT NULL,
  reduce_only INTEGER NOT NULL DEFAULT 0,
  meta TEXT                        -- JSON, only on some orders
);
CREATE TABLE deals (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  exchange TEXT NOT NULL,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL,
  price REAL NOT NULL,
  qty REAL NOT NULL,
  quote_qty REAL NOT NULL,
  fee REAL NOT NULL,
  fee_asset TEXT NOT NULL,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  client_order_id TEXT NOT NULL,
  trade_id TEXT NOT NULL,
  strategy TEXT NOT NULL,
  is_maker INTEGER NOT NULL,
  realized_pnl REAL
);
CREATE INDEX deals_ts ON deals(ts);
CREATE INDEX deals_symbol_ts ON deals(symbol, ts);
CREATE INDEX orders_ts ON orders(ts);
CREATE INDEX orders_status ON orders(status);
CREATE INDEX tickers_symbol_ts ON tickers(symbol, ts);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

/** Fills the database until its file reaches `targetBytes`. Returns row counts and time span. */
function generateDatabase(dbPath, targetBytes, rng) {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  // Generation only: nothing to lose if the machine dies, and it halves the run time.
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144'); // 256 MiB: keeps the hot index pages of all symbols cached
  db.pragma('temp_store = MEMORY');
  db.exec(SCHEMA);
  const pageSize = db.pragma('page_size', { simple: true });

  const insTicker = db.prepare('INSERT INTO tickers (ts, exchange, symbol, bid, ask, last, volume_24h) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insOrder = db.prepare(`INSERT INTO orders (ts, updated_ts, exchange, symbol, side, type, price, qty, filled_qty, status,
    client_order_id, exchange_order_id, strategy, reduce_only, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insDeal = db.prepare(`INSERT INTO deals (ts, exchange, symbol, side, price, qty, quote_qty, fee, fee_asset, order_id,
    client_order_id, trade_id, strategy, is_maker, realized_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const pageCount = db.prepare('PRAGMA page_count').pluck();

  const state = SYMBOLS.map((s) => ({ ...s, price: s.price, vol: s.price * 1e6 * (0.5 + rng.next()), exchange: rng.pick(EXCHANGES) }));
  const counts = { tickers: 0, orders: 0, deals: 0 };
  let ts = START_TS;
  const seq = { order: 0, trade: 1_000_000_000 };

  /** One simulated minute of bot life. `progress` (0..1) drives how many symbols it trades. */
  const minute = (progress) => {
    const active = Math.min(SYMBOLS.length, 8 + Math.floor(progress * (SYMBOLS.length - 8)));
    for (let i = 0; i < active; i++) {
      tick({ rng, s: state[i], ts, insTicker, counts });
    }
    // Orders: a few per minute across the active symbols, Poisson so that some minutes are busy.
    const n = rng.poisson(1.2 + progress * 2.5);
    for (let k = 0; k < n; k++) {
      const s = state[rng.int(0, active - 1)];
      const strategy = rng.pick(STRATEGIES);
      placeOrder({ rng, s, strategy, ts, insOrder, insDeal, seq, counts });
    }
    ts += MINUTE;
  };

  // One simulated hour per transaction: big enough to be fast, small enough that the WAL stays
  // small and the file overshoots the target size by well under 1 %.
  const hour = db.transaction((progress) => {
    for (let m = 0; m < 60; m++) minute(progress);
  });
  let bytes = 0;
  while (bytes < targetBytes) {
    hour(bytes / targetBytes);
    bytes = pageCount.get() * pageSize;
  }
  db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run('schema_version', '7');
  db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run('last_sync_ts', String(ts));
  // Leave the DB as a bot would find it after a clean restart: WAL mode (which persists in the
  // file header) and an empty WAL, so every tool starts from the same bytes on disk.
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { ...counts, days: Math.round((ts - START_TS) / 86_400_000), firstTs: START_TS, lastTs: ts };
}

function writeBotTree(out, rng) {
  const w = (rel, content, mode) => {
    const file = path.join(out, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode: mode ?? 0o644 });
  };
  w('config/bot.json', JSON.stringify({
    name: 'benchbot', timezone: 'UTC', database: 'data/trades.db', dryRun: false,
    exchanges: {
      binance: { enabled: true, market: 'spot', rateLimitPerMin: 1200, keyFile: 'keys/binance.key' },
      bybit: { enabled: true, market: 'linear', rateLimitPerMin: 600, keyFile: 'keys/bybit.key' },
    },
    risk: { maxOpenOrders: 40, maxPositionUsd: 5000, dailyLossLimitUsd: 250, killSwitch: false },
    telegram: { enabled: true, chatId: '-1001234567890' },
    strategies: STRATEGIES.map((s) => `strategies/${s}.json`),
  }, null, 2) + '\n');
  for (const s of STRATEGIES) {
    w(`config/strategies/${s}.json`, JSON.stringify({
      id: s, enabled: rng.chance(0.8), symbols: SYMBOLS.slice(0, rng.int(2, 12)).map((x) => x.symbol),
      timeframe: rng.pick(['1m', '5m', '15m', '1h']), orderSizeUsd: rng.int(20, 500),
      params: { lookback: rng.int(10, 200), entryZ: Number((1 + rng.next() * 2).toFixed(2)), takeProfitPct: Number((rng.next() * 3).toFixed(2)), stopLossPct: Number((rng.next() * 5).toFixed(2)), gridLevels: rng.int(5, 40) },
    }, null, 2) + '\n');
  }
  // Fake but plausibly shaped secrets: the backup tool must treat them as secrets (mode 0600).
  w('.env', [
    '# benchbot environment (FAKE keys generated by bench/generate.mjs)',
    `BINANCE_API_KEY=${rng.hex(64)}`, `BINANCE_API_SECRET=${rng.hex(64)}`,
    `BYBIT_API_KEY=${rng.hex(18).toUpperCase()}`, `BYBIT_API_SECRET=${rng.hex(36).toUpperCase()}`,
    `TELEGRAM_BOT_TOKEN=${rng.int(1e9, 9e9)}:AA${rng.hex(33)}`, 'DB_PATH=data/trades.db', 'LOG_LEVEL=info', '',
  ].join('\n'), 0o600);
  for (const ex of ['binance', 'bybit']) {
    const body = Buffer.from(rng.hex(96), 'hex').toString('base64').match(/.{1,64}/g).join('\n');
    w(`keys/${ex}.key`, `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`, 0o600);
  }
  // Logs: repetitive structured lines, as real bot logs are (they compress ~10x).
  const logLines = (bytes, startTs) => {
    const lines = [];
    let size = 0, t = startTs;
    while (size < bytes) {
      t += rng.int(5, 4000);
      const s = rng.pick(SYMBOLS).symbol;
      const strat = rng.pick(STRATEGIES);
      const r = rng.next();
      const msg = r < 0.55 ? `tick ${s} last=${(rng.next() * 100).toFixed(4)} spread_bps=${rng.int(1, 30)}`
        : r < 0.8 ? `placed order ${s} ${rng.chance(0.5) ? 'BUY' : 'SELL'} qty=${(rng.next() * 10).toFixed(3)} coid=bb-${strat.slice(0, 6)}-${rng.hex(8)}`
        : r < 0.95 ? `order filled ${s} id=${8_000_000_000 + rng.int(0, 9e6)} pnl=${(rng.gauss() * 3).toFixed(4)}`
        : `WARN rate limit ${rng.int(50, 99)}% used on ${rng.pick(EXCHANGES)}, backing off ${rng.int(100, 2000)}ms`;
      const line = `${new Date(t).toISOString()} ${r < 0.95 ? 'INFO ' : 'WARN '} [${strat}] ${msg}\n`;
      lines.push(line);
      size += line.length;
    }
    return lines.join('');
  };
  w('logs/bot.log', logLines(4 * 1024 * 1024, START_TS + 200 * 86_400_000));
  w('logs/old.log', logLines(1024 * 1024, START_TS + 150 * 86_400_000));
  const old = new Date(Date.now() - 30 * 86_400_000);
  fs.utimesSync(path.join(out, 'logs/old.log'), old, old);
}

/** Removes `out` if it is empty or one we generated earlier; refuses anything else. */
function prepareOut(out) {
  if (fs.existsSync(out)) {
    const entries = fs.readdirSync(out);
    if (entries.length > 0 && !entries.includes(STAMP)) {
      throw new Error(`${out} exists and was not made by bench/generate.mjs (no ${STAMP}); refusing to overwrite it`);
    }
    fs.rmSync(out, { recursive: true, force: true });
  }
  fs.mkdirSync(path.join(out, 'data'), { recursive: true });
}

/**
 * One minute's ticker of symbol state `s`: its price and 24 h volume take a step of a geometric
 * random walk (~2 %/day volatility, so prices stay positive and realistic), and the ticker row is
 * inserted. Shared by the generator and `day.mjs`.
 */
export function tick({ rng, s, ts, insTicker, counts }) {
  s.price *= Math.exp(rng.gauss() * 0.0005);
  s.vol = Math.max(s.price * 1e4, s.vol * Math.exp(rng.gauss() * 0.01));
  const last = roundTo(s.price, s.tick);
  const spread = s.tick * rng.int(1, 4);
  insTicker.run(ts + rng.int(0, 999), s.exchange, s.symbol, roundTo(last - spread / 2, s.tick), roundTo(last + spread / 2, s.tick), last, Number(s.vol.toFixed(2)));
  counts.tickers++;
}

/**
 * One order of `strategy` on symbol state `s` at minute `ts`, and its fills (one, or sometimes a
 * few partial ones): inserted with the prepared statements, `counts.orders`/`counts.deals`
 * bumped, exchange order and trade ids taken from `seq`. Shared by the generator and
 * `day.mjs` so that a simulated day trades exactly as the generated history did.
 */
export function placeOrder({ rng, s, strategy, ts, insOrder, insDeal, seq, counts }) {
  const side = rng.chance(0.5) ? 'BUY' : 'SELL';
  const isMarket = rng.chance(0.15);
  const price = roundTo(s.price * (1 + (side === 'BUY' ? -1 : 1) * rng.next() * 0.002), s.tick);
  const notional = 20 + rng.next() * 480; // 20..500 USDT per order
  const qty = Math.max(s.lot, roundTo(notional / s.price, s.lot));
  const r = rng.next();
  const status = r < 0.62 ? 'FILLED' : r < 0.93 ? 'CANCELED' : r < 0.97 ? 'PARTIALLY_FILLED' : 'EXPIRED';
  const filled = status === 'FILLED' ? qty : status === 'PARTIALLY_FILLED' ? roundTo(qty * rng.next(), s.lot) : 0;
  const orderTs = ts + rng.int(0, 59_999);
  const coid = `bb-${strategy.slice(0, 6)}-${orderTs.toString(36)}-${rng.hex(8)}`;
  const meta = rng.chance(0.2)
    ? JSON.stringify({ signal: rng.pick(['rsi_oversold', 'breakout', 'grid_level', 'funding', 'rebalance']), score: Number(rng.next().toFixed(3)), grid: rng.int(1, 40) })
    : null;
  const orderId = insOrder.run(orderTs, orderTs + rng.int(50, 90_000), s.exchange, s.symbol, side, isMarket ? 'MARKET' : 'LIMIT',
    isMarket ? null : price, qty, filled, status, coid, String(8_000_000_000 + ++seq.order * 7 + rng.int(0, 6)), strategy,
    rng.chance(0.1) ? 1 : 0, meta).lastInsertRowid;
  counts.orders++;
  // One fill per filled order, sometimes split into several partial fills.
  if (filled > 0) {
    const parts = rng.chance(0.25) ? rng.int(2, 4) : 1;
    let left = filled;
    for (let p = 0; p < parts && left > 0; p++) {
      const q = p === parts - 1 ? left : Math.max(s.lot, roundTo(left * rng.next(), s.lot));
      left = roundTo(left - q, s.lot);
      const fillPrice = isMarket ? roundTo(s.price, s.tick) : price;
      const maker = !isMarket && rng.chance(0.7);
      insDeal.run(orderTs + rng.int(10, 30_000), s.exchange, s.symbol, side, fillPrice, q, Number((q * fillPrice).toFixed(8)),
        Number((q * fillPrice * (maker ? 0.0002 : 0.0005)).toFixed(8)), 'USDT', orderId, coid, String(++seq.trade),
        strategy, maker ? 1 : 0, side === 'SELL' ? Number((rng.gauss() * notional * 0.01).toFixed(4)) : null);
      counts.deals++;
    }
  }
}

export function generate({ size, out, seed }) {
  const targetBytes = parseSize(size);
  const started = performance.now();
  prepareOut(out);
  // Stamp first (incomplete), so that a run killed half-way leaves a folder we may wipe later.
  fs.writeFileSync(path.join(out, STAMP), JSON.stringify({ generatorVersion: GENERATOR_VERSION, complete: false }) + '\n');
  const rng = makeRng(seed);
  const rows = generateDatabase(path.join(out, 'data/trades.db'), targetBytes, rng);
  writeBotTree(out, makeRng(seed + 1)); // separate stream: the tree does not shift when the DB size changes
  const info = {
    generatorVersion: GENERATOR_VERSION, complete: true, size: sizeLabel(targetBytes), targetBytes, seed,
    dbBytes: fs.statSync(path.join(out, 'data/trades.db')).size, rows,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  fs.writeFileSync(path.join(out, STAMP), JSON.stringify(info, null, 2) + '\n');
  return info;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const args = parseArgs(process.argv.slice(2), {
      size: { default: '1GiB' }, out: { default: undefined }, seed: { type: 'number', default: 42 },
    });
    if (args.help) {
      console.log('usage: node bench/generate.mjs [--size 1GiB|256MiB|<bytes>] [--out <dir>] [--seed N]');
      process.exit(0);
    }
    const out = path.resolve(args.out ?? path.join(here, '.work', `bot-${sizeLabel(parseSize(args.size))}`));
    const info = generate({ size: args.size, out, seed: args.seed });
    console.log(JSON.stringify({ out, ...info }, null, 2));
  } catch (err) {
    console.error(`generate: ${err.message}`);
    process.exit(1);
  }
}
