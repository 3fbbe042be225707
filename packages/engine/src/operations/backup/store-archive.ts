import path from 'node:path';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DELTA_SUFFIX, fileOfEntry, type IncrementalPlan, type Manifest, type ManifestEntry, type ManifestObject } from '@botbackup/core';
import { createDeltaStream, packArchive, type ArchiveInput, type PackResult } from '../../archive/index.js';
import { FileListWriter, isTargetFailure } from '../../repository/index.js';
import type { CollectedFiles } from '../../source/index.js';
import { createCompressStream, HashingStream, settleAll } from '../../support/index.js';
import type { SkippedFile } from './plan.js';
import type { BackupRun } from './run.js';
import type { Snapshots } from './snapshots.js';

/**
 * What goes into the archive, in order, and how many bytes that is (for progress). Files go
 * first, in path order (a reader that wants one file can stop early, and a reader merges them
 * with the file list in one pass), databases last: an incremental's stored-again files only, and
 * each database whole or as the page delta its plan says. The inputs are made one at a time as
 * the packer reaches them.
 */
export function archiveInputs(
  run: BackupRun,
  files: CollectedFiles,
  snapshots: Snapshots,
  incremental: { plan: IncrementalPlan; stored: Uint8Array } | undefined,
): { inputs: Iterable<ArchiveInput>; expected: number } {
  const databases = run.source.databases.map((db, i): ArchiveInput => {
    const snapshot = run.snapshots.get(db.relativePath)!;
    const dbPlan = incremental?.plan.databases.get(db.relativePath);
    if (dbPlan?.type === 'delta') {
      const open = async () => createDeltaStream(snapshot.file, snapshot.pageSize, dbPlan.basePageCount, snapshot.pageCount, dbPlan.runs);
      return { path: db.relativePath + DELTA_SUFFIX, kind: 'database-delta', mode: 0o600, mtime: run.startedAt, open };
    }
    const open = async () => ({ size: snapshot.size, stream: snapshot.openStream() });
    return { path: db.relativePath, kind: 'database', mode: snapshots.modes[i]!, mtime: run.startedAt, open };
  });
  const inputs = function* (): Generator<ArchiveInput> {
    for (let i = 0; i < files.length; i++) {
      if (incremental && !incremental.stored[i]) continue;
      const f = files.at(i);
      yield f.linkTarget !== undefined
        ? { path: f.relPath, linkTarget: f.linkTarget, kind: f.kind, mode: f.mode, mtime: f.mtime }
        : { path: f.relPath, absPath: f.absPath, identity: f.identity, kind: f.kind, mode: f.mode, size: f.size, mtime: f.mtime };
    }
    yield* databases;
  };
  const expected = incremental?.plan.bytes || files.totalSize() + [...run.snapshots.values()].reduce((sum, f) => sum + f.size, 0);
  return { inputs: inputs(), expected };
}

/** What packing the archive found: the members that are not files of the backup, the stored files' list, and the files that could not be stored whole. */
export interface Packed extends PackResult {
  /** Databases, page deltas and padded copies of files that shrank: kept in the manifest. */
  entries: ManifestEntry[];
  /** The files this archive stores, as file list records of this backup (a local file, in path order), and what it holds. */
  storedList: { file: string; counts: NonNullable<Manifest['fileList']> };
}

/**
 * Packs, compresses, encrypts, hashes and stores the archive in one pipeline, so memory is
 * bounded by stream buffers and the source is read once: a tee feeds every live target at the
 * pace of the slowest, and a target that fails on its own is dropped while the others go on.
 * Each file member is written to a local list as it is packed, not held. Returns the archive's
 * object (size and sha256 as stored) and what the packer found.
 */
