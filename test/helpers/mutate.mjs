// Runs SQL against a database from its own process, as the bot would, then closes it (the last
// connection to close checkpoints the WAL into the file). Usage: node mutate.mjs <db> <sql>
import Database from 'better-sqlite3';

const [file, sql] = process.argv.slice(2);
const db = new Database(file, { timeout: 10_000 });
db.exec(sql);
db.close();
