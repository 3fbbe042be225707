/**
 * WAL packs: many consecutive frames of ONE SQLite WAL (one pair of salts) stored as one body,
 * far smaller than the frames. Why it exists: at 100 commits/s every commit rewrites the same few
 * pages (the rightmost leaves of a table and its indexes), and a WAL frame always holds the whole
 * page, so a second of WAL is mostly copies of a few pages that differ in a few hundred bytes. A
 * pack keeps the first image of each page whole and every later image as the byte ranges that
 * differ from the image before it, and drops what can be computed again: the salts (the pack's,
 * the same for every frame) and the checksums (a chain from the one before the first frame). On
 * a real WAL of a trade writer (3300 frames, 30 s), zstd-3 of 80-commit segments took 189 KB,
 * zstd-3 of the same frames as a pack 81 KB (68 KB at level 19).
 *
 * Pure over bytes: no I/O and no compression (the caller compresses the body, with zstd).
 *
 * Layout of a body (version 1), every integer big-endian, unsigned:
 *
 *     u8      version: 1
 *     u32     frame count
 *     u32 x2  checksum of the last frame (the chain's end; [chainStart] when there is no frame),
 *             which the decoder computes again and compares: proof that the rebuilt frames are
 *             the ones the writer checked
 *     then one record per frame, in WAL order:
 *     u32     page number (never 0)
 *     u32     database size in pages after the commit; 0 when the frame is not a commit frame
 *     u8      tag: 0 = full, 1 = ranges
 *     full:   the page (page size bytes)
 *     ranges: u16 range count n; n times (u16 offset, u16 length); then the n ranges' bytes, one
 *             after the other. The page is its previous image in this pack with those bytes
 *             replaced. Ranges are in ascending order, do not overlap, are at least 1 byte long
 *             and end within the page; n may be 0 (the page was written again unchanged).
 *
 * The first image of a page in a pack is always full; a later one is full when its ranges would
 * not be smaller. Ranges separated by fewer than 8 equal bytes are merged into one. 16-bit fields
 * suffice for pages of up to 65536 bytes: an offset is below the page size, and a ranges record
 * is smaller than the page, so none of its ranges is as long as a page.
 *
 * Not in the body, kept by the caller beside it and needed to decode: the page size, the salts,
 * the chain before the first frame (the previous frame's checksum, or the WAL header's), and
 * the byte order of the checksum's words (the WAL header's magic; the writer finds it).
 */
import { IntegrityError } from '@botbackup/core';
import { WAL_FRAME_HEADER_SIZE, walChecksum } from './sqlite-wal.js';

const VERSION = 1;
/** Version, frame count, chain end. */
const BODY_HEADER_SIZE = 1 + 4 + 8;
const FULL = 0;
const RANGES = 1;
/** Page number, commit size, tag. */
const RECORD_HEAD_SIZE = 4 + 4 + 1;
/** The smallest record (ranges, none): bounds the frame count a body of a given length can hold. */
const MIN_RECORD_SIZE = RECORD_HEAD_SIZE + 2;
/** Offset and length of one range. */
const RANGE_ENTRY_SIZE = 4;
/**
 * Equal bytes that end a range. A range costs 4 bytes of offset and length, so splitting at a
 * shorter gap saves next to nothing and cuts the changed bytes into more pieces for zstd to match.
 */
const MERGE_GAP = 8;

type Chain = [number, number];

/** What {@link WalPackWriter.finish} returns: the uncompressed body and what a decoder needs beside it. */
export interface WalPackResult {
  body: Buffer;
  frames: number;
  /** Checksum words are big-endian (the WAL header's magic 0x377f0683); false also when the pack is empty. */
  bigEndian: boolean;
  /** Checksum of the last frame (the chain start when the pack is empty). */
  chainEnd: [number, number];
}

export interface WalPackOptions {
  pageSize: number;
  salt: [number, number];
  /** Checksum before the pack's first frame: the previous frame's, or the WAL header's. */
  chainStart: [number, number];
  bigEndian: boolean;
}

/**
 * Encodes frames of one WAL into a pack body (layout in this file's top comment). Every frame is
 * checked before it is taken: its salts are the pack's and its checksum continues the chain. It
 * holds the body so far and the last image of each page written, not the frames.
 */
export class WalPackWriter {
  private readonly frameSize: number;
  /** Page number → its last image in this pack: the base of the page's next ranges. */
  private readonly images = new Map<number, Buffer>();
  private readonly records: Buffer[] = [];
  private recordBytes = 0;
  private count = 0;
  private chain: Chain;
  private order: boolean | undefined;

