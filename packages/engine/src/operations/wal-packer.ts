import type { ManifestSigner } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from '../crypto/index.js';
import { encodePack } from '../repository/index.js';
import { WAL_FRAME_HEADER_SIZE, WalPackWriter, type WalSegment } from '../sqlite/index.js';
import type { Logger } from '../support/index.js';

/**
 * Packs (docs/continuous.md, "Storage"): the streamer ships each second's commits as a segment of
 * whole WAL frames, and at 100 commits a second the same few pages are in every segment, a whole
 * page for each commit. While it ships them, it also feeds the same frames to a pack of the
 * current WAL, which keeps each page's changes as byte ranges against its previous image and
 * compresses them all together; when the pack is due it is stored on every target, and the
 * segments it holds are deleted there some minutes later. A pack holds every commit its segments
 * held, with the same commit times, so `restore --at` is as exact on it; it is just a few times
 * smaller (docs/benchmarks.md). Packing never holds shipping up: a segment is stored first, on
 * its own, and a pack that cannot be made or stored is dropped (its segments stay).
 */

/** Frames (uncompressed, as SQLite wrote them) after which a pack is stored sooner: bounds the memory of the streamer and of a restore that opens it (the frames are rebuilt whole). */
const PACK_MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** A segment as shipped: its key, its number, the follower's segment and its commits with their times. */
export interface ShippedSegment {
  key: string;
  seq: number;
  segment: WalSegment;
  commits: [number, number][];
}

export interface WalPackerOptions {
  source: string;
  host: string;
  keyring: Keyring;
  signer: ManifestSigner | undefined;
  stores: readonly BackupStore[];
  /** Stores an object on every target; returns the names of those that failed, undefined when all did. */
  put: (key: string, bytes: Buffer) => Promise<string[] | undefined>;
  log: Logger;
  /**
   * How long a pack collects segments before it is stored (`continuous.packEvery`; a restart of
   * the WAL ends it sooner); its segments then stay as long again before they are deleted, so a
   * restore planned from a listing just before the pack appeared still finds them (a prune
   * deletes those a stopped streamer left). Undefined: nothing is packed.
   */
  everyMs: number | undefined;
}

/** The pack being collected for one database. */
interface OpenPack {
  generation: string;
  writer: WalPackWriter;
  first: ShippedSegment;
  last: ShippedSegment;
  commits: [number, number][];
  keys: string[];
  openedAt: number;
  /** The longest time between the last commits of two consecutive segments in it (ms). */
  maxGapMs: number;
}

export class WalPacker {
  private readonly open = new Map<string, OpenPack>();
  private readonly deletions: { at: number; store: BackupStore; keys: string[] }[] = [];

  constructor(private readonly options: WalPackerOptions) {}

  /** Adds a segment that some target now holds; stores the database's pack when it is due. */
  async add(generation: string, database: string, shipped: ShippedSegment): Promise<void> {
    const { everyMs } = this.options;
    if (everyMs === undefined) return;
    const pack = this.open.get(database);
    if (pack && !continues(pack, generation, shipped)) await this.store(database);
    try {
      const current = this.open.get(database) ?? this.start(generation, database, shipped);
      if (current.first !== shipped) {
        current.writer.append(shipped.segment.frames);
        current.maxGapMs = Math.max(current.maxGapMs, lastCommitOf(shipped) - lastCommitOf(current.last));
        current.last = shipped;
        for (const c of shipped.commits) current.commits.push(c);
        current.keys.push(shipped.key);
      }
      const frameBytes = current.writer.frames * (WAL_FRAME_HEADER_SIZE + current.writer.pageSize);
      if (Date.now() - current.openedAt >= everyMs || frameBytes >= PACK_MAX_FRAME_BYTES) await this.store(database);
    } catch (error) {
      // The frames did not check out (a checksum, a salt): leave these segments as they are.
      this.open.delete(database);
      this.options.log.warn({ database, err: (error as Error).message }, 'a WAL pack was dropped; its segments stay as they are');
    }
  }

