import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import {
  BotbackupError,
  entryCount,
  IntegrityError,
  RestoreRefusedError,
  StorageError,
  type Manifest,
  type ManifestEntry,
  type ManifestObject,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { Keyring, withBackup } from '../crypto/index.js';
import { settleAll } from '../support/index.js';
import { createArchiveDecompressor } from './parallel-decompress.js';
import { HashingStream } from '../support/index.js';
import { linkTargetHash } from './pack-archive.js';

/**
 * Archives whose members average at least this many bytes are decompressed in a worker thread
 * (see createArchiveDecompressor); a backup of a database is, one of a folder of small files is not.
 */
const PARALLEL_MEMBER_BYTES = 64 * 1024;

export interface ReadArchiveOptions {
  store: BackupStore;
  manifest: Manifest;
  /**
   * Schema 4: the archive's file members, in archive order (the backup's file list records stored
   * in it: see the repository's listedEntries). Its other members are the manifest's `entries`;
   * before schema 4 those are all of them, and this is empty.
   */
  listed: AsyncIterable<ManifestEntry>;
  /** Receives each entry's body once; it must consume it (or leave it to be drained). */
  onEntry?: (entry: ManifestEntry, body: Readable) => Promise<void>;
  /** Only entries for which this returns true are handed to onEntry; all are still verified. Called once per entry, in archive order. */
  select?: (entry: ManifestEntry) => boolean | Promise<boolean>;
  onBytes?: (n: number) => void;
  /**
   * Stop reading once this many selected entries have been read and checked, instead of
   * verifying the whole archive (a restore of one file). Each selected entry is still proven by
   * its own sha256.
   */
  stopAfter?: number | undefined;
  /** Opens an encrypted archive and keys the hashes of its secret entries (none: plaintext only). */
  keyring?: Keyring | undefined;
  signal?: AbortSignal;
}

/**
 * True when `p` is a safe relative path: no absolute path, no drive letter, no backslash, no
 * empty, `.` or `..` segment. Used for tar entry names and manifest paths alike.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.startsWith('/') || p.includes('\\') || p.includes('\0') || /^[A-Za-z]:/.test(p)) return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** The archive object of a manifest. */
export function archiveObject(manifest: Manifest): ManifestObject {
  const object = manifest.objects.find((o) => o.role === 'archive');
  if (!object) throw new IntegrityError('BAD_MANIFEST', `Backup ${manifest.id} lists no archive object; its manifest is damaged.`, { backupId: manifest.id });
  return object;
}

/** Where an archive is read from, and what its errors name. */
interface ArchiveSource {
  store: BackupStore;
  manifest: Manifest;
  object: ManifestObject;
  ctx: { backupId: string; subject: string };
  signal: AbortSignal | undefined;
}

/**
 * What reading the entries found so far: the manifest's `entries` read (by path), where the
 * listed file members stand, the symbolic links read (nothing may lie under one), and whether
 * reading stopped once everything asked for was proven.
 */
interface EntriesRead {
  seen: Set<string>;
  listed: AsyncIterator<ManifestEntry>;
  next: IteratorResult<ManifestEntry> | undefined;
  links: Set<string>;
  stoppedEarly: boolean;
}

/**
 * Reads a backup's archive from a store and proves it matches the manifest: the stored bytes'
 * size and sha256, then every entry's size and sha256, that every entry is a regular file (or a
 * symbolic link, with the target) the manifest lists as such at a safe path, that no entry lies
 * under a link, and that none is missing. Anything else throws an
 * IntegrityError (or RestoreRefusedError for an unsafe path) naming what is wrong. Streams:
 * memory stays flat whatever the archive's size.
 */
export async function readArchive(options: ReadArchiveOptions): Promise<void> {
  const { store, manifest } = options;
  const object = archiveObject(manifest);
  const source: ArchiveSource = { store, manifest, object, ctx: { backupId: manifest.id, subject: object.key }, signal: options.signal };
  checkListedPaths(manifest);
  const wanted = options.stopAfter ?? Infinity;
  if (wanted === 0) return;
  // Before a byte is read: an encrypted archive this host cannot open is a KeyError saying what to give.
  const keyring = options.keyring ?? Keyring.none();
  const decrypt = object.encryption ? await keyring.decryptStream(manifest, object) : undefined;
  const contentKey = await keyring.contentHashKey(manifest);
  await checkStoredSize(source);
  const listed = options.listed[Symbol.asyncIterator]();
  const read: EntriesRead = { seen: new Set(), listed, next: undefined, links: new Set(), stoppedEarly: false };
  // The list first: one that is missing or unreadable fails the read before the archive is opened.
  await peekListed(read);
  const body = await openObject(source);
  // A worker thread decompresses and hashes the stored bytes while this thread parses the tar and
  // hashes and writes the entries: that pays for archives of big members (databases), not for one
  // of many tiny files, which is decompressed here (see createArchiveDecompressor).
  const members = entryCount(manifest);
  const stored = createArchiveDecompressor(object.compression, members === 0 || manifest.stats.entryBytes / members >= PARALLEL_MEMBER_BYTES);
  // The sha256 in the manifest is of the bytes as stored: the ciphertext, when encrypted.
  const cipher = decrypt ? new HashingStream() : undefined;
  const extract = tar.extract();
  const consume = readEntries(source, options, extract, body, contentKey, wanted, read).catch((error: unknown) => {
    // Stop reading the rest of the object: the backup has already failed.
    body.destroy();
    extract.destroy();
    throw error;
  });
  try {
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done) {
        options.onBytes?.(chunk.length);
        done(null, chunk);
      },
    });
    const stages = cipher && decrypt ? [cipher, decrypt] : [];
    await settleAll([pipeline([body, counted, ...stages, stored, extract], { signal: options.signal }), consume]);
  } catch (error) {
    await listed.return?.();
    if (read.stoppedEarly && !(error instanceof IntegrityError || error instanceof RestoreRefusedError)) return;
    // Damage the decompressor met is why the archive looked cut short.
    throw explainReadError(source, stored.failure ?? error);
  }
  if (stored.failure) throw explainReadError(source, stored.failure);
  if (read.stoppedEarly) {
    await listed.return?.();
    return;
  }
  checkWhole(source, cipher ? cipher.bytes : stored.inputBytes, cipher ? cipher.digest() : stored.inputSha256, read.seen);
  // Every listed member must have been read.
  const left = read.next ?? (await listed.next());
  if (!left.done) throw missingEntries(source, left.value.path);
}

