import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import Database from 'better-sqlite3';

/** Which of a database's `-wal` and `-shm` files exist. */
export interface WalSidecars {
  wal: boolean;
  shm: boolean;
}

/**
 * What changes when anything writes `file` or puts another file in its place (inode, size,
 * modification and change times, to the nanosecond): two equal readings mean no write came in
 * between. For copies made without a lock (a closed database) and the WAL follower's proof that
 * no checkpoint wrote the database file.
 */
export function fileVersion(file: string): string {
  const s = statSync(file, { bigint: true });
  return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

export async function walSidecars(db: string): Promise<WalSidecars> {
  const exists = (p: string) =>
    fs.lstat(p).then(
      () => true,
      () => false,
    );
  return { wal: await exists(`${db}-wal`), shm: await exists(`${db}-shm`) };
}

/**
 * Removes the `-wal` and `-shm` files that botbackup's read-only connections made beside a
 * WAL-mode database that had none (a read-only connection creates them and cannot remove them;
 * left there, a root-owned `-shm` keeps a bot that runs as another user from opening its
 * database). It does it the way SQLite does when the last connection closes: one read-write
 * connection is opened and closed, and SQLite removes them only if it gets the database's
 * exclusive lock, i.e. when no other process (the bot) uses them. The WAL is empty, so nothing
 * is written to the database. A `-wal` with frames in it (another process wrote) is left alone.
 */
export async function tidyWalSidecars(db: string, before: WalSidecars): Promise<void> {
  if (before.wal || before.shm) return;
  const now = await walSidecars(db);
  if (!now.wal && !now.shm) return;
  const walSize = await fs.stat(`${db}-wal`).then(
    (s) => s.size,
    () => 0,
  );
  if (walSize > 0) return;
  try {
    const connection = new Database(db, { fileMustExist: true, timeout: 0 });
    try {
      // A read opens the WAL; only then does closing the last connection remove it.
      connection.pragma('schema_version');
    } finally {
      connection.close();
    }
  } catch {
    // Not writable by us, or busy: the files stay, as SQLite would leave them.
  }
}
