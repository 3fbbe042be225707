import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { readSync } from 'node:fs';
import type { PageRun } from '@botbackup/core';
import { parseDelta, writeAll, type ExpectedDelta } from './page-delta-io.js';

/** Bytes read back from the file at a time to hash pages a delta wrote. */
const READ_BACK = 1 << 20;

/**
 * Rebuilds one database from a chain of page deltas read **newest first**, then the snapshot
 * they build on, writing each page of the result once (docs/format.md, "Incremental chains").
 *
 * Applied oldest first, a chain of a 1 GiB snapshot and 7 deltas of 161 MiB wrote 2.1 GiB for a
 * 1 GiB file, then read it all back to hash it. Newest first, a page's final content is the one
 * of the newest link that holds it, so a bitmap of the pages written is enough: a delta skips
 * the pages a newer one wrote, the snapshot writes only the pages no delta did.
 *
 * Which pages of a link survive: applying delta j cuts the file to its `pageCount`, and every
 * later delta j+1.. starts from that (its `basePageCount`) and cuts again. So a page of link j
 * reaches the result only if it is at most every later link's page count: `live`, which starts
 * at the newest page count and drops to each delta's base as the deltas are read. Above `live`,
 * an older link's page was cut by a newer one and is ignored, as the cut dropped it.
 *
 * The checks that held oldest first (the file the delta applies to has `basePageCount` pages)
 * become, newest first, that the chain fits together: each delta must leave as many pages as the
 * newer delta read before it starts from (`expectedPages`), and the snapshot must hold exactly
 * as many as the oldest delta starts from. Every page of the result must come from some link (a
 * delta that grew the file must hold every page past its base): a page from none is refused
 * rather than left as a hole of zeros. Malformed deltas are refused as {@link parseDelta} does.
 */
export class PageRebuild {
  /** One bit per page of the result: set once a delta wrote its final content. */
  private readonly written: Uint8Array;
  /** Pages the next (older) link must leave: the base of the delta read last. */
  private expectedPages: number;
  /** Pages that survive every cut of the links read so far (see the class comment). */
  private live: number;
  /** The result's sha256 (keyed in an encrypted repository), once the snapshot is written. */
  sha256: string | undefined;

  constructor(
    readonly pageSize: number,
    /** Pages of the result: the newest link's page count. */
    readonly pageCount: number,
  ) {
    this.written = new Uint8Array(Math.ceil(pageCount / 8));
    this.expectedPages = pageCount;
    this.live = pageCount;
  }

  /** Bytes of the result: the file is cut (or grown) to this before the first delta is written. */
  get size(): number {
    return this.pageCount * this.pageSize;
  }

  /**
   * Applies the next delta, newer ones already applied, to the file open as `fd`: only its pages
   * that no newer delta wrote and that survive the newer links' cuts. Throws a plain Error when
   * the delta is malformed, does not match `expected` or does not fit the newer link.
   */
  async applyDelta(body: AsyncIterable<Buffer>, fd: number, expected: ExpectedDelta): Promise<void> {
    if (this.sha256 !== undefined) throw new Error('a delta comes after the snapshot it builds on');
    const header = await parseDelta(body, expected, {
      header: (h) => {
        if (h.pageSize !== this.pageSize) throw new Error(`its pages are of ${h.pageSize} bytes, the newer backup's of ${this.pageSize}`);
        if (h.pageCount !== this.expectedPages)
          throw new Error(`it leaves a database of ${h.pageCount} pages, but the newer backup's delta applies to one of ${this.expectedPages}`);
      },
      data: (bytes, position) =>
        this.spans(position, position + bytes.length, (start, end, taken) => {
          if (!taken) writeAll(fd, bytes.subarray(start - position, end - position), start);
        }),
      runEnd: (run) => this.mark(run),
    });
    this.expectedPages = header.basePageCount;
    this.live = Math.min(this.live, header.basePageCount);
  }

