import fs from 'node:fs/promises';
import path from 'node:path';
import type { RestorableItem } from '@botbackup/core';
import { syncDir } from '@botbackup/storage';
import { matchOwner, ownerFor, type JournalEntry } from '../restore-journal.js';
import { SIDECARS, exists } from './target.js';

/** Name of the folder inside the staging folder that holds what --force replaced, until the restore is done. */
const REPLACED = '.botbackup-replaced';

/**
 * The renames of a restore whose files are all staged and checked, for its journal, found by
 * walking the staging folder: a staged folder the target lacks moves in whole (one rename, however
 * many files it holds: a million files restored into a new folder make a journal of a few
 * entries); in a folder the target has, each staged file moves into place, after what stands
 * where it goes (replaced with --force; a database's stale -wal, -shm, -journal, which would be
 * replayed into the new file) is moved into the staging folder, to go with it once the restore is
 * done. Everything staged takes the owner of what it replaces (or of the folder it goes into);
 * the staged folders' entries are made durable before the journal is written.
 */
export async function journalEntries(target: string, stagingDir: string, databases: readonly Pick<RestorableItem, 'path'>[]): Promise<JournalEntry[]> {
  const staging = path.join(target, stagingDir);
  const walk: CommitWalk = { target, stagingDir, staging, databases: new Set(databases.map((d) => d.path)), stagedDirs: new Set([staging]), entries: [] };
  await walkStaged(walk, '');
  for (const dir of walk.stagedDirs) await syncDir(dir);
  return walk.entries;
}

interface CommitWalk {
  target: string;
  stagingDir: string;
  staging: string;
  databases: ReadonlySet<string>;
  stagedDirs: Set<string>;
  entries: JournalEntry[];
}

async function walkStaged(walk: CommitWalk, rel: string): Promise<void> {
  const found = await fs.readdir(path.join(walk.staging, rel), { withFileTypes: true });
  for (const item of found.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (rel === '' && item.name === REPLACED) continue;
    const relPath = rel === '' ? item.name : `${rel}/${item.name}`;
    const staged = path.join(walk.staging, relPath);
    const dest = path.join(walk.target, relPath);
    if (item.isDirectory()) {
      if ((await fs.lstat(dest).catch(() => undefined))?.isDirectory()) {
        walk.stagedDirs.add(staged);
        await walkStaged(walk, relPath);
        continue;
      }
      // A folder the target lacks: everything in it moves with one rename.
      await settleTree(walk, staged, dest);
      walk.entries.push({ staged: path.join(walk.stagingDir, relPath), dest: relPath, aside: [] });
      continue;
    }
    walk.stagedDirs.add(path.dirname(staged));
    const aside = [];
    for (const suffix of walk.databases.has(relPath) ? ['', ...SIDECARS] : ['']) {
      if (await exists(dest + suffix)) aside.push({ from: relPath + suffix, to: path.join(walk.stagingDir, REPLACED, relPath + suffix) });
    }
    await matchOwner(staged, dest);
    walk.entries.push({ staged: path.join(walk.stagingDir, relPath), dest: relPath, aside });
  }
}

/** A staged folder that moves in whole: its folders' entries made durable, and (as root) all of it given the owner of the folder it goes into. */
async function settleTree(walk: CommitWalk, staged: string, dest: string): Promise<void> {
  const owner = await ownerFor(dest);
  const settle = async (dir: string): Promise<void> => {
    walk.stagedDirs.add(dir);
    if (owner) await fs.lchown(dir, owner.uid, owner.gid).catch(() => undefined);
    for (const item of await fs.readdir(dir, { withFileTypes: true })) {
      const inside = path.join(dir, item.name);
      if (item.isDirectory()) await settle(inside);
      else if (owner) await fs.lchown(inside, owner.uid, owner.gid).catch(() => undefined);
    }
  };
  await settle(staged);
}
