import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BackupNotFoundError, IntegrityError, RestoreRefusedError, type Manifest, type ManifestEntry } from '@botbackup/core';
import { syncDir, writeDurably, type BackupStore } from '@botbackup/storage';
import { checkDatabase } from './check-database.js';
import { silentLogger, type Logger } from './logger.js';
import type { ProgressListener } from './progress.js';
import { archiveObject, readArchive } from './read-archive.js';

export interface RestoreOptions {
  store: BackupStore;
  manifest: Manifest;
  /** Folder to restore into; created when missing. */
  target: string;
  /** Replace existing files (each by atomic rename, after the new copy is complete and checked). */
  force?: boolean;
  /** Restore only this file or folder (a path inside the backup). */
  only?: string | undefined;
  logger?: Logger;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface RestoreResult {
  backupId: string;
  target: string;
  files: number;
  bytes: number;
  databases: { path: string; sha256: string; integrityCheck: 'ok' }[];
  /** Wall time of the whole restore, fsync and integrity checks included. */
  durationMs: number;
  /** Part of durationMs spent in PRAGMA integrity_check. */
  integrityCheckMs: number;
}

/** Suffixes SQLite keeps beside a database; stale ones would corrupt a restored file. */
const SIDECARS = ['-wal', '-shm', '-journal'];

/**
 * Restores a backup into `target`. Every byte is checked before anything becomes visible:
 * entries are written into a hidden staging folder inside the target, each checked against its
 * sha256 and fsync-ed; the stored archive's own sha256 is checked at its end; databases pass
 * PRAGMA integrity_check. Only then is each file moved into place with an atomic rename (stale
 * `-wal`/`-shm`/`-journal` files of a database removed first). Existing files are never
 * replaced unless `force` is set. On any failure the staging folder is removed and the target
 * is left as it was.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { manifest, store } = options;
  const logger = (options.logger ?? silentLogger).child({ backupId: manifest.id });
  const target = path.resolve(options.target);
  const selected = selectEntries(manifest, options.only);

  // Refuse before reading a byte if anything would be overwritten, or (even with --force) if
  // a folder stands where a file goes: the renames at the end must all succeed.
  for (const entry of selected) {
    const dest = path.join(target, entry.path);
    if ((await fs.lstat(dest).catch(() => undefined))?.isDirectory()) {
      throw new RestoreRefusedError('TARGET_EXISTS', dest, `${dest} is a folder, where the backup has a file; move it away first.`);
    }
  }
  if (!options.force) {
    const conflicts: string[] = [];
    for (const entry of selected) {
      const names = entry.kind === 'database' ? ['', ...SIDECARS].map((s) => entry.path + s) : [entry.path];
      for (const name of names) if (await exists(path.join(target, name))) conflicts.push(name);
    }
    if (conflicts.length > 0) {
      throw new RestoreRefusedError(
        'TARGET_EXISTS',
        path.join(target, conflicts[0]!),
        `${path.join(target, conflicts[0]!)}${conflicts.length > 1 ? ` and ${conflicts.length - 1} more file(s)` : ''} already exist; restore into an empty folder, or add --force to replace them.`,
      );
    }
  }

  const createdTarget = !(await exists(target));
  await fs.mkdir(target, { recursive: true, mode: 0o700 });
  const staging = path.join(target, `.botbackup-restore-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(staging, { mode: 0o700 });
  const selectedPaths = new Set(selected.map((e) => e.path));
  let integrityCheckMs = 0;
  let bytes = 0;
  try {
    const total = archiveObject(manifest).size;
    let read = 0;
    await readArchive({
      store,
      manifest,
      signal: options.signal,
      select: (entry) => selectedPaths.has(entry.path),
      onBytes: (n) => {
        read += n;
        options.onProgress?.({ phase: 'read', done: read, total });
      },
      onEntry: async (entry, body) => {
        await writeEntry(path.join(staging, entry.path), body, restoredMode(entry), new Date(entry.mtime));
        bytes += entry.size;
      },
    });

    const databases: RestoreResult['databases'] = [];
    for (const entry of selected.filter((e) => e.kind === 'database')) {
      const t0 = performance.now();
      options.onProgress?.({ phase: 'integrity', done: 0, total: entry.size, subject: entry.path });
      const check = await checkDatabase(path.join(staging, entry.path), 'integrity_check');
      integrityCheckMs += performance.now() - t0;
      if (!check.ok) {
        throw new IntegrityError(
          'DATABASE_CHECK_FAILED',
          `Backup ${manifest.id}: the restored database "${entry.path}" fails PRAGMA integrity_check (${check.messages.slice(0, 3).join('; ')}); nothing was replaced.`,
          { backupId: manifest.id, subject: entry.path },
        );
      }
      databases.push({ path: entry.path, sha256: entry.sha256, integrityCheck: 'ok' });
    }

    // Everything is complete and checked: move it into place.
    const dirs = new Set<string>();
    for (const entry of selected) {
      const dest = path.join(target, entry.path);
      await fs.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
      if (entry.kind === 'database') {
        // A stale WAL beside the new file would be replayed into it: remove the sidecars first.
        for (const suffix of SIDECARS) await fs.rm(dest + suffix, { force: true });
      }
      await fs.rename(path.join(staging, entry.path), dest);
      dirs.add(path.dirname(dest));
    }
    for (const dir of dirs) await syncDir(dir);
    logger.info({ target, files: selected.length, bytes }, 'restore complete');
    return { backupId: manifest.id, target, files: selected.length, bytes, databases, durationMs: performance.now() - started, integrityCheckMs };
  } catch (error) {
    if (createdTarget) await fs.rm(target, { recursive: true, force: true });
    throw error;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** The entries `--only` names: the path itself or everything under it. */
export function selectEntries(manifest: Manifest, only: string | undefined): ManifestEntry[] {
  if (only === undefined) return manifest.entries;
  const wanted = only.replace(/^\.\/+/, '').replace(/\/+$/, '');
  const selected = manifest.entries.filter((e) => e.path === wanted || e.path.startsWith(`${wanted}/`));
  if (selected.length === 0)
    throw new BackupNotFoundError(`Backup ${manifest.id} holds no file or folder "${only}"; run "botbackup show ${manifest.id}" to see its contents.`);
  return selected;
}

/** Secret files are always restored 0600, whatever mode they had. */
function restoredMode(entry: ManifestEntry): number {
  return entry.kind === 'secret' ? 0o600 : entry.mode & 0o777;
}

async function writeEntry(file: string, body: Readable, mode: number, mtime: Date): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    // One fsync at the end: the least work, and a restore is not written beside a trading bot.
    await writeDurably(handle, body, { flushBehind: false });
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
  await fs.utimes(file, mtime, mtime);
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
