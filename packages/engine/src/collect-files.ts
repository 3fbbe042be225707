import fs from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
import { DELTA_SUFFIX, SourceError, type FileKind, type SourceConfig } from '@botbackup/core';

export interface CollectedFile {
  absPath: string;
  /** Path relative to the source root, forward slashes. */
  relPath: string;
  kind: FileKind;
  mode: number;
  size: number;
  mtime: Date;
}

export interface CollectResult {
  files: CollectedFile[];
  excluded: { path: string; reason: string }[];
}

/** When one file matches several sets, the safest kind wins: a secret stays a secret. */
const KIND_PRIORITY: Record<FileKind, number> = { secret: 0, config: 1, log: 2, other: 3 };

/**
 * Finds the source's files: every file set's include globs minus its exclude globs, relative to
 * the source root (dot files included, symlinks followed). Log sets keep only files modified
 * within their window. Database files, their -wal/-shm/-journal and the name of their delta
 * entry are never taken as plain files: databases are only ever copied as consistent
 * snapshots. `now` is passed in.
 */
export async function collectFiles(source: SourceConfig, now: Date): Promise<CollectResult> {
  const dbFiles = new Set(source.databases.flatMap((db) => ['', '-wal', '-shm', '-journal', DELTA_SUFFIX].map((suffix) => `${db.relativePath}${suffix}`)));
  const byPath = new Map<string, CollectedFile>();
  const excluded: CollectResult['excluded'] = [];
  for (const set of source.files) {
    const matches = await fg(set.include, {
      cwd: source.root,
      ignore: set.exclude,
      dot: true,
      onlyFiles: true,
      followSymbolicLinks: true,
      unique: true,
      suppressErrors: false,
    });
    for (const relPath of matches.sort()) {
      if (dbFiles.has(relPath)) continue;
      const absPath = path.join(source.root, relPath);
      const stat = await fs.stat(absPath).catch((error: NodeJS.ErrnoException) => {
        throw new SourceError(
          'FILE_UNREADABLE',
          absPath,
          `Cannot read ${absPath} (source "${source.id}"): ${describeErrno(error)}; fix its permissions or exclude it.`,
          { cause: error },
        );
      });
      if (!stat.isFile()) continue;
      if (set.maxAgeMs !== undefined && now.getTime() - stat.mtimeMs > set.maxAgeMs) {
        excluded.push({ path: relPath, reason: `log not modified within ${Math.round(set.maxAgeMs / 86_400_000)}d` });
        continue;
      }
      const previous = byPath.get(relPath);
      if (previous && KIND_PRIORITY[previous.kind] <= KIND_PRIORITY[set.kind]) continue;
      byPath.set(relPath, { absPath, relPath, kind: set.kind, mode: stat.mode & 0o7777, size: stat.size, mtime: stat.mtime });
    }
  }
  // Fail now, before anything is written, if a file cannot be opened (an unreadable key file
  // must stop the backup, not be silently left out).
  for (const file of byPath.values()) {
    await fs.access(file.absPath, fs.constants.R_OK).catch((error: NodeJS.ErrnoException) => {
      throw new SourceError(
        'FILE_UNREADABLE',
        file.absPath,
        `Cannot read ${file.kind} file ${file.absPath} (source "${source.id}"): ${describeErrno(error)}; fix its permissions or exclude it.`,
        { cause: error },
      );
    });
  }
  return { files: [...byPath.values()].sort((a, b) => (a.relPath < b.relPath ? -1 : 1)), excluded };
}

function describeErrno(error: NodeJS.ErrnoException): string {
  if (error.code === 'EACCES' || error.code === 'EPERM') return 'permission denied';
  if (error.code === 'ENOENT') return 'it disappeared while the backup was starting';
  return error.code ?? error.message;
}