  constructor(
    readonly pageSize: number,
    readonly salt: [number, number],
    chainStart: [number, number],
  ) {
    assertPageSize(pageSize);
    this.frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
    this.chain = [chainStart[0], chainStart[1]];
  }

  /** Frames appended so far. */
  get frames(): number {
    return this.count;
  }

  /** Bytes of the body so far, before compression (where a caller may choose to end a pack). */
  get size(): number {
    return BODY_HEADER_SIZE + this.recordBytes;
  }

  /** The checksum byte order found at the first frame; undefined before it. */
  get bigEndian(): boolean | undefined {
    return this.order;
  }

  /** Checksum of the last frame appended (the chain start before any). */
  get chainEnd(): [number, number] {
    return [this.chain[0], this.chain[1]];
  }

  /**
   * Takes whole frames, in order, continuing the previous append. All or nothing: when a frame
   * is refused (IntegrityError naming it), none of the chunk is taken and the pack is unchanged.
   */
  append(frames: Buffer): void {
    if (frames.length % this.frameSize !== 0) {
      throw new IntegrityError(
        'TRUNCATED',
        `WAL pack: a chunk of ${frames.length} bytes is not a whole number of ${this.frameSize}-byte frames (page size ${this.pageSize}).`,
      );
    }
    const checked = this.check(frames);
    for (let offset = 0; offset < frames.length; offset += this.frameSize) this.encode(frames.subarray(offset, offset + this.frameSize));
    this.count += frames.length / this.frameSize;
    this.chain = checked.chain;
    this.order = checked.bigEndian;
  }

  /** The body of every frame appended so far; the writer may go on taking frames after. */
  finish(): WalPackResult {
    const head = Buffer.alloc(BODY_HEADER_SIZE);
    head.writeUInt8(VERSION, 0);
    head.writeUInt32BE(this.count, 1);
    head.writeUInt32BE(this.chain[0], 5);
    head.writeUInt32BE(this.chain[1], 9);
    const body = Buffer.concat([head, ...this.records], this.size);
    return { body, frames: this.count, bigEndian: this.order ?? false, chainEnd: this.chainEnd };
  }

  /** The chain and byte order after `frames`, or an IntegrityError for the first frame that does not continue it. */
  private check(frames: Buffer): { chain: Chain; bigEndian: boolean | undefined } {
    let chain = this.chain;
    let bigEndian = this.order;
    for (let i = 0; i * this.frameSize < frames.length; i++) {
      const frame = frames.subarray(i * this.frameSize, (i + 1) * this.frameSize);
      const n = this.count + i + 1;
      checkHeader(frame, n, this.salt);
      // SQLite writes the checksum in the byte order of the machine that created the WAL, which
      // only the WAL header's magic says: the first frame's checksum matches in one order only.
      bigEndian ??= checksumOrder(frame, chain, n);
      const computed = frameChecksum(frame, bigEndian, chain);
      const stored = storedChecksum(frame);
      if (!sameChain(computed, stored)) {
        throw new IntegrityError(
          'CHECKSUM_MISMATCH',
          `WAL pack: frame ${n} (page ${frame.readUInt32BE(0)}) has checksum ${hexChain(stored)}, but the chain through the frame before it gives ${hexChain(computed)}: it is damaged or does not follow that frame.`,
        );
      }
      chain = stored;
    }
    return { chain, bigEndian };
  }

  /** Appends a checked frame's record and keeps its page as the page's last image. */
  private encode(frame: Buffer): void {
    const page = frame.subarray(WAL_FRAME_HEADER_SIZE);
    const pageNumber = frame.readUInt32BE(0);
    const previous = this.images.get(pageNumber);
    const ranges = previous ? differingRanges(previous, page) : undefined;
    const record = ranges && rangesSize(ranges) < this.pageSize ? rangesRecord(frame, page, ranges) : fullRecord(frame, page);
    this.records.push(record);
    this.recordBytes += record.length;
    // A copy: the caller may reuse the buffer it appended.
    if (previous) page.copy(previous);
    else this.images.set(pageNumber, Buffer.from(page));
  }
}

/**
 * Rebuilds the exact WAL frames of a pack body: headers with the salts and the checksums computed
 * again, pages from their ranges. Throws an IntegrityError on anything malformed (a truncated
 * body, trailing bytes, a range outside the page, ranges of a page without an earlier full
 * image) and when the rebuilt chain does not end at the checksum the body holds.
 */