  /**
   * Writes the snapshot the deltas build on, read from `body` (`size` bytes), into the file open
   * as `fd`: only the pages no delta wrote. Returns the sha256 of the result (HMAC with `key`).
   *
   * The result's hash is computed here rather than by reading the finished file again: the
   * snapshot streams in page order and every page of the result below `live` passes this point
   * once, either as the snapshot's bytes written here, or as the pages a delta wrote, read back
   * from the file at that moment; the pages above `live` (only deltas hold them) are read back
   * after it. So every byte of the result is hashed once, in file order, as it is in the file:
   * the same proof as hashing the file afterwards, without a second pass over it.
   */
  async writeBase(body: AsyncIterable<Buffer>, fd: number, size: number, key: Buffer | undefined): Promise<string> {
    if (this.sha256 !== undefined) throw new Error('it is the second snapshot of the database');
    if (size !== this.expectedPages * this.pageSize)
      throw new Error(`it holds ${size / this.pageSize} pages, but the delta after it applies to a database of ${this.expectedPages}`);
    const hash = key ? createHmac('sha256', key) : createHash('sha256');
    const liveEnd = this.live * this.pageSize;
    const scratch = Buffer.allocUnsafe(READ_BACK);
    let position = 0;
    for await (const chunk of body) {
      const to = Math.min(position + chunk.length, liveEnd);
      if (position < to) {
        this.spans(position, to, (start, end, taken) => {
          if (taken) readBack(fd, start, end, scratch, hash);
          else {
            const bytes = chunk.subarray(start - position, end - position);
            writeAll(fd, bytes, start);
            hash.update(bytes);
          }
        });
      }
      position += chunk.length;
    }
    if (position !== size) throw new Error(`it ends after ${position} of its ${size} bytes`);
    for (let page = this.live + 1; page <= this.pageCount; page++) {
      if (!this.has(page)) throw new Error(`page ${page} of the database is in no backup of the chain`);
    }
    readBack(fd, liveEnd, this.size, scratch, hash);
    this.sha256 = hash.digest('hex');
    return this.sha256;
  }

  private has(page: number): boolean {
    return ((this.written[(page - 1) >> 3]! >> ((page - 1) & 7)) & 1) === 1;
  }

  /** Sets the bits of a run's pages that survive (a page above `live` was not written). */
  private mark(run: PageRun): void {
    const last = Math.min(run.first + run.count - 1, this.live);
    for (let page = run.first; page <= last; page++) this.written[(page - 1) >> 3]! |= 1 << ((page - 1) & 7);
  }

  /**
   * Splits the bytes [from, to) of the file into maximal spans of pages alike, in order, and
   * hands each to `each` with whether it is taken: already written by a newer delta, or above
   * `live` (cut by a newer link). The bitmap does not change while a run is split: a run's
   * pages are marked only once all of them are written (runs never overlap).
   */
  private spans(from: number, to: number, each: (start: number, end: number, taken: boolean) => void): void {
    const size = this.pageSize;
    const taken = (at: number): boolean => {
      const page = Math.floor(at / size) + 1;
      return page > this.live || this.has(page);
    };
    let start = from;
    while (start < to) {
      const state = taken(start);
      let end = Math.min(to, (Math.floor(start / size) + 1) * size);
      while (end < to && taken(end) === state) end = Math.min(to, end + size);
      each(start, end, state);
      start = end;
    }
  }
}

/** Hashes the bytes [from, to) of the file, read back (from the page cache: they were just written). */
function readBack(fd: number, from: number, to: number, scratch: Buffer, hash: Hash | Hmac): void {
  for (let at = from; at < to;) {
    const n = readSync(fd, scratch, 0, Math.min(scratch.length, to - at), at);
    if (n === 0) throw new Error(`the rebuilt file ends at byte ${at}, before ${to}`);
    hash.update(scratch.subarray(0, n));
    at += n;
  }
}
