import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DELTA_SUFFIX, type IncrementalPlan, type ManifestObject } from '@botbackup/core';
import { createDeltaStream, packArchive, type ArchiveInput, type PackResult } from '../../archive/index.js';
import { isTargetFailure } from '../../repository/index.js';
import type { CollectedFile } from '../../source/index.js';
import { createCompressStream, HashingStream, settleAll } from '../../support/index.js';
import type { SkippedFile } from './plan.js';
import type { BackupRun } from './run.js';
import type { Snapshots } from './snapshots.js';

/**
 * What goes into the archive, in order, and how many bytes that is (for progress). Files go
 * first (a reader that wants one file can stop early), databases last: an incremental's changed
 * files only, and each database whole or as the page delta its plan says.
 */
export function archiveInputs(
  run: BackupRun,
  files: readonly CollectedFile[],
  snapshots: Snapshots,
  incremental: IncrementalPlan | undefined,
): { inputs: ArchiveInput[]; expected: number } {
  const storedFiles = incremental ? new Set(incremental.changed.map((f) => f.path)) : undefined;
  const inputs: ArchiveInput[] = [
    ...files
      .filter((f) => !storedFiles || storedFiles.has(f.relPath))
      .map((f): ArchiveInput =>
        f.linkTarget !== undefined
          ? { path: f.relPath, linkTarget: f.linkTarget, kind: f.kind, mode: f.mode, mtime: f.mtime }
          : { path: f.relPath, absPath: f.absPath, identity: f.identity, kind: f.kind, mode: f.mode, size: f.size, mtime: f.mtime },
      ),
    ...run.source.databases.map((db, i): ArchiveInput => {
      const snapshot = run.snapshots.get(db.relativePath)!;
      const dbPlan = incremental?.databases.get(db.relativePath);
      if (dbPlan?.type === 'delta') {
        const open = async () => createDeltaStream(snapshot.file, snapshot.pageSize, dbPlan.basePageCount, snapshot.pageCount, dbPlan.runs);
        return { path: db.relativePath + DELTA_SUFFIX, kind: 'database-delta', mode: 0o600, mtime: run.startedAt, open };
      }
      const open = async () => ({ size: snapshot.size, stream: snapshot.openStream() });
      return { path: db.relativePath, kind: 'database', mode: snapshots.modes[i]!, mtime: run.startedAt, open };
    }),
  ];
  const expected = (incremental?.bytes ?? 0) || [...files, ...run.snapshots.values()].reduce((sum, f) => sum + f.size, 0);
  return { inputs, expected };
}

/**
 * Packs, compresses, encrypts, hashes and stores the archive in one pipeline, so memory is
 * bounded by stream buffers and the source is read once: a tee feeds every live target at the
 * pace of the slowest, and a target that fails on its own is dropped while the others go on.
 * Returns the archive's object (size and sha256 as stored) and what the packer found (entries,
 * files skipped or changed while read).
 */
export async function storeArchive(run: BackupRun, inputs: ArchiveInput[], expected: number): Promise<{ object: ManifestObject; packed: PackResult }> {
  const { config, keyring, targets, archiveKey, options } = run;
  let packed = 0;
  const archive = packArchive(
    inputs,
    (n) => {
      packed += n;
      options.onProgress?.({ phase: 'pack', done: packed, total: Math.max(expected, packed) });
    },
    run.contentKey,
  );
  const archiveReaders = config.encryption ? keyring.readersFor('archive') : undefined;
  // Compressed, then encrypted: ciphertext does not compress.
  const encrypt = archiveReaders ? [await keyring.encryptStream(archiveReaders)] : [];
  const stored = new HashingStream();
  let sourceFailed = false;
  stored.once('error', () => (sourceFailed = true));
  const receivers = targets.alive.slice();
  const branches = tee(stored, receivers.length);
  run.written.push(archiveKey);
  await settleAll([
    pipeline([archive.stream, createCompressStream(config.compression.codec, config.compression.level), ...encrypt, stored], { signal: options.signal }),
    ...receivers.map((store, i) =>
      store.put(archiveKey, branches[i]!, { signal: options.signal }).catch((error: unknown) => {
        // The others go on: a destroyed branch is unpiped from the tee.
        branches[i]!.destroy();
        if (sourceFailed || !isTargetFailure(error) || options.signal?.aborted) throw error;
        targets.fail(store, error);
      }),
    ),
  ]);
  const packResult = await archive.result;
  const object: ManifestObject = {
    key: archiveKey,
    role: 'archive',
    size: stored.bytes,
    sha256: stored.digest(),
    compression: config.compression.codec,
    encryption: archiveReaders ? { format: 'age', readers: archiveReaders } : null,
  };
  return { object, packed: packResult };
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
