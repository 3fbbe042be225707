import fs from 'node:fs';
import net from 'node:net';
import { commitFrames, WalContinuityError, WalFollower, type WalPosition, type WalSegment } from './wal-follower.js';
import { MessageReader, writeMessage } from './follower-messages.js';

/**
 * The process a {@link FollowerProcess} runs a {@link WalFollower} in, served on a Unix socket.
 *
 * A process of its own, because the follower's protection is POSIX locks on the -shm (read
 * marks) and the database file, and POSIX drops every lock a process holds on a file when the
 * process closes *any* descriptor of it: a backup in the streamer's process (its pin and copy
 * open and close those files) would silently release the read marks, and the bot's checkpoint
 * could then overwrite frames not yet shipped.
 *
 * It outlives a streamer that dies without closing it (SIGKILL, a crash) by `resumeWithinMs`,
 * still holding the WAL from the last acknowledged frame: a streamer started again within that
 * time attaches to it and continues the same generation with nothing missing, which a follower
 * started afresh could not prove once the bot's checkpoints had restarted the WAL. After that
 * time it ends, and the WAL is the bot's alone again.
 *
 * It also learns when each commit happened: it looks at the WAL-index (a read of the -shm header)
 * every `sampleMs` while the bot commits, every {@link IDLE_SAMPLE_MS} once it has been quiet for
 * {@link BUSY_FOR_MS}, notes when the committed frame count changed, and dates each commit of a
 * segment by the first look that saw it (see {@link startSampling}).
 *
 * Usage: node follower-child.js <socket path> <resumeWithinMs>; prints "ready" once it listens.
 */

export type FollowerRequest =
  | { type: 'start'; file: string; sampleMs: number }
  | { type: 'resume'; file: string; position: WalPosition; sampleMs: number }
  | { type: 'attach' }
  | { type: 'poll' }
  | { type: 'ack' }
  | { type: 'close' };

export type FollowerReply =
  | { type: 'started'; position: WalPosition }
  | { type: 'attached'; file: string | undefined; position: WalPosition | undefined }
  | { type: 'segment'; segment: WalSegment; commits: [number, number][] }
  | { type: 'none' }
  | { type: 'acked' }
  | { type: 'closed' }
  | { type: 'error'; continuity: boolean; message: string; code?: string };

interface Observation {
  salt: [number, number];
  maxFrame: number;
  at: number;
}

/** Once no commit was seen for this long, the WAL-index is looked at every {@link IDLE_SAMPLE_MS} instead of every `sampleMs`. */
const BUSY_FOR_MS = 2_000;
/** How often an idle bot's WAL-index is looked at: its next commit is dated within this. */
const IDLE_SAMPLE_MS = 10;

/** Observations kept at most (a segment not acknowledged for long): older ones are dropped, their commits then dated when polled. */
const MAX_OBSERVATIONS = 100_000;

const [socketPath, resumeWithin] = process.argv.slice(2);
const resumeWithinMs = Number(resumeWithin);
let follower: WalFollower | undefined;
let file: string | undefined;
/** The segment polled and not yet acknowledged: polled again, it is handed out again (a new streamer after a kill). */
let pending: { segment: WalSegment; commits: [number, number][] } | undefined;
let sampler: NodeJS.Timeout | undefined;
/** When the last observation was noted (a change of the committed frame count). */
let lastChangeAt = 0;
let connection: net.Socket | undefined;
let orphaned: NodeJS.Timeout | undefined;
const observations: Observation[] = [];

function sample(): void {
  const seen = follower?.peek();
  if (!seen) return;
  const last = observations.at(-1);
  if (last && last.maxFrame === seen.maxFrame && last.salt[0] === seen.salt[0] && last.salt[1] === seen.salt[1]) return;
  lastChangeAt = Date.now();
  observations.push({ salt: seen.salt, maxFrame: seen.maxFrame, at: lastChangeAt });
  if (observations.length > MAX_OBSERVATIONS) observations.splice(0, observations.length - MAX_OBSERVATIONS);
}

/** Each commit of `segment` with when it was first seen; seen times never go backwards. */
function dateCommits(segment: WalSegment): [number, number][] {
  sample();
  const now = Date.now();
  const dated: [number, number][] = [];
  let from = 0;
  let previous = 0;
  for (const frame of commitFrames(segment)) {
    while (from < observations.length && !covers(observations[from]!, segment.salt, frame)) from++;
    const at = Math.max(previous, from < observations.length ? observations[from]!.at : now);
    dated.push([frame, at]);
    previous = at;
  }
  return dated;
}

