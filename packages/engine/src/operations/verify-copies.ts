import {
  AbortedError,
  BackupNotFoundError,
  BotbackupError,
  ConfigError,
  ExitCode,
  IntegrityError,
  InternalError,
  StorageError,
  UsageError,
  type ExitCodeValue,
  type Manifest,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from '../crypto/index.js';
import type { ProgressListener } from '../support/index.js';
import { copyBackup } from './replicate.js';
import { readManifest } from '../repository/index.js';
import { isTargetFailure } from '../repository/index.js';
import { verifyBackup } from './verify.js';

/** The verdict on one copy (one backup in one store). */
export interface CopyVerdict {
  id: string;
  source: string;
  store: string;
  ok: boolean;
  /** A good copy: the entries checked, and the backup's sizes (core's backupSizes). */
  entries?: number;
  entryBytes?: number;
  storedBytes?: number;
  deep?: boolean;
  /** False when only the encrypted bytes could be checked (no identity on this host). */
  contents?: boolean;
  /** Accepted only because of --insecure. */
  warnings?: string[];
  durationMs?: number;
  /** Why the copy is bad, missing or unreadable (one sentence), and the error's code. */
  error?: string;
  code?: string;
  /**
   * The exit code this copy's failure stands for: 6 bad or missing (integrity), 11 no key here
   * opens it, 5 its target is unreachable, 1 an internal error; see {@link worstExitCode}.
   */
  exitCode?: ExitCodeValue;
  /** With `repair`: the store whose good copy replaced this one. */
  repairedFrom?: string;
}

export interface VerifyCopiesOptions {
  /** The stores whose copies are checked, in order. */
  stores: readonly BackupStore[];
  backup: { sourceId: string; backupId: string };
  deep?: boolean;
  /** Replace a bad or missing copy with a good one from another store (checked on the way). */
  repair?: boolean;
  /** Stores already known to be unreachable, with why: their copies are reported as such, not read. */
  unreachable?: ReadonlyMap<BackupStore, string>;
  tmpDir?: string | undefined;
  onProgress?: ProgressListener;
  /** Called after each copy's verdict (a good copy's manifest is passed), e.g. to print it or record it in the catalog. */
  onVerdict?: (verdict: CopyVerdict, manifest: Manifest | undefined) => void;
  /** Checks signatures and opens encrypted archives (none: plaintext only, signatures not checked). */
  keyring?: Keyring | undefined;
  signal?: AbortSignal;
}

/**
 * Verifies every store's copy of one backup on its own (see {@link verifyBackup}): each store's
 * own manifest, then its objects. A copy that is missing, corrupt or unreadable gets a failed
 * verdict naming the store and why; with `repair`, it is then replaced by the first good copy.
 * Throws only for what is not about a copy (a bug, an abort).
 */
export async function verifyCopies(options: VerifyCopiesOptions): Promise<CopyVerdict[]> {
  const { backup, signal } = options;
  const base = { id: backup.backupId, source: backup.sourceId };
  const verdicts: CopyVerdict[] = [];
  const good: { store: BackupStore; manifest: Manifest }[] = [];
  const bad: { store: BackupStore; verdict: CopyVerdict }[] = [];
  const fail = (store: BackupStore, error: BotbackupError) => {
    const verdict = failedVerdict(base, store, error);
    verdicts.push(verdict);
    if (error instanceof IntegrityError || error instanceof BackupNotFoundError) bad.push({ store, verdict });
    options.onVerdict?.(verdict, undefined);
  };
  for (const store of options.stores) {
    const down = options.unreachable?.get(store);
    if (down !== undefined) {
      fail(store, new StorageError('UNAVAILABLE', { operation: 'verify', backend: store.name, message: down }));
      continue;
    }
    try {
      const { verdict, manifest } = await checkCopy(store, base, options);
      verdicts.push(verdict);
      good.push({ store, manifest });
      // Inside the try, as before: a listener that throws gets this copy a failed verdict too.
      options.onVerdict?.(verdict, manifest);
    } catch (error) {
      fail(store, copyFailure(error, store, backup.backupId, signal));
    }
  }
  const from = good[0];
  if (options.repair && from) await repairCopies(from, bad, signal);
  return verdicts;
}

/**
 * The failed verdict for one store's copy. A missing copy counts as a bad one (6), as it always
 * has for verify; any other failure stands for its own error's exit code (an aborted
 * StorageError never gets here).
 */
function failedVerdict(base: { id: string; source: string }, store: BackupStore, error: BotbackupError): CopyVerdict {
  const missing = error instanceof BackupNotFoundError || (error instanceof StorageError && error.storageCode === 'NOT_FOUND');
  const exitCode = missing ? ExitCode.integrity : error.exitCode;
  return { ...base, store: store.name, ok: false, error: error.message, code: error.code, exitCode };
}

/** Reads `store`'s own manifest of the backup and verifies its objects: the good verdict, with that manifest. Throws what went wrong. */
async function checkCopy(
  store: BackupStore,
  base: { id: string; source: string },
  options: VerifyCopiesOptions,
): Promise<{ verdict: CopyVerdict; manifest: Manifest }> {
  const { backup, signal } = options;
  const manifest = await readManifest(store, backup.sourceId, backup.backupId, signal);
  const r = await verifyBackup({
    store,
    manifest,
    deep: options.deep ?? false,
    tmpDir: options.tmpDir,
    onProgress: options.onProgress,
    keyring: options.keyring,
    signal,
  });
  const verdict: CopyVerdict = {
    ...base,
    store: store.name,
    ok: true,
    entries: r.entries,
    entryBytes: r.entryBytes,
    storedBytes: r.storedBytes,
    deep: r.deep,
    contents: r.contents,
    warnings: r.warnings,
    durationMs: Math.round(r.durationMs),
  };
  return { verdict, manifest };
}

/**
 * What checking one copy threw, as the typed error of its failed verdict; rethrows what is not
 * about the copy (an abort, a usage or config error), so that it ends the whole verify.
 */
function copyFailure(error: unknown, store: BackupStore, backupId: string, signal: AbortSignal | undefined): BotbackupError {
  if (error instanceof BackupNotFoundError) {
    return new BackupNotFoundError(`Backup ${backupId} is missing in storage "${store.name}"; run "botbackup replicate" to copy it there.`);
  }
  if (
    signal?.aborted ||
    error instanceof AbortedError ||
    error instanceof UsageError ||
    error instanceof ConfigError ||
    (error instanceof BotbackupError && error.exitCode === ExitCode.aborted)
  ) {
    throw error;
  }
  // Bad content, a key that does not open it, an unsafe path in it, its target down: a verdict
  // on this copy; the other copies and backups are still checked.
  if (error instanceof BotbackupError) return error;
  // A bug while checking this copy: reported as such (exit 1), without hiding the others'.
  return new InternalError(`Checking the copy in storage "${store.name}" failed with an internal error: ${(error as Error).message}`, { cause: error });
}

/**
 * `repair`: replaces each bad or missing copy with the good one in `from` (checked on the way by
 * copyBackup). A repair that fails is added to the copy's verdict (its error and the worse exit
 * code); an abort or a bug ends the verify.
 */
async function repairCopies(
  from: { store: BackupStore; manifest: Manifest },
  bad: readonly { store: BackupStore; verdict: CopyVerdict }[],
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const { store, verdict } of bad) {
    try {
      await copyBackup(from.store, store, from.manifest, { signal });
      verdict.repairedFrom = from.store.name;
    } catch (error) {
      if (signal?.aborted || !(error instanceof BotbackupError)) throw error;
      verdict.error = `${verdict.error!.replace(/\.$/, '')}; the repair from "${from.store.name}" failed: ${error.message}`;
      verdict.exitCode = worstExitCode([verdict.exitCode, error.exitCode]);
    }
  }
}

/** Exit codes of failed checks, worst first: bad data, an unsafe archive, no key, a missing backup, a bug, an unreachable target. */
const SEVERITY: ExitCodeValue[] = [ExitCode.integrity, ExitCode.restoreRefused, ExitCode.key, ExitCode.notFound, ExitCode.internal, ExitCode.storage];

/** The worst of several failures' exit codes (see SEVERITY); 0 when there are none. */
export function worstExitCode(codes: readonly (number | undefined)[]): ExitCodeValue {
  const present = codes.filter((c): c is ExitCodeValue => c !== undefined && c !== 0);
  if (present.length === 0) return ExitCode.ok;
  const rank = (c: ExitCodeValue) => (SEVERITY.includes(c) ? SEVERITY.indexOf(c) : SEVERITY.length);
  return present.reduce((worst, c) => (rank(c) < rank(worst) ? c : worst));
}
