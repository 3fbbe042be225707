import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, type RestorableItem } from '@botbackup/core';
import type { PageRebuild } from '../../archive/index.js';
import { checkDatabase } from '../../sqlite/index.js';
import type { StagingRun } from './stage.js';

/** What the checks proved of the staged databases. */
export interface CheckedDatabases {
  databases: { path: string; sha256: string; integrityCheck: 'ok' | 'not run' }[];
  /** Bytes of the databases. */
  bytes: number;
  /** Time spent in PRAGMA integrity_check. */
  integrityCheckMs: number;
}

/**
 * Proves each staged database: one rebuilt from page deltas must have the sha256 the backup
 * recorded (a snapshot member's sha256 was checked as it was read); each gets its mode and mtime
 * and is fsync-ed. With `integrityCheck`, each must also pass PRAGMA integrity_check.
 *
 * The sha256 is the proof a restore needs: the bytes are exactly those of the snapshot that
 * passed quick_check when it was backed up. integrity_check reads the whole database again and
 * checks every index against its table (about 7 s per GiB on 2 cores, twice the rest of the
 * restore), so it runs where a deeper look is the point: `restore --deep`, `verify --deep`,
 * drills and `recover`, which picks the newest backup that passes it.
 */
export async function checkDatabases(
  run: StagingRun,
  databases: readonly RestorableItem[],
  rebuilt: ReadonlyMap<string, PageRebuild>,
  integrityCheck: boolean,
  replayed: ReadonlySet<string> = new Set(),
): Promise<CheckedDatabases> {
  const checked: CheckedDatabases = { databases: [], bytes: 0, integrityCheckMs: 0 };
  for (const entry of databases) {
    const file = path.join(run.staging, entry.path);
    const rebuild = rebuilt.get(entry.path);
    if (rebuild) checkRebuilt(run, entry, rebuild);
    const handle = await fs.open(file, 'r+');
    try {
      await handle.chmod(entry.mode & 0o777);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.utimes(file, new Date(entry.mtime), new Date(entry.mtime));
    checked.bytes += entry.size;
    // WAL frames written after the proven backup: no recorded hash covers the result, so SQLite checks it.
    const replay = replayed.has(entry.path);
    if (!integrityCheck && !replay) {
      checked.databases.push({ path: entry.path, sha256: entry.sha256, integrityCheck: 'not run' });
      continue;
    }
    const t0 = performance.now();
    const onProgress = run.onProgress && ((done: number, total: number) => run.onProgress!({ phase: 'integrity', done, total, subject: entry.path }));
    onProgress?.(0, entry.size);
    const check = await checkDatabase(file, integrityCheck ? 'integrity_check' : 'quick_check', run.signal, { onProgress });
    checked.integrityCheckMs += performance.now() - t0;
    if (!check.ok) {
      throw new IntegrityError(
        'DATABASE_CHECK_FAILED',
        `Backup ${run.manifest.id}${replay ? ' with its shipped WAL applied' : ''}: the restored database "${entry.path}" fails PRAGMA ${integrityCheck ? 'integrity_check' : 'quick_check'} (${check.messages.slice(0, 3).join('; ')}); nothing was replaced.`,
        { backupId: run.manifest.id, subject: entry.path },
      );
    }
    checked.databases.push({ path: entry.path, sha256: entry.sha256, integrityCheck: integrityCheck ? 'ok' : 'not run' });
  }
  return checked;
}

/**
 * The chain was applied: proves it rebuilt exactly the database this backup recorded. The hash
 * was taken as the rebuild wrote the snapshot, over every byte of the result in file order (see
 * PageRebuild.writeBase); none means the snapshot under the deltas was never written.
 */
function checkRebuilt(run: StagingRun, entry: RestorableItem, rebuild: PageRebuild): void {
  if (rebuild.sha256 !== entry.sha256) {
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `Backup ${run.manifest.id}: the database "${entry.path}" rebuilt from its chain of ${run.chainLength} backups does not match its recorded sha256; nothing was replaced.`,
      { backupId: run.manifest.id, subject: entry.path },
    );
  }
}
