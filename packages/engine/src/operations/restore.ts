import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  BackupNotFoundError,
  BotbackupError,
  IntegrityError,
  RestoreRefusedError,
  UsageError,
  restorableItems,
  type Manifest,
  type RestorableItem,
} from '@botbackup/core';
import { formatProcessTag, syncDir, writeDurably, type BackupStore } from '@botbackup/storage';
import { checkDatabase } from '../sqlite/index.js';
import { Keyring } from '../crypto/index.js';
import { silentLogger, type Logger } from '../support/index.js';
import { applyDelta, type ExpectedDelta } from '../archive/index.js';
import type { ProgressListener } from '../support/index.js';
import { archiveObject, readArchive } from '../archive/index.js';
import { BrokenLinkError, checkChainObjects, listBackupIds, loadChain, readManifest } from '../repository/index.js';
import { hashFile } from '../support/index.js';
import { refuseLinkOnPath, writeLink } from '../source/index.js';
import { isTargetFailure } from '../repository/index.js';
import {
  JOURNAL_NAME,
  STAGING_PREFIXES,
  finishJournal,
  finishPendingRestore,
  matchOwner,
  stagingName,
  writeJournal,
  type JournalEntry,
  type RestoreJournal,
} from './restore-journal.js';

export interface RestoreOptions {
  /** Where to read from, in order: the next store is tried when a copy is missing or bad. */
  stores: readonly BackupStore[];
  manifest: Manifest;
  /** Folder to restore into; created when missing. */
  target: string;
  /** Replace existing files (each by atomic rename, after the new copy is complete and checked). */
  force?: boolean;
  /** Restore only this file or folder (a path inside the backup). */
  only?: string | undefined;
  logger?: Logger;
  onProgress?: ProgressListener;
  /** Opens encrypted backups and checks signatures (none: plaintext only, signatures not checked). */
  keyring?: Keyring | undefined;
  signal?: AbortSignal;
}

export interface RestoreResult {
  backupId: string;
  /** The store whose copy was restored. */
  store: string;
  /** Stores tried before it, whose copy was missing or bad, with why. */
  badCopies: { store: string; error: string }[];
  target: string;
  files: number;
  bytes: number;
  /** The backups whose archives were read, oldest first (a full backup, then incrementals). */
  chain: string[];
  databases: { path: string; sha256: string; integrityCheck: 'ok' }[];
  /** Wall time of the whole restore, fsync and integrity checks included. */
  durationMs: number;
  /** Part of durationMs spent in PRAGMA integrity_check. */
  integrityCheckMs: number;
  /** Backups of the chain accepted only because of --insecure (unsigned, or signed by an untrusted key). */
  warnings: string[];
  /** What was done first about an interrupted restore found in the target (one line), if any. */
  interrupted?: string | undefined;
}

/** What the journal keeps of a restore, so that running the same restore again after a kill reports it. */
interface JournalSummary {
  only: string | null;
  store: string;
  badCopies: RestoreResult['badCopies'];
  result: Omit<RestoreResult, 'store' | 'badCopies' | 'interrupted'>;
}

/** Name of the folder inside the staging folder that holds what --force replaced, until the restore is done. */
const REPLACED = '.botbackup-replaced';

/** Suffixes SQLite keeps beside a database; stale ones would corrupt a restored file. */
const SIDECARS = ['-wal', '-shm', '-journal'];

/** What to do with one archive member of one link of the chain. */
type MemberAction =
  { type: 'file'; item: RestorableItem } | { type: 'snapshot'; item: RestorableItem } | { type: 'delta'; item: RestorableItem; expected: ExpectedDelta };

