/**
 * A backup's file list (manifest schema 4): one JSON object per line, a {@link ManifestFile}
 * with its keys in a fixed order, sorted by path ({@link comparePaths}). It is its own object
 * beside the archive, not a member of the manifest, so that a backup writes it as it packs and a
 * restore reads it as a stream: neither holds a million files at once, and the manifest stays a
 * few KiB that is signed whole (the list's sha256 is in its `objects`). The archive's file
 * members come in the same order, so a reader merges the two in one pass.
 */
import { IntegrityError } from './errors.js';
import { fileSchema, type ManifestEntry, type ManifestFile } from './manifest.js';

/** The order of a file list and of an archive's file members: by path, UTF-16 code unit by code unit (JavaScript's `<`). */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One line of a file list (with its newline). */
export function fileListLine(f: ManifestFile): string {
  const record: ManifestFile = { path: f.path, kind: f.kind, mode: f.mode, size: f.size, mtime: f.mtime, sha256: f.sha256, storedIn: f.storedIn };
  if (f.linkTarget !== undefined) record.linkTarget = f.linkTarget;
  return `${JSON.stringify(record)}\n`;
}

/**
 * Parses line `lineNumber` (1-based) of a file list, checking it comes after `previous` (the
 * path of the line before): a list out of order, or with a path twice, is damaged.
 */
export function parseFileListLine(line: string, lineNumber: number, previous: string | undefined, where: string): ManifestFile {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    raw = undefined;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw damaged(where, `line ${lineNumber} is not a file record`);
  if (previous !== undefined && comparePaths(previous, parsed.data.path) >= 0)
    throw damaged(where, `line ${lineNumber} ("${parsed.data.path}") is out of order or repeated`);
  return parsed.data;
}

function damaged(where: string, what: string): IntegrityError {
  return new IntegrityError('BAD_MANIFEST', `The file list ${where} is damaged: ${what}.`, { subject: where });
}

/** The archive entry of a file stored in the backup whose list it is in. */
export function entryOfFile(f: ManifestFile): ManifestEntry {
  const { storedIn: _storedIn, ...entry } = f;
  return entry;
}

/** A file record of backup `id` made from the archive entry that stores it there. */
export function fileOfEntry(entry: ManifestEntry, id: string): ManifestFile {
  return {
    path: entry.path,
    kind: entry.kind as ManifestFile['kind'],
    mode: entry.mode,
    size: entry.size,
    mtime: entry.mtime,
    sha256: entry.sha256,
    storedIn: id,
    ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}),
  };
}

/** Counts a file list as it is written: what the manifest's `fileList` says of it. */
export class FileListCounts {
  files = 0;
  stored = 0;
  storedBytes = 0;

  constructor(private readonly backupId: string) {}

  add(f: ManifestFile): void {
    this.files++;
    if (f.storedIn === this.backupId) {
      this.stored++;
      this.storedBytes += f.size;
    }
  }

  toJSON(): { files: number; stored: number; storedBytes: number } {
    return { files: this.files, stored: this.stored, storedBytes: this.storedBytes };
  }
}

/**
 * Pairs each item of `items` with the record of the same path in `records`, if there is one;
 * both in path order. One pass, one record held: how an incremental compares a million files
 * with its parent's list.
 */
export async function* joinByPath<T extends { path: string }>(
  items: Iterable<T> | AsyncIterable<T>,
  records: AsyncIterable<ManifestFile>,
): AsyncGenerator<[T, ManifestFile | undefined]> {
  const cursor = records[Symbol.asyncIterator]();
  let record = await cursor.next();
  try {
    for await (const item of items) {
      while (!record.done && comparePaths(record.value.path, item.path) < 0) record = await cursor.next();
      yield [item, !record.done && record.value.path === item.path ? record.value : undefined];
    }
  } finally {
    await cursor.return?.();
  }
}

/** The records of `a` and `b` (each in path order, no path in both) as one list in path order. */
export async function* mergeByPath(a: AsyncIterable<ManifestFile>, b: AsyncIterable<ManifestFile>): AsyncGenerator<ManifestFile> {
  const left = a[Symbol.asyncIterator]();
  const right = b[Symbol.asyncIterator]();
  try {
    let [l, r] = await Promise.all([left.next(), right.next()]);
    while (!l.done || !r.done) {
      if (r.done || (!l.done && comparePaths(l.value.path, r.value.path) < 0)) {
        yield l.value!;
        l = await left.next();
      } else {
        yield r.value;
        r = await right.next();
      }
    }
  } finally {
    await Promise.all([left.return?.(), right.return?.()]);
  }
}

/** The paths of `before` that `after` lacks (both in path order): the files an incremental no longer has. */
export async function* pathsGone(before: AsyncIterable<ManifestFile>, after: AsyncIterable<ManifestFile>): AsyncGenerator<string> {
  for await (const [gone, kept] of joinByPath(before, after)) if (!kept) yield gone.path;
}
