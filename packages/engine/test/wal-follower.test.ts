import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { applyWalFrames, WalContinuityError, WalFollower, type WalSegment } from '../src/sqlite/wal-follower.js';
import { repoRoot, useTempDir } from '../../../test/helpers/bot.js';
// @ts-expect-error: a plain ES module shared with the writer process, without types
import { prepareOps } from '../../../test/helpers/wal-writer-ops.mjs';

type Commit = (i: number) => void;

/** Digest of every row of every table. */
function digest(db: Database.Database): string {
  const hash = createHash('sha256');
  for (const table of db.prepare("select name from sqlite_schema where type = 'table' order by name").pluck().all() as string[]) {
    hash.update(`table ${table}\n`);
    for (const row of db.prepare(`select * from "${table}" order by rowid`).raw().iterate()) hash.update(JSON.stringify(row));
  }
  return hash.digest('hex');
}

function fileDigest(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return digest(db);
  } finally {
    db.close();
  }
}

const writers: ChildProcess[] = [];
afterEach(() => {
  for (const w of writers.splice(0)) w.kill('SIGKILL');
});

interface Writer {
  child: ChildProcess;
  /** True once the writer has had a checkpoint kept from finishing by a reader. */
  readonly sawBusy: boolean;
  stop: () => Promise<{ commits: number; checkpoints: number; busy: number }>;
}

