import { createHash } from 'node:crypto';
import {
  BackupNotFoundError,
  IntegrityError,
  StorageError,
  backupIdTime,
  parseManifest,
  repositoryKeys,
  type Manifest,
  type ManifestObject,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { isTargetFailure } from './target-failure.js';

/** A whole (small) object as one buffer. */
export async function readBytes(store: BackupStore, key: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key, { signal })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Reads and validates one manifest. A missing one is a BackupNotFoundError. */
export async function readManifest(store: BackupStore, sourceId: string, backupId: string, signal?: AbortSignal): Promise<Manifest> {
  return (await readManifestBytes(store, sourceId, backupId, signal)).manifest;
}

/** As {@link readManifest}, with the stored bytes (a copy to another target takes them verbatim). */
export async function readManifestBytes(
  store: BackupStore,
  sourceId: string,
  backupId: string,
  signal?: AbortSignal,
): Promise<{ manifest: Manifest; bytes: Buffer }> {
  const key = repositoryKeys.manifest(sourceId, backupId);
  let bytes: Buffer;
  try {
    bytes = await readBytes(store, key, signal);
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') {
      throw new BackupNotFoundError(
        `Backup ${backupId} of source "${sourceId}" has no manifest in storage "${store.name}"; it does not exist or was not completed.`,
      );
    }
    throw error;
  }
  // The bytes, not a string: a big manifest (a million files) is parsed piece by piece.
  const manifest = parseManifest(bytes, `${key} in storage "${store.name}"`);
  if (manifest.id !== backupId || manifest.source.id !== sourceId) {
    throw new IntegrityError(
      'BAD_MANIFEST',
      `The manifest ${key} in storage "${store.name}" describes backup ${manifest.id} of "${manifest.source.id}"; it was moved or tampered with.`,
      { backupId, subject: key },
    );
  }
  return { manifest, bytes };
}

/** Every backup id in a store (optionally of one source), oldest first, from manifest keys only. */
export async function listBackupIds(store: BackupStore, sourceId?: string, signal?: AbortSignal): Promise<{ sourceId: string; backupId: string }[]> {
  const out: { sourceId: string; backupId: string }[] = [];
  for await (const object of store.list(repositoryKeys.manifestsPrefix(sourceId), { signal })) {
    const parsed = repositoryKeys.parseManifestKey(object.key);
    if (parsed) out.push(parsed);
  }
  return out.sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
}

export interface ListedBackup {
  sourceId: string;
  backupId: string;
  /** The manifest, or the error that kept it from being read (a damaged manifest is listed, not hidden). */
  manifest: Manifest | undefined;
  error: Error | undefined;
}

/** Every backup in a store with its manifest, oldest first. */
export async function listBackups(store: BackupStore, sourceId?: string, signal?: AbortSignal): Promise<ListedBackup[]> {
  const ids = await listBackupIds(store, sourceId, signal);
  return Promise.all(
    ids.map(async (id) => {
      try {
        return { ...id, manifest: await readManifest(store, id.sourceId, id.backupId, signal), error: undefined };
      } catch (error) {
        if (error instanceof IntegrityError) return { ...id, manifest: undefined, error };
        throw error;
      }
    }),
  );
}

/**
 * Finds the backup a user means: `latest` (newest, of `sourceId` if given), a full id, or a
 * unique prefix of one (as git does with commits).
 */
export async function resolveBackup(store: BackupStore, ref: string, sourceId?: string, signal?: AbortSignal): Promise<Manifest> {
  const ids = await listBackupIds(store, sourceId, signal);
  const scope = sourceId ? ` of source "${sourceId}"` : '';
  if (ref === 'latest') {
    const newest = ids.at(-1);
    if (!newest) throw new BackupNotFoundError(`Storage "${store.name}" holds no backups${scope} yet; run "botbackup backup" first.`);
    return readManifest(store, newest.sourceId, newest.backupId, signal);
  }
  const matches = ids.filter((id) => id.backupId.startsWith(ref));
  const exact = matches.find((id) => id.backupId === ref);
  const chosen = exact ?? (matches.length === 1 ? matches[0] : undefined);
  if (!chosen) {
    if (matches.length > 1) throw new BackupNotFoundError(`"${ref}" matches ${matches.length} backups${scope}; give more of the id (see "botbackup list").`);
    throw new BackupNotFoundError(`No backup "${ref}"${scope} in storage "${store.name}"; see "botbackup list".`);
  }
  return readManifest(store, chosen.sourceId, chosen.backupId, signal);
}

/**
 * Parses a point in time given on the command line: an ISO 8601 date or date-time
 * (`2026-11-26`, `2026-11-26T14:30`, `2026-11-26 14:30:00.250+02:00`; a time without a zone is
 * UTC), or a time before `now` in words (`5 minutes ago`, `90s ago`, `2 hours ago`).
 * Returns undefined for anything else (a backup id, say).
 */
