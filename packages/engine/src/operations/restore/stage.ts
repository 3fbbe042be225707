import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BotbackupError, comparePaths, IntegrityError, restorableFile, type Manifest, type ManifestFile } from '@botbackup/core';
import { writeDurably, type BackupStore } from '@botbackup/storage';
import type { Keyring } from '../../crypto/index.js';
import type { ProgressListener } from '../../support/index.js';
import { archiveObject, PageRebuild, readArchive } from '../../archive/index.js';
import { BrokenLinkError, listedEntries } from '../../repository/index.js';
import { refuseLinkOnPath, writeLink } from '../../source/index.js';
import { explainBroken } from './chain.js';
import { restoredMode, type ArchiveRead, type MemberAction } from './plan.js';
import { filesStoredIn, type Selection } from './selection.js';
import { isFileSystemError, throwTargetError } from './target.js';

/** One restore from one store, as the stages after the chain is resolved see it. */
export interface StagingRun {
  store: BackupStore;
  /** The backup restored (the newest link of the chain). */
  manifest: Manifest;
  chainLength: number;
  target: string;
  /** The staging folder (absolute), inside the target. */
  staging: string;
  keyring: Keyring;
  only: string | undefined;
  /** What is restored (see selection.ts). */
  selection: Selection;
  onProgress: ProgressListener | undefined;
  signal: AbortSignal | undefined;
}

/**
 * What staging wrote: bytes of the files, and the databases rebuilt from page deltas, by path
 * (each holds the sha256 of what it rebuilt, which must be the one the backup recorded).
 */
export interface Staged {
  bytes: number;
  rebuilt: Map<string, PageRebuild>;
}

/**
 * Reads each archive of the plan, newest first, writing the members it needs into the staging
 * folder: files and lone snapshots whole, a rebuilt database's deltas and then the snapshot
 * under them page by page, each page once (see PageRebuild). readArchive proves every
 * entry (and, unless reading stops early for --only, the archive). A bad archive of a chain is
 * explained as a broken link; a failed write is the target's problem, not a corrupt archive.
 */
export async function stageArchives(run: StagingRun, reads: readonly ArchiveRead[]): Promise<Staged> {
  const staged: Staged = { bytes: 0, rebuilt: new Map() };
  const total = reads.reduce((sum, { link }) => sum + archiveObject(link).size, 0);
  let read = 0;
  for (const { link, files, members } of reads) {
    // The selected files this archive stores, met in its order: a cursor, not a map of them.
    // (A link that gives only database members has none: the selection is not read for it.)
    const wanted = cursor(files > 0 ? filesStoredIn(run.selection, link.id) : none());
    let found = 0;
    try {
      await readArchive({
        store: run.store,
        manifest: link,
        listed: listedEntries(run.store, link, run.signal),
        signal: run.signal,
        stopAfter: run.only !== undefined ? files + members.size : undefined,
        keyring: run.keyring,
        select: async (entry) => {
          if (members.has(entry.path)) return true;
          await wanted.advance(entry.path);
          const file = wanted.at(entry.path);
          if (file === undefined) return false;
          // The member is proven against its link's list, which a restore that stops early does
          // not read to its end (where its sha256 is checked); the selection's record was, whole.
          if (file.sha256 !== entry.sha256 || file.size !== entry.size || file.linkTarget !== entry.linkTarget)
            throw new IntegrityError(
              'CHECKSUM_MISMATCH',
              `Backup ${link.id}: "${entry.path}" is not the version ${run.manifest.id} records; the backup was tampered with.`,
              {
                backupId: link.id,
                subject: entry.path,
              },
            );
          found++;
          return true;
        },
        onBytes: (n) => {
          read += n;
          run.onProgress?.({ phase: 'read', done: read, total });
        },
        // A failed write into the target (no space left, read-only...) is the target's problem,
        // not a corrupt archive: readArchive would take a plain error for one.
        onEntry: (entry, body) => {
          const file = wanted.at(entry.path);
          const action: MemberAction = members.get(entry.path) ?? { type: 'file', item: restorableFile(file!) };
          return stageMember(run, link, action, entry, body, staged).catch((error: unknown) => throwTargetError(error, run.target, false));
        },
      });
      // Every file the restored backup says this link stores must have been in its archive.
      if (found < files)
        throw new BrokenLinkError(link.id, run.manifest, `its archive lacks ${files - found} of the ${files} files that ${run.manifest.id} says it stores`);
    } catch (error) {
      if (run.chainLength > 1 && error instanceof IntegrityError && !(error instanceof BrokenLinkError)) {
        await explainBroken(run.store, run.manifest, new BrokenLinkError(link.id, run.manifest, error.message, error), run.signal);
      }
      throw error;
    } finally {
      await wanted.close();
    }
  }
  return staged;
}

