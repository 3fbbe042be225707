import fs from 'node:fs/promises';
import path from 'node:path';
import type { PageMap } from '@botbackup/core';
import { startSnapshot, type SnapshotHandle } from '../../sqlite/index.js';
import type { BackupRun } from './run.js';

/** What the snapshot stage gives the later ones, by database (in the source's order, or by path). */
export interface Snapshots {
  /** Each database file's mode, restored with it. */
  modes: number[];
  /**
   * Each snapshot's page hashes, by path, when there is a parent to compare them with: an
   * incremental's plan needs them before anything is packed, so its copies are awaited. A full
   * backup packs each snapshot while it is copied, and stores its page map from the finished
   * snapshot instead (see storePageMaps).
   */
  pageMaps: Map<string, PageMap>;
}

/**
 * Takes a consistent snapshot of each database, one after another, into the staging folder: each
 * is copied once, with its page hashes, and quick_check runs while the archive is packed
 * (`run.snapshots` holds the handles, so cleanup can wait for them). The whole copy's sha256 is
 * computed only when there is a parent: only a page delta needs it in the manifest.
 */
export async function snapshotDatabases(run: BackupRun, hasParent: boolean): Promise<Snapshots> {
  const { source, options } = run;
  const modes = await Promise.all(
    source.databases.map((db) =>
      fs.stat(db.path).then(
        (s) => s.mode & 0o7777,
        () => 0o600,
      ),
    ),
  );
  for (const db of source.databases) {
    const handle = await startSnapshot(db, path.join(run.staging, `${db.name}.sqlite`), {
      signal: run.snapshotSignal,
      sha256: hasParent,
      hashKey: run.contentKey,
      onPinned: options.onSnapshotPinned && (() => options.onSnapshotPinned!(db.name)),
      onProgress: (done, total) => options.onProgress?.({ phase: 'snapshot', done, total, subject: db.name }),
      onRollbackJournal: run.warn,
    });
    run.snapshots.set(db.relativePath, handle);
  }
  const pageMaps = new Map<string, PageMap>();
  if (hasParent) {
    for (const db of source.databases) {
      const snapshot = run.snapshots.get(db.relativePath)!;
      pageMaps.set(db.relativePath, pageMapOfSnapshot(snapshot, (await snapshot.copied).pageHashes));
    }
  }
  return { modes, pageMaps };
}

/** A snapshot's page map, from its page hashes. */
export function pageMapOfSnapshot(snapshot: Pick<SnapshotHandle, 'pageSize' | 'pageCount'>, hashes: Uint8Array): PageMap {
  return { algorithm: 'xxh64', pageSize: snapshot.pageSize, pageCount: snapshot.pageCount, hashes };
}
