// A bot that makes its WAL work hard: transactions of every size (inserts, updates, deletes),
// a small autocheckpoint, and its own PASSIVE and TRUNCATE checkpoints now and then (a TRUNCATE
// that a reader blocks reports busy and is counted). Prints "ready" after its first
// commit and "busy" after its first busy checkpoint; on SIGTERM prints one JSON line ({ commits, checkpoints, busy }) and closes the database.
// Usage: node wal-writer.mjs <db> [autocheckpoint pages] (commit i is wal-writer-ops.mjs's)
import Database from 'better-sqlite3';
import { stopSignal } from './stop-signal.mjs';
import { prepareOps } from './wal-writer-ops.mjs';

const [file, autocheckpoint = '16'] = process.argv.slice(2);
const db = new Database(file, { timeout: 100 });
db.pragma('journal_mode = WAL');
db.pragma(`wal_autocheckpoint = ${Number(autocheckpoint)}`);
const commit = prepareOps(db);
let commits = 0;
let checkpoints = 0;
let busy = 0;
const shouldStop = stopSignal();
function step() {
  if (shouldStop()) {
    process.stdout.write(`${JSON.stringify({ commits, checkpoints, busy })}\n`);
    db.close();
    process.exit(0);
  }
  for (let k = 0; k < 10; k++) {
    const i = commits;
    commit(i);
    commits++;
    if (commits === 1) process.stdout.write('ready\n');
    if (i % 97 === 0) {
      // SQLite reports a checkpoint that readers kept from finishing as busy = 1, not as an error.
      const [result] = db.pragma(i % 2 ? 'wal_checkpoint(PASSIVE)' : 'wal_checkpoint(TRUNCATE)');
      if (result.busy) {
        busy++;
        // A test may wait for this: a checkpoint some reader kept from finishing.
        if (busy === 1) process.stdout.write('busy\n');
      } else checkpoints++;
    }
  }
  setImmediate(step);
}
step();
