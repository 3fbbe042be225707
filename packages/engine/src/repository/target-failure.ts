import { StorageError } from '@botbackup/core';

/** A storage failure that concerns one target (it is down, refuses us, is full...), not a bug or an abort. */
export function isTargetFailure(error: unknown): error is StorageError {
  return error instanceof StorageError && error.storageCode !== 'ABORTED';
}