/**
 * Restores a backup into `target`: a full backup from its own archive; an incremental by
 * fetching its chain (the full backup, then every incremental up to it), verifying every link it
 * reads, taking each file from the backup that stored it and rebuilding each database from its
 * last snapshot plus the page deltas after it, then checking that the rebuilt database's sha256
 * is the one the manifest records. Every byte is checked before anything becomes visible:
 * entries are written into a hidden staging folder inside the target, each checked against its
 * sha256 and fsync-ed; each archive's own sha256 is checked at its end (with `only`, reading
 * stops once the wanted entries are read and proven); databases pass PRAGMA integrity_check.
 * Only then is each file moved into place with an atomic rename (stale `-wal`/`-shm`/`-journal`
 * files of a database removed first). Existing files are never replaced unless `force` is set.
 * On any failure the staging folder is removed and the target is left as it was; a broken link
 * of a chain is named, with the newest backup that does not need it.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const logger = (options.logger ?? silentLogger).child({ backupId: options.manifest.id });
  // A path that is not in the backup is the user's mistake, not a bad copy: said once, up front.
  const selected = selectEntries(options.manifest, options.only);
  const target = path.resolve(options.target);
  await checkTarget(target, selected);
  // A restore killed in this target before: finish it (or remove what it staged) first.
  const pending = await finishPendingRestore(target);
  if (pending) logger.warn(pending.message);
  const interrupted = pending?.message;
  const summary = pending?.journal?.kind === 'restore' ? (pending.journal.summary as JournalSummary | undefined) : undefined;
  if (pending?.action === 'rolled-forward' && pending.journal?.backupId === options.manifest.id && summary && summary.only === (options.only ?? null)) {
    // The very restore asked for was interrupted after its commit, and is now complete.
    return { ...summary.result, store: summary.store, badCopies: summary.badCopies, interrupted };
  }
  await refuseConflicts(target, selected, options.force ?? false, options.only === undefined);
  const badCopies: { store: string; error: string }[] = [];
  const errors: unknown[] = [];
  for (const store of options.stores) {
    try {
      return { ...(await restoreFrom(store, options, selected, badCopies)), store: store.name, badCopies, interrupted };
    } catch (error) {
      // Only a bad or unreachable copy is worth another try; a refusal, a missing key or an abort is final.
      if (!(error instanceof IntegrityError || error instanceof BackupNotFoundError || isTargetFailure(error)) || options.signal?.aborted) throw error;
      errors.push(error);
      badCopies.push({ store: store.name, error: error.message });
      if (badCopies.length < options.stores.length)
        logger.warn({ store: store.name, err: error.message }, 'this copy cannot be restored; trying the next storage target');
    }
  }
  if (errors.length <= 1) throw errors[0] ?? new UsageError('No storage target to restore from.');
  const first = (errors.find((e) => e instanceof IntegrityError) ?? errors[0]) as BotbackupError;
  throw new BotbackupError(
    first.code,
    `No storage target holds a good copy of backup ${options.manifest.id}: ${badCopies.map((c) => `"${c.store}": ${c.error.replace(/\.$/, '')}`).join('; ')}.`,
    first.exitCode,
    { cause: first },
  );
}

type StoreRestoreResult = Omit<RestoreResult, 'store' | 'badCopies'>;

/**
 * Refuses, before anything is read, a target that cannot take the restore: a file where the
 * target folder (or a folder the backup has) must be, or a folder where the backup has a file
 * (even with --force: the renames at the end must all succeed). A target problem is never a bad
 * copy: it is found once, here, and never makes restoreBackup try another store.
 */
