import { createHash } from 'node:crypto';
import { encodePageMap, repositoryKeys, type ManifestObject, type SnapshotFacts } from '@botbackup/core';
import type { BackupRun } from './run.js';
import { pageMapOfSnapshot, type Snapshots } from './snapshots.js';

/**
 * Waits for each snapshot to be complete and to pass quick_check (nothing is committed before),
 * then stores its page map on every live target: the next incremental compares against it
 * without reading the database back. A page map is encrypted like the archive and, with
 * recipients, to the worker key too: a backup host without the identity must read it. Returns
 * the page maps' objects, what the manifest says of each snapshot, and SQLite's version (the
 * first database's).
 */
export async function storePageMaps(
  run: BackupRun,
  snapshots: Snapshots,
): Promise<{ objects: ManifestObject[]; databases: SnapshotFacts[]; sqliteVersion: string | undefined }> {
  const { config, keyring, source, options } = run;
  const objects: ManifestObject[] = [];
  const databases: SnapshotFacts[] = [];
  let sqliteVersion: string | undefined;
  for (const [i, db] of source.databases.entries()) {
    const snapshot = await run.snapshots.get(db.relativePath)!.done;
    run.log.info({ database: db.name, pages: snapshot.pageCount, readLockMs: Math.round(snapshot.readLockMs) }, 'database snapshot taken and checked');
    sqliteVersion ??= snapshot.sqliteVersion;
    const mapReaders = config.encryption ? keyring.readersFor('page-map') : undefined;
    const mapKey = repositoryKeys.pageMap(source.id, run.backupId, db.name, mapReaders !== undefined);
    const plainMap = encodePageMap(pageMapOfSnapshot(snapshot, snapshot.pageHashes));
    const mapBytes = mapReaders ? await keyring.encryptBytes(Buffer.from(plainMap), mapReaders) : plainMap;
    run.written.push(mapKey);
    await run.targets.each((store) => store.put(mapKey, mapBytes, { signal: options.signal }), options.signal);
    objects.push({
      key: mapKey,
      role: 'page-map',
      size: mapBytes.length,
      sha256: createHash('sha256').update(mapBytes).digest('hex'),
      compression: 'none',
      encryption: mapReaders ? { format: 'age', readers: mapReaders } : null,
    });
    const { journalMode, pageSize, pageCount, size, sha256, wal } = snapshot;
    databases.push({ name: db.name, path: db.relativePath, mode: snapshots.modes[i]!, journalMode, pageSize, pageCount, size, sha256, pageMap: mapKey, wal });
  }
  return { objects, databases, sqliteVersion };
}