async function* none(): AsyncGenerator<ManifestFile> {}

/**
 * A forward-only cursor over records in path order, for paths asked in that order: `at(p)` is the
 * record of path `p`, or undefined. Reads ahead as the paths asked go past records.
 */
function cursor(records: AsyncGenerator<ManifestFile>): { at(p: string): ManifestFile | undefined; advance(p: string): Promise<void>; close(): Promise<void> } {
  let current: ManifestFile | undefined;
  let done = false;
  return {
    at: (p) => (current?.path === p ? current : undefined),
    async advance(p) {
      while (!done && (current === undefined || comparePaths(current.path, p) < 0)) {
        const next = await records.next();
        if (next.done) done = true;
        current = next.done ? undefined : next.value;
      }
    },
    close: async () => void (await records.return(undefined)),
  };
}

/** Writes one member into the staging folder (a file or lone snapshot whole, a rebuilt database's delta or base page by page). */
async function stageMember(
  run: StagingRun,
  link: Manifest,
  action: MemberAction,
  entry: { path: string; size: number },
  body: Readable,
  staged: Staged,
): Promise<void> {
  const file = path.join(run.staging, action.item.path);
  if (action.type === 'delta' || action.type === 'base') {
    try {
      await rebuildPart(run, action, file, entry, body, staged);
    } catch (error) {
      if (error instanceof BotbackupError || run.signal?.aborted || isFileSystemError(error)) throw error;
      const what =
        action.type === 'delta' ? `the page delta "${entry.path}" cannot be applied` : `the snapshot "${entry.path}" does not fit the deltas after it`;
      throw new IntegrityError('BAD_ARCHIVE', `Backup ${link.id}: ${what}: ${(error as Error).message}.`, { backupId: link.id, subject: entry.path });
    }
    return;
  }
  await prepareFile(run, action.item.path);
  if (action.item.linkTarget !== undefined) await writeLink(file, action.item.linkTarget, new Date(action.item.mtime));
  else await writeEntry(file, body, action.type === 'file' ? restoredMode(action.item) : 0o600, new Date(action.item.mtime));
  if (action.type === 'file') staged.bytes += entry.size;
}

/**
 * One part of a database rebuilt from its chain, newest first: the newest delta creates the
 * file at the size of the result, each older delta writes the pages no newer one did, and the
 * snapshot under them the rest, hashing the result as it goes (see PageRebuild). Throws a plain
 * Error for a malformed or misfit part.
 */
async function rebuildPart(
  run: StagingRun,
  action: Extract<MemberAction, { type: 'delta' | 'base' }>,
  file: string,
  entry: { size: number },
  body: Readable,
  staged: Staged,
): Promise<void> {
  let rebuild = staged.rebuilt.get(action.item.path);
  let handle: fs.FileHandle;
  if (rebuild === undefined) {
    // The plan gives a rebuilt database's newest delta first: it sets the result's shape.
    if (action.type !== 'delta') throw new Error('no delta comes before the snapshot');
    rebuild = new PageRebuild(action.expected.pageSize, action.expected.pageCount);
    await prepareFile(run, action.item.path);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    handle = await fs.open(file, 'wx+', 0o600);
    staged.rebuilt.set(action.item.path, rebuild);
    // A sparse file of the result's size: each page is written by one link (a page in none is refused).
    await handle.truncate(rebuild.size).catch(async (error: unknown) => {
      await handle.close();
      throw error;
    });
  } else {
    handle = await fs.open(file, 'r+');
  }
  try {
    if (action.type === 'delta') {
      await rebuild.applyDelta(body, handle.fd, action.expected);
    } else {
      await rebuild.writeBase(body, handle.fd, entry.size, await run.keyring.contentHashKey(run.manifest));
    }
  } finally {
    await handle.close();
  }
}

/** Never through a link: not one in the staging folder, not one in the target where it goes. Removes what is staged there. */
async function prepareFile(run: StagingRun, itemPath: string): Promise<void> {
  await refuseLinkOnPath(run.staging, itemPath);
  await refuseLinkOnPath(run.target, itemPath);
  await fs.rm(path.join(run.staging, itemPath), { force: true });
}

async function writeEntry(file: string, body: Readable, mode: number, mtime: Date): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    // One fsync at the end: the least work, and a restore is not written beside a trading bot.
    await writeDurably(handle, body, { flushBehind: false });
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
  await fs.utimes(file, mtime, mtime);
}
