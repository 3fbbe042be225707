// Builds examples/bot: a small trading bot's folder with a SQLite database (WAL mode; deals,
// orders, tickers), config JSON, a .env, exchange key files and logs. Deterministic, so the
// committed copy can be rebuilt: node examples/make-example-bot.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bot');
fs.rmSync(root, { recursive: true, force: true });
for (const dir of ['data', 'config/strategies', 'keys', 'logs']) fs.mkdirSync(path.join(root, dir), { recursive: true });

let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

const db = new Database(path.join(root, 'data/trades.db'));
db.pragma('journal_mode = WAL');
db.exec(`
  CREATE TABLE deals (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
                      price REAL NOT NULL, qty REAL NOT NULL, fee REAL NOT NULL, pnl REAL, strategy TEXT);
  CREATE INDEX deals_ts ON deals(ts);
  CREATE INDEX deals_symbol_ts ON deals(symbol, ts);
  CREATE TABLE orders (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
                       price REAL NOT NULL, qty REAL NOT NULL, status TEXT NOT NULL, client_id TEXT NOT NULL);
  CREATE INDEX orders_ts ON orders(ts);
  CREATE INDEX orders_status ON orders(status);
  CREATE TABLE tickers (symbol TEXT NOT NULL, ts INTEGER NOT NULL, bid REAL NOT NULL, ask REAL NOT NULL, volume REAL NOT NULL);
  CREATE INDEX tickers_symbol_ts ON tickers(symbol, ts);
`);
const symbols = { BTCUSDT: 64000, ETHUSDT: 3200, SOLUSDT: 150 };
const insDeal = db.prepare('INSERT INTO deals (ts, symbol, side, price, qty, fee, pnl, strategy) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
const insOrder = db.prepare('INSERT INTO orders (ts, symbol, side, price, qty, status, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)');
const insTicker = db.prepare('INSERT INTO tickers (symbol, ts, bid, ask, volume) VALUES (?, ?, ?, ?, ?)');
let ts = Date.UTC(2026, 8, 1);
db.transaction(() => {
  for (let minute = 0; minute < 6000; minute++) {
    ts += 60_000;
    for (const [symbol, base] of Object.entries(symbols)) {
      const price = base * (1 + (rand() - 0.5) * 0.02);
      insTicker.run(symbol, ts, price * 0.9999, price * 1.0001, rand() * 100);
      if (rand() < 0.3) {
        const side = rand() < 0.5 ? 'buy' : 'sell';
        const qty = Number((rand() * 0.5).toFixed(4));
        insOrder.run(ts, symbol, side, price, qty, rand() < 0.9 ? 'filled' : 'cancelled', `bb-${minute}-${symbol}`);
        insDeal.run(ts, symbol, side, price, qty, price * qty * 0.001, (rand() - 0.5) * 20, 'grid');
      }
    }
  }
})();
db.pragma('wal_checkpoint(TRUNCATE)');
db.close();

const write = (rel, text, mode = 0o644) => fs.writeFileSync(path.join(root, rel), text, { mode });
write('config/bot.json', `${JSON.stringify({ exchange: 'binance', symbols: Object.keys(symbols), maxPositionUsd: 2500, riskPerTrade: 0.01, paper: true }, null, 2)}\n`);
write('config/strategies/grid.json', `${JSON.stringify({ name: 'grid', levels: 12, spacingPct: 0.4, takeProfitPct: 0.8 }, null, 2)}\n`);
// Fake credentials: the example must look real to the backup, never be real.
write('.env', 'EXCHANGE=binance\nBINANCE_API_KEY=example-not-a-real-key-0000\nBINANCE_API_SECRET=example-not-a-real-secret-0000\nLOG_LEVEL=info\n', 0o600);
write('keys/binance.key', 'example-not-a-real-private-key\n', 0o600);
write('logs/bot.log', Array.from({ length: 200 }, (_, i) => `2026-11-0${1 + (i % 9)}T12:00:${String(i % 60).padStart(2, '0')}Z info order filled id=${i}`).join('\n') + '\n');
console.log(`example bot written to ${root}`);