export function decodeWalPack(body: Buffer, options: WalPackOptions): { frames: Buffer; chainEnd: [number, number]; count: number } {
  const { pageSize, salt, bigEndian } = options;
  assertPageSize(pageSize);
  const reader = new BodyReader(body);
  const version = reader.u8();
  if (version !== VERSION) throw malformed(`its version is ${version}, not ${VERSION}`);
  const count = reader.u32();
  const stored: Chain = [reader.u32(), reader.u32()];
  // Checked before allocating: a damaged count must not ask for gigabytes.
  if (count * MIN_RECORD_SIZE > reader.remaining) {
    throw new IntegrityError(
      'TRUNCATED',
      `WAL pack: the body says it holds ${count} frames, but its ${body.length} bytes cannot hold that many; it is truncated.`,
    );
  }
  const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
  const frames = Buffer.alloc(count * frameSize);
  // Page number → its last image, a view into `frames`: the base of the page's next ranges.
  const images = new Map<number, Buffer>();
  let chain: Chain = [options.chainStart[0], options.chainStart[1]];
  for (let i = 0; i < count; i++) {
    const frame = frames.subarray(i * frameSize, (i + 1) * frameSize);
    reader.frame = i + 1;
    decodeRecord(reader, frame, images);
    frame.writeUInt32BE(salt[0], 8);
    frame.writeUInt32BE(salt[1], 12);
    chain = frameChecksum(frame, bigEndian, chain);
    frame.writeUInt32BE(chain[0], 16);
    frame.writeUInt32BE(chain[1], 20);
  }
  if (reader.remaining > 0) throw malformed(`${reader.remaining} bytes follow its last frame (${count})`);
  if (!sameChain(chain, stored)) {
    throw new IntegrityError(
      'CHECKSUM_MISMATCH',
      `WAL pack: the rebuilt frames end with checksum ${hexChain(chain)}, not the ${hexChain(stored)} the body holds; it is damaged, or decoded with another chain start or byte order.`,
    );
  }
  return { frames, chainEnd: chain, count };
}

/** Reads one record into `frame` (page number, commit size, page), keeping the page as the page's last image. */
function decodeRecord(reader: BodyReader, frame: Buffer, images: Map<number, Buffer>): void {
  const n = reader.frame;
  const pageNumber = reader.u32();
  if (pageNumber === 0) throw malformed(`frame ${n} has page number 0`);
  frame.writeUInt32BE(pageNumber, 0);
  frame.writeUInt32BE(reader.u32(), 4);
  const page = frame.subarray(WAL_FRAME_HEADER_SIZE);
  const tag = reader.u8();
  if (tag === FULL) {
    reader.take(page.length).copy(page);
  } else if (tag === RANGES) {
    const previous = images.get(pageNumber);
    if (!previous) throw malformed(`frame ${n} holds changes to page ${pageNumber}, which has no earlier full image in the pack`);
    previous.copy(page);
    applyRanges(reader, page);
  } else {
    throw malformed(`frame ${n} has tag ${tag}, neither full (${FULL}) nor ranges (${RANGES})`);
  }
  images.set(pageNumber, page);
}

/** Replaces the ranges a ranges record lists in `page`, checking each lies within it, after the one before. */
function applyRanges(reader: BodyReader, page: Buffer): void {
  const n = reader.u16();
  const entries = reader.take(n * RANGE_ENTRY_SIZE);
  let end = 0;
  for (let k = 0; k < n; k++) {
    const offset = entries.readUInt16BE(k * RANGE_ENTRY_SIZE);
    const length = entries.readUInt16BE(k * RANGE_ENTRY_SIZE + 2);
    const where = `frame ${reader.frame}: range ${k + 1} (${length} bytes at offset ${offset})`;
    if (length === 0) throw malformed(`${where} is empty`);
    if (offset < end) throw malformed(`${where} does not start after the range before it`);
    if (offset + length > page.length) throw malformed(`${where} ends past the page of ${page.length} bytes`);
    reader.take(length).copy(page, offset);
    end = offset + length;
  }
}

/** Bounds-checked reads from a body: running past its end is a truncated body, never a read out of bounds. */
class BodyReader {
  private offset = 0;
  /** The frame whose record is being read (0: the body's header), for messages. */
  frame = 0;

  constructor(private readonly body: Buffer) {}

  get remaining(): number {
    return this.body.length - this.offset;
  }

