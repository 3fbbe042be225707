import { createHash, createHmac } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { SourceError, type EntryKind, type ManifestEntry } from '@botbackup/core';
import { HashingStream } from '../support/index.js';

/** One entry to put into the archive: a file, a symbolic link, or a stream opened when its turn comes. */
export type ArchiveInput = {
  /** Path inside the archive (relative, forward slashes). */
  path: string;
  kind: EntryKind;
  mode: number;
  mtime: Date;
} & (
  | {
      absPath: string;
      /** Size the walk saw: a log is cut there; other files are stored at their size when opened. */
      size: number;
      /** The file the walk found: one with another device or inode at `absPath` is not read. */
      identity?: { dev: number; ino: number } | undefined;
    }
  | {
      /** A symbolic link, stored as a link to this target (nothing is read or followed). */
      linkTarget: string;
    }
  | {
      /** Opens the entry's content when the archive reaches it (a database snapshot). */
      open: () => Promise<{ size: number; stream: Readable }>;
    }
);

/** A file the archive does not hold as a file of the backup, with why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface PackResult {
  /**
   * Files that are not part of the backup: they vanished (or were replaced) before they were
   * read, or shrank while they were read. A file that shrank has an entry (its header's size was
   * written before the read), padded with zero bytes, that is not a file of the backup.
   */
  skipped: SkippedFile[];
  /** Files stored, but that changed while they were read (e.g. one that grew: its first `size` bytes were stored). */
  notes: SkippedFile[];
}

/**
 * Receives each member of the archive as it is packed, in order, with its sha256; `torn` for the
 * padded copy of a file that shrank while it was read (see {@link PackResult.skipped}). The next
 * member waits until it returns, so a caller can write the entries out as they come instead of
 * holding a million of them.
 */
export type OnPackedEntry = (entry: ManifestEntry, torn: boolean) => void | Promise<void>;

/** sha256 (HMAC-SHA256 under `key`) of a link's target text: the content hash of a symlink entry. */
export function linkTargetHash(target: string, key?: Buffer): string {
  return (key ? createHmac('sha256', key) : createHash('sha256')).update(target, 'utf8').digest('hex');
}

/**
 * Streams the inputs as a POSIX tar (ustar, pax headers for long names) and hashes every entry
 * on the way, handing each to `onEntry` with its sha256. Returns the tar stream at once; `result`
 * resolves, after the stream has ended, to the files that could not be stored whole. A file is
 * opened without following a link (O_NOFOLLOW) and must be the one the walk found; a file that
 * vanished by then is skipped, one that shrinks while it is read is padded to its header's size
 * and reported as skipped rather than stored torn. A symbolic link is a symlink entry of size 0.
 * With `contentKey`, every entry's hash is an HMAC-SHA256 under it (an encrypted repository; see
 * keys.ts).
 */
export function packArchive(
  inputs: Iterable<ArchiveInput>,
  onEntry: OnPackedEntry,
  onBytes?: (n: number) => void,
  contentKey?: Buffer,
): { stream: Readable; result: Promise<PackResult> } {
  const pack = tar.pack();
  const result = (async (): Promise<PackResult> => {
    const findings: Findings = { skipped: [], notes: [] };
    try {
      // One entry after another: the tar stream is sequential, and each waits for the reader.
      for (const input of inputs) {
        const tornBefore = findings.skipped.length;
        const entry = 'linkTarget' in input ? await packLink(pack, input, contentKey) : await packContent(pack, input, findings, onBytes, contentKey);
        if (entry) await onEntry(entry, findings.skipped.length > tornBefore);
      }
      pack.finalize();
      return findings;
    } catch (error) {
      pack.destroy(error as Error);
      throw error;
    }
  })();
  // The caller learns of a failure through the stream; keep the promise from being reported as unhandled meanwhile.
  result.catch(() => undefined);
  return { stream: Readable.from(pack), result };
}

/** What the packer learns of the files as it reads them (see {@link PackResult}). */
type Findings = Pick<PackResult, 'skipped' | 'notes'>;

/** A symbolic link: a symlink entry with no body (the header, with pax for a long target, is all). */
async function packLink(pack: tar.Pack, input: Extract<ArchiveInput, { linkTarget: string }>, contentKey: Buffer | undefined): Promise<ManifestEntry> {
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name: input.path, type: 'symlink', linkname: input.linkTarget, mode: input.mode, mtime: input.mtime }, (error?: Error | null) =>
      error ? reject(error) : resolve(),
    ) as unknown as { end(): void };
    sink.end();
  });
  return {
    path: input.path,
    kind: input.kind,
    mode: input.mode,
    size: 0,
    mtime: input.mtime.toISOString(),
    sha256: linkTargetHash(input.linkTarget, contentKey),
    linkTarget: input.linkTarget,
  };
}

/**
 * A file or a stream, hashed on its way into its entry. Returns undefined for a file that is
 * skipped before its header is written (gone or replaced); an error reading a file is the
 * source's error (FILE_UNREADABLE), not the archive's.
 */
