/**
 * Reading SQLite's write-ahead log (https://www.sqlite.org/fileformat2.html#walformat) to find
 * which pages of a WAL-mode database live in the WAL, as of its last committed transaction.
 * Pure functions over bytes (the caller does the I/O), but for {@link readWalIndex}.
 */
import { readSync } from 'node:fs';
import os from 'node:os';

export const WAL_HEADER_SIZE = 32;
export const WAL_FRAME_HEADER_SIZE = 24;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;

export interface WalHeader {
  /** Checksums are computed on big-endian words when true (magic 0x377f0683). */
  bigEndianChecksum: boolean;
  pageSize: number;
  checkpointSeq: number;
  salt1: number;
  salt2: number;
  checksum: [number, number];
}

/** Parses and checks a WAL header; undefined when there is no valid WAL (empty, reset or foreign). */
export function parseWalHeader(bytes: Uint8Array): WalHeader | undefined {
  if (bytes.length < WAL_HEADER_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAL_HEADER_SIZE);
  const magic = view.getUint32(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return undefined;
  const bigEndianChecksum = magic === MAGIC_BE;
  const pageSize = view.getUint32(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const expected = walChecksum(bytes.subarray(0, 24), bigEndianChecksum, [0, 0]);
  if (expected[0] !== view.getUint32(24) || expected[1] !== view.getUint32(28)) return undefined;
  return { bigEndianChecksum, pageSize, checkpointSeq: view.getUint32(12), salt1: view.getUint32(16), salt2: view.getUint32(20), checksum: expected };
}

/**
 * SQLite's WAL checksum: over 32-bit words taken in pairs, s0 += x0 + s1; s1 += x1 + s0
 * (mod 2^32), seeded with the previous checksum. `bytes.length` is a multiple of 8.
 */
export function walChecksum(bytes: Uint8Array, bigEndian: boolean, seed: [number, number]): [number, number] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let s0 = seed[0];
  let s1 = seed[1];
  const littleEndian = !bigEndian;
  for (let i = 0; i < bytes.length; i += 8) {
    s0 = (s0 + view.getUint32(i, littleEndian) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, littleEndian) + s0) >>> 0;
  }
  return [s0, s1];
}

/** Incrementally scans WAL frames, keeping where the newest committed copy of each page is. */
export class WalScanner {
  private checksum: [number, number];
  private frame = 0;
  private pending = new Map<number, number>();
  /** Page number → byte offset (in the WAL file) of the page's data, as of the last commit. */
  readonly committed = new Map<number, number>();
  /** Database size in pages after the last commit; 0 when no frame is committed. */
  committedPages = 0;
  /** Number of frames up to and including the last commit. */
  committedFrames = 0;
  private stopped = false;

  /**
   * `maxFrame`: scan no further than this frame (a reader's snapshot: the WAL-index's `mxFrame`
   * when it began), so later commits are not seen.
   */
  constructor(
    readonly header: WalHeader,
    private readonly maxFrame = Infinity,
  ) {
    this.checksum = header.checksum;
  }

  get frameSize(): number {
    return WAL_FRAME_HEADER_SIZE + this.header.pageSize;
  }

  /** False once a frame failed its salt or checksum: nothing after it belongs to this WAL. */
  get scanning(): boolean {
    return !this.stopped;
  }

