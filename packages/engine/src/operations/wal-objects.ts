import { foldWalPieces, repositoryKeys, type WalSegmentName } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { listWal, type WalListing } from '../repository/index.js';

/**
 * The shipped WAL of a source as every target lists it, for prune, verify and replicate: each
 * store's own listing, and each object with the stores that hold it.
 */

/** One WAL object (a generation record or a segment) and the targets that list it. */
export interface HeldWalObject {
  key: string;
  generation: string;
  /** The segment's database and parsed name; undefined for a generation record. */
  segment: { database: string; name: WalSegmentName } | undefined;
  size: number;
  in: Set<BackupStore>;
}

/** Lists `sourceId`'s WAL objects on each store, in store order. A store whose listing fails makes this throw. */
export async function listWalOn(stores: readonly BackupStore[], sourceId: string, signal?: AbortSignal): Promise<Map<BackupStore, WalListing>> {
  const listings = new Map<BackupStore, WalListing>();
  for (const store of stores) listings.set(store, await listWal(store, sourceId, signal));
  return listings;
}

/**
 * Every WAL object some store lists, by key: generation records first, then segments by
 * generation, database and number (the order a copy or a deletion follows).
 */
export function heldWalObjects(sourceId: string, listings: ReadonlyMap<BackupStore, WalListing>): HeldWalObject[] {
  const byKey = new Map<string, HeldWalObject>();
  const add = (store: BackupStore, object: Omit<HeldWalObject, 'in'>) => {
    const held = byKey.get(object.key) ?? { ...object, in: new Set<BackupStore>() };
    held.in.add(store);
    byKey.set(object.key, held);
  };
  for (const [store, listing] of listings) {
    for (const g of listing.generations) {
      if (g.hasRecord) add(store, { key: repositoryKeys.walGenerationRecord(sourceId, g.id), generation: g.id, segment: undefined, size: 0 });
      for (const [database, list] of g.databases) {
        for (const s of list) add(store, { key: s.key, generation: g.id, segment: { database, name: s.name }, size: s.size });
      }
    }
  }
  const rank = (o: HeldWalObject) => (o.segment ? 1 : 0);
  return withoutShadowed([...byKey.values()]).sort(
    (a, b) =>
      rank(a) - rank(b) ||
      compare(a.generation, b.generation) ||
      compare(a.segment?.database ?? '', b.segment?.database ?? '') ||
      (a.segment?.name.seq ?? 0) - (b.segment?.name.seq ?? 0) ||
      compare(a.key, b.key),
  );
}

/**
 * Drops the segments a pack on some target holds (each store's listing is folded alone): no
 * target needs them, so none is reported missing them and none is copied them; prune deletes
 * them where they are.
 */
function withoutShadowed(objects: HeldWalObject[]): HeldWalObject[] {
  const groups = new Map<string, HeldWalObject[]>();
  for (const o of objects) {
    if (!o.segment) continue;
    const id = `${o.generation}\u0000${o.segment.database}`;
    const group = groups.get(id) ?? [];
    group.push(o);
    groups.set(id, group);
  }
  const shadowed = new Set<HeldWalObject>();
  for (const group of groups.values()) {
    for (const o of foldWalPieces(group.map((g) => ({ key: g.key, name: g.segment!.name, object: g }))).shadowed) shadowed.add(o.object);
  }
  return objects.filter((o) => !shadowed.has(o));
}

/** The sources that have anything under wal/ on any of these stores. */
export async function walSources(stores: readonly BackupStore[], signal?: AbortSignal): Promise<string[]> {
  const sources = new Set<string>();
  for (const store of stores) {
    for await (const object of store.list(repositoryKeys.walRoot(), { signal })) {
      const match = /^wal\/([^/]+)\//.exec(object.key);
      if (match) sources.add(match[1]!);
    }
  }
  return [...sources].sort();
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
