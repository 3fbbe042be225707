import { closeSync, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parseWalHeader, readWalIndex, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, walChecksum, type WalIndexHeader } from './sqlite-wal.js';
import { fileVersion } from './sqlite-sidecars.js';

/**
 * Follows the write-ahead log of a live WAL-mode database, read-only, and hands out its newly
 * committed frames as segments, without ever letting a frame reach the database file or be
 * overwritten before the caller has acknowledged it. The protocol, and why it holds, is in
 * docs/architecture.md ("Continuous WAL shipping"): a read transaction of ours always holds a
 * read mark no newer than what is acknowledged, and is handed over between two connections, the
 * newer one begun before the older one ends.
 *
 * A segment is read into memory whole: every frame up to the newest commit the reader sees. At
 * one poll a second that is a second of the bot's writes; a single transaction larger than the
 * memory to spare (a VACUUM of a big database) needs segments cut inside a transaction, which is
 * not built yet (docs/architecture.md).
 */

/** Where the follower stands: through which frame of which WAL everything is acknowledged. */
export interface WalPosition {
  /** The WAL's salts; undefined while the database had no WAL. */
  salt: [number, number] | undefined;
  /** Frames of that WAL acknowledged (1-based count; 0: none). */
  frame: number;
  /** The WAL checksum after `frame` (the chain the next frame continues). */
  checksum: [number, number];
}

/** Committed frames of one WAL, exactly as they are in the `-wal` file (24-byte header, then the page, each). */
export interface WalSegment {
  salt: [number, number];
  /** First and last frame, 1-based, within that WAL. */
  firstFrame: number;
  lastFrame: number;
  pageSize: number;
  frames: Buffer;
  /** The database's size in pages after the segment's last commit. */
  pageCount: number;
  /** The WAL checksum chain before the first frame (the previous frame's, or the WAL header's). */
  chainStart: [number, number];
  /** Position once this segment is acknowledged. */
  end: WalPosition;
}

export interface FollowerOptions {
  /** Bytes of frames past which a segment ends at the last commit read (default {@link MAX_SEGMENT_BYTES}). */
  maxSegmentBytes?: number;
  /** How long the holder's read mark may stay behind what is acknowledged (default {@link HOLD_MS}; see ack). */
  holdMs?: number;
  /** The WAL length (bytes of committed frames) past which the follower lets go of it once it is all shipped (default {@link MAX_WAL_BYTES}). */
  maxWalBytes?: number;
}

/** The holder's mark is moved on at most this often while segments are acknowledged. */
export const HOLD_MS = 10_000;

/**
 * Past this length of the WAL (its committed frames), the follower lets go of it once it is all
 * shipped (see WalFollower.ack): 4 times SQLite's default autocheckpoint (1000 pages of 4 KiB).
 * The bot's WAL file grows to about this and is then reused, as it would be without us; a
 * larger bound means a larger file and more time appending to it, a smaller one more releases.
 */
export const MAX_WAL_BYTES = 16 * 1024 * 1024;

/**
 * After a release, the new WAL must stay at least this many frames short of the old tail read:
 * frames of a transaction not yet committed may already be written past the new WAL's mxFrame.
 */
const TAIL_MARGIN_FRAMES = 4096;

/** The WAL changed in a way the follower cannot prove it followed: a new generation (a fresh snapshot) is needed. */
export class WalContinuityError extends Error {}

/** A read transaction of ours and the read mark it holds. */
interface Reader {
  db: Database.Database;
  /** The WAL-index header its snapshot saw. */
  index: WalIndexHeader;
  /** True when it reads the database file alone (read slot 0; see {@link WalFollower.keepOne}). */
  slotZero: boolean;
}

/** Read transactions that must begin with no commit in between; more misses means a very busy writer. */
const BEGIN_ATTEMPTS = 100;

