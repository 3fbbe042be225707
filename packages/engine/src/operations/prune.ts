import {
  IntegrityError,
  lastSeqOf,
  planRetention,
  planWalRetention,
  repositoryKeys,
  type Config,
  type Manifest,
  type ManifestHeader,
  type RetentionBackup,
  type RetentionDecision,
  type SourceConfig,
  type WalGenerationDecision,
  type WalRetentionGeneration,
  type WalSegmentName,
} from '@botbackup/core';
import type { BackupStore, RemovedTemp } from '@botbackup/storage';
import type { Catalog } from '../repository/index.js';
import { removeLeftovers, storageNow } from '../repository/index.js';
import { removeStaleUploads } from '../repository/index.js';
import { silentLogger, type Logger } from '../support/index.js';
import { listBackupIds, readManifest } from '../repository/index.js';
import { isTargetFailure } from '../repository/index.js';
import { readGeneration, readSegment, type WalListing } from '../repository/index.js';
import { heldWalObjects, listWalOn } from './wal-objects.js';

export interface PruneOptions {
  config: Config;
  /** Every target, in config order: a backup is deleted from all of them. */
  stores: BackupStore[];
  /** Only this source (default: every configured source). */
  sourceId?: string | undefined;
  /** Plan only: delete nothing. */
  dryRun?: boolean;
  /** Backups a full verify has passed (from the local catalog); the newest of them is always kept. */
  verified?: ReadonlySet<string>;
  /**
   * Manifests already known (the local catalog's cache, by backup id): only the others are read
   * from storage, so that a prune costs a listing plus what it deletes, not a read of every
   * manifest of the repository.
   */
  knownManifests?: ReadonlyMap<string, ManifestHeader>;
  /**
   * A local catalog to take both from: synced first (it reads only the manifests it has not seen),
   * its verified copies give `verified` and its manifests `knownManifests`, unless those are given.
   */
  catalog?: Catalog | undefined;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface PrunedBackup extends RetentionDecision {
  sourceId: string;
  time: string;
  type: Manifest['type'] | undefined;
  /** Set once deleted from every target. */
  deleted: boolean;
}

export interface PruneResult {
  /** The storage clock the plan was made against (ISO). */
  now: string;
  backups: PrunedBackup[];
  /** Objects of no backup, older than the grace period, that were removed. */
  leftovers: { store: string; key: string }[];
  /**
   * Temporary files of interrupted uploads (`.part`, whose writer is dead or older than the grace
   * period) and empty folders that were removed, per target (see {@link removeStaleUploads}).
   */
  temporary: ({ store: string } & RemovedTemp)[];
  /**
   * The shipped WAL of each source (continuous sources, or any with objects under wal/), one
   * decision per generation (see `planWalRetention` in core): what stays, why, and the keys that
   * go (or would, with `dryRun`).
   */
  wal: PrunedWalGeneration[];
}

export interface PrunedWalGeneration extends WalGenerationDecision {
  sourceId: string;
  /** Set once every key of `delete` is gone from every target. */
  deleted: boolean;
}

/**
 * Applies each source's retention policy (see `planRetention` in core) on every target. The plan
 * is made against the storage's clock, over the backups whose manifest some target holds (the
 * manifest read from the first that has a good one). Deleting removes, newest backup first, the
 * manifest from every target and then the backup's objects, so an interrupted prune leaves
 * orphans (removed by the next prune), never a backup that is listed but broken, and never an
 * incremental whose parent is gone. Then objects of no backup older than `defaults.orphanGrace`
 * are removed. Refuses to delete anything unless every target can be listed: a backup only one
 * target holds might otherwise be counted wrong.
 */
export async function pruneBackups(options: PruneOptions): Promise<PruneResult> {
  const { config, stores, signal } = options;
  const logger = options.logger ?? silentLogger;
  const now = await storageNow(stores[0]!, signal);
  let { verified, knownManifests } = options;
  if (options.catalog) {
    const synced = await options.catalog.sync(stores, { sourceId: options.sourceId, signal });
    verified ??= new Set(synced.filter((b) => b.copies.some((c) => c.state === 'verified')).map((b) => b.backupId));
    knownManifests ??= new Map(synced.flatMap((b) => (b.manifest ? [[b.backupId, b.manifest] as const] : [])));
  }
  const sources = config.sources.filter((s) => options.sourceId === undefined || s.id === options.sourceId);
  const held = new Map<string, { sourceId: string; backupId: string; stores: BackupStore[] }>();
  for (const store of stores) {
    for (const id of await listBackupIds(store, options.sourceId, signal)) {
      const key = `${id.sourceId}/${id.backupId}`;
      if (!held.has(key)) held.set(key, { ...id, stores: [] });
      held.get(key)!.stores.push(store);
    }
  }
  const result: PruneResult = { now: now.toISOString(), backups: [], leftovers: [], temporary: [], wal: [] };
  const manifestsOf = new Map<string, ManifestHeader>();
  for (const source of sources) {
    const mine = [...held.values()].filter((h) => h.sourceId === source.id).sort((a, b) => (a.backupId < b.backupId ? -1 : 1));
    const manifests = new Map<string, ManifestHeader | undefined>();
    for (const h of mine) manifests.set(h.backupId, knownManifests?.get(h.backupId) ?? (await firstReadable(h.stores, source.id, h.backupId, signal)));
    const input: RetentionBackup[] = mine.map((h) => {
      const m = manifests.get(h.backupId);
      return {
        id: h.backupId,
        time: new Date(m?.startedAt ?? 0),
        parent: m?.parent ?? null,
        good: m !== undefined,
        verified: verified?.has(h.backupId) ?? false,
        degraded: m === undefined || (m.copies?.failed.length ?? 0) > 0 || h.stores.length < stores.length,
        scheduleId: m?.trigger?.scheduleId ?? null,
      };
    });
    for (const [id, m] of manifests) if (m) manifestsOf.set(`${source.id}/${id}`, m);
    const decisions = planRetention(input, source.retention, now);
    for (const [i, d] of decisions.entries()) {
      const m = manifests.get(d.id);
      result.backups.push({ ...d, sourceId: source.id, time: input[i]!.time.toISOString(), type: m?.type, deleted: false });
    }
    if (options.dryRun) continue;
    // Newest first: a child is always gone before its parent.
    for (const d of [...result.backups].reverse()) {
      if (d.keep || d.sourceId !== source.id) continue;
      const h = held.get(`${source.id}/${d.id}`)!;
      const m = manifests.get(d.id);
      for (const store of h.stores) await store.delete(repositoryKeys.manifest(source.id, d.id), { signal });
      for (const store of h.stores) {
        for (const object of m?.objects ?? []) await store.delete(object.key, { signal });
      }
      d.deleted = true;
      logger.info({ source: source.id, backupId: d.id, reasons: d.reasons }, 'backup pruned');
    }
  }
  // WAL objects after every manifest: a kept range loses nothing a kept backup needs, and an
  // interrupted prune leaves segments no backup needs, which the next prune deletes.
  for (const source of sources) {
    const kept = result.backups.filter((b) => b.sourceId === source.id && b.keep).flatMap((b) => manifestsOf.get(`${source.id}/${b.id}`) ?? []);
    // One listing for both: what a pack holds is deleted with it, or once it checks out.
    const listings = await listWalOn(stores, source.id, options.signal);
    const decisions = await pruneWal(source, listings, kept, now, options);
    result.wal.push(...decisions);
    result.leftovers.push(...(await pruneShadowed(listings, new Set(decisions.flatMap((d) => d.delete)), options)));
  }
  if (!options.dryRun) {
    const owners = new Set([...held.keys()].filter((k) => !result.backups.some((b) => b.deleted && `${b.sourceId}/${b.id}` === k)));
    result.leftovers.push(...(await removeLeftovers(stores, owners, { sourceId: options.sourceId, cutoff: now.getTime() - config.orphanGraceMs, signal })));
    // Last: the deletions above may have emptied folders.
    result.temporary = await removeStaleUploads(stores, { graceMs: config.orphanGraceMs, logger, signal });
  }
  return result;
}

/**
 * Deletes (unless `dryRun`) the WAL objects of `source` that no kept backup's point-in-time range
 * needs, from every target that holds them, generation by generation in the plan's order.
 * Records are read only for their start positions, without a signature check: a forged start
 * could only make prune keep more.
 */
async function pruneWal(
  source: SourceConfig,
  listings: ReadonlyMap<BackupStore, WalListing>,
  kept: readonly ManifestHeader[],
  now: Date,
  options: PruneOptions,
): Promise<PrunedWalGeneration[]> {
  const { signal } = options;
  const logger = options.logger ?? silentLogger;
  const held = heldWalObjects(source.id, listings);
  if (held.length === 0) return [];
  const ids = [...new Set(held.map((o) => o.generation))];
  const generations: WalRetentionGeneration[] = [];
  for (const id of ids) {
    const recordKey = repositoryKeys.walGenerationRecord(source.id, id);
    const holders = held.find((o) => o.key === recordKey)?.in;
    let start: WalRetentionGeneration['start'];
    for (const store of holders ?? []) {
      const record = await readGeneration(store, source.id, id, { trusted: [], insecure: false }, signal).catch((error: unknown) => {
        if (signal?.aborted || !(isTargetFailure(error) || error instanceof IntegrityError)) throw error;
        return undefined;
      });
      if (record) {
        start = record.databases;
        break;
      }
    }
    const segments: Record<string, { key: string; name: WalSegmentName }[]> = {};
    for (const o of held) {
      if (o.generation !== id || !o.segment) continue;
      (segments[o.segment.database] ??= []).push({ key: o.key, name: o.segment.name });
    }
    generations.push({ id, recordKey: holders ? recordKey : undefined, start, segments });
  }
  const backups = kept.map((m) => ({
    id: m.id,
    streamGeneration: m.stream?.generation,
    databases: Object.fromEntries(m.databases.map((d) => [d.name, d.wal])),
  }));
  const plan = planWalRetention(backups, generations, { protectFrom: now.getTime() - source.retention.graceMs });
  const result: PrunedWalGeneration[] = plan.map((d) => ({ ...d, sourceId: source.id, deleted: false }));
  if (options.dryRun) return result;
  const holdersOf = new Map(held.map((o) => [o.key, o.in]));
  for (const d of result) {
    if (d.delete.length === 0) continue;
    for (const key of d.delete) for (const store of holdersOf.get(key) ?? []) await store.delete(key, { signal });
    d.deleted = true;
    logger.info({ source: source.id, generation: d.id, action: d.action, objects: d.delete.length, reasons: d.reasons }, 'WAL objects pruned');
  }
  return result;
}

/**
 * Deletes (unless `dryRun`) the segments that a pack on the same target already holds: the
 * streamer deletes them once it stored the pack, so these are what a streamer stopped in between
 * left. With the pack when retention deletes it (`doomed`); otherwise only after the pack's
 * signed header and body check out (its sha256; opening it would need the private key, which a
 * worker does not have).
 */
async function pruneShadowed(
  listings: ReadonlyMap<BackupStore, WalListing>,
  doomed: ReadonlySet<string>,
  options: PruneOptions,
): Promise<{ store: string; key: string }[]> {
  const { signal } = options;
  const removed: { store: string; key: string }[] = [];
  for (const [store, listing] of listings) {
    for (const g of listing.generations) {
      for (const shadowed of g.shadowed) {
        const database = repositoryKeys.parseWalKey(shadowed.key);
        const pieces = database?.kind === 'segment' ? (g.databases.get(database.database) ?? []) : [];
        const pack = pieces.find((p) => p.name.seq <= shadowed.name.seq && lastSeqOf(shadowed.name) <= lastSeqOf(p.name));
        if (!pack || !(doomed.has(pack.key) || (await intact(store, pack.key, signal)))) continue;
        if (!options.dryRun) await store.delete(shadowed.key, { signal });
        removed.push({ store: store.name, key: shadowed.key });
      }
    }
  }
  return removed;
}

/** Whether a WAL object reads back whole: its header as its key says, its body as its sha256 says. */
async function intact(store: BackupStore, key: string, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await readSegment(store, key, { trusted: [], insecure: false }, signal);
    return true;
  } catch (error) {
    if (signal?.aborted || !(isTargetFailure(error) || error instanceof IntegrityError)) throw error;
    return false;
  }
}

async function firstReadable(stores: BackupStore[], sourceId: string, backupId: string, signal: AbortSignal | undefined): Promise<Manifest | undefined> {
  for (const store of stores) {
    try {
      return await readManifest(store, sourceId, backupId, signal);
    } catch (error) {
      if (signal?.aborted || !(isTargetFailure(error) || error instanceof IntegrityError)) throw error;
    }
  }
  return undefined;
}
