// A bot that commits numbered trades at a steady rate, one per transaction, as a trading bot
// does: trade i has id i and ts = the ms just before its commit. After each commit it appends
// "<id> <ts> <ms when the commit returned>\n" to <truth> (what the bot knows it committed), so a
// test that deletes the database can still say what the last committed trade was. Prints "ready"
// after its first commit; runs until killed or, with SIGTERM, prints one JSON line of its commit
// latencies ({ commits, p50Ms, p99Ms, maxMs }), closes the database and exits.
// Usage: node trade-writer.mjs <db> <truth file> [commits per second = 100] [autocheckpoint pages = 1000]
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { stopSignal } from './stop-signal.mjs';

const [file, truthFile, rate = '100', autocheckpoint = '1000'] = process.argv.slice(2);
const db = new Database(file, { timeout: 5000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma(`wal_autocheckpoint = ${Number(autocheckpoint)}`);
db.exec(
  'create table if not exists trades (id integer primary key, ts integer not null, symbol text not null, price real not null, qty real not null, note text)',
);
const insert = db.prepare('insert into trades (id, ts, symbol, price, qty, note) values (?, ?, ?, ?, ?, ?)');
const truth = fs.openSync(truthFile, 'a');
let next = (db.prepare('select max(id) as m from trades').get().m ?? 0) + 1;
const shouldStop = stopSignal();
const latencies = [];
let ready = false;
const interval = 1000 / Number(rate);
let due = performance.now();
function step() {
  if (shouldStop()) {
    const sorted = latencies.sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    process.stdout.write(`${JSON.stringify({ commits: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 })}\n`);
    db.close();
    process.exit(0);
  }
  const now = performance.now();
  while (due <= now) {
    const id = next++;
    const ts = Date.now();
    // Autocommit: one transaction per trade.
    const t0 = performance.now();
    insert.run(id, ts, ['BTC', 'ETH', 'SOL'][id % 3], 100 + (id % 1000) / 10, 1 + (id % 7), 'x'.repeat(100 + (id % 200)));
    latencies.push(performance.now() - t0);
    // Written once the commit returned: the bot knows trade id is committed.
    fs.writeSync(truth, `${id} ${ts} ${Date.now()}\n`);
    // After this process's first commit, also on a database an earlier writer filled.
    if (!ready) {
      ready = true;
      process.stdout.write('ready\n');
    }
    due += interval;
  }
  setTimeout(step, Math.max(0, due - performance.now()));
}
step();
