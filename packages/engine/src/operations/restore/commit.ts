import path from 'node:path';
import type { RestorableItem } from '@botbackup/core';
import { syncDir } from '@botbackup/storage';
import { matchOwner, type JournalEntry } from '../restore-journal.js';
import { SIDECARS, exists } from './target.js';

/** Name of the folder inside the staging folder that holds what --force replaced, until the restore is done. */
const REPLACED = '.botbackup-replaced';

/**
 * The renames of a restore whose files are all staged and checked, for its journal: each staged
 * file into place, after what stands where it goes (replaced with --force; a database's stale
 * -wal, -shm, -journal, which would be replayed into the new file) is moved into the staging
 * folder, to go with it once the restore is done. Each staged file takes the owner of the file
 * it replaces; the staged files' folder entries are made durable before the journal is written.
 */
export async function journalEntries(target: string, stagingDir: string, selected: readonly RestorableItem[]): Promise<JournalEntry[]> {
  const staging = path.join(target, stagingDir);
  const stagedDirs = new Set<string>([staging]);
  const entries: JournalEntry[] = [];
  for (const entry of selected) {
    const dest = path.join(target, entry.path);
    stagedDirs.add(path.dirname(path.join(staging, entry.path)));
    const aside = [];
    for (const suffix of entry.kind === 'database' ? ['', ...SIDECARS] : ['']) {
      if (await exists(dest + suffix)) aside.push({ from: entry.path + suffix, to: path.join(stagingDir, REPLACED, entry.path + suffix) });
    }
    await matchOwner(path.join(staging, entry.path), dest);
    entries.push({ staged: path.join(stagingDir, entry.path), dest: entry.path, aside });
  }
  for (const dir of stagedDirs) await syncDir(dir);
  return entries;
}
