import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, type PitrDatabasePlan, type RestorableItem, type WalSegmentName } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { openSegment, readSegment, type StoredSegment } from '../../repository/index.js';
import { applyWalFrames, WAL_FRAME_HEADER_SIZE } from '../../sqlite/index.js';
import type { StagingRun } from './stage.js';

/** Segments to write into the restored databases after the backup (see planPointInTime). */
export interface WalReplay {
  generation: string;
  /** ms since the epoch: commits seen after it are not applied; undefined: every shipped commit. */
  at: number | undefined;
  /** By database name. */
  databases: Record<string, PitrDatabasePlan>;
  /** Where segments are read from when the backup's own target lacks one (every target, in order). */
  stores: readonly BackupStore[];
}

/** What the replay applied to one database. */
export interface ReplayedDatabase {
  path: string;
  segments: number;
  commits: number;
  /** When the last applied commit was first seen by the streamer (ms); undefined when none was applied. */
  lastCommitAt: number | undefined;
}

/**
 * Writes each database's shipped WAL frames into its staged copy, the backup's bytes already
 * proven: every segment is read, its signature, its body's sha256 and its place in the stream
 * (number, salts, frames following on) checked before one frame of it is written, and only
 * commits are applied whole (a segment's last frame is a commit; a cut one stops at the last
 * commit seen at or before the moment). The file is then cut to the size the last commit gives.
 * Nothing is visible yet: the caller checks the result (quick_check) before the commit point.
 */
export async function replayWal(run: StagingRun, replay: WalReplay, databases: readonly RestorableItem[]): Promise<ReplayedDatabase[]> {
  const done: ReplayedDatabase[] = [];
  for (const db of run.manifest.databases) {
    const plan = replay.databases[db.name];
    const item = databases.find((d) => d.path === db.path);
    if (!plan || !item) continue;
    const file = path.join(run.staging, db.path);
    const handle = await fs.open(file, 'r+');
    const result: ReplayedDatabase = { path: db.path, segments: 0, commits: 0, lastCommitAt: undefined };
    try {
      let pageCount: number | undefined;
      let previous: StoredSegment | undefined;
      const list = [...plan.segments.map((s) => ({ ...s, cut: false })), ...(plan.partial ? [{ ...plan.partial, cut: true }] : [])];
      for (const [i, listed] of list.entries()) {
        const segment = await readFromAny(run, replay.stores, listed.key);
        checkFollows(segment, listed.name, previous, replay.generation, db.name);
        previous = segment;
        const header = segment.header;
        const from = i === 0 ? Math.max(plan.fromFrame, header.firstFrame - 1) : header.firstFrame - 1;
        const opened = await openSegment(segment, run.keyring, run.manifest);
        // The last commit to apply: every one of a whole segment, those seen by the moment of a cut one.
        const commits = opened.commits.filter(([frame, seenAt]) => frame > from && (!listed.cut || replay.at === undefined || seenAt <= replay.at));
        const last = commits.at(-1);
        if (!last) continue;
        const frames = opened.frames;
        const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
        for (let off = 0; off < frames.length; off += frameSize) {
          if (frames.readUInt32BE(off + 8) !== header.salt[0] || frames.readUInt32BE(off + 12) !== header.salt[1]) {
            throw new IntegrityError('BAD_ARCHIVE', `WAL segment ${segment.key}: frame ${header.firstFrame + off / frameSize} is of another WAL.`, {
              subject: segment.key,
            });
          }
        }
        const slice = frames.subarray((from - (header.firstFrame - 1)) * frameSize, (last[0] - (header.firstFrame - 1)) * frameSize);
        pageCount = applyWalFrames(handle.fd, slice, header.pageSize) || pageCount;
        result.segments++;
        result.commits += commits.length;
        result.lastCommitAt = last[1];
        if (listed.cut) break;
      }
      if (pageCount !== undefined) await handle.truncate(pageCount * db.pageSize);
      await handle.sync();
    } finally {
      await handle.close();
    }
    done.push(result);
  }
  return done;
}

/** A segment from the backup's own target, else from the first other target that holds a good one. */
async function readFromAny(run: StagingRun, stores: readonly BackupStore[], key: string): Promise<StoredSegment> {
  const order = [run.store, ...stores.filter((s) => s !== run.store)];
  let first: unknown;
  for (const store of order) {
    try {
      const segment = await readSegment(store, key, run.keyring.policy, run.signal);
      return segment;
    } catch (error) {
      first ??= error;
      if (run.signal?.aborted) throw error;
    }
  }
  throw first;
}

/**
 * Refuses a segment that is not the one the plan named, or does not follow the previous one
 * without a gap: the next number, and the next frame of the same WAL or the first of a new one
 * whose chain starts afresh.
 */
function checkFollows(segment: StoredSegment, name: WalSegmentName, previous: StoredSegment | undefined, generation: string, database: string): void {
  const h = segment.header;
  const bad = (why: string) =>
    new IntegrityError('BROKEN_CHAIN', `WAL segment ${segment.key} ${why}; the shipped WAL has a gap there.`, { subject: segment.key });
  if (h.generation !== generation || h.database !== database || h.seq !== name.seq)
    throw bad(`is not segment ${name.seq} of "${database}" in generation ${generation}`);
  if (!previous) return;
  const p = previous.header;
  const previousLast = p.pack?.lastSeq ?? p.seq;
  if (h.seq !== previousLast + 1) throw bad(`follows segment ${previousLast}`);
  const sameWal = h.salt[0] === p.salt[0] && h.salt[1] === p.salt[1];
  if (sameWal ? h.firstFrame !== p.lastFrame + 1 || h.chain.start[0] !== p.chain.end[0] || h.chain.start[1] !== p.chain.end[1] : h.firstFrame !== 1) {
    throw bad(`does not continue segment ${previousLast} (frames ${p.lastFrame} then ${h.firstFrame})`);
  }
}
