import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BotbackupError, RestoreRefusedError, type RestorableItem } from '@botbackup/core';
import { JOURNAL_NAME, STAGING_PREFIXES, stagingName } from '../restore-journal.js';

/** Suffixes SQLite keeps beside a database; stale ones would corrupt a restored file. */
export const SIDECARS = ['-wal', '-shm', '-journal'];

/**
 * Refuses, before anything is read, a target that cannot take the restore: a file where the
 * target folder (or a folder the backup has) must be, or a folder where the backup has a file
 * (even with --force: the renames at the end must all succeed). A target problem is never a bad
 * copy: it is found once, here, and never makes restoreBackup try another store.
 */
export async function checkTarget(target: string, selected: AsyncIterable<Pick<RestorableItem, 'path'>>): Promise<void> {
  const blocked = await notFolder(target);
  if (blocked !== undefined) {
    throw new RestoreRefusedError(
      'TARGET_NOT_FOLDER',
      blocked,
      blocked === target
        ? `The restore target ${target} is a file, not a folder; restore into a new or empty folder.`
        : `The restore target ${target} cannot be created: ${blocked} is a file, not a folder.`,
    );
  }
  const dirs = new FolderStates();
  for await (const entry of selected) {
    const dest = path.join(target, entry.path);
    const parent = await dirs.of(path.dirname(dest));
    if (typeof parent === 'object') {
      throw new RestoreRefusedError('TARGET_NOT_FOLDER', parent.blocked, `${parent.blocked} is a file, where the backup has a folder; move it away first.`);
    }
    if (parent === 'folder' && (await fs.lstat(dest).catch(() => undefined))?.isDirectory()) {
      throw new RestoreRefusedError('TARGET_EXISTS', dest, `${dest} is a folder, where the backup has a file; move it away first.`);
    }
  }
}

/**
 * What stands at each folder a restore writes into, looked up once per folder (a million files
 * live in a few thousand folders): a folder, nothing yet, or a file at it or above it.
 */
class FolderStates {
  private readonly known = new Map<string, 'folder' | 'missing' | { blocked: string }>();

  async of(dir: string): Promise<'folder' | 'missing' | { blocked: string }> {
    let state = this.known.get(dir);
    if (state === undefined) {
      const blocked = await notFolder(dir);
      state = blocked !== undefined ? { blocked } : (await fs.stat(dir).catch(() => undefined)) ? 'folder' : 'missing';
      this.known.set(dir, state);
    }
    return state;
  }
}

/** The nearest existing ancestor of `dir` (the folder itself included) when it is not a folder. */
async function notFolder(dir: string): Promise<string | undefined> {
  for (let p = dir; ; p = path.dirname(p)) {
    let stat: Stats | undefined;
    try {
      stat = await fs.stat(p);
    } catch (error) {
      // ENOENT: not there yet; ENOTDIR: an ancestor is a file, found further up. Anything else is for mkdir to report.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
    }
    if (stat) return stat.isDirectory() ? undefined : p;
    if (path.dirname(p) === p) return undefined;
  }
}

/**
 * Refuses, before anything is read, to overwrite anything without --force, and a full restore
 * (`full`: no --only) into a folder that holds anything: its result would be a mix.
 */
export async function refuseConflicts(
  target: string,
  selected: AsyncIterable<Pick<RestorableItem, 'path' | 'kind'>>,
  force: boolean,
  full: boolean,
): Promise<void> {
  if (force) return;
  const conflicts = { first: undefined as string | undefined, count: 0 };
  const dirs = new FolderStates();
  for await (const entry of selected) {
    // Nothing to overwrite in a folder that is not there yet.
    if ((await dirs.of(path.dirname(path.join(target, entry.path)))) !== 'folder') continue;
    const names = entry.kind === 'database' ? ['', ...SIDECARS].map((s) => entry.path + s) : [entry.path];
    for (const name of names) {
      if (!(await exists(path.join(target, name)))) continue;
      conflicts.first ??= name;
      conflicts.count++;
    }
  }
  if (conflicts.first !== undefined) {
    const first = path.join(target, conflicts.first);
    throw new RestoreRefusedError(
      'TARGET_EXISTS',
      first,
      `${first}${conflicts.count > 1 ? ` and ${conflicts.count - 1} more file(s)` : ''} already exist; restore into an empty folder, or add --force to replace them.`,
    );
  }
  if (!full) return;
  // Staging folders of a restore still running are not the user's data.
  const present = (await fs.readdir(target).catch(() => [] as string[])).filter((n) => n !== JOURNAL_NAME && !STAGING_PREFIXES.some((p) => n.startsWith(p)));
  if (present.length > 0) {
    throw new RestoreRefusedError(
      'TARGET_EXISTS',
      target,
      `The restore target ${target} is not empty (it holds ${present.sort()[0]}${present.length > 1 ? ` and ${present.length - 1} more` : ''}); restore into a new or empty folder, add --only <path> for part of the backup, or add --force to restore over it.`,
    );
  }
}

/**
 * Creates the target (when missing) and a new staging folder in it, 0700 whatever the umask: no
 * decrypted byte may become readable by others. `createdTarget`: the target did not exist, so a
 * failed restore removes it again.
 */
export async function makeStaging(target: string): Promise<{ stagingDir: string; staging: string; createdTarget: boolean }> {
  const createdTarget = !(await exists(target));
  await fs.mkdir(target, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new RestoreRefusedError('TARGET_UNUSABLE', target, `The restore target ${target} cannot be created: ${error.code ?? error.message}.`);
  });
  const stagingDir = stagingName('restore', randomBytes(6).toString('hex'));
  const staging = path.join(target, stagingDir);
  await fs.mkdir(staging, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new RestoreRefusedError('TARGET_UNUSABLE', target, `The restore target ${target} cannot be written: ${error.code ?? error.message}.`);
  });
  await fs.chmod(staging, 0o700);
  return { stagingDir, staging, createdTarget };
}

/** An error of a file system call (it has an errno code and a syscall), not one botbackup made. */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return !(error instanceof BotbackupError) && typeof e?.code === 'string' && typeof e.syscall === 'string';
}

/**
 * Rethrows a file system error met while writing into the target (no space left, read-only,
 * permission denied...) as a target problem (exit 8, naming the target), never as a bad copy of
 * the backup; anything else as it is.
 */
export function throwTargetError(error: unknown, target: string, committed: boolean): never {
  if (!isFileSystemError(error)) throw error;
  throw new RestoreRefusedError(
    'TARGET_UNUSABLE',
    target,
    `Cannot write into the restore target ${target} (${error.code}: ${error.message.replace(/^[A-Z]+: /, '').replace(/,.*$/, '')}); ${
      committed ? 'the next restore, recover or backup that touches it finishes this restore.' : 'nothing in it was replaced.'
    }`,
  );
}

export async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
