import path from 'node:path';
import { joinByPath, planFile, planIncremental, SourceError, type BackupPlan, type PageMap, type PlannedFile } from '@botbackup/core';
import { linkTargetHash } from '../../archive/index.js';
import { FileListWriter, readLocalFileList } from '../../repository/index.js';
import type { CollectedFile, CollectedFiles } from '../../source/index.js';
import { hashFile } from '../../support/index.js';
import type { ParentSearch } from './find-parent.js';
import type { BackupRun } from './run.js';

/** A file found but not backed up, with why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

/**
 * What an incremental's planning left on disk for the stages after it: the parent's file list,
 * and this backup's planned list (every file, `storedIn` the parent's backup where its content
 * is the same, this one where it is stored again), both local files in path order; and which of
 * the collected files (by index) are stored again.
 */
export interface PlannedLists {
  parentList: string;
  plannedList: string;
  stored: Uint8Array;
}

/**
 * What this backup stores. Full, when there is no parent to build on (with why). On a parent,
 * every file is hashed and compared with the parent's record of it as the two lists are read
 * side by side in path order (nothing is held per file but a byte), then the pure
 * {@link planIncremental} decides which databases become page deltas, or that the backup must be
 * full after all (a chain limit, too much change). Returns the plan, the lists (incremental) and
 * the files found but not backed up so far: the walk's, and those that vanished or shrank before
 * they could be hashed.
 */
export async function planBackup(
  run: BackupRun,
  collected: { files: CollectedFiles; skipped: readonly SkippedFile[] },
  found: ParentSearch,
  pageMaps: ReadonlyMap<string, PageMap>,
): Promise<{ plan: BackupPlan; lists: PlannedLists | undefined; skipped: SkippedFile[] }> {
  const { source } = run;
  const skipped = [...collected.skipped];
  if (!('parent' in found)) return { plan: { type: 'full', reason: found.reason }, lists: undefined, skipped };
  const { parentList } = found;
  const lists: PlannedLists = { parentList, plannedList: path.join(run.staging, 'planned-files.ndjson'), stored: new Uint8Array(collected.files.length) };
  const fileBytes = await planFiles(run, collected.files, lists, skipped);
  const plan = planIncremental({
    parent: found.parent,
    parentPageMaps: found.pageMaps,
    limits: source.incremental,
    fileBytes,
    databases: source.databases.map((db) => ({
      path: db.relativePath,
      pageSize: pageMaps.get(db.relativePath)!.pageSize,
      pageCount: pageMaps.get(db.relativePath)!.pageCount,
      pageMap: pageMaps.get(db.relativePath)!,
    })),
  });
  if (plan.type === 'full') run.log.info({ reason: plan.reason }, 'making a full backup instead of an incremental');
  return { plan, lists: plan.type === 'full' ? undefined : lists, skipped };
}

/** Hashes each file and writes its planned record (see {@link PlannedLists}); returns the bytes stored again and of all files. */
async function planFiles(run: BackupRun, files: CollectedFiles, lists: PlannedLists, skipped: SkippedFile[]): Promise<{ changed: number; all: number }> {
  const writer = new FileListWriter(lists.plannedList, run.backupId);
  const bytes = { changed: 0, all: 0 };
  const hashed = hashFiles(files, run.contentKey, run.options.signal, skipped);
  try {
    for await (const [{ index, file }, old] of joinByPath(hashed, readLocalFileList(lists.parentList, 'of the parent'))) {
      const record = planFile(file, old, run.backupId);
      await writer.add(record);
      bytes.all += file.size;
      if (record.storedIn !== run.backupId) continue;
      lists.stored[index] = 1;
      bytes.changed += file.size;
    }
  } finally {
    await writer.close();
  }
  return bytes;
}

/** sha256 (HMAC-SHA256 under `contentKey`, in an encrypted repository) of each file's first `size` bytes (the size it was collected with), one file at a time. */
async function* hashFiles(
  files: CollectedFiles,
  contentKey: Buffer | undefined,
  signal: AbortSignal | undefined,
  skipped: { path: string; reason: string }[],
): AsyncGenerator<{ path: string; index: number; file: PlannedFile }> {
  for (let index = 0; index < files.length; index++) {
    const f: CollectedFile = files.at(index);
    const mtime = f.mtime.toISOString();
    if (f.linkTarget !== undefined) {
      const file = { path: f.relPath, kind: f.kind, mode: f.mode, size: 0, mtime, sha256: linkTargetHash(f.linkTarget, contentKey), linkTarget: f.linkTarget };
      yield { path: f.relPath, index, file };
      continue;
    }
    const hashed = await hashFile(f.absPath, { size: f.size, signal, key: contentKey }).catch((error: NodeJS.ErrnoException) => {
      if (signal?.aborted) throw error;
      // Gone since the walk: skipped, as when it vanishes before the archive reaches it.
      if (error.code === 'ENOENT') return undefined;
      throw new SourceError('FILE_UNREADABLE', f.absPath, `Cannot read ${f.absPath} (${error.code ?? error.message}); check its permissions.`, {
        cause: error,
      });
    });
    if (!hashed) {
      skipped.push({ path: f.relPath, reason: 'vanished before it was read' });
      continue;
    }
    if (hashed.bytes < f.size) {
      skipped.push({ path: f.relPath, reason: `changed size while it was read (shrank from ${f.size} to ${hashed.bytes} bytes); not stored` });
      continue;
    }
    yield { path: f.relPath, index, file: { path: f.relPath, kind: f.kind, mode: f.mode, size: f.size, mtime, sha256: hashed.sha256 } };
  }
}
