import {
  BackupNotFoundError,
  backupIdTime,
  foldWalPieces,
  lastSeqOf,
  oneOfEachNumber,
  planPointInTime,
  type Manifest,
  type PitrBackup,
  type PitrGeneration,
  type PitrPlan,
  type WalSegmentName,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from '../crypto/index.js';
import { listBackupIds, listWal, readGeneration, readManifest, type WalListing } from '../repository/index.js';
import type { WalReplay } from './restore/wal-replay.js';

export interface RestoreAtOptions {
  stores: readonly BackupStore[];
  sourceId: string;
  /** The moment to restore; undefined: the newest commit shipped. */
  at: Date | undefined;
  keyring: Keyring;
  signal?: AbortSignal | undefined;
  /** Plan on this backup alone (a drill of it): the segments after it, when it is linked to a generation. */
  only?: string | undefined;
}

/** The backup to restore and the shipped WAL to apply to it, for a moment. */
export interface RestoreAtPlan {
  manifest: Manifest;
  /** Undefined when no segment can be applied (`reason` says why). */
  replay: WalReplay | undefined;
  reason: string | undefined;
  /** The plan's own words, for --json. */
  plan: PitrPlan;
}

/** Backups considered as the base of a point-in-time restore, newest first: older ones only matter when none of these is linked. */
const CANDIDATE_BACKUPS = 200;

/**
 * Plans `restore --at` and `recover` of a continuous source: reads the newest backups started
 * before the moment and the generations' records, lists the segments on every target (a target
 * that was down may lack the newest), and lets the pure planPointInTime choose.
 */
export async function planRestoreAt(options: RestoreAtOptions): Promise<RestoreAtPlan> {
  const { stores, sourceId, at, keyring, signal } = options;
  const atMs = at?.getTime();
  const manifests = new Map<string, Manifest>();
  for (const store of stores) {
    try {
      const ids = (await listBackupIds(store, sourceId, signal)).filter(
        (id) => (atMs === undefined || backupIdTime(id.backupId).getTime() <= atMs) && (options.only === undefined || id.backupId === options.only),
      );
      for (const { backupId } of ids.slice(-CANDIDATE_BACKUPS)) {
        if (manifests.has(backupId)) continue;
        const manifest = await readManifest(store, sourceId, backupId, signal).catch(() => undefined);
        // A backup whose signature is refused is not a base; --insecure accepts one with a warning.
        if (manifest && acceptable(keyring, manifest, store)) manifests.set(backupId, manifest);
      }
    } catch {
      // a target that cannot be listed: the others may answer
    }
  }
  const generations = await readGenerations(stores, sourceId, keyring, signal);
  const databases = [...new Set([...manifests.values()].flatMap((m) => m.databases.map((d) => d.name)))];
  const backups: PitrBackup[] = [...manifests.values()].map((m) => ({
    id: m.id,
    startedAt: Date.parse(m.startedAt),
    completedAt: Date.parse(m.completedAt),
    streamGeneration: m.stream?.generation,
    databases: Object.fromEntries(m.databases.map((d) => [d.name, d.wal])),
  }));
  // Every database of the base must be followed: the plan is per database of the newest backup.
  const newest = [...manifests.values()].sort((a, b) => (a.id < b.id ? 1 : -1))[0];
  const plan = planPointInTime(backups, generations, newest ? newest.databases.map((d) => d.name) : databases, atMs);
  if (plan.kind === 'none') {
    throw new BackupNotFoundError(`No backup of source "${sourceId}" can be restored${at ? ` as of ${at.toISOString()}` : ''}: ${plan.reason}.`);
  }
  const manifest = manifests.get(plan.backupId)!;
  if (plan.kind === 'backup-only') return { manifest, replay: undefined, reason: plan.reason, plan };
  return { manifest, replay: { generation: plan.generation, at: atMs, databases: plan.databases, stores }, reason: undefined, plan };
}

function acceptable(keyring: Keyring, manifest: Manifest, store: BackupStore): boolean {
  try {
    keyring.checkSignature(manifest, `storage "${store.name}"`);
    return true;
  } catch {
    return false;
  }
}

/** Each generation with a record, its segments and packs the union over every target (by number). */
export async function readGenerations(stores: readonly BackupStore[], sourceId: string, keyring: Keyring, signal?: AbortSignal): Promise<PitrGeneration[]> {
  const listings: { store: BackupStore; listing: WalListing }[] = [];
  for (const store of stores) {
    const listing = await listWal(store, sourceId, signal).catch(() => undefined);
    if (listing) listings.push({ store, listing });
  }
  const ids = [...new Set(listings.flatMap(({ listing }) => listing.generations.filter((g) => g.hasRecord).map((g) => g.id)))].sort();
  const generations: PitrGeneration[] = [];
  for (const id of ids) {
    let record;
    for (const { store, listing } of listings) {
      if (!listing.generations.some((g) => g.id === id && g.hasRecord)) continue;
      record = await readGeneration(store, sourceId, id, keyring.policy, signal).catch(() => undefined);
      if (record) break;
    }
    if (!record) continue;
    // The union over every target, a pack read rather than the segments it holds.
    const listed: Record<string, { key: string; name: WalSegmentName }[]> = {};
    for (const { listing } of listings) {
      for (const [db, list] of listing.generations.find((g) => g.id === id)?.databases ?? []) {
        const all = (listed[db] ??= []);
        for (const s of list) all.push({ key: s.key, name: s.name });
      }
    }
    // Segments after a gap (a number missing on every target) cannot be applied: the list stops
    // there. It may begin after 1: prune deletes the segments before the oldest kept backup.
    const segments: PitrGeneration['segments'] = {};
    for (const [db, all] of Object.entries(listed)) {
      const list = oneOfEachNumber(foldWalPieces(all).pieces);
      const end = list.findIndex((s, i) => i > 0 && s.name.seq !== lastSeqOf(list[i - 1]!.name) + 1);
      segments[db] = end >= 0 ? list.slice(0, end) : list;
    }
    generations.push({ id, startedAt: Date.parse(record.startedAt), start: record.databases, segments });
  }
  return generations;
}