  /** Stores every pack being collected (a generation ends, the streamer stops). */
  async storeAll(): Promise<void> {
    for (const database of [...this.open.keys()]) await this.store(database);
  }

  /** Deletes the segments of packs stored long enough ago (one packEvery). */
  async deleteDue(): Promise<void> {
    const now = Date.now();
    while (this.deletions.length > 0 && this.deletions[0]!.at <= now) {
      const { store, keys } = this.deletions.shift()!;
      for (const key of keys) {
        await store.delete(key).catch((error: unknown) => {
          this.options.log.warn({ store: store.name, key, err: (error as Error).message }, 'a packed segment was not deleted; prune deletes it');
        });
      }
    }
  }

  private start(generation: string, database: string, shipped: ShippedSegment): OpenPack {
    const { segment } = shipped;
    const writer = new WalPackWriter(segment.pageSize, segment.salt, segment.chainStart);
    writer.append(segment.frames);
    const pack: OpenPack = {
      generation,
      writer,
      first: shipped,
      last: shipped,
      commits: [...shipped.commits],
      keys: [shipped.key],
      openedAt: Date.now(),
      maxGapMs: 0,
    };
    this.open.set(database, pack);
    return pack;
  }

  /** Stores a database's pack (of two segments or more) and schedules the deletion of its segments where it was stored. */
  private async store(database: string): Promise<void> {
    const pack = this.open.get(database);
    this.open.delete(database);
    if (!pack || pack.keys.length < 2) return;
    const { options } = this;
    try {
      const { body, bigEndian, chainEnd } = pack.writer.finish();
      const first = pack.first.segment;
      const last = pack.last.segment;
      if (chainEnd[0] !== last.end.checksum[0] || chainEnd[1] !== last.end.checksum[1]) throw new Error('the pack does not end where its last segment ends');
      const { key, bytes } = await encodePack(
        {
          source: options.source,
          generation: pack.generation,
          database,
          seq: pack.first.seq,
          salt: first.salt,
          firstFrame: first.firstFrame,
          lastFrame: last.lastFrame,
          pageSize: first.pageSize,
          pageCount: last.pageCount,
          chain: { start: first.chainStart, end: chainEnd },
          commits: pack.commits,
          host: options.host,
          pack: { lastSeq: pack.last.seq, bigEndian, firstSegmentAt: lastCommitOf(pack.first), maxGapMs: pack.maxGapMs },
          encoded: body,
        },
        options.keyring,
        options.signer,
      );
      const failed = await options.put(key, bytes);
      if (failed === undefined) return;
      const at = Date.now() + options.everyMs!;
      for (const store of options.stores) if (!failed.includes(store.name)) this.deletions.push({ at, store, keys: pack.keys });
      options.log.debug({ database, key, segments: pack.keys.length, bytes: bytes.length }, 'WAL pack stored');
    } catch (error) {
      options.log.warn({ database, err: (error as Error).message }, 'a WAL pack could not be stored; its segments stay as they are');
    }
  }
}

/** When a segment's last commit was seen (ms). */
function lastCommitOf(shipped: ShippedSegment): number {
  return shipped.commits.at(-1)![1];
}

/** Whether `shipped` goes on where the pack ends: the same generation and WAL, the next number and frame, the chain unbroken. */
function continues(pack: OpenPack, generation: string, shipped: ShippedSegment): boolean {
  const last = pack.last.segment;
  const next = shipped.segment;
  return (
    pack.generation === generation &&
    shipped.seq === pack.last.seq + 1 &&
    next.salt[0] === last.salt[0] &&
    next.salt[1] === last.salt[1] &&
    next.pageSize === last.pageSize &&
    next.firstFrame === last.lastFrame + 1 &&
    next.chainStart[0] === last.end.checksum[0] &&
    next.chainStart[1] === last.end.checksum[1]
  );
}