  /**
   * Feeds whole frames in file order. Frames after an invalid one are ignored; frames after the
   * last commit frame are not committed and never become visible.
   */
  feed(frames: Uint8Array): void {
    const size = this.frameSize;
    for (let off = 0; off + size <= frames.length && !this.stopped; off += size) {
      if (this.frame >= this.maxFrame) {
        this.stopped = true;
        break;
      }
      const view = new DataView(frames.buffer, frames.byteOffset + off, WAL_FRAME_HEADER_SIZE);
      const pgno = view.getUint32(0);
      const dbSize = view.getUint32(4);
      if (pgno === 0 || view.getUint32(8) !== this.header.salt1 || view.getUint32(12) !== this.header.salt2) {
        this.stopped = true;
        break;
      }
      let sum = walChecksum(frames.subarray(off, off + 8), this.header.bigEndianChecksum, this.checksum);
      sum = walChecksum(frames.subarray(off + WAL_FRAME_HEADER_SIZE, off + size), this.header.bigEndianChecksum, sum);
      if (sum[0] !== view.getUint32(16) || sum[1] !== view.getUint32(20)) {
        this.stopped = true;
        break;
      }
      this.checksum = sum;
      const dataOffset = WAL_HEADER_SIZE + this.frame * size + WAL_FRAME_HEADER_SIZE;
      this.frame++;
      this.pending.set(pgno, dataOffset);
      if (dbSize !== 0) {
        for (const [page, offset] of this.pending) this.committed.set(page, offset);
        this.pending.clear();
        this.committedPages = dbSize;
        this.committedFrames = this.frame;
      }
    }
  }
}

/** The part of SQLite's WAL-index header (the `-shm` file) that fixes a reader's snapshot. */
export interface WalIndexHeader {
  /** Bumped by every commit: an unchanged header means no commit happened in between. */
  change: number;
  /** Frames of the WAL that are committed and valid: a reader that begins now sees exactly these. */
  maxFrame: number;
  /** Frames already copied into the database file by checkpoints (from the checkpoint info after the header). */
  backfilled: number;
  /** The WAL's two salts (SQLite copies them here as the WAL header's big-endian bytes). */
  salt: [number, number];
  /** The 48 bytes, to compare two readings byte for byte. */
  raw: Buffer;
}

export const WAL_INDEX_HEADER_SIZE = 48;
/** Bytes to read from the `-shm` file: both header copies and the checkpoint info's nBackfill. */
export const WAL_INDEX_READ_SIZE = 2 * WAL_INDEX_HEADER_SIZE + 4;

/**
 * Parses the WAL-index header (https://www.sqlite.org/walformat.html#the_wal_index_header): two
 * copies of 48 bytes at the start of the `-shm` file, in the machine's byte order, which SQLite
 * writes one after the other; then the checkpoint info's nBackfill. Undefined when the copies differ (a writer is between the two) or
 * the index is not initialized: read it again.
 */
export function parseWalIndexHeader(bytes: Buffer, littleEndian: boolean): WalIndexHeader | undefined {
  if (bytes.length < WAL_INDEX_READ_SIZE) return undefined;
  const first = bytes.subarray(0, WAL_INDEX_HEADER_SIZE);
  if (!first.equals(bytes.subarray(WAL_INDEX_HEADER_SIZE, 2 * WAL_INDEX_HEADER_SIZE)) || first[12] !== 1) return undefined;
  const u32 = (offset: number) => (littleEndian ? first.readUInt32LE(offset) : first.readUInt32BE(offset));
  const backfilled = littleEndian ? bytes.readUInt32LE(2 * WAL_INDEX_HEADER_SIZE) : bytes.readUInt32BE(2 * WAL_INDEX_HEADER_SIZE);
  return { change: u32(8), maxFrame: u32(16), backfilled, salt: [first.readUInt32BE(32), first.readUInt32BE(36)], raw: Buffer.from(first) };
}

const littleEndian = os.endianness() === 'LE';

/**
 * Reads the WAL-index header from an open `-shm` file, again while a writer is between its two
 * copies (a few tries); undefined if it never reads whole. The caller keeps `fd` open as long as
 * its connections are: closing any descriptor of a file drops every POSIX lock the process holds
 * on it, SQLite's read marks on the -shm included.
 */
export function readWalIndex(fd: number): WalIndexHeader | undefined {
  const bytes = Buffer.alloc(WAL_INDEX_READ_SIZE);
  for (let i = 0; i < 5; i++) {
    const n = readSync(fd, bytes, 0, bytes.length, 0);
    const header = parseWalIndexHeader(bytes.subarray(0, n), littleEndian);
    if (header) return header;
  }
  return undefined;
}
