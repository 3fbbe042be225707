import { StorageError, TooFewCopiesError } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { isTargetFailure } from '../../repository/index.js';
import { settleAll, type Logger } from '../../support/index.js';

/**
 * The stores a backup is being written to. A store that fails is dropped (the backup goes on
 * without it) until fewer than `minCopies` remain; then the backup fails.
 */
export class TargetSet {
  readonly alive: BackupStore[];
  readonly failed = new Map<BackupStore, StorageError>();
  constructor(
    private readonly all: readonly BackupStore[],
    private readonly minCopies: number,
    private readonly log: Logger,
  ) {
    this.alive = [...all];
  }

  /** Drops a store that failed; throws when the backup can no longer reach minCopies stores. */
  fail(store: BackupStore, error: StorageError): void {
    if (this.failed.has(store)) return;
    this.failed.set(store, error);
    this.alive.splice(this.alive.indexOf(store), 1);
    if (this.alive.length >= this.minCopies) {
      this.log.warn({ store: store.name, err: error.message }, 'storage target failed; the backup goes on without it');
      return;
    }
    if (this.all.length === 1) throw error;
    const reasons = [...this.failed].map(([s, e]) => `"${s.name}": ${e.message.replace(/\.$/, '')}`).join('; ');
    throw new TooFewCopiesError(
      `The backup reached ${this.alive.length} of ${this.all.length} storage targets, fewer than minCopies (${this.minCopies}), so nothing was committed (${reasons}).`,
      { cause: error },
    );
  }

  /** Runs `work` on every live store at once; a store whose work fails with a target failure is dropped. */
  async each(work: (store: BackupStore) => Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
    await settleAll(
      this.alive.slice().map((store) =>
        work(store).catch((error: unknown) => {
          if (!isTargetFailure(error) || signal?.aborted) throw error;
          this.fail(store, error);
        }),
      ),
    );
  }
}
