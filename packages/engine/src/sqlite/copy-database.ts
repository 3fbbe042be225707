import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import { PAGE_HASH_SIZE } from '@botbackup/core';
import { loadPageHasher } from './page-hash.js';
import { parseWalHeader, WAL_HEADER_SIZE, WalScanner, type WalHeader } from './sqlite-wal.js';

/** Bytes read or written per I/O call. */
const CHUNK = 1 << 20;

export interface CopyOptions {
  pageSize: number;
  /** True for a WAL-mode database: committed pages in `<db>-wal` override the database file. */
  wal: boolean;
  onProgress?: (copiedPages: number, totalPages: number) => void;
  /** Called once the page count is known, before the first page is written. */
  onPlanned?: (totalPages: number) => void;
  /** Also compute the sha256 of the whole copy (an incremental needs it; a full backup hashes its entry anyway). */
  sha256?: boolean;
  /** With sha256: an HMAC-SHA256 under this key instead (an encrypted repository's content hashes). */
  hashKey?: Uint8Array | undefined;
  /**
   * The pinned reader's snapshot, read from the WAL-index when it began: the WAL's first
   * `maxFrame` frames, with these salts (0: none, the database file alone). The copy is then exactly that snapshot, later commits
   * excluded; without it, the copy is the WAL's state when it is scanned (any commits after the
   * pin included), which is just as consistent.
   */
  snapshot?: { maxFrame: number; salt: [number, number] } | undefined;
  signal?: AbortSignal | undefined;
}

export interface CopyResult {
  pageCount: number;
  /** Pages that came from the WAL rather than the database file. */
  walPages: number;
  /** The page map's hashes: xxh64 (seed 0, big-endian) of page n at offset (n-1)×8. */
  pageHashes: Uint8Array;
  /** sha256 of the copy, when asked for. */
  sha256: string | undefined;
}

/** Thrown when the WAL was restarted while it was read: the copy must be made again. */
export class WalRestartedError extends Error {}

/**
 * Copies the database as of its last committed transaction into `dest`: the database file's
 * pages, each replaced by its newest committed frame in the WAL (exactly what a SQLite reader
 * sees, see `walFindFrame` in SQLite's wal.c), cut at the committed page count.
 *
 * The CALLER MUST HOLD A READ TRANSACTION on the database for the whole call. That is what makes
 * the copy consistent while the bot writes:
 * - A checkpoint writes into the database file only pages whose frames are at or below every
 *   reader's mark, all of which this copy takes from the WAL instead, and it cannot run at all
 *   while a reader holds read-lock 0 (the reader that ignores the WAL).
 * - The WAL is not restarted (overwritten from its start) while a reader uses it. A reader on
 *   read-lock 0 does not prevent a restart, so the WAL header's salts are read again after the
 *   copy: if they changed, frames may have been overwritten and WalRestartedError is thrown.
 * - In rollback-journal mode the read transaction's SHARED lock keeps every writer out of the
 *   file.
 *
 * I/O is asynchronous and in 1 MiB chunks, so the event loop stays free. `dest` is not fsync-ed:
 * it is a staging copy that lives for the length of one backup.
 */
export async function copyDatabase(source: string, dest: string, options: CopyOptions): Promise<CopyResult> {
  const { pageSize } = options;
  const db = await fs.open(source, 'r');
  const wal = options.wal ? await fs.open(`${source}-wal`, 'r').catch(() => undefined) : undefined;
  const out = await fs.open(dest, 'wx', 0o600);
  try {
    const scan = wal && options.snapshot?.maxFrame !== 0 ? await scanWal(wal, pageSize, options.snapshot, options.signal) : undefined;
    const pageCount = scan && scan.scanner.committedPages > 0 ? scan.scanner.committedPages : await databasePageCount(db, pageSize);
    options.onPlanned?.(pageCount);
    const pagesPerChunk = Math.max(1, Math.floor(CHUNK / pageSize));
    const buffer = Buffer.allocUnsafe(pagesPerChunk * pageSize);
    const hashPages = await loadPageHasher();
    const pageHashes = new Uint8Array(pageCount * PAGE_HASH_SIZE);
    const hashView = new DataView(pageHashes.buffer);
    const whole = options.sha256 ? (options.hashKey ? createHmac('sha256', options.hashKey) : createHash('sha256')) : undefined;
    let walPages = 0;
    for (let first = 1; first <= pageCount; first += pagesPerChunk) {
      options.signal?.throwIfAborted();
      const count = Math.min(pagesPerChunk, pageCount - first + 1);
      // One read for the run from the database file, then the WAL's newer pages over it.
      const { bytesRead } = await db.read(buffer, 0, count * pageSize, (first - 1) * pageSize);
      for (let i = 0; i < count; i++) {
        const offset = scan?.scanner.committed.get(first + i);
        if (offset !== undefined) {
          await readExactly(wal!, buffer, i * pageSize, pageSize, offset);
          walPages++;
        } else if ((i + 1) * pageSize > bytesRead) {
          // A committed page that neither the file nor the WAL holds: the file shrank under us.
          throw new Error(`the database file ended before page ${first + i} of ${pageCount}`);
        }
      }
      // The pages are hashed while the kernel copies them out (the write only reads the buffer).
      const written = out.write(buffer, 0, count * pageSize);
      hashPages(buffer, first, count, pageSize, hashView);
      whole?.update(buffer.subarray(0, count * pageSize));
      await written;
      options.onProgress?.(first + count - 1, pageCount);
    }
    if (scan && wal) {
      const after = Buffer.alloc(WAL_HEADER_SIZE);
      await wal.read(after, 0, WAL_HEADER_SIZE, 0);
      const header = parseWalHeader(after);
      if (!header || !sameWal(header, scan.scanner.header)) throw new WalRestartedError('the WAL was restarted during the copy');
    }
    return { pageCount, walPages, pageHashes, sha256: whole?.digest('hex') };
  } catch (error) {
    await out.close().catch(() => undefined);
    await fs.rm(dest, { force: true });
    throw error;
  } finally {
    await out.close().catch(() => undefined);
    await db.close();
    await wal?.close();
  }
}