  take(length: number): Buffer {
    if (length > this.remaining) {
      const inside = this.frame === 0 ? 'its header' : `the record of frame ${this.frame}`;
      throw new IntegrityError('TRUNCATED', `WAL pack: the body ends after ${this.body.length} bytes, inside ${inside}; it is truncated.`);
    }
    const bytes = this.body.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  u8(): number {
    return this.take(1).readUInt8(0);
  }

  u16(): number {
    return this.take(2).readUInt16BE(0);
  }

  u32(): number {
    return this.take(4).readUInt32BE(0);
  }
}

/** Frame `n`'s page number and salts (the checksum is checked by the caller). */
function checkHeader(frame: Buffer, n: number, salt: [number, number]): void {
  const frameSalt: Chain = [frame.readUInt32BE(8), frame.readUInt32BE(12)];
  if (!sameChain(frameSalt, salt)) {
    throw new IntegrityError(
      'BROKEN_CHAIN',
      `WAL pack: frame ${n} has salts ${hexChain(frameSalt)}, not the pack's ${hexChain(salt)}: it belongs to another WAL (the WAL was reset or replaced).`,
    );
  }
  if (frame.readUInt32BE(0) === 0) throw new IntegrityError('BAD_ARCHIVE', `WAL pack: frame ${n} has page number 0, which SQLite never writes.`);
}

/** The byte order in which the first frame's checksum continues `chain`; an IntegrityError when neither does. */
function checksumOrder(frame: Buffer, chain: Chain, n: number): boolean {
  const stored = storedChecksum(frame);
  for (const bigEndian of [false, true]) if (sameChain(frameChecksum(frame, bigEndian, chain), stored)) return bigEndian;
  throw new IntegrityError(
    'CHECKSUM_MISMATCH',
    `WAL pack: frame ${n} (page ${frame.readUInt32BE(0)}) has checksum ${hexChain(stored)}, which the chain start ${hexChain(chain)} gives in neither byte order: it is damaged or does not follow that chain.`,
  );
}

/** SQLite's frame checksum: over the header's first 8 bytes, then the page, seeded by the previous frame's. */
function frameChecksum(frame: Buffer, bigEndian: boolean, seed: Chain): Chain {
  const head = walChecksum(frame.subarray(0, 8), bigEndian, seed);
  return walChecksum(frame.subarray(WAL_FRAME_HEADER_SIZE), bigEndian, head);
}

function storedChecksum(frame: Buffer): Chain {
  return [frame.readUInt32BE(16), frame.readUInt32BE(20)];
}

/**
 * The ranges where `page` differs from `previous`, as [start, end) pairs in one flat array;
 * ranges separated by fewer than {@link MERGE_GAP} equal bytes are one.
 */
function differingRanges(previous: Buffer, page: Buffer): number[] {
  const ranges: number[] = [];
  let i = 0;
  while (i < page.length) {
    if (previous[i] === page[i]) {
      i++;
      continue;
    }
    let lastDiffering = i;
    let j = i + 1;
    // Go on while fewer than MERGE_GAP equal bytes follow the last differing one.
    for (; j < page.length && j - lastDiffering <= MERGE_GAP; j++) if (previous[j] !== page[j]) lastDiffering = j;
    ranges.push(i, lastDiffering + 1);
    i = j;
  }
  return ranges;
}

/** Bytes of a ranges record after its head: count, entries, changed bytes. */
function rangesSize(ranges: number[]): number {
  let size = 2;
  for (let k = 0; k < ranges.length; k += 2) size += RANGE_ENTRY_SIZE + ranges[k + 1]! - ranges[k]!;
  return size;
}

function rangesRecord(frame: Buffer, page: Buffer, ranges: number[]): Buffer {
  const n = ranges.length / 2;
  const record = Buffer.allocUnsafe(RECORD_HEAD_SIZE + rangesSize(ranges));
  frame.copy(record, 0, 0, 8);
  record.writeUInt8(RANGES, 8);
  record.writeUInt16BE(n, RECORD_HEAD_SIZE);
  let entry = RECORD_HEAD_SIZE + 2;
  let data = entry + n * RANGE_ENTRY_SIZE;
  for (let k = 0; k < ranges.length; k += 2) {
    const start = ranges[k]!;
    const end = ranges[k + 1]!;
    record.writeUInt16BE(start, entry);
    record.writeUInt16BE(end - start, entry + 2);
    entry += RANGE_ENTRY_SIZE;
    data += page.copy(record, data, start, end);
  }
  return record;
}

function fullRecord(frame: Buffer, page: Buffer): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEAD_SIZE + page.length);
  frame.copy(record, 0, 0, 8);
  record.writeUInt8(FULL, 8);
  page.copy(record, RECORD_HEAD_SIZE);
  return record;
}

function assertPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw new RangeError(`WAL pack: page size ${pageSize} is not a power of two from 512 to 65536.`);
  }
}

function malformed(problem: string): IntegrityError {
  return new IntegrityError('BAD_ARCHIVE', `WAL pack: ${problem}; the body is malformed.`);
}

function sameChain(a: Chain, b: Chain): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

function hexChain(chain: Chain): string {
  return chain.map((word) => word.toString(16).padStart(8, '0')).join('/');
}