export class WalFollower {
  /** Our read transaction that protects the WAL; undefined while released (see {@link ack}). */
  private holder: Reader | undefined;
  /** Set while no reader of ours holds the WAL, so that the bot can restart it: where we stood and the WAL file's size then. */
  private released: { salt: [number, number]; walSize: number } | undefined;
  /** New salts whose restart {@link readReleasedTail} proved lost nothing: the next poll follows them from frame 1. */
  private provenRestart: [number, number] | undefined;
  private pending: { reader: Reader; segment: WalSegment } | undefined;
  /** The database file's state while the holder reads on slot 0 (see {@link keepOne}); undefined otherwise. */
  private unprotectedSince: string | undefined;
  private readonly shm: number;

  private constructor(
    readonly file: string,
    private position: WalPosition,
    private readonly inode: bigint,
    holder: Reader,
    shm: number,
    unprotectedSince: string | undefined,
    private readonly options: FollowerOptions,
  ) {
    this.holder = holder;
    this.shm = shm;
    this.unprotectedSince = unprotectedSince;
  }

  /**
   * Starts following `file` from now. `onStart` runs inside the first read transaction, so what it
   * reads through the connection (a snapshot to build on) is exactly the state the segments follow.
   */
  static start(file: string, onStart?: (db: Database.Database, position: WalPosition) => void, options: FollowerOptions = {}): WalFollower {
    const shm = openShm(file);
    const holder = beginReader(file, shm);
    try {
      const position = startPosition(file, holder);
      onStart?.(holder.db, position);
      return new WalFollower(file, position, statSync(file, { bigint: true }).ino, holder, shm, holder.slotZero ? fileVersion(file) : undefined, options);
    } catch (error) {
      endReader(holder);
      closeSync(shm);
      throw error;
    }
  }

  /**
   * Follows `file` again from a position acknowledged earlier (a restarted streamer's newest
   * shipped segment). That is only possible while the same WAL still holds that frame, with the
   * same checksum: a WAL restarted or emptied in between may have taken commits with it (the
   * database file alone cannot say which), and is a {@link WalContinuityError}.
   */
  static resume(file: string, position: WalPosition, options: FollowerOptions = {}): WalFollower {
    const shm = openShm(file);
    const holder = beginReader(file, shm);
    try {
      const index = holder.index;
      const same = position.salt !== undefined && index.salt[0] === position.salt[0] && index.salt[1] === position.salt[1] && index.maxFrame >= position.frame;
      const header = same ? readWalHeader(file) : undefined;
      if (!same || !header || (position.frame > 0 && !sameChecksum(frameChecksum(file, header.pageSize, position.frame), position.checksum))) {
        throw new WalContinuityError(
          `the WAL no longer holds frame ${position.frame} of salts ${position.salt?.join('/') ?? 'none'}: it was restarted or emptied while it was not followed`,
        );
      }
      return new WalFollower(file, position, statSync(file, { bigint: true }).ino, holder, shm, undefined, options);
    } catch (error) {
      endReader(holder);
      closeSync(shm);
      throw error;
    }
  }

  /**
   * The WAL-index's salts and committed frame count right now, read from the follower's own
   * descriptor of the -shm (a second descriptor closed would drop the follower's read locks):
   * cheap enough to sample often, which is how a streamer learns when each commit happened.
   */
  peek(): { salt: [number, number]; maxFrame: number } | undefined {
    const index = readWalIndex(this.shm);
    return index && { salt: index.salt, maxFrame: index.maxFrame };
  }

  /** Where the follower stands (what is acknowledged). */
  get acknowledged(): WalPosition {
    return this.position;
  }

  /**
   * The frames committed since the acknowledged position, or undefined when there are none. A
   * segment must be acknowledged ({@link ack}) before the next poll; until then the frames it
   * holds stay protected.
   */
  poll(): WalSegment | undefined {
    if (this.pending) throw new Error('poll: the previous segment is not acknowledged yet');
    // A database replaced under us (VACUUM INTO and a rename, a restore) is another database.
    if (statSync(this.file, { bigint: true }).ino !== this.inode) throw new WalContinuityError('the database file was replaced');
    const reader = beginReader(this.file, this.shm);
    try {
      const tail = this.released ? this.readReleasedTail(reader) : undefined;
      if (tail) {
        this.pending = { reader, segment: tail };
        return tail;
      }
      const segment = this.readSince(reader);
      if (!segment) {
        this.keepOne(reader);
        return undefined;
      }
      this.pending = { reader, segment };
      return segment;
    } catch (error) {
      endReader(reader);
      throw error;
    }
  }