/** The next listed file member, read ahead one at a time. */
async function peekListed(read: EntriesRead): Promise<ManifestEntry | undefined> {
  read.next ??= await read.listed.next();
  return read.next.done ? undefined : read.next.value;
}

/** Refuses a manifest whose `entries` list an unsafe path, or a path under one of its symbolic links. */
function checkListedPaths(manifest: Manifest): void {
  const links = new Set(manifest.entries.filter((e) => e.linkTarget !== undefined).map((e) => e.path));
  for (const entry of manifest.entries) refuseListedPath(manifest.id, entry.path, links);
}

/**
 * Refuses a path a backup lists that is unsafe, or lies under one of `links` (its symbolic links):
 * nothing may be written outside the target or through a link.
 */
export function refuseListedPath(backupId: string, p: string, links: ReadonlySet<string>): void {
  if (!isSafeRelativePath(p)) throw new RestoreRefusedError('UNSAFE_PATH', p, `Backup ${backupId} lists the unsafe path "${p}"; refusing to restore it.`);
  const under = linkAbove(p, links);
  if (under !== undefined)
    throw new RestoreRefusedError(
      'UNSAFE_PATH',
      p,
      `Backup ${backupId} lists the unsafe path "${p}", under its symbolic link "${under}"; refusing to restore it, nothing is written through a link.`,
    );
}