export function parseTimeRef(text: string, now: Date = new Date()): Date | undefined {
  const ago = /^(\d+(?:\.\d+)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)\s+ago$/i.exec(text.trim());
  if (ago) {
    const unit = ago[2]!.toLowerCase()[0] as 's' | 'm' | 'h' | 'd';
    return new Date(now.getTime() - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]);
  }
  const match = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text.trim());
  if (!match) return undefined;
  const [, date, time, zone] = match;
  const iso = `${date}T${time ?? '00:00:00'}${zone ?? 'Z'}`;
  const parsed = new Date(iso);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/** The newest backup of a source that started at or before `at`. */
export async function resolveBackupAt(store: BackupStore, at: Date, sourceId?: string, signal?: AbortSignal): Promise<Manifest> {
  const ids = await listBackupIds(store, sourceId, signal);
  const candidates = ids.filter((id) => backupIdTime(id.backupId).getTime() <= at.getTime());
  const chosen = candidates.at(-1);
  if (!chosen) {
    const scope = sourceId ? ` of source "${sourceId}"` : '';
    const first = ids[0];
    throw new BackupNotFoundError(
      `No backup${scope} in storage "${store.name}" was made at or before ${at.toISOString()}${first ? `; the oldest is ${first.backupId}` : ''}.`,
    );
  }
  return readManifest(store, chosen.sourceId, chosen.backupId, signal);
}

/** Resolves a reference that is either a time (see {@link parseTimeRef}) or a backup id, prefix or `latest`. */
export async function resolveBackupRef(store: BackupStore, ref: string, sourceId?: string, signal?: AbortSignal): Promise<Manifest> {
  const at = parseTimeRef(ref);
  return at ? resolveBackupAt(store, at, sourceId, signal) : resolveBackup(store, ref, sourceId, signal);
}

/**
 * Resolves a reference across several stores (see {@link resolveBackupRef}), in their order: an
 * id or prefix in the first store that holds it; `latest` or a time as the newest match in any
 * store (a store that was down may lack the newest backups). Stores that fail or lack it are
 * passed over; when none resolves it, the first store's error is thrown.
 */
export async function resolveBackupInStores(
  stores: readonly BackupStore[],
  ref: string,
  sourceId?: string,
  signal?: AbortSignal,
): Promise<{ manifest: Manifest; store: BackupStore }> {
  const newest = ref === 'latest' || parseTimeRef(ref) !== undefined;
  let best: { manifest: Manifest; store: BackupStore } | undefined;
  let firstError: unknown;
  for (const store of stores) {
    try {
      const manifest = await resolveBackupRef(store, ref, sourceId, signal);
      if (!best || manifest.id > best.manifest.id) best = { manifest, store };
      if (!newest) break;
    } catch (error) {
      if (!(error instanceof BackupNotFoundError || error instanceof IntegrityError || isTargetFailure(error))) throw error;
      firstError ??= error;
    }
  }
  if (!best) throw firstError;
  return best;
}

/**
 * The chain a backup needs, oldest first: its full backup, then every incremental up to and
 * including `manifest`. Each link's manifest is read and checked to be the parent it claims
 * (same source, one less in depth, older). A missing or damaged link throws a BROKEN_CHAIN
 * IntegrityError naming it.
 */
export async function loadChain(store: BackupStore, manifest: Manifest, signal?: AbortSignal): Promise<Manifest[]> {
  const chain = [manifest];
  let child = manifest;
  while (child.parent !== null) {
    const parentId = child.parent;
    let parent: Manifest;
    try {
      parent = await readManifest(store, child.source.id, parentId, signal);
    } catch (error) {
      if (error instanceof BackupNotFoundError || error instanceof IntegrityError) {
        throw new BrokenLinkError(parentId, child, error.message, error);
      }
      throw error;
    }
    if (parent.chainDepth !== child.chainDepth - 1 || parent.id >= child.id) {
      throw new BrokenLinkError(parentId, child, `its manifest says chain depth ${parent.chainDepth}, where ${child.chainDepth - 1} was expected`);
    }
    chain.unshift(parent);
    child = parent;
  }
  if (child.type !== 'full' || child.chainDepth !== 0) {
    throw new BrokenLinkError(child.id, child, 'it is the first link but not a full backup');
  }
  return chain;
}

/** A link of a chain that is missing or damaged; `child` is the backup that needs it. */
export class BrokenLinkError extends IntegrityError {
  readonly link: string;
  constructor(link: string, child: Manifest, problem: string, cause?: unknown) {
    const which = link === child.id ? `Backup ${link}` : `Backup ${link}, a link that ${child.id} needs,`;
    super('BROKEN_CHAIN', `${which} is unusable: ${problem}`, { backupId: link, subject: link }, { cause });
    this.link = link;
  }
}

