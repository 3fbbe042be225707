import fs from 'node:fs';
import type { CommittedWal } from '@botbackup/core';
import { readWalIndex } from './sqlite-wal.js';

/**
 * What a database's WAL holds committed right now, from its WAL-index (the `-shm` file) alone:
 * no SQLite connection, no lock, nothing written, so a reader on a read-only mount or another
 * user's folder disturbs nothing (`status` compares it with the newest shipped segment).
 *
 * - `-shm` readable: its header's salts and `mxFrame`;
 * - no `-shm` and no `-wal` (or an empty one): `maxFrame` 0, since the last connection to close
 *   checkpointed every frame into the database file (salts then mean nothing);
 * - anything else (a `-wal` with frames but no `-shm`: a connection crashed; a file this user
 *   cannot read; a header never read whole): undefined, cannot tell.
 *
 * The descriptor is closed at once, so this must not run in a process that holds SQLite
 * connections to the same database: closing any descriptor of a file drops every POSIX lock the
 * process holds on it (the follower's read marks included).
 */
export function readCommittedWal(databasePath: string): CommittedWal | undefined {
  let fd: number;
  try {
    fd = fs.openSync(`${databasePath}-shm`, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    try {
      return fs.statSync(`${databasePath}-wal`).size === 0 ? { salt: [0, 0], maxFrame: 0 } : undefined;
    } catch (walError) {
      return (walError as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(databasePath) ? { salt: [0, 0], maxFrame: 0 } : undefined;
    }
  }
  try {
    const header = readWalIndex(fd);
    return header ? { salt: header.salt, maxFrame: header.maxFrame } : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