async function packContent(
  pack: tar.Pack,
  input: Exclude<ArchiveInput, { linkTarget: string }>,
  findings: Findings,
  onBytes: ((n: number) => void) | undefined,
  contentKey: Buffer | undefined,
): Promise<ManifestEntry | undefined> {
  const hasher = new HashingStream(onBytes, contentKey);
  const opened = await openContent(input, findings);
  if (!opened) return undefined;
  const { size, body, file } = opened;
  try {
    const entry = pack.entry({ name: input.path, size, mode: input.mode, mtime: input.mtime, type: 'file' });
    await pipeline(body, hasher, entry);
    if (file) await checkAfterRead(input, size, file, findings);
  } catch (error) {
    if ('absPath' in input && (error as NodeJS.ErrnoException).syscall !== undefined) {
      throw new SourceError('FILE_UNREADABLE', input.absPath, `Cannot read ${input.absPath}: ${(error as Error).message}.`, { cause: error });
    }
    throw error;
  } finally {
    await file?.handle.close().catch(() => undefined);
  }
  return { path: input.path, kind: input.kind, mode: input.mode, size, mtime: input.mtime.toISOString(), sha256: hasher.digest() };
}

/** An entry's size and body, and for a file what the checks after the read need. */
interface OpenedContent {
  size: number;
  body: Readable;
  file?: { handle: FileHandle; read: { bytes: number }; mtimeMs: number };
}

/** Opens an entry's content: a stream, or a file (undefined when it is skipped, with why in `findings`). */
async function openContent(input: Exclude<ArchiveInput, { linkTarget: string }>, findings: Findings): Promise<OpenedContent | undefined> {
  if ('open' in input) {
    const { size, stream } = await input.open();
    return { size, body: stream };
  }
  const opened = await openFile(input);
  if ('skip' in opened) {
    findings.skipped.push({ path: input.path, reason: opened.skip });
    return undefined;
  }
  // The file as it is when opened (its header is not written yet), but a growing log is cut at
  // the size the walk saw, as documented.
  const size = input.kind === 'log' ? Math.min(input.size, opened.size) : opened.size;
  if (opened.size < input.size)
    findings.notes.push({ path: input.path, reason: `shrank before it was read (from ${input.size} to ${opened.size} bytes); stored as it was then` });
  const read = { bytes: 0 };
  const body = Readable.from(readPadded(opened.handle, size, read, input.absPath), { objectMode: false });
  return { size, body, file: { handle: opened.handle, read, mtimeMs: opened.mtimeMs } };
}

/**
 * After a file's entry is written: one that shrank while read is not a file of the backup (its
 * entry is padded); one that grew or was modified is stored as read, with a note. A log is cut
 * at the walk's size by design, so only its shrinking counts.
 */
async function checkAfterRead(
  input: { path: string; kind: EntryKind },
  size: number,
  file: NonNullable<OpenedContent['file']>,
  findings: Findings,
): Promise<void> {
  if (file.read.bytes < size) {
    findings.skipped.push({
      path: input.path,
      reason: `changed size while it was read (shrank from ${size} to ${file.read.bytes} bytes); not stored (its archive entry is padded with zero bytes)`,
    });
    return;
  }
  if (input.kind === 'log') return;
  const now = await file.handle.stat().catch(() => undefined);
  if (now && now.size > size)
    findings.notes.push({ path: input.path, reason: `grew while it was read (to ${now.size} bytes); stored its first ${size} bytes` });
  else if (now && now.mtimeMs !== file.mtimeMs)
    findings.notes.push({ path: input.path, reason: 'was modified while it was read; stored as read, which may mix old and new content' });
}

/**
 * Opens a file to pack without following a link in its last component, and checks it is the
 * file the walk found. Whatever is gone or was replaced is skipped (with why), not an error.
 */
async function openFile(input: {
  path: string;
  absPath: string;
  identity?: { dev: number; ino: number } | undefined;
}): Promise<{ handle: FileHandle; size: number; mtimeMs: number } | { skip: string }> {
  let handle: FileHandle;
  try {
    handle = await fs.open(input.absPath, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { skip: 'vanished before it was read' };
    if (code === 'ELOOP') return { skip: 'replaced by a symbolic link while the backup ran; not followed' };
    throw new SourceError('FILE_UNREADABLE', input.absPath, `Cannot read ${input.absPath} (${code ?? (error as Error).message}); check its permissions.`, {
      cause: error,
    });
  }
  const stat = await handle.stat();
  const replaced = !stat.isFile() || (input.identity !== undefined && (stat.dev !== input.identity.dev || stat.ino !== input.identity.ino));
  if (replaced) {
    await handle.close();
    return { skip: 'replaced by another file while the backup ran' };
  }
  return { handle, size: stat.size, mtimeMs: stat.mtimeMs };
}

/**
 * The first `size` bytes of an open file, in 1 MiB reads; when the file ends sooner (it shrank
 * while read), zero bytes up to `size`, so the tar entry keeps the size its header announced.
 * `read.bytes` counts the bytes that came from the file. A read error is a SourceError.
 */
async function* readPadded(handle: FileHandle, size: number, read: { bytes: number }, absPath: string): AsyncGenerator<Buffer> {
  const CHUNK = 1 << 20;
  while (read.bytes < size) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - read.bytes));
    // A read error must reach the archive as the source's error: it destroys the tar stream, and
    // every store downstream would otherwise report it as its own (an ENOENT as "no object").
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, read.bytes).catch((error: NodeJS.ErrnoException) => {
      throw new SourceError('FILE_UNREADABLE', absPath, `Cannot read ${absPath} (${error.code ?? error.message}) while backing it up.`, { cause: error });
    });
    if (bytesRead === 0) break;
    read.bytes += bytesRead;
    yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }
  for (let padded = read.bytes; padded < size;) {
    const n = Math.min(CHUNK, size - padded);
    padded += n;
    yield Buffer.alloc(n);
  }
}
