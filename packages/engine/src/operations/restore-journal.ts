import fs from 'node:fs/promises';
import path from 'node:path';
import { formatProcessTag, ownerAlive, parseProcessTag, syncDir } from '@botbackup/storage';

/**
 * The journal that makes the last step of a restore (and of `recover`) all-or-nothing, even when
 * the process is killed between two renames.
 *
 * A restore writes everything into a staging folder inside the target and checks it; only then
 * does it write `<target>/.botbackup-restore-journal.json` (fsync-ed, file and folder) listing
 * every rename it is about to make. Writing the journal is the commit point:
 * - staging folder(s) without a journal: the restore was killed before its commit; the target
 *   was not touched yet, and the staging folders are removed (rolled back);
 * - a journal: every staged file was complete and checked; the remaining renames are made
 *   (each is idempotent, see {@link applyJournal}), then the staging folder and the journal are
 *   removed (rolled forward).
 * The next `restore`, `recover` or `backup` that touches the folder calls
 * {@link finishPendingRestore} first.
 */

export const JOURNAL_NAME = '.botbackup-restore-journal.json';
/** Names of the staging folders of restore and recover, followed by `<owner>-<random>` (the owner's ProcessTag). */
export const STAGING_PREFIXES = ['.botbackup-restore-', '.botbackup-recover-'] as const;

/** A rename of something that stands where a staged file goes (a replaced file, a damaged database). */
export interface JournalMove {
  /** Relative to the root. */
  from: string;
  to: string;
}

/** One staged file: what is moved out of its way, then the file itself. */
export interface JournalEntry {
  /** The checked file in the staging folder, relative to the root. */
  staged: string;
  /** Where it goes, relative to the root. */
  dest: string;
  /** Done before staged → dest, each only if its `from` still exists. */
  aside: JournalMove[];
}

export interface RestoreJournal {
  version: 1;
  kind: 'restore' | 'recover';
  backupId: string;
  /** The staging folder (a name inside the root), removed once every rename is made. */
  staging: string;
  /** The process that wrote it (`formatProcessTag`): a journal of a live process is left to it. */
  owner: string;
  entries: JournalEntry[];
  /** What the command reports when it is done (a restore run again to the same target returns it). */
  summary?: unknown;
}

export interface PendingRestoreOutcome {
  action: 'rolled-forward' | 'rolled-back';
  /** One line for the user: what was found, and what was done. */
  message: string;
  journal?: RestoreJournal;
  /** Renames made now (rolled forward). */
  renames: number;
  /** Staging folders removed. */
  removed: string[];
}

/** The staging folder name for this process. */
export function stagingName(kind: 'restore' | 'recover', random: string): string {
  return `.botbackup-${kind}-${formatProcessTag()}-${random}`;
}

/**
 * Gives a staged file the owner of what it replaces, or else of the nearest existing folder above
 * where it goes: a restore or recovery run as root into the folder of a bot that runs as another
 * user must not leave it files it cannot write. Only root can change owners; otherwise nothing.
 */
export async function matchOwner(staged: string, dest: string): Promise<void> {
  const owner = await ownerFor(dest);
  if (owner) await fs.lchown(staged, owner.uid, owner.gid).catch(() => undefined);
}

/** The owner {@link matchOwner} gives what goes to `dest`; undefined when not root (nothing is changed then). */
export async function ownerFor(dest: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let ref = await fs.lstat(dest).catch(() => undefined);
  for (let dir = path.dirname(dest); !ref; dir = path.dirname(dir)) {
    ref = await fs.stat(dir).catch(() => undefined);
    if (path.dirname(dir) === dir) break;
  }
  return ref ? { uid: ref.uid, gid: ref.gid } : undefined;
}

/**
 * Writes the journal durably: the commit point. A journal that cannot be written whole is
 * removed again, and the restore has not committed.
 */
export async function writeJournal(root: string, journal: RestoreJournal): Promise<void> {
  const file = path.join(root, JOURNAL_NAME);
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(JSON.stringify(journal));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDir(root);
  } catch (error) {
    await fs.rm(file, { force: true });
    throw error;
  }
}

/**
 * Makes the renames a journal lists that are not made yet; then removes the staging folder and
 * the journal. Returns the number of renames made.
 */
export async function finishJournal(root: string, journal: RestoreJournal): Promise<number> {
  const renames = await applyJournal(root, journal);
  await fs.rm(path.join(root, journal.staging), { recursive: true, force: true });
  await fs.rm(path.join(root, JOURNAL_NAME), { force: true });
  await syncDir(root);
  return renames;
}

