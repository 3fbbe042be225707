import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { StorageError, type StorageErrorCode } from '@botbackup/core';
import { writeDurably } from './write-file.js';
import { formatProcessTag, ownerAlive, parseProcessTag } from './process-tag.js';
import { isValidKey, type BackupStore, type GetOptions, type ObjectInfo, type RemovedTemp, type StoreCallOptions } from './backup-store.js';

/** Folder for objects being written; never listed. Same filesystem as the objects, so rename is atomic. */
const TMP_DIR = '.tmp';

/**
 * A repository in a local folder. Objects are plain files at `<root>/<key>`. Writes go to a temp
 * file under `<root>/.tmp`, are fsync-ed, renamed into place and the folder fsync-ed, so a crash
 * leaves either nothing or the whole object. Files are created 0600 and folders 0700: a backup
 * holds API keys.
 */
export class LocalStore implements BackupStore {
  readonly name: string;
  readonly location: string;
  private readonly root: string;

  constructor(options: { name: string; path: string }) {
    this.name = options.name;
    this.root = path.resolve(options.path);
    this.location = this.root;
  }

  async put(key: string, body: Readable | Uint8Array, options: StoreCallOptions = {}): Promise<{ size: number }> {
    const target = this.pathOf(key, 'put');
    const tmpDir = path.join(this.root, TMP_DIR);
    // Named after the writing process (see ProcessTag): a later run removes it once that process is dead.
    const tmp = path.join(tmpDir, `${formatProcessTag()}.${randomBytes(8).toString('hex')}.part`);
    let size = 0;
    try {
      await fs.mkdir(tmpDir, { recursive: true, mode: 0o700 });
      const handle = await fs.open(tmp, 'wx', 0o600);
      try {
        size = await writeDurably(handle, body instanceof Uint8Array ? [body] : body, { signal: options.signal });
      } finally {
        await handle.close();
      }
      // A concurrent removeStaleTemp may remove the target's folder between mkdir and rename
      // while it is empty: make it again.
      for (let attempt = 1; ; attempt++) {
        try {
          await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
          await fs.rename(tmp, target);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
          await fs.access(tmp);
        }
      }
      await syncDir(path.dirname(target));
      return { size };
    } catch (error) {
      // Not fatal in itself: under a root that is not a folder this fails too (ENOTDIR), and the
      // put's own error is the one to report.
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      if (body instanceof Readable) body.destroy();
      throw this.toStorageError(error, 'put', key);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const file = this.pathOf(key, 'get');
    try {
      options.signal?.throwIfAborted();
      // Open first so that a missing object fails here, not mid-stream.
      const handle = await fs.open(file, 'r');
      const stream = handle.createReadStream({ start: options.range?.start, end: options.range?.end, highWaterMark: 1 << 20 });
      if (options.signal) addAbortSignal(options.signal, stream);
      return stream;
    } catch (error) {
      throw this.toStorageError(error, 'get', key);
    }
  }

  async stat(key: string, options: StoreCallOptions = {}): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key, 'stat');
    try {
      options.signal?.throwIfAborted();
      const st = await fs.stat(file);
      return st.isFile() ? { key, size: st.size, modifiedAt: st.mtime } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.toStorageError(error, 'stat', key);
    }
  }

  async *list(prefix: string, options: StoreCallOptions = {}): AsyncIterable<ObjectInfo> {
    // Walk only the deepest folder the prefix names, then filter by the rest of the prefix.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    if (dirPart !== '' && !isValidKey(dirPart)) throw this.invalidKey('list', prefix);
    const keys: string[] = [];
    try {
      await this.walk(dirPart, keys, options.signal);
    } catch (error) {
      throw this.toStorageError(error, 'list', prefix);
    }
    keys.sort();
    for (const key of keys) {
      if (!key.startsWith(prefix)) continue;
      const info = await this.stat(key, options);
      if (info) yield info;
    }
  }

  async delete(key: string, options: StoreCallOptions = {}): Promise<void> {
    const file = this.pathOf(key, 'delete');
    try {
      options.signal?.throwIfAborted();
      await fs.rm(file, { force: true });
      await syncDir(path.dirname(file)).catch(() => undefined);
    } catch (error) {
      throw this.toStorageError(error, 'delete', key);
    }
  }

  /**
   * Removes what interrupted writes left behind: `.part` files under `.tmp/` whose writer is
   * known to be dead (same host, boot and pid namespace; see ProcessTag), or, when that cannot be
   * known (another host, an older naming), whose modification time is more than `graceMs` older
   * than the file system's clock; then the empty folders below the top-level ones (`data/<source>/<id>/`
   * and the like), which interrupted writes and deletions leave. Never touches objects.
   */
  async removeStaleTemp(options: { graceMs: number; signal?: AbortSignal | undefined }): Promise<RemovedTemp[]> {
    const removed: RemovedTemp[] = [];
    const tmpDir = path.join(this.root, TMP_DIR);
    try {
      let names: string[] = [];
      try {
        names = (await fs.readdir(tmpDir)).filter((n) => n.endsWith('.part'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (names.length > 0) {
        // The file system's clock, not this host's: a probe written now.
        const probe = path.join(tmpDir, `${formatProcessTag()}.${randomBytes(8).toString('hex')}.probe`);
        await fs.writeFile(probe, '', { mode: 0o600 });
        const now = (await fs.stat(probe)).mtimeMs;
        await fs.rm(probe, { force: true });
        for (const name of names) {
          options.signal?.throwIfAborted();
          const file = path.join(tmpDir, name);
          const st = await fs.stat(file).catch(() => undefined);
          if (!st?.isFile()) continue;
          const tag = parseProcessTag(name);
          const alive = tag ? ownerAlive(tag) : undefined;
          if (alive === true || (alive === undefined && now - st.mtimeMs <= options.graceMs)) continue;
          await fs.rm(file, { force: true });
          removed.push({
            path: path.join(TMP_DIR, name),
            kind: 'part',
            bytes: st.size,
            reason: alive === false ? 'writer is dead' : 'older than the grace period',
          });
        }
      }
      await this.removeEmptyFolders('', removed, options.signal);
    } catch (error) {
      throw this.toStorageError(error, 'clean', TMP_DIR);
    }
    return removed;
  }

  /** Removes the empty folders below `relDir` (depth first); true when `relDir` itself is empty afterwards. */
  private async removeEmptyFolders(relDir: string, removed: RemovedTemp[], signal: AbortSignal | undefined): Promise<boolean> {
    signal?.throwIfAborted();
    const entries = await this.readFolder(relDir);
    if (entries === undefined) return false;
    let empty = true;
    for (const entry of entries) {
      if (relDir === '' && entry.name === TMP_DIR) {
        empty = false;
        continue;
      }
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      if (!entry.isDirectory() || !(await this.removeEmptyFolders(rel, removed, signal)) || relDir === '') {
        // The top-level folders (data/, manifests/...) are the repository's layout: they stay.
        empty = false;
        continue;
      }
      try {
        // rmdir fails on a folder that is no longer empty (a concurrent put): then it stays.
        await fs.rmdir(path.join(this.root, rel));
        removed.push({ path: rel, kind: 'folder', bytes: 0, reason: 'empty' });
      } catch {
        empty = false;
      }
    }
    return empty;
  }

  private async walk(relDir: string, out: string[], signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    const entries = await this.readFolder(relDir);
    if (entries === undefined) return;
    for (const entry of entries) {
      if (relDir === '' && entry.name === TMP_DIR) continue;
      const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      if (entry.isDirectory()) await this.walk(rel, out, signal);
      else if (entry.isFile()) out.push(rel);
    }
  }

  /** The entries of the folder `relDir`; undefined when it is gone or not a folder (ENOENT, ENOTDIR). */
  private async readFolder(relDir: string): Promise<Dirent[] | undefined> {
    try {
      return await fs.readdir(path.join(this.root, relDir), { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  private pathOf(key: string, operation: string): string {
    if (!isValidKey(key)) throw this.invalidKey(operation, key);
    return path.join(this.root, ...key.split('/'));
  }

  /**
   * Whether a put can work now, without writing: the folder, or the nearest existing folder above
   * it (a put creates the rest), is a folder this process may write into. Throws the StorageError
   * a put would meet.
   */
  async checkWritable(): Promise<void> {
    for (let dir = this.root; ; dir = path.dirname(dir)) {
      try {
        if (!(await fs.stat(dir)).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
        await fs.access(dir, fsConstants.W_OK | fsConstants.X_OK);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && path.dirname(dir) !== dir) continue;
        throw this.toStorageError(error, 'put', '');
      }
    }
  }

  /** See BackupStore.probe: {@link checkWritable}, which is already the cheap check a backup needs. */
  async probe(options: StoreCallOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await this.checkWritable();
  }

  private invalidKey(operation: string, key: string): StorageError {
    return new StorageError('INVALID_KEY', { operation, key, backend: this.name, message: `Storage "${this.name}": "${key}" is not a valid object key.` });
  }

  private toStorageError(error: unknown, operation: string, key: string): StorageError {
    if (error instanceof StorageError) return error;
    const errno = (error as NodeJS.ErrnoException).code;
    const aborted = (error as Error).name === 'AbortError';
    const code: StorageErrorCode = aborted
      ? 'ABORTED'
      : errno === 'ENOENT'
        ? 'NOT_FOUND'
        : errno === 'ENOSPC' || errno === 'EDQUOT'
          ? 'NO_SPACE'
          : errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS'
            ? 'PERMISSION'
            : 'IO';
    if (code === 'IO' && (errno === 'ENOTDIR' || errno === 'EEXIST')) {
      // The repository's path (or a folder of it) is a file.
      const message = `Storage "${this.name}": ${this.root} is not a folder (a file is in the way); fix the target's path.`;
      return new StorageError(code, { operation, key, backend: this.name, message }, { cause: error });
    }
    const messages: Record<StorageErrorCode, string> = {
      NOT_FOUND: `Storage "${this.name}" has no object "${key}" (in ${this.root}).`,
      NO_SPACE: `Storage "${this.name}" is out of disk space in ${this.root}; free some space or prune old backups, then retry.`,
      PERMISSION: `Storage "${this.name}" cannot ${operation} in ${this.root}: permission denied; check the folder's owner and mode.`,
      ABORTED: `Storage "${this.name}": ${operation} of "${key}" was interrupted.`,
      UNAVAILABLE: `Storage "${this.name}" at ${this.root} is unavailable.`,
      INVALID_KEY: `Storage "${this.name}": "${key}" is not a valid object key.`,
      IO: `Storage "${this.name}" failed to ${operation} "${key}" in ${this.root}: ${(error as Error).message}.`,
    };
    return new StorageError(code, { operation, key, backend: this.name, message: messages[code] }, { cause: error });
  }
}

/** fsync a folder so that a rename or unlink in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