async function checkTarget(target: string, selected: readonly RestorableItem[]): Promise<void> {
  const notFolder = async (dir: string): Promise<string | undefined> => {
    // The nearest existing ancestor (the folder itself included) must be a folder.
    for (let p = dir; ; p = path.dirname(p)) {
      let stat: import('node:fs').Stats | undefined;
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
  };
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
  for (const entry of selected) {
    const dest = path.join(target, entry.path);
    const parentBlocked = await notFolder(path.dirname(dest));
    if (parentBlocked !== undefined) {
      throw new RestoreRefusedError('TARGET_NOT_FOLDER', parentBlocked, `${parentBlocked} is a file, where the backup has a folder; move it away first.`);
    }
    if ((await fs.lstat(dest).catch(() => undefined))?.isDirectory()) {
      throw new RestoreRefusedError('TARGET_EXISTS', dest, `${dest} is a folder, where the backup has a file; move it away first.`);
    }
  }
}

/**
 * Refuses, before anything is read, to overwrite anything without --force, and a full restore
 * (`full`: no --only) into a folder that holds anything: its result would be a mix.
 */
async function refuseConflicts(target: string, selected: readonly RestorableItem[], force: boolean, full: boolean): Promise<void> {
  if (force) return;
  const conflicts: string[] = [];
  for (const entry of selected) {
    const names = entry.kind === 'database' ? ['', ...SIDECARS].map((s) => entry.path + s) : [entry.path];
    for (const name of names) if (await exists(path.join(target, name))) conflicts.push(name);
  }
  if (conflicts.length > 0) {
    throw new RestoreRefusedError(
      'TARGET_EXISTS',
      path.join(target, conflicts[0]!),
      `${path.join(target, conflicts[0]!)}${conflicts.length > 1 ? ` and ${conflicts.length - 1} more file(s)` : ''} already exist; restore into an empty folder, or add --force to replace them.`,
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

/** Restores from one store (see {@link restoreBackup}). */
async function restoreFrom(
  store: BackupStore,
  options: RestoreOptions,
  selected: readonly RestorableItem[],
  badCopies: RestoreResult['badCopies'],
): Promise<StoreRestoreResult> {
  const started = performance.now();
  const { manifest } = options;
  const logger = (options.logger ?? silentLogger).child({ backupId: manifest.id });
  const target = path.resolve(options.target);

  const chain =
    manifest.parent === null
      ? [manifest]
      : await loadChain(store, manifest, options.signal).catch((error: unknown) => explainBroken(store, manifest, error, options.signal));
  // Refuse what someone with write access to the storage could have made, before reading it.
  const keyring = options.keyring ?? Keyring.none();
  const warnings: string[] = [];
  for (const link of chain) {
    const warning = keyring.checkSignature(link, `storage "${store.name}"`);
    if (warning !== undefined) {
      warnings.push(warning);
      logger.warn(warning);
    }
  }
  const plan = await Promise.resolve()
    .then(() => planMembers(chain, manifest, selected))
    .catch((error: unknown) => explainBroken(store, manifest, error, options.signal));
  const links = chain.filter((link) => plan.has(link.id));
  for (const link of links) {
    const object = archiveObject(link);
    if (!(await store.stat(object.key, { signal: options.signal })) && chain.length > 1) {
      await explainBroken(
        store,
        manifest,
        new BrokenLinkError(link.id, manifest, `its archive ${object.key} is missing in storage "${store.name}"`),
        options.signal,
      );
    }
  }

  const createdTarget = !(await exists(target));
  await fs.mkdir(target, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new RestoreRefusedError('TARGET_UNUSABLE', target, `The restore target ${target} cannot be created: ${error.code ?? error.message}.`);
  });
  const stagingDir = stagingName('restore', randomBytes(6).toString('hex'));
  const staging = path.join(target, stagingDir);
  await fs.mkdir(staging, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    throw new RestoreRefusedError('TARGET_UNUSABLE', target, `The restore target ${target} cannot be written: ${error.code ?? error.message}.`);
  });
  // No decrypted byte may become readable by others, whatever the umask.
  await fs.chmod(staging, 0o700);
  let committed = false;
  let integrityCheckMs = 0;
  let bytes = 0;
  try {
    const total = links.reduce((sum, link) => sum + archiveObject(link).size, 0);
    let read = 0;
    /** Databases that had page deltas applied: their sha256 must be checked once rebuilt. */
    const rebuilt = new Set<string>();
    for (const link of links) {
      const actions = plan.get(link.id)!;
      /** Writes one member into the staging folder (a file or snapshot whole, a delta onto its database). */
      const stageEntry = async (entry: { path: string; size: number }, body: Readable): Promise<void> => {
        const action = actions.get(entry.path)!;
        const file = path.join(staging, action.item.path);
        if (action.type === 'delta') {
          const handle = await fs.open(file, 'r+');
          try {
            await applyDelta(body, handle, action.expected);
          } catch (error) {
            if (error instanceof BotbackupError || options.signal?.aborted || isFileSystemError(error)) throw error;
            throw new IntegrityError('BAD_ARCHIVE', `Backup ${link.id}: the page delta "${entry.path}" cannot be applied: ${(error as Error).message}.`, {
              backupId: link.id,
              subject: entry.path,
            });
          } finally {
            await handle.close();
          }
          rebuilt.add(action.item.path);
        } else {
          // Never through a link: not one in the staging folder, not one in the target where it goes.
          await refuseLinkOnPath(staging, action.item.path);
          await refuseLinkOnPath(target, action.item.path);
          await fs.rm(file, { force: true });
          if (action.item.linkTarget !== undefined) await writeLink(file, action.item.linkTarget, new Date(action.item.mtime));
          else await writeEntry(file, body, action.type === 'file' ? restoredMode(action.item) : 0o600, new Date(action.item.mtime));
          if (action.type === 'file') bytes += entry.size;
        }
      };
      try {
        await readArchive({
          store,
          manifest: link,
          signal: options.signal,
          stopEarly: options.only !== undefined,
          keyring,
          select: (entry) => actions.has(entry.path),
          onBytes: (n) => {
            read += n;
            options.onProgress?.({ phase: 'read', done: read, total });
          },
          // A failed write into the target (no space left, read-only...) is the target's problem,
          // not a corrupt archive: readArchive would take a plain error for one.
          onEntry: (entry, body) => stageEntry(entry, body).catch((error: unknown) => throwTargetError(error, target, false)),
        });
      } catch (error) {
        if (chain.length > 1 && error instanceof IntegrityError && !(error instanceof BrokenLinkError)) {
          await explainBroken(store, manifest, new BrokenLinkError(link.id, manifest, error.message, error), options.signal);
        }
        throw error;
      }
    }

    const databases: RestoreResult['databases'] = [];
    for (const entry of selected.filter((e) => e.kind === 'database')) {
      const file = path.join(staging, entry.path);
      if (rebuilt.has(entry.path)) {
        // The chain was applied: prove it rebuilt exactly the database this backup recorded.
        let hashed = 0;
        const { sha256: actual } = await hashFile(file, {
          // An encrypted repository's hashes are keyed (see keys.ts).
          key: await keyring.contentHashKey(manifest),
          signal: options.signal,
          onBytes: (n) => {
            hashed += n;
            options.onProgress?.({ phase: 'verify', done: hashed, total: entry.size, subject: entry.path });
          },
        });
        if (actual !== entry.sha256) {
          throw new IntegrityError(
            'CHECKSUM_MISMATCH',
            `Backup ${manifest.id}: the database "${entry.path}" rebuilt from its chain of ${chain.length} backups does not match its recorded sha256; nothing was replaced.`,
            { backupId: manifest.id, subject: entry.path },
          );
        }
      }
      const handle = await fs.open(file, 'r+');
      try {
        await handle.chmod(entry.mode & 0o777);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.utimes(file, new Date(entry.mtime), new Date(entry.mtime));
      bytes += entry.size;
      const t0 = performance.now();
      options.onProgress?.({ phase: 'integrity', done: 0, total: entry.size, subject: entry.path });
      const check = await checkDatabase(file, 'integrity_check');
      integrityCheckMs += performance.now() - t0;
      if (!check.ok) {
        throw new IntegrityError(
          'DATABASE_CHECK_FAILED',
          `Backup ${manifest.id}: the restored database "${entry.path}" fails PRAGMA integrity_check (${check.messages.slice(0, 3).join('; ')}); nothing was replaced.`,
          { backupId: manifest.id, subject: entry.path },
        );
      }
      databases.push({ path: entry.path, sha256: entry.sha256, integrityCheck: 'ok' });
    }

    // Everything is complete and checked. The staged files' folder entries are made durable,
    // then the journal of the renames (the commit point), then the renames: a restore killed
    // from here on is finished by the next command that touches the target.
    const stagedDirs = new Set<string>([staging]);
    const entries: JournalEntry[] = [];
    for (const entry of selected) {
      const dest = path.join(target, entry.path);
      stagedDirs.add(path.dirname(path.join(staging, entry.path)));
      // What stands where the file goes (replaced with --force; a database's stale -wal, -shm,
      // -journal, which would be replayed into the new file) is moved into the staging folder,
      // and goes with it once the restore is done.
      const aside = [];
      for (const suffix of entry.kind === 'database' ? ['', ...SIDECARS] : ['']) {
        if (await exists(dest + suffix)) aside.push({ from: entry.path + suffix, to: path.join(stagingDir, REPLACED, entry.path + suffix) });
      }
      await matchOwner(path.join(staging, entry.path), dest);
      entries.push({ staged: path.join(stagingDir, entry.path), dest: entry.path, aside });
    }
    for (const dir of stagedDirs) await syncDir(dir);
    const result: StoreRestoreResult = {
      backupId: manifest.id,
      target,
      files: selected.length,
      bytes,
      chain: links.map((l) => l.id),
      databases,
      durationMs: performance.now() - started,
      integrityCheckMs,
      warnings,
    };
    const summary: JournalSummary = { only: options.only ?? null, store: store.name, badCopies, result };
    const journal: RestoreJournal = { version: 1, kind: 'restore', backupId: manifest.id, staging: stagingDir, owner: formatProcessTag(), entries, summary };
    await writeJournal(target, journal);
    committed = true;
    await finishJournal(target, journal);
    result.durationMs = performance.now() - started;
    logger.info({ target, files: selected.length, bytes, chain: chain.length }, 'restore complete');
    return result;
  } catch (error) {
    if (!committed && createdTarget) await fs.rm(target, { recursive: true, force: true });
    return throwTargetError(error, target, committed);
  } finally {
    // Once committed, the staging folder holds files the journal still needs: it goes with the journal.
    if (!committed) await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Which members of which links a restore reads, by link id and member path: each file from the
 * backup that stored it, each database from its newest snapshot in the chain plus every page
 * delta after it. Throws BROKEN_CHAIN when the chain lacks what a manifest points to.
 */
function planMembers(chain: readonly Manifest[], manifest: Manifest, selected: readonly RestorableItem[]): Map<string, Map<string, MemberAction>> {
  const plan = new Map<string, Map<string, MemberAction>>();
  const add = (linkId: string, member: string, action: MemberAction) => {
    if (!plan.has(linkId)) plan.set(linkId, new Map());
    plan.get(linkId)!.set(member, action);
  };
  const ids = new Set(chain.map((l) => l.id));
  const storedIn = new Map(manifest.files.map((f) => [f.path, f.storedIn]));
  for (const item of selected) {
    if (item.kind !== 'database') {
      const link = storedIn.get(item.path)!;
      if (!ids.has(link)) throw new BrokenLinkError(link, manifest, `"${item.path}" is stored in it, but it is not in the chain`);
      add(link, item.path, { type: 'file', item });
      continue;
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const link = chain[i]!;
      const db = link.databases.find((d) => d.path === item.path);
      if (!db) throw new BrokenLinkError(link.id, manifest, `it holds no copy of the database "${item.path}" that the next link builds on`);
      if (db.stored.type === 'snapshot') {
        add(link.id, db.stored.entry, { type: 'snapshot', item });
        break;
      }
      add(link.id, db.stored.entry, {
        type: 'delta',
        item,
        expected: { pageSize: db.pageSize, basePageCount: db.stored.basePageCount, pageCount: db.pageCount, pages: db.stored.pages },
      });
      if (i === 0) throw new BrokenLinkError(link.id, manifest, `its database "${item.path}" is a delta with no snapshot before it`);
    }
  }
  return plan;
}

/**
 * Rethrows a broken link as one error that names it and the newest backup of the source that
 * does not need it (whose chain's manifests and objects are all present), so the user knows
 * what can still be restored.
 */
async function explainBroken(store: BackupStore, manifest: Manifest, error: unknown, signal: AbortSignal | undefined): Promise<never> {
  if (!(error instanceof BrokenLinkError)) throw error;
  const fallback = await newestRestorableWithout(store, manifest.source.id, error.link, signal).catch(() => undefined);
  const advice = fallback
    ? `the newest backup that does not need it is ${fallback} (restore it with "botbackup restore ${fallback}").`
    : `no other backup of source "${manifest.source.id}" in storage "${store.name}" avoids it.`;
  throw new IntegrityError(
    'BROKEN_CHAIN',
    `Backup ${manifest.id} cannot be restored: ${error.message.replace(/\.$/, '')}; ${advice}`,
    {
      backupId: manifest.id,
      subject: error.link,
    },
    { cause: error },
  );
}

/** The newest backup of a source whose chain does not contain `broken` and has every manifest and object present. */
async function newestRestorableWithout(store: BackupStore, sourceId: string, broken: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const ids = await listBackupIds(store, sourceId, signal);
  for (const { backupId } of ids.reverse()) {
    if (backupId === broken) continue;
    try {
      const chain = await loadChain(store, await readManifest(store, sourceId, backupId, signal), signal);
      if (chain.some((link) => link.id === broken)) continue;
      await checkChainObjects(store, chain, signal);
      return backupId;
    } catch (error) {
      if (!(error instanceof IntegrityError || error instanceof BackupNotFoundError)) throw error;
    }
  }
  return undefined;
}

/** The files and databases `--only` names: the path itself or everything under it. */
export function selectEntries(manifest: Manifest, only: string | undefined): RestorableItem[] {
  const items = restorableItems(manifest);
  if (only === undefined) return items;
  const wanted = only.replace(/^\.\/+/, '').replace(/\/+$/, '');
  const selected = items.filter((e) => e.path === wanted || e.path.startsWith(`${wanted}/`));
  if (selected.length === 0)
    throw new BackupNotFoundError(`Backup ${manifest.id} holds no file or folder "${only}"; run "botbackup show ${manifest.id}" to see its contents.`);
  return selected;
}

/** Secret files are always restored 0600, whatever mode they had. */
function restoredMode(entry: RestorableItem): number {
  return entry.kind === 'secret' ? 0o600 : entry.mode & 0o777;
}

/** An error of a file system call (it has an errno code and a syscall), not one botbackup made. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return !(error instanceof BotbackupError) && typeof e?.code === 'string' && typeof e.syscall === 'string';
}

/**
 * Rethrows a file system error met while writing into the target (no space left, read-only,
 * permission denied...) as a target problem (exit 8, naming the target), never as a bad copy of
 * the backup; anything else as it is.
 */
function throwTargetError(error: unknown, target: string, committed: boolean): never {
  if (!isFileSystemError(error)) throw error;
  throw new RestoreRefusedError(
    'TARGET_UNUSABLE',
    target,
    `Cannot write into the restore target ${target} (${error.code}: ${error.message.replace(/^[A-Z]+: /, '').replace(/,.*$/, '')}); ${
      committed ? 'the next restore, recover or backup that touches it finishes this restore.' : 'nothing in it was replaced.'
    }`,
  );
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

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
