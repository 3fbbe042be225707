import { planIncremental, SourceError, type BackupPlan, type PageMap, type PlannedFile } from '@botbackup/core';
import { linkTargetHash } from '../../archive/index.js';
import type { CollectedFile } from '../../source/index.js';
import { hashFile } from '../../support/index.js';
import type { ParentSearch } from './find-parent.js';
import type { BackupRun } from './run.js';

/** A file found but not backed up, with why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

/**
 * What this backup stores. Full, when there is no parent to build on (with why). On a parent,
 * every file is hashed and the pure {@link planIncremental} decides which files are stored again
 * and which databases become page deltas, or that the backup must be full after all (a chain
 * limit, too much change). Returns the plan, and the files found but not backed up so far: the
 * walk's, and those that vanished or shrank before they could be hashed.
 */
export async function planBackup(
  run: BackupRun,
  collected: { files: readonly CollectedFile[]; skipped: readonly SkippedFile[] },
  found: ParentSearch,
  pageMaps: ReadonlyMap<string, PageMap>,
): Promise<{ plan: BackupPlan; skipped: SkippedFile[] }> {
  const { source } = run;
  let plan: BackupPlan = { type: 'full', reason: 'reason' in found ? found.reason : '' };
  const skipped = [...collected.skipped];
  if ('parent' in found) {
    const files = await hashFiles(collected.files, run.contentKey, run.options.signal, skipped);
    plan = planIncremental({
      backupId: run.backupId,
      parent: found.parent,
      parentPageMaps: found.pageMaps,
      limits: source.incremental,
      files,
      databases: source.databases.map((db) => ({
        path: db.relativePath,
        pageSize: pageMaps.get(db.relativePath)!.pageSize,
        pageCount: pageMaps.get(db.relativePath)!.pageCount,
        pageMap: pageMaps.get(db.relativePath)!,
      })),
    });
    if (plan.type === 'full') run.log.info({ reason: plan.reason }, 'making a full backup instead of an incremental');
  }
  return { plan, skipped };
}

/** sha256 (HMAC-SHA256 under `contentKey`, in an encrypted repository) of each file's first `size` bytes (the size it was collected with), one file at a time. */
async function hashFiles(
  files: readonly CollectedFile[],
  contentKey: Buffer | undefined,
  signal: AbortSignal | undefined,
  skipped: { path: string; reason: string }[],
): Promise<PlannedFile[]> {
  const out: PlannedFile[] = [];
  for (const f of files) {
    const mtime = f.mtime.toISOString();
    if (f.linkTarget !== undefined) {
      out.push({ path: f.relPath, kind: f.kind, mode: f.mode, size: 0, mtime, sha256: linkTargetHash(f.linkTarget, contentKey), linkTarget: f.linkTarget });
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
    out.push({ path: f.relPath, kind: f.kind, mode: f.mode, size: f.size, mtime, sha256: hashed.sha256 });
  }
  return out;
}
