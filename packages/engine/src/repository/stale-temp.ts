import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatProcessTag, ownerAlive, parseProcessTag, type BackupStore, type RemovedTemp } from '@botbackup/storage';
import { TempDirError } from '@botbackup/core';
import type { Logger } from '../support/index.js';

/** Prefix of every temporary folder botbackup makes (staging copies, deep verify, drills). */
const TEMP_PREFIX = 'botbackup-';

/**
 * The folder for temporary copies when the config sets no `defaults.tmpDir`: botbackup's own
 * `$XDG_CACHE_HOME/botbackup/tmp` (`~/.cache/botbackup/tmp` when unset or not absolute), not a
 * shared /tmp of unknown size that other programs fill and clean.
 */
export function defaultTmpDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cacheHome, 'botbackup', 'tmp');
}

/**
 * Makes a temporary folder (0700) in `root` (default {@link defaultTmpDir}; created 0700 if
 * missing) named after this process (`botbackup-<machine>.<pid>.<start>.<random>`, see
 * ProcessTag), so that once this process is dead, {@link removeDeadTempDirs} knows it is a
 * leftover.
 */
export async function makeOwnedTempDir(root: string | undefined): Promise<string> {
  const dir = await usableTmpRoot(root);
  return fs.mkdtemp(path.join(dir, `${TEMP_PREFIX}${formatProcessTag()}.`));
}

/**
 * The folder temporary copies go to, created 0700 when missing. A configured `tmpDir` that cannot
 * be created is the user's to fix (one sentence, exit 5). The default one can be out of reach for
 * a user whose HOME is not theirs (a service run with `setpriv`/`su` without a login, a read-only
 * home): then `<system temp>/botbackup-tmp-<uid>`, which must be a real folder of this user's.
 */
const TMPDIR_PROBLEMS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a file is in the way',
  EEXIST: 'a file is in the way',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left',
};

async function usableTmpRoot(root: string | undefined): Promise<string> {
  if (root !== undefined) {
    await fs.mkdir(root, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      throw new TempDirError(
        root,
        `Cannot use the temporary folder ${root} (defaults.tmpDir): ${TMPDIR_PROBLEMS[error.code ?? ''] ?? error.code ?? error.message}; set defaults.tmpDir to a folder this user can write.`,
        { cause: error },
      );
    });
    return root;
  }
  const preferred = defaultTmpDir();
  try {
    await fs.mkdir(preferred, { recursive: true, mode: 0o700 });
    await fs.access(preferred, fs.constants.W_OK | fs.constants.X_OK);
    return preferred;
  } catch {
    const fallback = path.join(os.tmpdir(), `botbackup-tmp-${process.getuid?.() ?? 'user'}`);
    await fs.mkdir(fallback, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    // A shared /tmp: someone else could have made that name first, or put a link there.
    const st = await fs.lstat(fallback);
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0) {
      throw new TempDirError(
        fallback,
        `Cannot use ${preferred} for temporary copies, and ${fallback} is not a private folder of this user's; set defaults.tmpDir to a folder this user can write.`,
      );
    }
    return fallback;
  }
}

/** A temporary folder of a dead run, removed. */
export interface RemovedTempDir {
  path: string;
  bytes: number;
}

/** Names older versions gave their temp folders (mkdtemp, no owner): `botbackup-XXXXXX`, `botbackup-verify-XXXXXX`, `botbackup-drill-XXXXXX`. */
const LEGACY_NAME = /^botbackup-(?:verify-|drill-)?[A-Za-z0-9]{6}$/;

/**
 * Removes the temporary folders in `root` whose owner is known to be dead (a run killed before
 * it could clean up: a SIGKILLed worker, a power cut): same host, boot and pid namespace, and
 * that pid is gone or is now another process. Folders of live runs, of other hosts or containers
 * sharing the folder, and of other naming are left alone; except, with `legacyGraceMs`, folders
 * named as older versions named them (no owner to check), once nothing in them changed for that
 * long.
 */