export async function storeArchive(run: BackupRun, inputs: Iterable<ArchiveInput>, expected: number): Promise<{ object: ManifestObject; packed: Packed }> {
  const { config, keyring, archiveKey, options } = run;
  let packed = 0;
  const entries: ManifestEntry[] = [];
  const stored = new FileListWriter(path.join(run.staging, 'stored-files.ndjson'), run.backupId);
  const archive = packArchive(
    inputs,
    async (entry, torn) => {
      if (torn || entry.kind === 'database' || entry.kind === 'database-delta') entries.push(entry);
      else await stored.add(fileOfEntry(entry, run.backupId));
    },
    (n) => {
      packed += n;
      // The expected size is the files' sizes when they were listed; past it (a log grew) the total is unknown until the end.
      options.onProgress?.({ phase: 'pack', done: packed, total: packed <= expected ? expected : undefined });
    },
    run.contentKey,
  );
  const archiveReaders = config.encryption ? keyring.readersFor('archive') : undefined;
  // Compressed, then encrypted: ciphertext does not compress.
  const encrypt = archiveReaders ? [await keyring.encryptStream(archiveReaders)] : [];
  let counts: NonNullable<Manifest['fileList']> | undefined;
  try {
    const written = await storeObject(run, archiveKey, [archive.stream, createCompressStream(config.compression.codec, config.compression.level), ...encrypt]);
    const packResult = await archive.result;
    // The expected size was an estimate (a file may have shrunk or been skipped): the phase ends complete at what was packed.
    options.onProgress?.({ phase: 'pack', done: packed, total: packed });
    const object: ManifestObject = {
      key: archiveKey,
      role: 'archive',
      ...written,
      compression: config.compression.codec,
      encryption: archiveReaders ? { format: 'age', readers: archiveReaders } : null,
    };
    counts = (await stored.close()).toJSON();
    return { object, packed: { ...packResult, entries, storedList: { file: stored.file, counts } } };
  } finally {
    if (counts === undefined) await stored.close();
  }
}

/**
 * Writes one object to every live target from one pass over `source` (its last stream is what is
 * stored), hashing it on the way; a target that fails on its own is dropped while the others go
 * on. Returns the stored size and sha256.
 */
export async function storeObject(run: BackupRun, key: string, source: [Readable, ...Duplex[]]): Promise<{ size: number; sha256: string }> {
  const { targets, options } = run;
  const stored = new HashingStream();
  let sourceFailed = false;
  stored.once('error', () => (sourceFailed = true));
  const receivers = targets.alive.slice();
  const branches = tee(stored, receivers.length);
  run.written.push(key);
  await settleAll([
    pipeline([...source, stored], { signal: options.signal }),
    ...receivers.map((store, i) =>
      store.put(key, branches[i]!, { signal: options.signal }).catch((error: unknown) => {
        // The others go on: a destroyed branch is unpiped from the tee.
        branches[i]!.destroy();
        // A failed source fails every store with some error of its own ("no object", premature
        // close): the pipeline's rejection says what really happened.
        if (sourceFailed) return;
        if (!isTargetFailure(error) || options.signal?.aborted) throw error;
        targets.fail(store, error);
      }),
    ),
  ]);
  return { size: stored.bytes, sha256: stored.digest() };
}

/**
 * Every file found but not backed up: those skipped before packing, then the packer's. Each is
 * logged; a file the packer stored although it changed while read becomes a warning of the
 * backup.
 */
export function reportSkipped(run: BackupRun, skipped: SkippedFile[], packed: PackResult): SkippedFile[] {
  skipped.push(...packed.skipped);
  for (const note of packed.notes) run.warn(`${note.path} ${note.reason}`);
  for (const s of skipped) run.log.warn({ path: s.path }, `skipped ${s.path}: ${s.reason}`);
  return skipped;
}

/**
 * Splits one stream into `n` that each see every byte, at the pace of the slowest reader, and
 * that all fail if the source fails (so no store waits forever on a dead source).
 */
function tee(source: Readable, n: number): Readable[] {
  if (n === 1) return [source];
  const branches = Array.from({ length: n }, () => new PassThrough({ highWaterMark: 1 << 20 }));
  for (const branch of branches) source.pipe(branch);
  source.once('error', (error) => {
    for (const branch of branches) branch.destroy(error);
  });
  return branches;
}