/** Starts test/helpers/wal-writer.mjs on `file` (autocheckpoint every 16 pages); resolves once it has committed. */
async function startWriter(file: string): Promise<Writer> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'test/helpers/wal-writer.mjs'), file, '16'], { stdio: ['ignore', 'pipe', 'inherit'] });
  writers.push(child);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the writer exited with ${code}`)));
  });
  return {
    child,
    get sawBusy() {
      return out.includes('busy');
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve(JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!)));
        child.kill('SIGTERM');
      }),
  };
}

/** The database rebuilt from a start snapshot and segments (their frames applied in order, cut at the last commit). */
function rebuild(file: string, start: Buffer, segments: readonly WalSegment[]): void {
  writeFileSync(file, start);
  const fd = openSync(file, 'r+');
  try {
    let pageCount = 0;
    for (const s of segments) pageCount = applyWalFrames(fd, s.frames, s.pageSize);
    if (segments.length > 0) ftruncateSync(fd, pageCount * segments[0]!.pageSize);
  } finally {
    closeSync(fd);
  }
}

/**
 * Polls every few milliseconds, acknowledging each segment at once, until `enough` holds (what the
 * test needs to have happened, never a length of time); fails after a minute.
 */
async function follow(follower: WalFollower, segments: WalSegment[], enough: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!enough()) {
    if (Date.now() > deadline) throw new Error(`follow: not enough after a minute (${segments.length} segments)`);
    drain(follower, segments, 20);
    await sleep(5);
  }
}

/** Waits, polling, until `holds` (a condition on files or processes); fails after a minute. */
async function until(holds: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`until: ${what} did not happen within a minute`);
    await sleep(10);
  }
}

/**
 * Polls and acknowledges until nothing is new, or `limit` segments (a writer faster than the
 * follower would otherwise keep this loop, and the event loop with it, busy forever).
 */
function drain(follower: WalFollower, segments: WalSegment[], limit = Infinity): void {
  let n = 0;
  for (let segment = follower.poll(); segment; segment = n < limit ? follower.poll() : undefined) {
    segments.push(segment);
    follower.ack();
    n++;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each segment goes on where the previous one ended, or starts a restarted WAL at its first frame; returns the restarts. */
function expectContiguous(segments: readonly WalSegment[]): number {
  let restarts = 0;
  for (let i = 1; i < segments.length; i++) {
    const [a, b] = [segments[i - 1]!, segments[i]!];
    if (b.salt.join() === a.salt.join()) expect(b.firstFrame).toBe(a.lastFrame + 1);
    else {
      expect(b.firstFrame).toBe(1);
      restarts++;
    }
  }
  return restarts;
}

describe('WalFollower', () => {
  const tmp = useTempDir();

  it("follows a busy writer through its checkpoints: after every segment, the rebuilt database is the writer's at that commit", async () => {
    const file = path.join(tmp.dir, 'bot.db');
    const writer = await startWriter(file);
    let start: Buffer | undefined;
    // The WAL held all along (no growth bound): this writer's own TRUNCATE checkpoints, which a
    // release would let through, are what the follower must hold off.
    const follower = WalFollower.start(file, (db) => (start = db.serialize()), { maxWalBytes: Number.MAX_SAFE_INTEGER });
    const segments: WalSegment[] = [];
    try {
      // Many segments, and at least one TRUNCATE of the writer that the follower held off.
      await follow(follower, segments, () => segments.length >= 100 && writer.sawBusy);
      const stats = await writer.stop();
      drain(follower, segments);
      expect(stats.commits).toBeGreaterThanOrEqual(100);
      // The writer's own checkpoints ran, some of its TRUNCATEs were kept waiting by the
      // follower's read mark, and none of it lost a frame.
      expect(stats.checkpoints).toBeGreaterThan(0);
      expect(stats.busy).toBeGreaterThan(0);
      expect(segments.length).toBeGreaterThanOrEqual(100);
      expectContiguous(segments);
    } finally {
      follower.close();
    }
    // Replays the writer's commits in memory alongside the rebuilt prefixes: commit for commit.
    const replay = new Database(':memory:');
    const commit = prepareOps(replay) as Commit;
    let replayed = -1;
    const rebuilt = path.join(tmp.dir, 'rebuilt.db');
    const step = Math.max(1, Math.floor(segments.length / 12));
    const points = [0, ...segments.map((_, i) => i + 1).filter((n) => n % step === 0), segments.length];
    for (const n of [...new Set(points)]) {
      rebuild(rebuilt, start!, segments.slice(0, n));
      const db = new Database(rebuilt, { readonly: true });
      const last = (db.prepare('select max(n) from fills').pluck().get() as number | null) ?? -1;
      expect(db.pragma('quick_check', { simple: true })).toBe('ok');
      for (; replayed < last; replayed++) commit(replayed + 1);
      expect(digest(db), `after ${n} segments (commit ${last})`).toBe(digest(replay));
      db.close();
    }
    expect(fileDigest(rebuilt)).toBe(fileDigest(file));
  }, 60_000);

  it('cuts a backlog into segments of about the size asked for, each ending at a commit', async () => {
    const file = path.join(tmp.dir, 'bot.db');
    const writer = await startWriter(file);
    let start: Buffer | undefined;
    const follower = WalFollower.start(file, (db) => (start = db.serialize()), { maxSegmentBytes: 256 * 1024 });
    const segments: WalSegment[] = [];
    try {
      // A backlog: nothing is polled until the writer has committed a few megabytes.
      await until(() => statSync(`${file}-wal`).size > 4 * 1024 * 1024, 'a WAL of 4 MiB');
      await writer.stop();
      drain(follower, segments);
    } finally {
      follower.close();
    }
    expect(segments.length).toBeGreaterThan(4);
    expectContiguous(segments);
    for (const s of segments) {
      const frameSize = 24 + s.pageSize;
      // Over the size only by the transaction it ended with (a transaction is never split).
      expect(s.frames.length).toBeLessThan(256 * 1024 + 400 * frameSize);
      expect(s.frames.readUInt32BE(s.frames.length - frameSize + 4)).toBeGreaterThan(0);
    }
    const rebuilt = path.join(tmp.dir, 'rebuilt.db');
    rebuild(rebuilt, start!, segments);
    expect(fileDigest(rebuilt)).toBe(fileDigest(file));
  });

  it('lets go of a WAL past its bound once it is shipped, so the bot restarts it, and reads what was committed meanwhile from the old tail', async () => {
    const file = path.join(tmp.dir, 'trades.db');
    // A bot that never pauses, checkpointing every 50 pages (PASSIVE, as SQLite does by itself).
    const writer = spawn(process.execPath, [path.join(repoRoot, 'test/helpers/trade-writer.mjs'), file, path.join(tmp.dir, 'truth.txt'), '400', '50'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    writers.push(writer);
    await new Promise((resolve) => writer.stdout!.once('data', resolve));
    let start: Buffer | undefined;
    const bound = 2 * 1024 * 1024;
    const follower = WalFollower.start(file, (db) => (start = db.serialize()), { maxWalBytes: bound, holdMs: 0 });
    const segments: WalSegment[] = [];
    let largestWal = 0;
    const walLength = () => (follower.peek()?.maxFrame ?? 0) * (24 + 4096);
    try {
      const deadline = Date.now() + 60_000;
      while (expectContiguous(segments) < 5) {
        if (Date.now() > deadline) throw new Error(`not 5 restarts after a minute (${segments.length} segments)`);
        // One poll a round, as the streamer does once a tick: a poll right after the release
        // would take a read mark again before the bot could checkpoint and restart the WAL.
        drain(follower, segments, 1);
        largestWal = Math.max(largestWal, walLength());
        // Let go, the follower holds nothing until its next poll. The streamer's tick is 0.8 s,
        // which leaves the bot that long to checkpoint and restart the WAL; past the bound, this
        // loop too waits for the restart (up to 0.8 s) before it polls again.
        const salt = follower.peek()?.salt.join();
        const waitUntil = walLength() > bound ? Date.now() + 800 : 0;
        do {
          await sleep(waitUntil ? 1 : 5);
          largestWal = Math.max(largestWal, walLength());
        } while (Date.now() < waitUntil && follower.peek()?.salt.join() === salt);
      }
      writer.kill('SIGTERM');
      await new Promise((resolve) => writer.once('exit', resolve));
      drain(follower, segments);
    } finally {
      follower.close();
    }
    // Five restarts of the WAL followed, none of them a gap, and the WAL (its committed frames)
    // stayed near its bound (held, it would have grown for as long as the bot wrote).
    expect(expectContiguous(segments)).toBeGreaterThanOrEqual(5);
    expect(largestWal).toBeLessThan(4 * bound);
    const rebuilt = path.join(tmp.dir, 'rebuilt.db');
    rebuild(rebuilt, start!, segments);
    const rows = (f: string) => {
      const db = new Database(f, { readonly: true });
      try {
        return db.prepare('select * from trades order by id').all();
      } finally {
        db.close();
      }
    };
    expect(rows(rebuilt)).toEqual(rows(file));
  });

  it('a restarted follower resumes at the acknowledged frame: nothing twice, nothing missing', async () => {
    const file = path.join(tmp.dir, 'bot.db');
    const writer = await startWriter(file);
    let start: Buffer | undefined;
    let follower = WalFollower.start(file, (db) => (start = db.serialize()), { maxWalBytes: Number.MAX_SAFE_INTEGER });
    const segments: WalSegment[] = [];
    await follow(follower, segments, () => segments.length >= 5);
    // The streamer dies while the bot is paused (so that no checkpoint restarts the WAL meanwhile).
    writer.child.kill('SIGSTOP');
    follower.close();
    follower = WalFollower.resume(file, follower.acknowledged, { maxWalBytes: Number.MAX_SAFE_INTEGER });
    try {
      writer.child.kill('SIGCONT');
      const before = segments.length;
      await follow(follower, segments, () => segments.length >= before + 5);
      await writer.stop();
      drain(follower, segments);
    } finally {
      follower.close();
    }
    expectContiguous(segments);
    const rebuilt = path.join(tmp.dir, 'rebuilt.db');
    rebuild(rebuilt, start!, segments);
    expect(fileDigest(rebuilt)).toBe(fileDigest(file));
  }, 30_000);

  it('refuses to resume when the WAL was restarted while nobody followed it', async () => {
    const file = path.join(tmp.dir, 'bot.db');
    const writer = await startWriter(file);
    const follower = WalFollower.start(file);
    const segments: WalSegment[] = [];
    await follow(follower, segments, () => segments.length >= 3);
    follower.close();
    const position = follower.acknowledged;
    expect(position.salt).toBeDefined();
    // Unfollowed, the writer's checkpoints complete and its next commits restart the WAL.
    const walSalt = () => {
      const header = readFileSync(`${file}-wal`).subarray(16, 24);
      return header.length === 8 ? [header.readUInt32BE(0), header.readUInt32BE(4)].join('/') : '';
    };
    await until(() => walSalt() !== '' && walSalt() !== position.salt!.join('/'), 'a WAL restart');
    writer.child.kill('SIGSTOP');
    expect(() => WalFollower.resume(file, position)).toThrow(WalContinuityError);
    writer.child.kill('SIGCONT');
    await writer.stop();
  }, 30_000);

  describe('a database with no WAL when following starts', () => {
    /** A database closed cleanly (no -wal), a follower started on it, and a connection to commit with. */
    function setup(): { file: string; start: Buffer; follower: WalFollower; bot: Database.Database; commit: Commit } {
      const file = path.join(tmp.dir, 'bot.db');
      const init = new Database(file);
      init.pragma('journal_mode = WAL');
      prepareOps(init)(0);
      init.close();
      let start: Buffer | undefined;
      const follower = WalFollower.start(file, (db) => (start = db.serialize()));
      // No busy wait: a checkpoint the follower holds off says so at once.
      const bot = new Database(file, { timeout: 0 });
      bot.pragma('wal_autocheckpoint = 0');
      return { file, start: start!, follower, bot, commit: prepareOps(bot) as Commit };
    }

    /** The start snapshot plus the segments is what the bot's connection sees (then closed), and what the file holds. */
    function expectRebuiltAsBot(file: string, bot: Database.Database, start: Buffer, segments: readonly WalSegment[]): void {
      const expected = digest(bot);
      bot.close();
      const rebuilt = path.join(tmp.dir, 'rebuilt.db');
      rebuild(rebuilt, start, segments);
      expect(fileDigest(rebuilt)).toBe(expected);
      expect(fileDigest(file)).toBe(expected);
    }

    it('takes the WAL that appears from its first frame', () => {
      const { file, start, follower, bot, commit } = setup();
      const segments: WalSegment[] = [];
      try {
        commit(1);
        drain(follower, segments);
        expect(segments.map((s) => s.firstFrame)).toEqual([1]);
        commit(2);
        commit(3);
        drain(follower, segments);
      } finally {
        follower.close();
      }
      expectRebuiltAsBot(file, bot, start, segments);
    });

    it("lets the bot's checkpoint restart the WAL in a quiet moment, and goes on in the new WAL from its first frame", () => {
      const { file, start, follower, bot, commit } = setup();
      const segments: WalSegment[] = [];
      try {
        commit(1);
        drain(follower, segments);
        // The follower's read mark lets the checkpoint copy every frame but not restart the WAL.
        expect(bot.pragma('wal_checkpoint(TRUNCATE)')).toEqual([{ busy: 1, log: segments[0]!.lastFrame, checkpointed: segments[0]!.lastFrame }]);
        // Nothing new: the follower's next reader finds every frame checkpointed (slot 0) and keeps it.
        expect(follower.poll()).toBeUndefined();
        // So the bot's next commit restarts the WAL, and the one after it stays in it.
        commit(2);
        commit(3);
        drain(follower, segments);
        expect(segments.map((s) => s.firstFrame)).toEqual([1, 1]);
        expect(expectContiguous(segments)).toBe(1);
      } finally {
        follower.close();
      }
      expectRebuiltAsBot(file, bot, start, segments);
    });

    it('follows a VACUUM like any other transaction', () => {
      const { file, start, follower, bot, commit } = setup();
      const segments: WalSegment[] = [];
      try {
        for (let i = 1; i <= 60; i++) commit(i);
        drain(follower, segments);
        bot.exec('delete from fills where id % 2 = 0');
        bot.exec('vacuum');
        drain(follower, segments);
        expectContiguous(segments);
      } finally {
        follower.close();
      }
      expectRebuiltAsBot(file, bot, start, segments);
    });

    it('stops at a database file replaced under it', () => {
      const { file, follower, bot } = setup();
      try {
        const other = path.join(tmp.dir, 'other.db');
        bot.exec(`vacuum into '${other}'`);
        renameSync(other, file);
        expect(() => follower.poll()).toThrow(/the database file was replaced/);
      } finally {
        follower.close();
        bot.close();
      }
    });
  });
});