/**
 * Makes each entry's renames unless they are made already. An entry whose staged file is gone is
 * complete (its file was renamed into place, after everything standing in its way was moved
 * aside); otherwise whatever still stands in the way is moved aside, then the staged file renamed.
 * Running it again after it was killed anywhere gives the same result.
 */
export async function applyJournal(root: string, journal: RestoreJournal): Promise<number> {
  const dirs = new Set<string>();
  let renames = 0;
  for (const entry of journal.entries) {
    const staged = inside(root, entry.staged);
    if (!(await exists(staged))) continue;
    for (const move of entry.aside) {
      const from = inside(root, move.from);
      if (!(await exists(from))) continue;
      const to = inside(root, move.to);
      await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
      await fs.rename(from, to);
      renames++;
      dirs.add(path.dirname(from)).add(path.dirname(to));
    }
    const dest = inside(root, entry.dest);
    await fs.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    await fs.rename(staged, dest);
    renames++;
    dirs.add(path.dirname(dest));
  }
  for (const dir of dirs) await syncDir(dir).catch(() => undefined);
  return renames;
}

/**
 * Finishes what an interrupted restore or recover left in `root`: rolls a journal forward, or
 * removes staging folders that have none (killed before the commit). Folders and journals of a
 * process that is still running are left alone. Returns what was done, or undefined when there
 * was nothing to do (the usual case: one readdir).
 */
export async function finishPendingRestore(root: string): Promise<PendingRestoreOutcome | undefined> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const stagings = names.filter((n) => n !== JOURNAL_NAME && STAGING_PREFIXES.some((p) => n.startsWith(p)));
  const hasJournal = names.includes(JOURNAL_NAME);
  if (!hasJournal && stagings.length === 0) return undefined;

  let journal: RestoreJournal | undefined;
  if (hasJournal) {
    journal = await readJournal(path.join(root, JOURNAL_NAME));
    if (journal && journal.owner !== formatProcessTag() && ownerMayLive(journal.owner)) return undefined;
  }
  if (journal) {
    const renames = await finishJournal(root, journal);
    const removed = [journal.staging];
    for (const name of stagings) if (name !== journal.staging && !ownedByLiveProcess(name)) removed.push(await removeStaging(root, name));
    const what = journal.kind === 'recover' ? 'recovery' : 'restore';
    return {
      action: 'rolled-forward',
      journal,
      renames,
      removed,
      message: `finished an interrupted ${what} of backup ${journal.backupId} into ${root} (${renames} rename(s) rolled forward)`,
    };
  }
  // No journal, or one cut short while it was written: nothing was renamed yet.
  const removed: string[] = [];
  const live = stagings.filter(ownedByLiveProcess);
  for (const name of stagings) if (!live.includes(name)) removed.push(await removeStaging(root, name));
  // A journal being written by a live restore is left to it.
  const journalRemoved = hasJournal && live.length === 0;
  if (journalRemoved) await fs.rm(path.join(root, JOURNAL_NAME), { force: true });
  if (removed.length === 0 && !journalRemoved) return undefined;
  await syncDir(root).catch(() => undefined);
  return {
    action: 'rolled-back',
    renames: 0,
    removed,
    message: `removed the staging folder of an interrupted restore in ${root} (it was stopped before changing anything)`,
  };
}

async function removeStaging(root: string, name: string): Promise<string> {
  await fs.rm(path.join(root, name), { recursive: true, force: true });
  return name;
}

async function readJournal(file: string): Promise<RestoreJournal | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as RestoreJournal;
    if (parsed?.version !== 1 || !Array.isArray(parsed.entries) || typeof parsed.staging !== 'string') return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

/** A staging folder whose owner (in its name) may still be running, this process included. */
function ownedByLiveProcess(name: string): boolean {
  const prefix = STAGING_PREFIXES.find((p) => name.startsWith(p));
  return prefix !== undefined && ownerMayLive(name.slice(prefix.length));
}

/**
 * Whether the process a tag at the start of `text` names may be running: the same check as for
 * the `.part` files and temp folders of interrupted runs (a reused pid is not taken for the
 * owner). A process of another host or container sharing the folder cannot be checked and is
 * taken as running; a name without a tag has no owner to wait for.
 */
function ownerMayLive(text: string): boolean {
  const tag = parseProcessTag(text);
  return tag !== undefined && ownerAlive(tag) !== false;
}

/** A journal's relative path, refused if it leaves the root. */
function inside(root: string, rel: string): string {
  const full = path.resolve(root, rel);
  if (full !== root && !full.startsWith(root + path.sep)) throw new Error(`restore journal path "${rel}" leaves ${root}`);
  return full;
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
