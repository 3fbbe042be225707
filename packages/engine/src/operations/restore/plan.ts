import { BackupNotFoundError, restorableDatabases, type Manifest, type RestorableItem } from '@botbackup/core';
import type { ExpectedDelta } from '../../archive/index.js';
import { BrokenLinkError } from '../../repository/index.js';

/**
 * What to do with one archive member of one link of the chain: a file; a database restored
 * from its snapshot alone; or, for a database rebuilt from page deltas, one of its deltas (met
 * newest first) or the snapshot they build on (`base`, met last: see PageRebuild).
 */
export type MemberAction =
  | { type: 'file'; item: RestorableItem }
  | { type: 'snapshot'; item: RestorableItem }
  | { type: 'delta'; item: RestorableItem; expected: ExpectedDelta }
  | { type: 'base'; item: RestorableItem };

/**
 * One archive a restore reads: the link whose archive it is, how many of the selected files it
 * stores (they are found in the selection's file list, in archive order, by their `storedIn`), and
 * what to do with each database member it holds (by member path).
 */
export interface ArchiveRead {
  link: Manifest;
  files: number;
  members: Map<string, MemberAction>;
}

/** The path `--only` names, as the backup writes paths (no leading "./", no trailing "/"); undefined for everything. */
export function onlyPath(only: string | undefined): string | undefined {
  return only?.replace(/^\.\/+/, '').replace(/\/+$/, '');
}

/** Whether `--only` (see {@link onlyPath}) selects a path: the path itself or everything under it. */
export function isSelected(itemPath: string, wanted: string | undefined): boolean {
  return wanted === undefined || itemPath === wanted || itemPath.startsWith(`${wanted}/`);
}

/** The databases `--only` selects. */
export function selectDatabases(manifest: Manifest, only: string | undefined): RestorableItem[] {
  const wanted = onlyPath(only);
  return restorableDatabases(manifest).filter((d) => isSelected(d.path, wanted));
}

/** The error for an `--only` that selects nothing. */
export function nothingSelected(manifest: Manifest, only: string): BackupNotFoundError {
  return new BackupNotFoundError(`Backup ${manifest.id} holds no file or folder "${only}"; run "botbackup show ${manifest.id}" to see its contents.`);
}

/**
 * Which archives a restore reads: each selected file from the backup that stored it (counted per
 * link in `filesIn`, by id), each database from its newest snapshot in the chain plus every page
 * delta after it. The archives come newest first, only those with a member to read: a database
 * is rebuilt from its newest delta back to its snapshot, so that each page is written once (see
 * PageRebuild); each file is stored in one link only, so their order does not matter. Pure: no
 * I/O, no clock. Throws a BrokenLinkError when the chain lacks what a manifest points to.
 */
export function planMembers(
  chain: readonly Manifest[],
  manifest: Manifest,
  filesIn: ReadonlyMap<string, number>,
  databases: readonly RestorableItem[],
): ArchiveRead[] {
  const members = new Map<string, Map<string, MemberAction>>();
  const add = (linkId: string, member: string, action: MemberAction) => {
    if (!members.has(linkId)) members.set(linkId, new Map());
    members.get(linkId)!.set(member, action);
  };
  const ids = new Set(chain.map((l) => l.id));
  for (const link of filesIn.keys()) if (!ids.has(link)) throw new BrokenLinkError(link, manifest, 'files are stored in it, but it is not in the chain');
  for (const item of databases) {
    for (let i = chain.length - 1; i >= 0; i--) {
      const link = chain[i]!;
      const db = link.databases.find((d) => d.path === item.path);
      if (!db) throw new BrokenLinkError(link.id, manifest, `it holds no copy of the database "${item.path}" that the next link builds on`);
      if (db.stored.type === 'snapshot') {
        add(link.id, db.stored.entry, i === chain.length - 1 ? { type: 'snapshot', item } : { type: 'base', item });
        break;
      }
      add(link.id, db.stored.entry, {
        type: 'delta',
        item,
        expected: { pageSize: db.pageSize, basePageCount: db.stored.basePageCount, pageCount: db.pageCount, pages: db.stored.pages },
      });
      if (i === 0) throw new BrokenLinkError(link.id, manifest, `its database "${item.path}" is a delta with no snapshot before it`);
    }
  }
  return chain
    .filter((link) => members.has(link.id) || filesIn.has(link.id))
    .map((link) => ({ link, files: filesIn.get(link.id) ?? 0, members: members.get(link.id) ?? new Map<string, MemberAction>() }))
    .reverse();
}

/** Secret files are always restored 0600, whatever mode they had. */
export function restoredMode(entry: Pick<RestorableItem, 'kind' | 'mode'>): number {
  return entry.kind === 'secret' ? 0o600 : entry.mode & 0o777;
}
