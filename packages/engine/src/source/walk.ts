/**
 * The walk of a source's folder for its file sets: one pass over only the folders a set's globs
 * can reach, giving each matching path once, with the sets that match it, in path order
 * (JavaScript's `<` on the whole path, the order of a backup's file list and archive), as it goes.
 *
 * Not fast-glob, which did this before: it returns every match at once, and at a million files
 * its result and the strings behind it took over 250 MB (docs/benchmarks.md, "Big bot folders").
 * Here nothing is kept but the folder being read and those above it. The globs' syntax is
 * picomatch's, which fast-glob itself uses, with the same options (dot files match; links are
 * matched as entries and never descended, but a glob's fixed folders are read even when they are
 * links, as fast-glob did).
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';

/** A file set's globs, as the walk needs them. */
export interface WalkSet<T> {
  set: T;
  include: readonly string[];
  exclude: readonly string[];
}

interface CompiledPattern {
  /** The folder the glob starts from ('' for the root), and how deep below it a match can be. */
  base: string;
  maxDepth: number;
}

interface CompiledSet<T> {
  set: T;
  include: (p: string) => boolean;
  exclude: (p: string) => boolean;
  patterns: CompiledPattern[];
}

/** Where a glob can match: its fixed folders, and the depth below them (Infinity with `**`). */
function compilePattern(pattern: string): CompiledPattern {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) {
    const dir = path.posix.dirname(pattern);
    return { base: dir === '.' ? '' : dir, maxDepth: 1 };
  }
  const glob = scan.glob;
  return { base: scan.base === '.' ? '' : scan.base, maxDepth: glob.includes('**') ? Infinity : glob.split('/').length };
}

const depthOf = (rel: string) => (rel === '' ? 0 : rel.split('/').length);

/** Whether a match of the pattern can lie inside the folder `dir`: it is on the way to the pattern's base, or at or under it and shallow enough. */
function reaches(pattern: CompiledPattern, dir: string): boolean {
  const { base } = pattern;
  if (base.startsWith(`${dir}/`)) return true;
  if (base !== '' && dir !== base && !dir.startsWith(`${base}/`)) return false;
  return depthOf(dir) - depthOf(base) + 1 <= pattern.maxDepth;
}

/**
 * Every non-folder entry (files, links) under `root` that some set includes and does not exclude,
 * with the sets that take it, in path order. A folder an exclude glob matches is not entered for
 * that set. `onUnreadable` decides what a folder that cannot be read means (it may throw).
 */
export async function* walkSets<T>(
  root: string,
  sets: readonly WalkSet<T>[],
  onUnreadable: (dir: string, error: NodeJS.ErrnoException) => void,
): AsyncGenerator<{ relPath: string; sets: T[] }> {
  const options = { dot: true };
  const compiled: CompiledSet<T>[] = sets.map((s) => ({
    set: s.set,
    include: s.include.length > 0 ? picomatch([...s.include], options) : () => false,
    exclude: s.exclude.length > 0 ? picomatch([...s.exclude], options) : () => false,
    patterns: s.include.map(compilePattern),
  }));
  yield* walkDir(root, '', compiled, compiled, onUnreadable);
}

async function* walkDir<T>(
  root: string,
  dir: string,
  all: readonly CompiledSet<T>[],
  active: readonly CompiledSet<T>[],
  onUnreadable: (dir: string, error: NodeJS.ErrnoException) => void,
): AsyncGenerator<{ relPath: string; sets: T[] }> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(path.join(root, dir), { withFileTypes: true });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') onUnreadable(path.join(root, dir), e);
    return;
  }
  // Siblings in the order of their paths: a folder's paths all start with "name/", so it sorts as
  // "name/" among the files (`a.txt` comes before `a/b`, as `<` has it on the whole paths).
  const keyed = entries.map((entry) => {
    const relPath = dir === '' ? entry.name : `${dir}/${entry.name}`;
    // A link on a glob's fixed folders (`keys` of `keys/*.key`) is read through, as fast-glob did;
    // what is found there is judged by the caller (it is under a link).
    const folder =
      entry.isDirectory() || (entry.isSymbolicLink() && active.some((s) => s.patterns.some((p) => p.base === relPath || p.base.startsWith(`${relPath}/`))));
    return { relPath, folder, key: folder ? `${entry.name}/` : entry.name };
  });
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { relPath, folder } of keyed) {
    if (folder) {
      // A folder an exclude matches is left out for that set, with everything in it.
      const inside = active.filter((s) => !s.exclude(relPath) && s.patterns.some((p) => reaches(p, relPath)));
      if (inside.length > 0) yield* walkDir(root, relPath, all, inside, onUnreadable);
      continue;
    }
    const taking = active.filter((s) => s.include(relPath) && !s.exclude(relPath)).map((s) => s.set);
    if (taking.length > 0) yield { relPath, sets: taking };
  }
}