export async function removeDeadTempDirs(root: string | undefined, options: { legacyGraceMs?: number | undefined } = {}): Promise<RemovedTempDir[]> {
  const dir = root ?? defaultTmpDir();
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: RemovedTempDir[] = [];
  const uid = process.getuid?.();
  for (const name of names) {
    const full = path.join(dir, name);
    const tag = parseProcessTag(name, TEMP_PREFIX);
    if (tag) {
      if (ownerAlive(tag) !== false) continue;
    } else {
      if (options.legacyGraceMs === undefined || !LEGACY_NAME.test(name)) continue;
      const st = await fs.lstat(full).catch(() => undefined);
      // Only our own folders (a shared /tmp holds other users' files).
      if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      if (Date.now() - (await newestChange(full)) <= options.legacyGraceMs) continue;
    }
    const bytes = await diskUsage(full);
    await fs.rm(full, { recursive: true, force: true });
    removed.push({ path: full, bytes });
  }
  return removed;
}

/** The newest modification time (ms) of `p` and everything under it. */
async function newestChange(p: string): Promise<number> {
  const st = await fs.lstat(p).catch(() => undefined);
  if (!st) return 0;
  let newest = st.mtimeMs;
  if (st.isDirectory()) for (const name of await fs.readdir(p).catch(() => [] as string[])) newest = Math.max(newest, await newestChange(path.join(p, name)));
  return newest;
}

/** What a backup removed before it started: leftovers of interrupted runs. */
export interface StaleTempCleanup {
  /** Temporary folders (database copies) of dead runs on this host, and of older versions' runs untouched for the grace period. */
  folders: RemovedTempDir[];
  /** `.part` files of interrupted uploads and empty folders, per target. */
  targets: ({ store: string } & RemovedTemp)[];
}

/**
 * Removes the leftovers of interrupted runs: the temp folders of dead runs in `tmpRoot` (and
 * older versions' folders there and in the system temp folder, once untouched for `graceMs`) and, in
 * each target that writes temporary files of its own, the `.part` files of dead writers (or older
 * than `graceMs` when the writer's liveness cannot be known) and empty folders. Never fails: a
 * target that cannot be cleaned is logged (the work that follows reports it properly).
 */
export async function removeStaleTemp(options: {
  tmpRoot: string | undefined;
  stores: readonly BackupStore[];
  graceMs: number;
  logger: Logger;
  signal?: AbortSignal | undefined;
}): Promise<StaleTempCleanup> {
  const result: StaleTempCleanup = { folders: [], targets: [] };
  try {
    // Also the folders older versions left in the system temp folder, their default.
    const roots = [...new Set([options.tmpRoot ?? defaultTmpDir(), path.join(os.tmpdir(), `botbackup-tmp-${process.getuid?.() ?? 'user'}`), os.tmpdir()])];
    for (const root of roots) result.folders.push(...(await removeDeadTempDirs(root, { legacyGraceMs: options.graceMs })));
  } catch (error) {
    options.logger.warn({ err: (error as Error).message }, 'could not remove the temporary folders of interrupted runs');
  }
  for (const f of result.folders) options.logger.info({ path: f.path, bytes: f.bytes }, 'removed the temporary folder of an interrupted run');
  result.targets = await removeStaleUploads(options.stores, options);
  return result;
}

/** The `.part` files of interrupted uploads and empty folders in every target that has them (see LocalStore.removeStaleTemp); a target that fails is logged and skipped. */
export async function removeStaleUploads(
  stores: readonly BackupStore[],
  options: { graceMs: number; logger: Logger; signal?: AbortSignal | undefined },
): Promise<({ store: string } & RemovedTemp)[]> {
  const out: ({ store: string } & RemovedTemp)[] = [];
  for (const store of stores) {
    if (!store.removeStaleTemp) continue;
    try {
      for (const r of await store.removeStaleTemp({ graceMs: options.graceMs, signal: options.signal })) {
        out.push({ store: store.name, ...r });
        options.logger.info({ store: store.name, path: r.path, bytes: r.bytes, reason: r.reason }, 'removed a leftover of an interrupted upload');
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
      options.logger.warn({ store: store.name, err: (error as Error).message }, 'could not remove the leftovers of interrupted uploads');
    }
  }
  return out;
}

/** Bytes of the regular files under `p`. */
async function diskUsage(p: string): Promise<number> {
  const st = await fs.lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of await fs.readdir(p).catch(() => [] as string[])) total += await diskUsage(path.join(p, name));
  return total;
}
