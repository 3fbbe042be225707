/**
 * A backup's file list (manifest schema 4, see core's file-list.ts) as a stream: written to a
 * local file as a backup packs, read back from storage record by record with its size and sha256
 * checked against the manifest. Nothing here holds more than one record, so a million files cost
 * the same memory as ten. Manifests of schemas 1 to 3 keep their files inline; every reader here
 * gives those the same way, so callers need not know the schema.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  FileListCounts,
  IntegrityError,
  StorageError,
  comparePaths,
  entryOfFile,
  fileListLine,
  fileListObject,
  parseFileListLine,
  type Manifest,
  type ManifestEntry,
  type ManifestFile,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { createDecompressStream, HashingStream } from '../support/index.js';

/** Writes a file list to a local file, record by record in path order, counting what it holds. */
export class FileListWriter {
  private readonly out: WriteStream;
  private readonly closed: Promise<void>;
  private last: string | undefined;
  readonly counts: FileListCounts;

  constructor(
    readonly file: string,
    backupId: string,
  ) {
    this.out = createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 });
    this.closed = once(this.out, 'close').then(() => undefined);
    this.closed.catch(() => undefined);
    this.counts = new FileListCounts(backupId);
  }

  /** Adds the next record (its path must come after the previous one's). */
  async add(f: ManifestFile): Promise<void> {
    if (this.last !== undefined && comparePaths(this.last, f.path) >= 0) throw new Error(`file list out of order: "${f.path}" after "${this.last}"`);
    this.last = f.path;
    this.counts.add(f);
    if (!this.out.write(fileListLine(f))) await once(this.out, 'drain');
  }

  /** Ends the file (flushed, not fsynced: it is stored, then removed with the run's staging folder). */
  async close(): Promise<FileListCounts> {
    this.out.end();
    await this.closed;
    return this.counts;
  }
}

/** The records of a local file list (written by {@link FileListWriter} or {@link fetchFileList}), in order, each checked. */
export async function* readLocalFileList(file: string, where: string): AsyncGenerator<ManifestFile> {
  yield* parseLines(createReadStream(file, { highWaterMark: 1 << 20 }), where);
}

async function* parseLines(input: Readable, where: string): AsyncGenerator<ManifestFile> {
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  let previous: string | undefined;
  try {
    for await (const line of lines) {
      n++;
      const record = parseFileListLine(line, n, previous, where);
      previous = record.path;
      yield record;
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * Every file of a backup, in path order, streamed from the store. The stored bytes' size and
 * sha256 are checked against the manifest as they arrive, and the last record is given only
 * after that check passed: a caller that reaches the end of the iteration has read a list that
 * is exactly the one the (signed) manifest names; a damaged one throws an IntegrityError.
 */
export async function* streamFileList(store: BackupStore, manifest: Manifest, signal?: AbortSignal): AsyncGenerator<ManifestFile> {
  const object = fileListObject(manifest);
  if (!object) {
    yield* [...manifest.files!].sort((a, b) => comparePaths(a.path, b.path));
    return;
  }
  const ctx = { backupId: manifest.id, subject: object.key };
  let body: Readable;
  try {
    body = await store.get(object.key, { signal });
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND')
      throw new IntegrityError('MISSING_OBJECT', `Backup ${manifest.id} is missing its file list ${object.key} in storage "${store.name}".`, ctx);
    throw error;
  }
  const stored = new HashingStream();
  const text = createDecompressStream(object.compression);
  const flowing = pipeline(body, stored, text, { signal }).catch((error: unknown) => {
    if (signal?.aborted) throw error;
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: file list ${object.key} in storage "${store.name}" cannot be read (${(error as Error).message}).`,
      ctx,
      { cause: error },
    );
  });
  flowing.catch(() => undefined);
  let held: ManifestFile | undefined;
  for await (const record of parseLines(text, `${object.key} in storage "${store.name}"`)) {
    if (held) yield held;
    held = record;
  }
  await flowing;
  if (stored.bytes !== object.size || stored.digest() !== object.sha256)
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: file list ${object.key} in storage "${store.name}" does not match its sha256; it is corrupt or was tampered with.`,
      ctx,
    );
  if (held) yield held;
}

/**
 * Fetches a backup's file list into a local file (decompressed, checked whole before this
 * returns), for a caller that reads it more than once (a restore: once per archive of a chain).
 */
export async function fetchFileList(store: BackupStore, manifest: Manifest, file: string, signal?: AbortSignal): Promise<void> {
  const out = createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 });
  await pipeline(
    Readable.from(
      (async function* () {
        for await (const f of streamFileList(store, manifest, signal)) yield fileListLine(f);
      })(),
    ),
    out,
  );
}

/**
 * Every file of a backup in one array, for what needs them all at once and is not on the path of
 * a big backup or restore (show, history, recover of a small bot). Schemas 1 to 3: `files`.
 */
export async function loadFiles(store: BackupStore, manifest: Manifest, signal?: AbortSignal): Promise<ManifestFile[]> {
  if (manifest.files) return manifest.files;
  const files: ManifestFile[] = [];
  for await (const f of streamFileList(store, manifest, signal)) files.push(f);
  return files;
}

/**
 * The archive's file members of a backup (schema 4): its file list's records stored in it, as
 * entries, in archive order. Nothing for earlier schemas, whose members are all in `entries`.
 * Give it to readArchive as `listed`.
 */
export async function* listedEntries(store: BackupStore, manifest: Manifest, signal?: AbortSignal): AsyncGenerator<ManifestEntry> {
  if (!fileListObject(manifest)) return;
  for await (const f of streamFileList(store, manifest, signal)) if (f.storedIn === manifest.id) yield entryOfFile(f);
}

/**
 * A backup's record of one file, or undefined. The whole list is read even after the file is
 * found, so that the record given is one whose list matched its sha256.
 */
export async function findFile(store: BackupStore, manifest: Manifest, filePath: string, signal?: AbortSignal): Promise<ManifestFile | undefined> {
  if (manifest.files) return manifest.files.find((f) => f.path === filePath);
  let found: ManifestFile | undefined;
  for await (const f of streamFileList(store, manifest, signal)) if (f.path === filePath) found = f;
  return found;
}