/** Checks the stored object's size before reading it: missing, truncated, or modified. */
async function checkStoredSize({ store, manifest, object, ctx, signal }: ArchiveSource): Promise<void> {
  const stat = await store.stat(object.key, { signal });
  if (!stat) throw new IntegrityError('MISSING_OBJECT', `Backup ${manifest.id} is missing its archive ${object.key} in storage "${store.name}".`, ctx);
  if (stat.size < object.size) {
    throw new IntegrityError(
      'TRUNCATED',
      `Backup ${manifest.id}: archive ${object.key} in storage "${store.name}" is truncated (${stat.size} of ${object.size} bytes).`,
      ctx,
    );
  }
  if (stat.size > object.size) {
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: archive ${object.key} in storage "${store.name}" has ${stat.size} bytes, not ${object.size}; it was modified.`,
      ctx,
    );
  }
}

/** The stored bytes of the archive; an object gone since it was found is missing. */
async function openObject({ store, manifest, object, ctx, signal }: ArchiveSource): Promise<Readable> {
  try {
    return await store.get(object.key, { signal });
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') {
      throw new IntegrityError('MISSING_OBJECT', `Backup ${manifest.id} is missing its archive ${object.key} in storage "${store.name}".`, ctx);
    }
    throw error;
  }
}

/**
 * Reads the tar's entries: each is checked against the manifest, handed to `onEntry` when
 * selected, drained and proven by its size and sha256. Once `wanted` selected entries are
 * proven, stops reading the object (`read.stoppedEarly`).
 */
async function readEntries(
  source: ArchiveSource,
  options: ReadArchiveOptions,
  extract: tar.Extract,
  body: Readable,
  contentKey: Buffer | undefined,
  wanted: number,
  read: EntriesRead,
): Promise<void> {
  const byPath = new Map(source.manifest.entries.map((e) => [e.path, e]));
  for await (const item of extract) {
    const next = byPath.has(item.header.name) ? undefined : await peekListed(read);
    const entry = listedEntry(source, item.header, next?.path === item.header.name ? next : byPath.get(item.header.name), read);
    if (entry === next) read.next = undefined;
    else read.seen.add(entry.path);
    if (entry.linkTarget !== undefined) read.links.add(entry.path);
    const hasher = new HashingStream(undefined, contentKey);
    const hashed = item.pipe(hasher);
    const selected = (await options.select?.(entry)) ?? true;
    if (options.onEntry && selected) await options.onEntry(entry, hashed);
    // Drain whatever the consumer left, so the hash covers the whole entry.
    hashed.resume();
    if (!hashed.readableEnded) await new Promise<void>((resolve, reject) => hashed.once('end', resolve).once('error', reject));
    checkEntryHash(source, entry, hasher, contentKey);
    if (selected) wanted--;
    if (wanted === 0) {
      // Everything asked for is read and proven: leave the rest of the object unread.
      read.stoppedEarly = true;
      body.destroy();
      return;
    }
  }
}

/**
 * The manifest's entry for a tar header: a safe path not under a symbolic link read before, of
 * the type the manifest lists, listed once and not read before. A listed file member must come
 * in its turn (`listed`: the next one the file list names).
 */
function listedEntry({ manifest, ctx }: ArchiveSource, header: tar.Header, listed: ManifestEntry | undefined, read: EntriesRead): ManifestEntry {
  const { name, type } = header;
  if (!isSafeRelativePath(name)) {
    throw new RestoreRefusedError(
      'UNSAFE_PATH',
      name,
      `Backup ${manifest.id} holds the unsafe path "${name}" (absolute or with ".."); it was tampered with, nothing was written outside the target.`,
    );
  }
  refuseListedPath(manifest.id, name, read.links);
  if (type === 'symlink' ? listed?.linkTarget === undefined || listed.linkTarget !== header.linkname : type !== 'file' || listed?.linkTarget !== undefined) {
    throw new RestoreRefusedError(
      'UNSAFE_PATH',
      name,
      type === 'symlink' || listed?.linkTarget !== undefined
        ? `Backup ${manifest.id} holds "${name}" as ${type === 'symlink' ? `a symbolic link to "${header.linkname ?? ''}"` : `a ${type ?? 'unknown'} entry`}, which its manifest does not list as such: an unsafe path, so it was tampered with; nothing was written through it.`
        : `Backup ${manifest.id} holds "${name}" of type ${type ?? 'unknown'}; botbackup archives only regular files and symbolic links, so it was tampered with.`,
    );
  }
  if (!listed || read.seen.has(name)) {
    throw new IntegrityError(
      'BAD_ARCHIVE',
      `Backup ${manifest.id}: the archive holds "${name}", which its manifest ${listed ? 'lists only once' : 'does not list'}; it was tampered with.`,
      ctx,
    );
  }
  return listed;
}

/** The symbolic link among `links` that `name` lies under, if any (each folder of it is looked up). */
function linkAbove(name: string, links: ReadonlySet<string>): string | undefined {
  if (links.size === 0) return undefined;
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) if (links.has(name.slice(0, i))) return name.slice(0, i);
  return undefined;
}

/** An entry read whole must match its size and sha256 (a link: no bytes, and the hash of its target). */
function checkEntryHash({ manifest, ctx }: ArchiveSource, entry: ManifestEntry, hasher: HashingStream, contentKey: Buffer | undefined): void {
  const digest = hasher.digest();
  const matches =
    entry.linkTarget !== undefined
      ? hasher.bytes === 0 && entry.size === 0 && linkTargetHash(entry.linkTarget, contentKey) === entry.sha256
      : hasher.bytes === entry.size && digest === entry.sha256;
  if (!matches) {
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: "${entry.path}" does not match its checksum; the archive is corrupt or was tampered with.`,
      { ...ctx, subject: entry.path },
    );
  }
}

