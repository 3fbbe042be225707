import path from 'node:path';
import { collectFiles } from '../source/index.js';
import { abandonBackup, backupResult, commitBackup, removeStaging } from './backup/commit.js';
import { findParent, type ParentSearch } from './backup/find-parent.js';
import { describeBackup } from './backup/manifest.js';
import { planBackup } from './backup/plan.js';
import { prepareBackup } from './backup/prepare.js';
import type { BackupOptions, BackupResult } from './backup/run.js';
import { snapshotDatabases } from './backup/snapshots.js';
import { archiveInputs, reportSkipped, storeArchive } from './backup/store-archive.js';
import { storeFileList } from './backup/store-file-list.js';
import { storePageMaps } from './backup/store-page-maps.js';

export { selectSource } from './backup/prepare.js';
export type { BackupOptions, BackupResult } from './backup/run.js';

/**
 * Makes a backup of one source: full, or (with `incremental`) only what changed since a parent.
 * Consistent snapshots of its databases are taken first (each with a page map, and checked with
 * quick_check while the archive is packed); an incremental stores the changed and new files
 * whole and each database as a page delta on the parent's copy. Everything is packed as one tar
 * stream, compressed, hashed and written to every store at once; the file list and page maps
 * follow, and the manifest is written last, so a backup that fails at any point is never visible; the objects it
 * had written are removed (or left as orphans if even that fails).
 *
 * Each step is a stage of its own in ./backup/ (see docs/architecture.md, "Backup data flow");
 * this is only their order, which is what keeps a failed backup invisible.
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  // Everything that can refuse the backup runs before anything is read or written.
  const run = await prepareBackup(options);
  const { source, log } = run;
  try {
    log.info({ databases: source.databases.length, incremental: options.incremental ?? false }, 'backup started');
    // Files first: an unreadable key file fails the backup before the expensive snapshot.
    const collected = await collectFiles(source, run.startedAt);
    const found: ParentSearch = options.incremental
      ? await findParent(run.targets, source.id, options.since, run.keyring, options.signal, path.join(run.staging, 'parent-files.ndjson'))
      : { reason: 'a full backup was requested' };
    if (found.warning) run.warn(found.warning);
    const snapshots = await snapshotDatabases(run, 'parent' in found);
    const { plan, lists, skipped: notHashed } = await planBackup(run, collected, found, snapshots.pageMaps);
    const incremental = plan.type === 'incremental' && lists ? { plan, stored: lists.stored } : undefined;
    const { inputs, expected } = archiveInputs(run, collected.files, snapshots, incremental);
    const archive = await storeArchive(run, inputs, expected);
    const skipped = reportSkipped(run, notHashed, archive.packed);
    const files = await storeFileList(run, archive.packed, incremental ? lists : undefined);
    // Nothing is committed until every snapshot is complete and has passed quick_check.
    const pageMaps = await storePageMaps(run, snapshots);
    const manifest = await describeBackup(run, { excluded: collected.excluded, plan, archive, files, skipped, pageMaps });
    await commitBackup(run, manifest);
    return backupResult(run, manifest, 'repaired' in found ? found.repaired : []);
  } catch (error) {
    throw await abandonBackup(run, error);
  } finally {
    await removeStaging(run);
  }
}