  /** Records the pending segment as shipped: the protection moves forward to its end. */
  ack(): void {
    const pending = this.pending;
    if (!pending) throw new Error('ack: no segment is pending');
    this.pending = undefined;
    this.position = pending.segment.end;
    // The holder's mark may stay behind what is acknowledged (it protects all the more): moved on
    // only every holdMs, so that the bot's checkpoints (which copy frames only up to the oldest
    // mark) copy a few seconds of frames at a time, as they would without us, instead of paying a
    // checkpoint and its fsync on one commit every second (measured: the bot's commit p99 4x).
    if (this.shouldRelease(pending)) {
      // Everything the WAL held is shipped, and it has grown past its bound: hold nothing until
      // the next poll, so that the bot's next checkpoint can copy it all and its next commit
      // restart it. What is committed meanwhile is read from the old WAL's tail (readReleasedTail).
      this.released = { salt: pending.segment.salt, walSize: walFileSize(this.file) };
      endReader(pending.reader);
      if (this.holder) endReader(this.holder);
      this.holder = undefined;
      this.unprotectedSince = undefined;
    } else if (pending.reader.slotZero || Date.now() - this.holderSince >= (this.options.holdMs ?? HOLD_MS)) this.keepOne(pending.reader);
    else endReader(pending.reader);
  }

  /** Whether to let go of the WAL after this acknowledgement (see ack): it is past its bound and all it held is shipped. */
  private shouldRelease(pending: { reader: Reader; segment: WalSegment }): boolean {
    const bound = this.options.maxWalBytes ?? MAX_WAL_BYTES;
    // The WAL's length, not the file's: a restarted WAL reuses the file, which never shrinks.
    const length = pending.reader.index.maxFrame * (WAL_FRAME_HEADER_SIZE + pending.segment.pageSize);
    return !pending.reader.slotZero && pending.segment.lastFrame === pending.reader.index.maxFrame && length > bound;
  }

  /**
   * The first poll after a release: when the WAL restarted meanwhile (once: its salt1 one more),
   * the commits between our position and the old WAL's end, read from the old WAL's tail, which
   * the new WAL has not reached yet. Proven complete when the tail ends at a frame of an older
   * WAL or where the checksum chain breaks, or at the end of a file at least as long as it was at
   * the release (so no TRUNCATE checkpoint or journal_size_limit cut it); and when, read again
   * afterwards, the new WAL is still well short of the tail (a frame it wrote there would carry
   * its salts, which stop the read). Anything else is a WalContinuityError. Undefined when the WAL
   * did not restart (its frames are all there) or the old one ended where we stood.
   */
  private readReleasedTail(reader: Reader): WalSegment | undefined {
    const released = this.released!;
    this.released = undefined;
    const index = reader.index;
    if (index.salt[0] === released.salt[0] && index.salt[1] === released.salt[1]) return undefined;
    if (index.salt[0] !== (released.salt[0] + 1) >>> 0) {
      throw new WalContinuityError('the WAL restarted more than once while the follower let go of it');
    }
    const tail = readOldTail(this.file, this.position, index.salt, released.walSize);
    const now = readWalIndex(this.shm);
    if (
      !now ||
      now.salt[0] !== index.salt[0] ||
      now.salt[1] !== index.salt[1] ||
      now.maxFrame + Math.min(TAIL_MARGIN_FRAMES, Math.floor(this.position.frame / 2)) > this.position.frame
    ) {
      throw new WalContinuityError("the new WAL came too close to the old one's unshipped tail while it was read");
    }
    this.provenRestart = index.salt;
    return tail;
  }

