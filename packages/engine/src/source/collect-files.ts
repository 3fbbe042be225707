import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DELTA_SUFFIX, SourceError, type FileKind, type SourceConfig } from '@botbackup/core';
import { CollectedFiles, type CollectedFile } from './collected-files.js';
import { walkSets } from './walk.js';

export interface CollectResult {
  /** In path order ({@link comparePaths}). */
  files: CollectedFiles;
  excluded: { path: string; reason: string }[];
  /** Found but not backed up: vanished during the walk, or (follow-inside) a link that leaves the root, loops or dangles. */
  skipped: { path: string; reason: string }[];
}

/** When one file matches several sets, the safest kind wins: a secret stays a secret. */
const KIND_PRIORITY: Record<FileKind, number> = { secret: 0, config: 1, log: 2, other: 3 };

/**
 * Finds the source's files: every file set's include globs minus its exclude globs, relative to
 * the source root (dot files included). Symbolic links are never followed by the walk: a linked
 * folder is not descended, and a link is kept as a link (its target text), or, with
 * `symlinks: follow-inside`, a link whose real target is a file inside the root is taken as that
 * file while one that leaves the root, loops or dangles is skipped and reported. Log sets keep
 * only files modified within their window. Database files, their -wal/-shm/-journal and the name
 * of their delta entry are never taken as plain files: databases are only ever copied as
 * consistent snapshots. `now` is passed in.
 *
 * One walk for all sets ({@link walkSets}) gives each path once, in path order, with the sets
 * that match it, so nothing is held per file but its path and a few numbers
 * ({@link CollectedFiles}).
 */
export async function collectFiles(source: SourceConfig, now: Date): Promise<CollectResult> {
  const follow = source.symlinks === 'follow-inside';
  const walk: Walk = {
    source,
    dbFiles: new Set(source.databases.flatMap((db) => ['', '-wal', '-shm', '-journal', DELTA_SUFFIX].map((suffix) => `${db.relativePath}${suffix}`))),
    follow,
    realRoot: follow ? await fs.realpath(source.root) : source.root,
    linkedFolders: new Map(),
  };
  const excluded: CollectResult['excluded'] = [];
  const skipped: CollectResult['skipped'] = [];
  const files = new CollectedFiles(source.root);
  const sets = source.files.map((set) => ({ set, include: set.include, exclude: set.exclude }));
  const unreadableDir = (dir: string, error: NodeJS.ErrnoException) => unreadable(source, dir, error);
  for await (const { relPath, sets: matchedBy } of walkSets(source.root, sets, unreadableDir)) {
    if (walk.dbFiles.has(relPath)) continue;
    const found = await examine(walk, relPath);
    if (found === undefined) continue;
    if ('skip' in found) {
      skipped.push({ path: relPath, reason: found.skip });
      continue;
    }
    const within = matchedBy.filter((set) => set.maxAgeMs === undefined || now.getTime() - found.mtime.getTime() <= set.maxAgeMs);
    if (within.length === 0) {
      excluded.push({ path: relPath, reason: `log not modified within ${Math.round(matchedBy[0]!.maxAgeMs! / 86_400_000)}d` });
      continue;
    }
    const kind = within.map((set) => set.kind).sort((a, b) => KIND_PRIORITY[a] - KIND_PRIORITY[b])[0]!;
    const file = { ...found, kind };
    if (await isReadable(source, file)) files.push(file);
    else skipped.push({ path: relPath, reason: 'vanished before it was read' });
  }
  return { files, excluded, skipped };
}

/** What every match of the walk is judged against. */
interface Walk {
  source: SourceConfig;
  /** Each database's file, its -wal/-shm/-journal and its delta entry's name: never taken as plain files. */
  dbFiles: Set<string>;
  follow: boolean;
  /** The root's real path (with `follow-inside`), which a followed link must stay inside. */
  realRoot: string;
  /** Folders of matches already looked up by {@link linkedFolderOf}. */
  linkedFolders: Map<string, { path: string; target: string } | null>;
}

/** A match as the backup takes it; `skip` (with why) when it is found but not backed up; undefined when it is no file at all (a folder, a device). */
type Examined = Omit<CollectedFile, 'kind'> | { skip: string } | undefined;

/**
 * One match of a glob: a regular file, a link kept as a link, or (follow-inside) the file a link
 * or a linked folder leads to. Its kind and the log window are the caller's business.
 */
async function examine(walk: Walk, relPath: string): Promise<Examined> {
  const linkPath = path.join(walk.source.root, relPath);
  // A glob's fixed folders (`keys/` in `keys/*.key`) are read even when they are links: a
  // file found under a linked folder is reached through that link.
  const via = await linkedFolderOf(walk.source.root, relPath, walk.linkedFolders);
  if (via && !walk.follow) return { skip: `under the symbolic link ${via.path} (-> ${via.target}), which is not followed` };
  const lstat = await fs
    .lstat(linkPath)
    .catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : unreadable(walk.source, linkPath, error)));
  if (!lstat) return { skip: 'vanished before it was read' };
  if (via && !lstat.isSymbolicLink()) return examineUnderLinkedFolder(walk, relPath, linkPath, via);
  if (lstat.isSymbolicLink()) return examineLink(walk, relPath, linkPath, lstat);
  if (lstat.isFile()) return regularFile(linkPath, relPath, lstat);
  return undefined;
}

