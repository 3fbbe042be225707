import fs from 'node:fs';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { commitFrames, WalContinuityError, WalFollower, type WalPosition, type WalSegment } from './wal-follower.js';
import { MessageReader, writeMessage } from './follower-messages.js';
import type { WalLookInput } from './wal-look-worker.js';
import { LookRing, type Look } from './wal-looks.js';

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
 * It also learns when each commit happened: a thread of its own (wal-look-worker.ts) looks at the
 * WAL-index (a read of the -shm header) every `sampleMs` while the bot commits, every
 * {@link IDLE_SAMPLE_MS} once it has been quiet for {@link BUSY_FOR_MS}, and notes when the
 * committed frame count changed; each commit of a segment is dated by the first look that saw it
 * (see {@link startLooking}).
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

type Observation = Look;

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
/** The look thread, what it wrote, and how far this thread has read it. */
let looker: { worker: Worker; ring: LookRing; read: number } | undefined;
let connection: net.Socket | undefined;
let orphaned: NodeJS.Timeout | undefined;
const observations: Observation[] = [];

/** The look thread's observations so far, then a look of this thread's own: where the WAL-index stands now. */
function sample(): void {
  if (looker) {
    const { looks, next } = looker.ring.since(looker.read);
    looker.read = next;
    for (const look of looks) note(look);
  }
  const seen = follower?.peek();
  if (seen) note({ ...seen, at: Date.now() });
}

/**
 * Keeps an observation unless it adds nothing: the same committed frames as the last one (this
 * thread's own look and the look thread's of the same moment), or fewer of the same WAL (a look
 * of the look thread read from the ring after this thread had looked itself).
 */
function note(seen: Observation): void {
  const last = observations.at(-1);
  if (last && last.salt[0] === seen.salt[0] && last.salt[1] === seen.salt[1] && seen.maxFrame <= last.maxFrame) return;
  observations.push(seen);
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
      startLooking(follower, request.sampleMs);
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
 * Starts the look thread: it looks at the WAL-index every `busyMs` (2 ms from a streamer) while
 * the bot commits, and every {@link IDLE_SAMPLE_MS} once it has been quiet for
 * {@link BUSY_FOR_MS}: a commit is dated within about 2 ms while the bot trades, and an idle bot
 * costs 100 looks a second, not 500.
 *
 * Looks on a timer, not inotify on the -wal: a watch (fs.watch) woke this process on every write
 * the bot made to its WAL, and that wake-up, paid inside the bot's commit, made its commit p50
 * 20 to 35 % and its p99 1.4 to 2 times what they were without a streamer (docs/benchmarks.md,
 * "Cost"); a timed look wakes only this process. Each look is a wake-up, about 40-50 µs of CPU on
 * a small VM: every 2 ms on the main thread's event loop the streamer used 4.8-5.8 % of a core
 * beside a bot at 100 commits a second, every 1 ms 7-9 %; every 10 ms costs little but dates a
 * commit up to 10 ms late, which `restore --at` sees. In a thread of its own that sleeps in a
 * futex the same looks cost less (wal-look-worker.ts). If the thread fails, commits are dated
 * when a segment is polled (about once a second), and the streamer's stderr says so.
 */
function startLooking(of: WalFollower, busyMs: number): void {
  const ring = new LookRing();
  const input: WalLookInput = { shm: of.shmDescriptor, busyMs, idleMs: IDLE_SAMPLE_MS, busyForMs: BUSY_FOR_MS, ring: ring.buffer };
  const worker = new Worker(new URL('./wal-look-worker.js', import.meta.url), { workerData: input });
  worker.once('error', (error) => {
    process.stderr.write(`The WAL follower's look thread stopped (${error.message}): commits are now dated when shipped, up to a second late.\n`);
  });
  looker = { worker, ring, read: 0 };
}

function shutDown(): never {
  // The look thread reads through the follower's -shm descriptor: end it before that closes.
  void looker?.worker.terminate();
  looker = undefined;
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