  close(): void {
    if (this.pending) endReader(this.pending.reader);
    if (this.holder) endReader(this.holder);
    closeSync(this.shm);
  }

  /**
   * Makes the newer reader the holder and ends the older one. Both protect every frame after
   * what is acknowledged: a reader on a slot of its own keeps checkpoints below its mark and the
   * WAL from restarting; a reader on slot 0 keeps checkpoints from writing the database file at
   * all (the checkpointer needs slot 0 exclusively), so the file stays as it is now, which is the
   * baseline {@link restartedFrom} checks. It does let a WAL that was fully checkpointed when it
   * began restart, and that is what lets the WAL shrink while we follow it; every frame of that
   * WAL is acknowledged by then (a new frame would have ended its full checkpoint).
   */
  private keepOne(newer: Reader): void {
    this.unprotectedSince = newer.slotZero ? fileVersion(this.file) : undefined;
    if (this.holder) endReader(this.holder);
    this.holder = newer;
    this.holderSince = Date.now();
  }

  private isProvenRestart(salt: [number, number]): boolean {
    return this.provenRestart !== undefined && this.provenRestart[0] === salt[0] && this.provenRestart[1] === salt[1];
  }

  /** When the holder began (see {@link ack}). */
  private holderSince = Date.now();

  /** The committed frames after the position that `reader`'s snapshot sees. */
  private readSince(reader: Reader): WalSegment | undefined {
    const index = reader.index;
    if (index.maxFrame === 0) {
      // No frame is visible. If we had followed frames of a WAL, it was emptied since (a
      // TRUNCATE or RESTART checkpoint): only provably after nothing more was committed to it.
      if (this.position.frame > 0) {
        if (!this.isProvenRestart(index.salt)) this.assertNothingCheckpointedUnseen('the WAL was emptied');
        this.position = { salt: undefined, frame: 0, checksum: [0, 0] };
      }
      return undefined;
    }
    let from = this.position;
    if (!from.salt || from.salt[0] !== index.salt[0] || from.salt[1] !== index.salt[1]) {
      from = this.restartedFrom(index);
    }
    if (index.maxFrame === from.frame) {
      this.position = from;
      return undefined;
    }
    if (index.maxFrame < from.frame) {
      throw new WalContinuityError(`the WAL holds ${index.maxFrame} frames, fewer than the ${from.frame} already followed`);
    }
    return readFrames(this.file, from, index.maxFrame, reader.slotZero ? this.shm : undefined, this.options.maxSegmentBytes);
  }

  /**
   * The position to read a WAL with new salts from: its first frame, when it can be proven that
   * nothing committed since the acknowledged position was lost with the old WAL. A WAL is
   * restarted only after all its frames were copied into the database file, so frames after our
   * position that were lost with it would have changed the database file.
   */
  private restartedFrom(index: WalIndexHeader): WalPosition {
    if (!this.isProvenRestart(index.salt)) {
      this.assertNothingCheckpointedUnseen(
        this.position.salt ? `the WAL was restarted (salts ${this.position.salt.join('/')} became ${index.salt.join('/')})` : 'a WAL appeared',
      );
    }
    this.provenRestart = undefined;
    const header = readWalHeader(this.file);
    if (!header || header.salt1 !== index.salt[0] || header.salt2 !== index.salt[1]) {
      throw new WalContinuityError('the WAL file header does not match the WAL-index (the WAL changed while it was read)');
    }
    return { salt: index.salt, frame: 0, checksum: header.checksum };
  }

  /**
   * Throws unless no frame after the acknowledged position can have been lost with an old WAL: a
   * WAL restarts only once every frame of it is in the database file, so the file would have
   * changed since our slot-0 reader began. Under a holder with a slot of its own the WAL cannot
   * restart at all: new salts then mean something else replaced it.
   */
  private assertNothingCheckpointedUnseen(what: string): void {
    if (this.unprotectedSince !== undefined && fileVersion(this.file) === this.unprotectedSince) return;
    throw new WalContinuityError(`${what} after commits that were not followed (the database file changed meanwhile)`);
  }
}