function covers(o: Observation, salt: [number, number], frame: number): boolean {
  return o.salt[0] === salt[0] && o.salt[1] === salt[1] && o.maxFrame >= frame;
}

/** Drops the observations of frames now shipped. */
function forget(segment: WalSegment): void {
  let last = -1;
  for (const [i, o] of observations.entries()) if (o.salt[0] === segment.salt[0] && o.salt[1] === segment.salt[1] && o.maxFrame <= segment.lastFrame) last = i;
  if (last >= 0) observations.splice(0, last + 1);
}

function handle(request: FollowerRequest): FollowerReply {
  switch (request.type) {
    case 'start':
    case 'resume':
      if (follower) throw new Error('this follower already follows a database');
      follower = request.type === 'start' ? WalFollower.start(request.file) : WalFollower.resume(request.file, request.position);
      file = request.file;
      sample();
      startSampling(request.sampleMs);
      return { type: 'started', position: follower.acknowledged };
    case 'attach':
      return { type: 'attached', file, position: follower?.acknowledged };
    case 'poll': {
      if (!pending) {
        const segment = follower!.poll();
        if (!segment) return { type: 'none' };
        pending = { segment, commits: dateCommits(segment) };
      }
      return { type: 'segment', ...pending };
    }
    case 'ack':
      follower!.ack();
      forget(pending!.segment);
      pending = undefined;
      return { type: 'acked' };
    case 'close':
      return { type: 'closed' };
  }
}

/**
 * Looks at the WAL-index every `busyMs` (2 ms from a streamer) while the bot commits, and every
 * {@link IDLE_SAMPLE_MS} once it has been quiet for {@link BUSY_FOR_MS}: a commit is dated within
 * about 2 ms while the bot trades, and an idle bot costs 100 looks a second, not 500.
 *
 * A timer, not inotify on the -wal: a watch (fs.watch) woke this process on every write the bot
 * made to its WAL, and that wake-up, paid inside the bot's commit, made its commit p50 20 to 35 %
 * and its p99 1.4 to 2 times what they were without a streamer (docs/benchmarks.md, "Cost"); a
 * timer wakes only this process. Each look is a wake-up (70-100 µs of CPU on a small VM): with a
 * look every 2 ms the streamer used 4.8-5.8 % of a core beside a bot at 100 commits a second,
 * every 1 ms 7-9 %, every 3 ms no less (6.0 %, one run: the follower's other work counts too);
 * every 10 ms dates a commit up to 10 ms late, which `restore --at` sees.
 */
function startSampling(busyMs: number): void {
  const next = (): void => {
    sample();
    sampler = setTimeout(next, Date.now() - lastChangeAt < BUSY_FOR_MS ? busyMs : Math.max(busyMs, IDLE_SAMPLE_MS));
  };
  sampler = setTimeout(next, busyMs);
}

function shutDown(): never {
  if (sampler) clearTimeout(sampler);
  follower?.close();
  follower = undefined;
  fs.rmSync(socketPath!, { force: true });
  process.exit(0);
}

/** Nobody follows with us: end after resumeWithinMs unless a streamer attaches. */
function orphan(): void {
  orphaned ??= setTimeout(shutDown, resumeWithinMs);
}

const server = net.createServer((socket) => {
  // One streamer at a time; a second one is told so by the closed connection.
  if (connection) {
    socket.destroy();
    return;
  }
  connection = socket;
  if (orphaned) clearTimeout(orphaned);
  orphaned = undefined;
  const reader = new MessageReader<FollowerRequest>();
  socket.on('data', (chunk: Buffer) => {
    for (const request of reader.push(chunk)) {
      let reply: FollowerReply;
      try {
        reply = handle(request);
      } catch (error) {
        const e = error as Error & { code?: string };
        reply = { type: 'error', continuity: error instanceof WalContinuityError, message: e.message, ...(e.code ? { code: e.code } : {}) };
      }
      writeMessage(socket, reply);
      if (request.type === 'close') socket.end(() => shutDown());
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    connection = undefined;
    // The streamer is gone without closing us (killed): keep holding the WAL for the next one.
    orphan();
  });
});
server.listen(socketPath, () => {
  fs.chmodSync(socketPath!, 0o600);
  process.stdout.write('ready\n');
  orphan();
});
// Signals to the streamer's process group (Ctrl-C) are the streamer's to act on: it closes us.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => shutDown());