/** follow-inside: a file reached through a linked folder is taken only when its real path is inside the root. */
async function examineUnderLinkedFolder(walk: Walk, relPath: string, linkPath: string, via: { path: string; target: string }): Promise<Examined> {
  const resolved = await resolveInside(linkPath, walk.realRoot);
  if ('skip' in resolved) return { skip: `${resolved.skip.replace('symbolic link', `path through the symbolic link ${via.path}`)} (-> ${via.target})` };
  const real = resolved.real;
  if (!real.stat.isFile()) return undefined;
  if (isDatabaseFile(walk, real.path)) return { skip: `a database file reached through the symbolic link ${via.path}, which is only stored as a snapshot` };
  return regularFile(real.path, relPath, real.stat);
}

/** A symbolic link: kept as a link, or (follow-inside) taken as the file it leads to inside the root; a link to a folder stays a link. */
async function examineLink(walk: Walk, relPath: string, linkPath: string, lstat: Stats): Promise<Examined> {
  const target = await fs
    .readlink(linkPath)
    .catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : unreadable(walk.source, linkPath, error)));
  if (target === undefined) return { skip: 'vanished before it was read' };
  const asLink = { absPath: linkPath, relPath, mode: lstat.mode & 0o7777, size: 0, mtime: lstat.mtime, linkTarget: target };
  if (!walk.follow) return asLink;
  const resolved = await resolveInside(linkPath, walk.realRoot);
  if ('skip' in resolved) return { skip: `${resolved.skip} (-> ${target})` };
  const real = resolved.real;
  if (real.stat.isDirectory()) return asLink; // never descended: kept as a link
  if (!real.stat.isFile()) return undefined;
  if (isDatabaseFile(walk, real.path)) return { skip: `symbolic link to a database file, which is only stored as a snapshot (-> ${target})` };
  return regularFile(real.path, relPath, real.stat);
}

/** Whether a real path inside the root is one of a database's files, which are only ever copied as consistent snapshots. */
function isDatabaseFile(walk: Walk, realPath: string): boolean {
  return walk.dbFiles.has(path.relative(walk.realRoot, realPath).split(path.sep).join('/'));
}

/**
 * Fails now, before anything is written, if a file cannot be opened (an unreadable key file must
 * stop the backup, not be silently left out). False for one that is gone by now (skipped).
 */
async function isReadable(source: SourceConfig, file: CollectedFile): Promise<boolean> {
  if (file.linkTarget !== undefined) return true;
  return fs.access(file.absPath, fs.constants.R_OK).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw new SourceError(
        'FILE_UNREADABLE',
        file.absPath,
        `Cannot read ${file.kind} file ${file.absPath} (source "${source.id}"): ${describeErrno(error)}; fix its permissions or exclude it.`,
        { cause: error },
      );
    },
  );
}

/** A match that exists but cannot be read: the backup fails, naming it. */
function unreadable(source: SourceConfig, linkPath: string, error: NodeJS.ErrnoException): never {
  throw new SourceError(
    'FILE_UNREADABLE',
    linkPath,
    `Cannot read ${linkPath} (source "${source.id}"): ${describeErrno(error)}; fix its permissions or exclude it.`,
    {
      cause: error,
    },
  );
}

/**
 * The first folder of `relPath` (below the root) that is a symbolic link, with its target; null
 * when none is. Folders are looked up once (`cache`).
 */
async function linkedFolderOf(
  root: string,
  relPath: string,
  cache: Map<string, { path: string; target: string } | null>,
): Promise<{ path: string; target: string } | null> {
  const parts = relPath.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const folder = parts.slice(0, i).join('/');
    let found = cache.get(folder);
    if (found === undefined) {
      const abs = path.join(root, folder);
      const stat = await fs.lstat(abs).catch(() => undefined);
      found = stat?.isSymbolicLink() ? { path: folder, target: await fs.readlink(abs).catch(() => '?') } : null;
      cache.set(folder, found);
    }
    if (found) return found;
  }
  return null;
}

/** A regular file to be read at `absPath` (the file itself, or a followed link's real path), pinned to its device and inode. */
function regularFile(absPath: string, relPath: string, stat: Stats): Omit<CollectedFile, 'kind'> {
  return { absPath, relPath, mode: stat.mode & 0o7777, size: stat.size, mtime: stat.mtime, identity: { dev: stat.dev, ino: stat.ino } };
}

/**
 * Where a link really leads, when that is inside `realRoot` (itself a real path): the real path
 * and its stat. Otherwise why it cannot be followed.
 */
async function resolveInside(linkPath: string, realRoot: string): Promise<{ real: { path: string; stat: Stats } } | { skip: string }> {
  let real: string;
  try {
    real = await fs.realpath(linkPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { skip: 'symbolic link loop' };
    if (code === 'ENOENT' || code === 'ENOTDIR') return { skip: 'symbolic link to nothing (dangling)' };
    return { skip: `symbolic link that cannot be resolved (${code ?? (error as Error).message})` };
  }
  if (real !== realRoot && !real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep)) {
    return { skip: 'symbolic link leaves the source root' };
  }
  // A real path has no link left in it: lstat is its stat.
  const stat = await fs.lstat(real).catch(() => undefined);
  if (!stat) return { skip: 'symbolic link to nothing (dangling)' };
  return { real: { path: real, stat } };
}

function describeErrno(error: NodeJS.ErrnoException): string {
  if (error.code === 'EACCES' || error.code === 'EPERM') return 'permission denied';
  if (error.code === 'ENOENT') return 'it disappeared while the backup was starting';
  return error.code ?? error.message;
}