/** The position a new follower starts from: everything its first reader sees. */
function startPosition(file: string, holder: Reader): WalPosition {
  const index = holder.index;
  // No frame is visible: the database file is the whole state, and a WAL that appears later is
  // taken from its first frame (see restartedFrom).
  if (index.maxFrame === 0) return { salt: undefined, frame: 0, checksum: [0, 0] };
  const header = readWalHeader(file);
  // Other salts in the file than in the index: on slot 0, with every frame checkpointed, the WAL
  // restarted since the reader began. Nothing follows in the old WAL, so the next poll takes the
  // new one from its first frame and the old chain's checksum is never needed.
  const current = header !== undefined && header.salt1 === index.salt[0] && header.salt2 === index.salt[1];
  return { salt: index.salt, frame: index.maxFrame, checksum: current ? frameChecksum(file, header.pageSize, index.maxFrame) : [0, 0] };
}

/** Opens the WAL-index (`-shm`), creating the WAL-mode connection state first if needed. */
function openShm(file: string): number {
  // A connection creates the -shm when it first reads; keep ours open only for that.
  const probe = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    const mode = String(probe.pragma('journal_mode', { simple: true })).toLowerCase();
    if (mode !== 'wal') throw new WalContinuityError(`the database is in journal_mode=${mode}, not WAL`);
    // Kept open for the follower's life: closing any descriptor of a file drops every POSIX lock
    // this process holds on it, our read marks on the -shm included (see pin-worker.ts).
    return openSync(`${file}-shm`, 'r');
  } finally {
    probe.close();
  }
}

/**
 * Begins a read transaction and learns exactly which WAL-index header its snapshot saw: the
 * header read before and after the first read is the same (no commit came in between).
 */
function beginReader(file: string, shm: number): Reader {
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  try {
    for (let attempt = 0; attempt < BEGIN_ATTEMPTS; attempt++) {
      const before = readWalIndex(shm);
      db.exec('BEGIN');
      db.prepare('select count(*) from sqlite_schema').get();
      const after = readWalIndex(shm);
      if (before && after && before.raw.equals(after.raw)) {
        // SQLite reads the database file alone (slot 0) when every frame is backfilled (walTryBeginRead).
        return { db, index: after, slotZero: after.backfilled >= after.maxFrame };
      }
      db.exec('COMMIT');
    }
  } catch (error) {
    db.close();
    throw error;
  }
  db.close();
  throw new WalContinuityError(`the WAL-index kept changing over ${BEGIN_ATTEMPTS} attempts to begin a read`);
}

function endReader(reader: Reader): void {
  if (reader.db.inTransaction) reader.db.exec('COMMIT');
  reader.db.close();
}

