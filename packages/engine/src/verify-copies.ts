import { BackupNotFoundError, BotbackupError, ExitCode, IntegrityError, type Manifest } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from './keys.js';
import type { ProgressListener } from './progress.js';
import { copyBackup } from './replicate.js';
import { readManifest } from './repository.js';
import { isTargetFailure } from './target-failure.js';
import { verifyBackup } from './verify.js';

/** The verdict on one copy (one backup in one store). */
export interface CopyVerdict {
  id: string;
  source: string;
  store: string;
  ok: boolean;
  /** Entries and stored bytes checked (a good copy). */
  entries?: number;
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
  for (const store of options.stores) {
    const fail = (error: BotbackupError) => {
      const verdict: CopyVerdict = { ...base, store: store.name, ok: false, error: error.message, code: error.code };
      verdicts.push(verdict);
      if (error instanceof IntegrityError || error instanceof BackupNotFoundError) bad.push({ store, verdict });
      options.onVerdict?.(verdict, undefined);
    };
    const down = options.unreachable?.get(store);
    if (down !== undefined) {
      fail(new BotbackupError('STORAGE_UNAVAILABLE', down, ExitCode.storage));
      continue;
    }
    try {
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
        storedBytes: r.storedBytes,
        deep: r.deep,
        contents: r.contents,
        warnings: r.warnings,
        durationMs: Math.round(r.durationMs),
      };
      verdicts.push(verdict);
      good.push({ store, manifest });
      options.onVerdict?.(verdict, manifest);
    } catch (error) {
      if (error instanceof BackupNotFoundError) {
        fail(new BackupNotFoundError(`Backup ${backup.backupId} is missing in storage "${store.name}"; run "botbackup replicate" to copy it there.`));
      } else if (error instanceof IntegrityError || (isTargetFailure(error) && !signal?.aborted)) {
        fail(error);
      } else throw error;
    }
  }
  const from = good[0];
  if (options.repair && from) {
    for (const { store, verdict } of bad) {
      await copyBackup(from.store, store, from.manifest, { signal });
      verdict.repairedFrom = from.store.name;
    }
  }
  return verdicts;
}
