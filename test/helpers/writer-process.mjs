// A stand-in for a trading bot: commits small transactions to data/trades.db as fast as it can
// (one deal insert + the counter update, like a bot recording a fill), with a busy timeout as a
// real bot would set. Prints "ready <n>" after its first commit and, on SIGTERM, one JSON line
// with its commit count, errors and latencies. Any error is counted, never fatal.
import Database from 'better-sqlite3';
import { stopSignal } from './stop-signal.mjs';

const [file] = process.argv.slice(2);
const db = new Database(file, { timeout: 10_000 });
const insert = db.prepare('INSERT INTO deals (ts, symbol, price, qty, note) VALUES (?, ?, ?, ?, ?)');
const bump = db.prepare('UPDATE counter SET n = n + 1 RETURNING n');
const commit = db.transaction((i) => {
  insert.run(Date.now(), 'BTCUSDT', 60000 + i, 0.01, 'live fill');
  return bump.get().n;
});
let commits = 0;
let errors = 0;
let lastN = 0;
let maxMs = 0;
const errorMessages = [];
const shouldStop = stopSignal();
function step() {
  if (shouldStop()) {
    process.stdout.write(`${JSON.stringify({ commits, errors, lastN, maxMs, errorMessages: errorMessages.slice(0, 5) })}\n`);
    db.close();
    process.exit(0);
  }
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    try {
      lastN = commit(commits);
      commits++;
      if (commits === 1) process.stdout.write(`ready ${lastN}\n`);
    } catch (error) {
      errors++;
      errorMessages.push(String(error.message));
    }
    maxMs = Math.max(maxMs, performance.now() - t0);
  }
  setImmediate(step);
}
step();