function readWalHeader(file: string) {
  let fd: number;
  try {
    fd = openSync(`${file}-wal`, 'r');
  } catch {
    return undefined;
  }
  try {
    const bytes = Buffer.alloc(WAL_HEADER_SIZE);
    const n = readSync(fd, bytes, 0, WAL_HEADER_SIZE, 0);
    return parseWalHeader(bytes.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** The cumulative checksum stored in frame `frame`'s header. */
function frameChecksum(file: string, pageSize: number, frame: number): [number, number] {
  const fd = openSync(`${file}-wal`, 'r');
  try {
    const head = Buffer.alloc(WAL_FRAME_HEADER_SIZE);
    readSync(fd, head, 0, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE + (frame - 1) * (WAL_FRAME_HEADER_SIZE + pageSize));
    return [head.readUInt32BE(16), head.readUInt32BE(20)];
  } finally {
    closeSync(fd);
  }
}

/**
 * At most this many bytes of frames make one segment, when it can be cut (see readFrames): a
 * backlog (a streamer that was stopped, targets that were down) is then shipped as several
 * segments instead of one that must fit in memory at once.
 */
export const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/** Frames read from the WAL file at a time. */
const READ_FRAMES = 1024;

/**
 * Reads frames (from.frame, to] of the WAL and checks each one's salts and the checksum chain;
 * the segment ends at a commit. Past `maxBytes` it ends at the last commit read so far, unless
 * `recheckShm` is given: a reader on slot 0 does not keep a fully checkpointed WAL from
 * restarting, so everything it sees is read at once, and the WAL-index's salts are read again
 * afterwards (unchanged: no restart rewrote the frames while they were read). A single
 * transaction larger than `maxBytes` is read whole.
 */
function readFrames(file: string, from: WalPosition, to: number, recheckShm: number | undefined, maxBytes = MAX_SEGMENT_BYTES): WalSegment {
  const header = readWalHeader(file);
  if (!header || header.salt1 !== from.salt![0] || header.salt2 !== from.salt![1]) {
    throw new WalContinuityError('the WAL file header does not match the frames being followed');
  }
  const pageSize = header.pageSize;
  const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
  const fd = openSync(`${file}-wal`, 'r');
  const blocks: Buffer[] = [];
  let checksum = from.checksum;
  let last = { frame: from.frame, checksum, pageCount: 0, blocks: 0, bytes: 0 };
  let cut = false;
  try {
    if (fstatSync(fd).size < WAL_HEADER_SIZE + to * frameSize) throw new WalContinuityError(`the WAL is shorter than its ${to} committed frames`);
    let pageCount = 0;
    for (let first = from.frame + 1; first <= to; first += READ_FRAMES) {
      const count = Math.min(READ_FRAMES, to - first + 1);
      // Filled whole by readAll before any byte of it is looked at.
      const block = Buffer.allocUnsafe(count * frameSize);
      readAll(fd, block, WAL_HEADER_SIZE + (first - 1) * frameSize);
      for (let off = 0; off < block.length; off += frameSize) {
        const frameNo = first + off / frameSize;
        if (block.readUInt32BE(off + 8) !== header.salt1 || block.readUInt32BE(off + 12) !== header.salt2) {
          throw new WalContinuityError(`frame ${frameNo} of the WAL has other salts: it was written again while it was read`);
        }
        checksum = walChecksum(block.subarray(off, off + 8), header.bigEndianChecksum, checksum);
        checksum = walChecksum(block.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize), header.bigEndianChecksum, checksum);
        if (checksum[0] !== block.readUInt32BE(off + 16) || checksum[1] !== block.readUInt32BE(off + 20)) {
          throw new WalContinuityError(`frame ${frameNo} of the WAL fails its checksum`);
        }
        pageCount = block.readUInt32BE(off + 4) || pageCount;
        if (block.readUInt32BE(off + 4) === 0) continue;
        last = { frame: frameNo, checksum, pageCount, blocks: blocks.length, bytes: off + frameSize };
        // Cut at this commit once the segment is big enough (never under a slot-0 reader; see above).
        if (recheckShm === undefined && (frameNo - from.frame) * frameSize >= maxBytes && frameNo < to) {
          cut = true;
          break;
        }
      }
      blocks.push(block);
      if (cut) break;
    }
  } finally {
    closeSync(fd);
  }
  if (last.frame === from.frame || (!cut && last.frame !== to)) throw new WalContinuityError(`frame ${to} of the WAL is not a commit`);
  if (recheckShm !== undefined) {
    const now = readWalIndex(recheckShm);
    if (!now || now.salt[0] !== from.salt![0] || now.salt[1] !== from.salt![1]) {
      throw new WalContinuityError('the WAL was restarted while its frames were read');
    }
  }
  const tail = blocks[last.blocks]!.subarray(0, last.bytes);
  const frames = last.blocks === 0 ? tail : Buffer.concat([...blocks.slice(0, last.blocks), tail]);
  const salt = from.salt!;
  return {
    salt,
    firstFrame: from.frame + 1,
    lastFrame: last.frame,
    pageSize,
    frames,
    pageCount: last.pageCount,
    chainStart: from.checksum,
    end: { salt, frame: last.frame, checksum: last.checksum },
  };
}

function readAll(fd: number, buffer: Buffer, position: number): void {
  for (let done = 0; done < buffer.length;) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) throw new WalContinuityError('the WAL ended while it was read');
    done += n;
  }
}

