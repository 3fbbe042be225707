/**
 * Planning an incremental backup: what to store and what to take from the parent. Pure: the
 * engine hands in what it found (the parent's manifest and page maps, the files' and snapshots'
 * hashes) and gets back the plan, or the reason the backup must be full.
 */
import type { FileKind, IncrementalLimits } from './config/index.js';
import type { Manifest } from './manifest.js';
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
  /** The id of the backup being planned (files it stores are `storedIn` it). */
  backupId: string;
  parent: Manifest;
  /** The parent's page maps by database path (a database without one is stored whole). */
  parentPageMaps: ReadonlyMap<string, PageMap>;
  limits: IncrementalLimits;
  files: readonly PlannedFile[];
  databases: readonly PlannedDatabase[];
}

export type DatabasePlan = { type: 'snapshot' } | { type: 'delta'; basePageCount: number; runs: PageRun[]; pages: number };

export interface IncrementalPlan {
  type: 'incremental';
  parent: string;
  chainDepth: number;
  /** Files whose content this backup stores (new or changed). */
  changed: PlannedFile[];
  /** Every file as of this backup, with the backup that holds its content. */
  files: (PlannedFile & { storedIn: string })[];
  /** Files of the parent that are gone. */
  deleted: string[];
  databases: Map<string, DatabasePlan>;
  /** Uncompressed bytes this backup will store, and those a full one would. */
  bytes: number;
  fullBytes: number;
}

export type BackupPlan = IncrementalPlan | { type: 'full'; reason: string };

/**
 * Plans an incremental on `parent`, or says why the backup must be full: the chain would
 * exceed `limits.maxChainLength`, or the change would exceed `limits.maxDeltaRatio` of a full
 * backup. A file is stored when the parent lacks it or its content (sha256) differs; a database
 * is stored as a page delta when the parent has a page map of it with the same page size, and
 * whole otherwise.
 */
export function planIncremental(input: IncrementalPlanInput): BackupPlan {
  const { parent, limits } = input;
  const chainDepth = parent.chainDepth + 1;
  if (chainDepth > limits.maxChainLength) {
    return { type: 'full', reason: `the chain reached its limit of ${limits.maxChainLength} incremental backups after a full one` };
  }
  const before = new Map(parent.files.map((f) => [f.path, f]));
  const changed: PlannedFile[] = [];
  const files = input.files.map((file) => {
    const old = before.get(file.path);
    if (old && old.sha256 === file.sha256 && old.size === file.size && old.linkTarget === file.linkTarget) return { ...file, storedIn: old.storedIn };
    changed.push(file);
    return { ...file, storedIn: input.backupId };
  });
  const present = new Set(input.files.map((f) => f.path));
  const deleted = parent.files.filter((f) => !present.has(f.path)).map((f) => f.path);

  const databases = new Map<string, DatabasePlan>();
  let bytes = changed.reduce((sum, f) => sum + f.size, 0);
  let fullBytes = input.files.reduce((sum, f) => sum + f.size, 0);
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
  return { type: 'incremental', parent: parent.id, chainDepth, changed, files, deleted, databases, bytes, fullBytes };
}

function percent(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}