function sameWal(a: WalHeader, b: WalHeader): boolean {
  return a.salt1 === b.salt1 && a.salt2 === b.salt2 && a.checkpointSeq === b.checkpointSeq;
}

/** Reads the whole WAL once, validating every frame, in chunks of whole frames. */
async function scanWal(
  wal: fs.FileHandle,
  pageSize: number,
  snapshot: CopyOptions['snapshot'],
  signal: AbortSignal | undefined,
): Promise<{ scanner: WalScanner } | undefined> {
  const head = Buffer.alloc(WAL_HEADER_SIZE);
  const { bytesRead } = await wal.read(head, 0, WAL_HEADER_SIZE, 0);
  const header = parseWalHeader(head.subarray(0, bytesRead));
  if (snapshot && (!header || header.salt1 !== snapshot.salt[0] || header.salt2 !== snapshot.salt[1])) {
    throw new WalRestartedError(
      `the WAL (salts ${header?.salt1}/${header?.salt2}) is not the one the pinned snapshot reads (${snapshot.salt[0]}/${snapshot.salt[1]}, ${snapshot.maxFrame} frames)`,
    );
  }
  if (!header) return undefined;
  if (header.pageSize !== pageSize) throw new Error(`the WAL's page size ${header.pageSize} differs from the database's ${pageSize}`);
  const scanner = new WalScanner(header, snapshot?.maxFrame);
  const framesPerChunk = Math.max(1, Math.floor(CHUNK / scanner.frameSize));
  const buffer = Buffer.allocUnsafe(framesPerChunk * scanner.frameSize);
  let position = WAL_HEADER_SIZE;
  while (scanner.scanning) {
    signal?.throwIfAborted();
    const { bytesRead: n } = await wal.read(buffer, 0, buffer.length, position);
    const whole = n - (n % scanner.frameSize);
    if (whole === 0) break;
    scanner.feed(buffer.subarray(0, whole));
    position += whole;
  }
  if (snapshot && scanner.committedFrames !== snapshot.maxFrame) {
    throw new WalRestartedError(`the WAL holds ${scanner.committedFrames} committed frames, the pinned snapshot ${snapshot.maxFrame}`);
  }
  return { scanner };
}

/** Page count of a database file without a WAL: the header's size when valid, else the file size. */
async function databasePageCount(db: fs.FileHandle, pageSize: number): Promise<number> {
  const header = Buffer.alloc(100);
  const { bytesRead } = await db.read(header, 0, 100, 0);
  const fileSize = (await db.stat()).size;
  if (bytesRead === 100) {
    const inHeader = header.readUInt32BE(28);
    // "The in-header database size is only considered to be valid if it is non-zero and if the
    // 4-byte change counter at offset 24 exactly matches the 4-byte version-valid-for number at
    // offset 92" (fileformat2.html).
    if (inHeader > 0 && header.readUInt32BE(24) === header.readUInt32BE(92)) return inHeader;
  }
  return Math.floor(fileSize / pageSize);
}

async function readExactly(handle: fs.FileHandle, buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
  const { bytesRead } = await handle.read(buffer, offset, length, position);
  if (bytesRead !== length) throw new Error(`short read of ${bytesRead} of ${length} bytes at ${position}`);
}