function sameChecksum(a: [number, number], b: [number, number]): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/**
 * Applies segments' frames to a database file in order (each page image written where the page
 * lives), then cuts the file at the last commit's page count: the database as of that commit.
 */
export function applyWalFrames(dbFd: number, frames: Buffer, pageSize: number): number {
  const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
  let pageCount = 0;
  for (let off = 0; off + frameSize <= frames.length; off += frameSize) {
    const pgno = frames.readUInt32BE(off);
    writeAll(dbFd, frames.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize), (pgno - 1) * pageSize);
    pageCount = frames.readUInt32BE(off + 4) || pageCount;
  }
  return pageCount;
}

function writeAll(fd: number, bytes: Buffer, position: number): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** The commits in a segment's frames: the frame number (1-based, in its WAL) of each commit's last frame. */
export function commitFrames(segment: Pick<WalSegment, 'frames' | 'pageSize' | 'firstFrame'>): number[] {
  const frameSize = WAL_FRAME_HEADER_SIZE + segment.pageSize;
  const commits: number[] = [];
  for (let off = 0, frame = segment.firstFrame; off + frameSize <= segment.frames.length; off += frameSize, frame++) {
    if (segment.frames.readUInt32BE(off + 4) !== 0) commits.push(frame);
  }
  return commits;
}

function walFileSize(file: string): number {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

/**
 * The committed frames of the old WAL after `from`, read from its tail now that a new WAL (salts
 * `newSalt`) has begun at the file's start (see WalFollower.readReleasedTail for the proof).
 */
function readOldTail(file: string, from: WalPosition, newSalt: [number, number], sizeAtRelease: number): WalSegment | undefined {
  const header = readWalHeader(file);
  const oldSalt = from.salt!;
  const fd = openSync(`${file}-wal`, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < sizeAtRelease) throw new WalContinuityError('the WAL file was cut (a TRUNCATE checkpoint, journal_size_limit) while the follower let go of it');
    if (!header) throw new WalContinuityError('the WAL has no valid header after its restart');
    const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
    const frame = Buffer.allocUnsafe(frameSize);
    const kept: Buffer[] = [];
    let checksum = from.checksum;
    let last = { frame: from.frame, checksum, pageCount: 0, count: 0 };
    for (let n = from.frame + 1; WAL_HEADER_SIZE + n * frameSize <= size; n++) {
      readAll(fd, frame, WAL_HEADER_SIZE + (n - 1) * frameSize);
      const s1 = frame.readUInt32BE(8);
      const s2 = frame.readUInt32BE(12);
      if (s1 === newSalt[0] && s2 === newSalt[1]) throw new WalContinuityError(`the new WAL has overwritten frame ${n}, which was not shipped`);
      // A frame of an older WAL, or one whose checksum does not continue the chain: the old WAL ended before it.
      if (s1 !== oldSalt[0] || s2 !== oldSalt[1]) break;
      const next = walChecksum(
        frame.subarray(WAL_FRAME_HEADER_SIZE),
        header.bigEndianChecksum,
        walChecksum(frame.subarray(0, 8), header.bigEndianChecksum, checksum),
      );
      if (next[0] !== frame.readUInt32BE(16) || next[1] !== frame.readUInt32BE(20)) break;
      checksum = next;
      kept.push(Buffer.from(frame));
      if (frame.readUInt32BE(4) !== 0) last = { frame: n, checksum, pageCount: frame.readUInt32BE(4), count: kept.length };
    }
    if (last.frame === from.frame) return undefined;
    return {
      salt: oldSalt,
      firstFrame: from.frame + 1,
      lastFrame: last.frame,
      pageSize: header.pageSize,
      frames: Buffer.concat(kept.slice(0, last.count)),
      pageCount: last.pageCount,
      chainStart: from.checksum,
      end: { salt: oldSalt, frame: last.frame, checksum: last.checksum },
    };
  } finally {
    closeSync(fd);
  }
}
