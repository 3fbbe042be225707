import { BackupNotFoundError, restorableItems, type Manifest, type RestorableItem } from '@botbackup/core';
import type { ExpectedDelta } from '../../archive/index.js';
import { BrokenLinkError } from '../../repository/index.js';

/** What to do with one archive member of one link of the chain. */
export type MemberAction =
  { type: 'file'; item: RestorableItem } | { type: 'snapshot'; item: RestorableItem } | { type: 'delta'; item: RestorableItem; expected: ExpectedDelta };

/** One archive a restore reads: the link whose archive it is, and what to do with each member it needs (by member path). */
export interface ArchiveRead {
  link: Manifest;
  members: Map<string, MemberAction>;
}

/** The files and databases `--only` names: the path itself or everything under it. */
export function selectEntries(manifest: Manifest, only: string | undefined): RestorableItem[] {
  const items = restorableItems(manifest);
  if (only === undefined) return items;
  const wanted = only.replace(/^\.\/+/, '').replace(/\/+$/, '');
  const selected = items.filter((e) => e.path === wanted || e.path.startsWith(`${wanted}/`));
  if (selected.length === 0)
    throw new BackupNotFoundError(`Backup ${manifest.id} holds no file or folder "${only}"; run "botbackup show ${manifest.id}" to see its contents.`);
  return selected;
}

/**
 * Which members of which links a restore reads: each file from the backup that stored it, each
 * database from its newest snapshot in the chain plus every page delta after it. The archives
 * come in chain order (oldest first), only those with a member to read. Pure: no I/O, no clock.
 * Throws a BrokenLinkError when the chain lacks what a manifest points to.
 */
export function planMembers(chain: readonly Manifest[], manifest: Manifest, selected: readonly RestorableItem[]): ArchiveRead[] {
  const plan = new Map<string, Map<string, MemberAction>>();
  const add = (linkId: string, member: string, action: MemberAction) => {
    if (!plan.has(linkId)) plan.set(linkId, new Map());
    plan.get(linkId)!.set(member, action);
  };
  const ids = new Set(chain.map((l) => l.id));
  const storedIn = new Map(manifest.files.map((f) => [f.path, f.storedIn]));
  for (const item of selected) {
    if (item.kind !== 'database') {
      const link = storedIn.get(item.path)!;
      if (!ids.has(link)) throw new BrokenLinkError(link, manifest, `"${item.path}" is stored in it, but it is not in the chain`);
      add(link, item.path, { type: 'file', item });
      continue;
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const link = chain[i]!;
      const db = link.databases.find((d) => d.path === item.path);
      if (!db) throw new BrokenLinkError(link.id, manifest, `it holds no copy of the database "${item.path}" that the next link builds on`);
      if (db.stored.type === 'snapshot') {
        add(link.id, db.stored.entry, { type: 'snapshot', item });
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
  return chain.filter((link) => plan.has(link.id)).map((link) => ({ link, members: plan.get(link.id)! }));
}

/** Secret files are always restored 0600, whatever mode they had. */
export function restoredMode(entry: RestorableItem): number {
  return entry.kind === 'secret' ? 0o600 : entry.mode & 0o777;
}
