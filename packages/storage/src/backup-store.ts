import type { Readable } from 'node:stream';

/** One stored object as listed or stat-ed. */
export interface ObjectInfo {
  key: string;
  /** Bytes as stored. */
  size: number;
  modifiedAt: Date;
}

export interface StoreCallOptions {
  /** Aborts the call; the store then throws a StorageError with code ABORTED and leaves no partial object. */
  signal?: AbortSignal | undefined;
}

export interface GetOptions extends StoreCallOptions {
  /** Read only bytes `start` to `end` inclusive (end defaults to the last byte). */
  range?: { start: number; end?: number } | undefined;
}

/**
 * The storage contract every backend implements (local folder, S3...). Keys are relative
 * slash-separated paths built by `repositoryKeys` in core; a backend rejects anything else with
 * INVALID_KEY. Every failure is a `StorageError` carrying operation, key and backend.
 *
 * - `put` streams `body` into the object. The object becomes visible only complete: a reader
 *   sees the old object (if any) or the new one, never a part. An existing object is replaced.
 *   An aborted or failed put leaves nothing visible under `key`.
 * - `get` returns a stream of the object (or of `range`); a missing key is NOT_FOUND, thrown by
 *   `get` itself before any byte flows.
 * - `stat` returns undefined for a missing key.
 * - `list` yields every object whose key starts with `prefix`, in key order; objects still being
 *   written are not listed.
 * - `delete` is idempotent: deleting a missing key succeeds.
 */
export interface BackupStore {
  /** The target's name from the config (e.g. "local"). */
  readonly name: string;
  /** Where the store is, safe to print: never a credential. */
  readonly location: string;
  put(key: string, body: Readable | Uint8Array, options?: StoreCallOptions): Promise<{ size: number }>;
  get(key: string, options?: GetOptions): Promise<Readable>;
  stat(key: string, options?: StoreCallOptions): Promise<ObjectInfo | undefined>;
  list(prefix: string, options?: StoreCallOptions): AsyncIterable<ObjectInfo>;
  delete(key: string, options?: StoreCallOptions): Promise<void>;
  /**
   * Optional (stores that write temporary files of their own, like LocalStore): removes the
   * temporary files of interrupted writes whose writer is dead or that are older than `graceMs`,
   * and the empty folders they leave; returns what was removed. S3Store: the unfinished
   * multipart uploads under its prefix older than `graceMs`, where the server can list them.
   */
  removeStaleTemp?(options: { graceMs: number; signal?: AbortSignal | undefined }): Promise<RemovedTemp[]>;
  /**
   * Optional, a cheap check at a worker's start (LocalStore; S3Store has none: no request is made
   * at start): throws the StorageError a put would meet now (a file in the way, permission
   * denied); writes nothing.
   */
  checkWritable?(): Promise<void>;
  /**
   * A cheap check that the target answers and could take a backup now, for health checks
   * (`botbackup health`): LocalStore, its folder (or the nearest existing folder above it, which a
   * put creates the rest of) is a folder this process may write into; S3Store, one listing of at
   * most one key under its prefix (the endpoint answers, the bucket exists, the credentials are
   * accepted), given up after a few seconds. Writes nothing. Throws the StorageError a backup
   * would meet (UNAVAILABLE, PERMISSION, IO...), never NOT_FOUND.
   */
  probe(options?: StoreCallOptions): Promise<void>;
}

/** A temporary file or empty folder that {@link BackupStore.removeStaleTemp} removed. */
export interface RemovedTemp {
  /** Relative to the store's root (an upload: the key it was for). */
  path: string;
  /** A `.part` file, an empty folder, or an unfinished multipart upload (S3). */
  kind: 'part' | 'folder' | 'upload';
  bytes: number;
  /** Why it could go: its writer is dead, it is older than the grace period, or (a folder) it was empty. */
  reason: string;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** True when `key` is a relative path of safe segments (no `.`/`..`, no empty segment). */
export function isValidKey(key: string): boolean {
  if (key.length === 0 || key.length > 1024) return false;
  return key.split('/').every((part) => SEGMENT.test(part) && part !== '.' && part !== '..');
}