/** Reads a small object of a backup whole and checks its size and sha256 against the manifest. */
export async function readVerifiedObject(store: BackupStore, manifest: Manifest, object: ManifestObject, signal?: AbortSignal): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readBytes(store, object.key, signal);
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') {
      throw new IntegrityError('MISSING_OBJECT', `Backup ${manifest.id} is missing its object ${object.key} in storage "${store.name}".`, {
        backupId: manifest.id,
        subject: object.key,
      });
    }
    throw error;
  }
  if (bytes.length !== object.size || createHash('sha256').update(bytes).digest('hex') !== object.sha256) {
    throw new IntegrityError('CHECKSUM_MISMATCH', `Backup ${manifest.id}: object ${object.key} in storage "${store.name}" does not match its sha256.`, {
      backupId: manifest.id,
      subject: object.key,
    });
  }
  return bytes;
}

/**
 * Streams one object of a backup and checks its size and sha256 against the manifest, without
 * holding it in memory or interpreting it (an encrypted archive on a host with no identity).
 */
export async function checkStoredObject(
  store: BackupStore,
  manifest: Manifest,
  object: ManifestObject,
  options: { signal?: AbortSignal | undefined; onBytes?: (n: number) => void } = {},
): Promise<void> {
  const ctx = { backupId: manifest.id, subject: object.key };
  let body: AsyncIterable<Buffer>;
  try {
    body = await store.get(object.key, { signal: options.signal });
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') {
      throw new IntegrityError('MISSING_OBJECT', `Backup ${manifest.id} is missing its object ${object.key} in storage "${store.name}".`, ctx);
    }
    throw error;
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    size += chunk.length;
    options.onBytes?.(chunk.length);
  }
  if (size !== object.size || hash.digest('hex') !== object.sha256) {
    throw new IntegrityError(
      size < object.size ? 'TRUNCATED' : 'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: object ${object.key} in storage "${store.name}" does not match its sha256 (${size} of ${object.size} bytes); it is corrupt or was tampered with.`,
      ctx,
    );
  }
}

/**
 * Checks that every object of every link is in `store` at its recorded size (a stat per object,
 * no content read). Throws an IntegrityError naming the first object that is missing or has
 * another size.
 */
export async function checkChainObjects(store: BackupStore, chain: readonly Manifest[], signal?: AbortSignal): Promise<void> {
  for (const link of chain) {
    for (const object of link.objects) {
      const stat = await store.stat(object.key, { signal });
      if (!stat) {
        throw new IntegrityError('MISSING_OBJECT', `Backup ${link.id} is missing its object ${object.key} in storage "${store.name}".`, {
          backupId: link.id,
          subject: object.key,
        });
      }
      if (stat.size !== object.size) {
        throw new IntegrityError(
          'CHECKSUM_MISMATCH',
          `Backup ${link.id}: object ${object.key} in storage "${store.name}" has ${stat.size} bytes, not ${object.size}.`,
          {
            backupId: link.id,
            subject: object.key,
          },
        );
      }
    }
  }
}

/**
 * The backup of a source that the queued job `jobId` committed, if any: a retried job (after a
 * crash, or a failure after the commit) uses it instead of making a second one. Only backups
 * that started after the job was created are read, newest first, in the first store that can
 * be listed.
 */
export async function findBackupByTrigger(
  stores: readonly BackupStore[],
  sourceId: string,
  jobId: string,
  createdAt: Date,
  signal?: AbortSignal,
): Promise<{ manifest: Manifest; store: BackupStore } | undefined> {
  const queuedAt = createdAt.toISOString();
  for (const store of stores) {
    let ids: { sourceId: string; backupId: string }[];
    try {
      ids = await listBackupIds(store, sourceId, signal);
    } catch (error) {
      if (isTargetFailure(error)) continue;
      throw error;
    }
    for (const { backupId } of ids.reverse()) {
      // Five minutes of slack for clocks of different hosts (the job's creator, the backup's host).
      if (backupIdTime(backupId).getTime() < createdAt.getTime() - 5 * 60_000) break;
      const manifest = await readManifest(store, sourceId, backupId, signal).catch((error: unknown) => {
        if (error instanceof IntegrityError || error instanceof BackupNotFoundError) return undefined;
        throw error;
      });
      const trigger = manifest?.trigger;
      if (trigger?.jobId === jobId && (trigger.queuedAt === undefined || trigger.queuedAt === queuedAt)) return { manifest: manifest!, store };
    }
    return undefined;
  }
  return undefined;
}
