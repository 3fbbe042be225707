// The compose test's bot: a trading bot's database as such a bot writes it (SQLite, WAL mode),
// run in its own container beside botbackup's.
//
//   node trader.mjs seed <file> <MiB>   creates the database with about <MiB> of past trades
//   node trader.mjs run <file>          prints "trades <count> <last id>", then commits one
//                                       trade every 50 ms until SIGTERM
//   node trader.mjs count <file>        prints "trades <count> <last id>" and exits
//
// better-sqlite3 comes from botbackup's own install (/app in the image; BETTER_SQLITE3_FROM on
// the host), so the bot needs nothing of its own.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const Database = createRequire(process.env.BETTER_SQLITE3_FROM ?? '/app/package.json')('better-sqlite3');
const [mode, file, mib] = process.argv.slice(2);
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS trades (id INTEGER PRIMARY KEY, at TEXT NOT NULL, symbol TEXT NOT NULL, qty REAL NOT NULL, price REAL NOT NULL, memo BLOB)');
const insert = db.prepare('INSERT INTO trades (at, symbol, qty, price, memo) VALUES (?, ?, ?, ?, ?)');
const trade = (memo) => insert.run(new Date().toISOString(), ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'][crypto.randomInt(3)], Math.random(), 100 + Math.random() * 1e4, memo);
const counted = () => {
  const { n, last } = db.prepare('SELECT count(*) AS n, coalesce(max(id), 0) AS last FROM trades').get();
  return `trades ${n} ${last}`;
};

if (mode === 'seed') {
  // Memos half random, half repeated: a database that compresses about as a real one does.
  const rows = Math.ceil((Number(mib) * 1024 * 1024) / 2048);
  const many = db.transaction((count) => {
    for (let i = 0; i < count; i++) trade(Buffer.concat([crypto.randomBytes(1024), Buffer.alloc(1024, i % 251)]));
  });
  for (let done = 0; done < rows; done += 10_000) many(Math.min(10_000, rows - done));
  db.pragma('wal_checkpoint(TRUNCATE)');
  console.log(counted());
  db.close();
} else if (mode === 'count') {
  console.log(counted());
  db.close();
} else if (mode === 'run') {
  console.log(counted());
  const timer = setInterval(() => trade(null), 50);
  process.on('SIGTERM', () => {
    clearInterval(timer);
    db.close();
    process.exit(0);
  });
} else {
  console.error('usage: trader.mjs seed <file> <MiB> | run <file> | count <file>');
  process.exit(2);
}