/** The error a failed read throws: the backup's own problems as they are, anything else as a corrupt archive. */
function explainReadError({ store, manifest, object, ctx, signal }: ArchiveSource, error: unknown): unknown {
  if (error instanceof IntegrityError && error.backupId === undefined) {
    // From the age layer: an altered or cut ciphertext.
    return new IntegrityError(
      error.code as 'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: archive ${object.key} in storage "${store.name}" is corrupt or was tampered with (${error.message.replace(/\.$/, '')}).`,
      ctx,
      { cause: error },
    );
  }
  if (error instanceof IntegrityError || error instanceof RestoreRefusedError) return error;
  if (signal?.aborted) return error;
  if (error instanceof BotbackupError) return withBackup(error, manifest);
  return new IntegrityError(
    'CHECKSUM_MISMATCH',
    `Backup ${manifest.id}: archive ${object.key} in storage "${store.name}" is corrupt (${(error as Error).message}).`,
    ctx,
    { cause: error },
  );
}

/** The whole archive was read: its stored bytes must match the manifest's size and sha256, and no listed entry may be missing. */
function checkWhole({ store, manifest, object, ctx }: ArchiveSource, storedBytes: number, storedSha256: string | undefined, seen: ReadonlySet<string>): void {
  if (storedBytes !== object.size || storedSha256 !== object.sha256) {
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `Backup ${manifest.id}: archive ${object.key} in storage "${store.name}" does not match its sha256; it is corrupt or was tampered with.`,
      ctx,
    );
  }
  const missing = manifest.entries.find((e) => !seen.has(e.path));
  if (missing) throw missingEntries({ manifest, ctx }, missing.path);
}

function missingEntries({ manifest, ctx }: Pick<ArchiveSource, 'manifest' | 'ctx'>, first: string): IntegrityError {
  return new IntegrityError('BAD_ARCHIVE', `Backup ${manifest.id}: the archive lacks entries its manifest lists, first "${first}".`, ctx);
}
