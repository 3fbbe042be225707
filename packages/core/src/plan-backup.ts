/**
 * Planning an incremental backup: what to store and what to take from the parent. Pure: the
 * engine hands in what it found (the parent's manifest and page maps, the files' and snapshots'
 * hashes) and gets back the plan, or the reason the backup must be full.
 */
import type { FileKind, IncrementalLimits } from './config/index.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { deltaSize, diffPageMaps, runPages, type PageMap, type PageRun } from './page-delta.js';

export interface PlannedFile {
  path: string;
  kind: FileKind;
  mode: number;
  size: number;
  mtime: string;
  sha256: string;
  /** A symbolic link: its target (size 0, sha256 of the target text). */
  linkTarget?: string;
}

export interface PlannedDatabase {
  path: string;
  pageSize: number;
  pageCount: number;
  pageMap: PageMap;
}

export interface IncrementalPlanInput {
  parent: Pick<Manifest, 'id' | 'chainDepth'>;
  /** The parent's page maps by database path (a database without one is stored whole). */
  parentPageMaps: ReadonlyMap<string, PageMap>;
  limits: IncrementalLimits;
  /** The files' bytes: of those this backup stores again (new or changed, see {@link planFile}), and of all of them. */
  fileBytes: { changed: number; all: number };
  databases: readonly PlannedDatabase[];
}

export type DatabasePlan = { type: 'snapshot' } | { type: 'delta'; basePageCount: number; runs: PageRun[]; pages: number };

export interface IncrementalPlan {
  type: 'incremental';
  parent: string;
  chainDepth: number;
  databases: Map<string, DatabasePlan>;
  /** Uncompressed bytes this backup will store, and those a full one would. */
  bytes: number;
  fullBytes: number;
}

export type BackupPlan = IncrementalPlan | { type: 'full'; reason: string };

/**
 * A file's record in an incremental on a parent that has `old` of the same path: kept where the
 * parent's record says it is stored when the content is the same (same hash, size and link
 * target; the record takes the file's current mode and time), otherwise stored by this backup.
 * Files come one at a time, so that a million of them are planned as a stream.
 */
export function planFile(file: PlannedFile, old: ManifestFile | undefined, backupId: string): ManifestFile {
  const same = old !== undefined && old.sha256 === file.sha256 && old.size === file.size && old.linkTarget === file.linkTarget;
  return { ...file, storedIn: same ? old.storedIn : backupId };
}

/**
 * Plans an incremental on `parent`, or says why the backup must be full: the chain would
 * exceed `limits.maxChainLength`, or the change would exceed `limits.maxDeltaRatio` of a full
 * backup. The files were planned one by one ({@link planFile}); a database is stored as a page
 * delta when the parent has a page map of it with the same page size, and whole otherwise.
 */
export function planIncremental(input: IncrementalPlanInput): BackupPlan {
  const { parent, limits } = input;
  const chainDepth = parent.chainDepth + 1;
  if (chainDepth > limits.maxChainLength) {
    return { type: 'full', reason: `the chain reached its limit of ${limits.maxChainLength} incremental backups after a full one` };
  }
  const databases = new Map<string, DatabasePlan>();
  let bytes = input.fileBytes.changed;
  let fullBytes = input.fileBytes.all;
  for (const db of input.databases) {
    const size = db.pageCount * db.pageSize;
    fullBytes += size;
    const base = input.parentPageMaps.get(db.path);
    if (!base || base.pageSize !== db.pageSize || base.algorithm !== db.pageMap.algorithm) {
      databases.set(db.path, { type: 'snapshot' });
      bytes += size;
      continue;
    }
    const runs = diffPageMaps(base, db.pageMap);
    databases.set(db.path, { type: 'delta', basePageCount: base.pageCount, runs, pages: runPages(runs) });
    bytes += deltaSize(db.pageSize, runs);
  }
  if (fullBytes > 0 && bytes > limits.maxDeltaRatio * fullBytes) {
    return {
      type: 'full',
      reason: `the change (${percent(bytes / fullBytes)} of a full backup) exceeds the limit of ${percent(limits.maxDeltaRatio)} for an incremental`,
    };
  }
  return { type: 'incremental', parent: parent.id, chainDepth, databases, bytes, fullBytes };
}

function percent(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}
