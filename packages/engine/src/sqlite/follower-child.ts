import { commitFrames, WalContinuityError, WalFollower, type WalPosition, type WalSegment } from './wal-follower.js';

/**
 * The process a {@link FollowerProcess} runs a {@link WalFollower} in. A process of its own,
 * because its protection is POSIX locks on the -shm (read marks) and the database file, and POSIX
 * drops every lock a process holds on a file when the process closes *any* descriptor of it: a
 * backup in the same process (its pin and copy open and close those files) would silently
 * release the follower's read marks, and the bot's checkpoint could then overwrite frames not yet
 * shipped. Here nothing else opens them.
 *
 * It also learns when each commit happened: every `sampleMs` it looks at the WAL-index (a read of
 * the -shm header) and notes when the committed frame count changed, and dates each commit of a
 * segment by the first look that saw it.
 */

export type FollowerRequest =
  | { type: 'start'; file: string; sampleMs: number }
  | { type: 'resume'; file: string; position: WalPosition; sampleMs: number }
  | { type: 'poll' }
  | { type: 'ack' }
  | { type: 'close' };

export type FollowerReply =
  | { type: 'started'; position: WalPosition }
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

/** Observations kept at most (a segment not acknowledged for long): older ones are dropped, their commits then dated when polled. */
const MAX_OBSERVATIONS = 100_000;

let follower: WalFollower | undefined;
let pending: WalSegment | undefined;
let sampler: NodeJS.Timeout | undefined;
const observations: Observation[] = [];

function send(reply: FollowerReply): void {
  process.send!(reply);
}

function sample(): void {
  const seen = follower?.peek();
  if (!seen) return;
  const last = observations.at(-1);
  if (last && last.maxFrame === seen.maxFrame && last.salt[0] === seen.salt[0] && last.salt[1] === seen.salt[1]) return;
  observations.push({ salt: seen.salt, maxFrame: seen.maxFrame, at: Date.now() });
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
      follower = request.type === 'start' ? WalFollower.start(request.file) : WalFollower.resume(request.file, request.position);
      sampler = setInterval(sample, request.sampleMs);
      sample();
      return { type: 'started', position: follower.acknowledged };
    case 'poll': {
      const segment = follower!.poll();
      if (!segment) return { type: 'none' };
      pending = segment;
      return { type: 'segment', segment, commits: dateCommits(segment) };
    }
    case 'ack':
      follower!.ack();
      forget(pending!);
      pending = undefined;
      return { type: 'acked' };
    case 'close':
      shutDown();
      return { type: 'closed' };
  }
}

function shutDown(): void {
  if (sampler) clearInterval(sampler);
  follower?.close();
  follower = undefined;
}

process.on('message', (request: FollowerRequest) => {
  try {
    send(handle(request));
    if (request.type === 'close') process.disconnect();
  } catch (error) {
    const e = error as Error & { code?: string };
    send({ type: 'error', continuity: error instanceof WalContinuityError, message: e.message, ...(e.code ? { code: e.code } : {}) });
  }
});
// Ctrl-C reaches the whole process group: the streamer decides when this process ends (it may
// still have a segment to ship); it ends when told to, or when the streamer is gone.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// The streamer died (SIGKILL included): nothing more will be acknowledged; end the read transactions.
process.on('disconnect', () => {
  shutDown();
  process.exit(0);
});
