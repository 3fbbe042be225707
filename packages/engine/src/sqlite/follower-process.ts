import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FollowerReply, FollowerRequest } from './follower-child.js';
import { UsageError } from '@botbackup/core';
import { MessageReader, writeMessage } from './follower-messages.js';
import { WalContinuityError, type WalPosition, type WalSegment } from './wal-follower.js';

export interface FollowerProcessOptions {
  /** How often the WAL-index is looked at to date commits (ms). */
  sampleMs: number;
  /** How long the follower outlives a streamer that dies without closing it (see follower-child.ts). */
  resumeWithinMs: number;
}

/** A request the follower does not answer within this is a follower that hangs: the streamer starts afresh. */
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * A {@link WalFollower} in a process of its own (follower-child.ts says why), talked to over a
 * private Unix socket: the same start/resume/poll/ack/close, asynchronous, with each segment's
 * commits dated by when they were first seen. One follower process per database; a streamer
 * started after another was killed attaches to the follower it left, when that one still stands
 * exactly where the storage says shipping stopped.
 */
export class FollowerProcess {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly reader = new MessageReader<FollowerReply>();
  private waiting: ((reply: FollowerReply | Error) => void) | undefined;
  private closed = false;
  private pendingEnd: WalPosition | undefined;

  /** Use {@link start} or {@link resume}; public for the module's own helpers. */
  constructor(
    private readonly socket: net.Socket,
    readonly file: string,
    private position: WalPosition,
    /** True when this attached to a follower a killed streamer left. */
    readonly attached: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const reply of this.reader.push(chunk)) this.settle(reply);
    });
    socket.on('close', () => {
      this.closed = true;
      this.settle(new WalContinuityError('the WAL follower process ended'));
    });
    socket.on('error', () => undefined);
  }

  /** Starts following `file` from now (see WalFollower.start); a follower a killed streamer left is ended first. */
  static async start(file: string, options: FollowerProcessOptions): Promise<FollowerProcess> {
    await endLeftover(file);
    return FollowerProcess.spawnFor(file, { type: 'start', file, sampleMs: options.sampleMs }, options);
  }

  /**
   * Follows `file` from `position` (the newest shipped segment's end): through the follower a
   * killed streamer left when it stands there, else afresh (see WalFollower.resume).
   */
  static async resume(file: string, position: WalPosition, options: FollowerProcessOptions): Promise<FollowerProcess> {
    const left = await attachLeftover(file);
    if (left) {
      const { follower, reply } = left;
      if (reply.type === 'attached' && reply.file === file && reply.position) {
        if (samePosition(reply.position, position)) return follower;
        // The segment it handed out was stored, and the kill came before the acknowledgement.
        const polled = await follower.poll();
        if (polled && samePosition(polled.segment.end, position)) {
          await follower.ack();
          return follower;
        }
      }
      await follower.close();
    }
    return FollowerProcess.spawnFor(file, { type: 'resume', file, position, sampleMs: options.sampleMs }, options);
  }

  private static async spawnFor(file: string, request: FollowerRequest, options: FollowerProcessOptions): Promise<FollowerProcess> {
    const socketPath = socketFor(file);
    fs.rmSync(socketPath, { force: true });
    const child = spawn(process.execPath, [fileURLToPath(new URL('./follower-child.js', import.meta.url)), socketPath, String(options.resumeWithinMs)], {
      // Its own process group: Ctrl-C and a kill of the streamer's group leave it holding the WAL for the next streamer.
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the WAL follower process exited (${code}) before it was ready`)));
    });
    child.stdout!.destroy();
    child.unref();
    const socket = await connect(socketPath);
    if (!socket) throw new Error(`the WAL follower process does not answer on ${socketPath}`);
    const follower = new FollowerProcess(socket, file, { salt: undefined, frame: 0, checksum: [0, 0] }, false);
    try {
      const reply = await follower.request(request);
      follower.position = (reply as { position: WalPosition }).position;
      return follower;
    } catch (error) {
      await follower.close();
      throw error;
    }
  }

  /** What the follower says of itself: the database it follows and its acknowledged position. */
  attach(): Promise<FollowerReply> {
    return this.request({ type: 'attach' });
  }

  /** What is acknowledged. */
  get acknowledged(): WalPosition {
    return this.position;
  }

  /** The frames committed since the acknowledged position, with when each commit was first seen; undefined when none. */
  async poll(): Promise<{ segment: WalSegment; commits: [number, number][] } | undefined> {
    const reply = await this.request({ type: 'poll' });
    if (reply.type !== 'segment') return undefined;
    // V8's deserializer may give the frames back as a plain Uint8Array.
    const frames = reply.segment.frames as Uint8Array;
    const segment = { ...reply.segment, frames: Buffer.isBuffer(frames) ? frames : Buffer.from(frames.buffer, frames.byteOffset, frames.byteLength) };
    this.pendingEnd = segment.end;
    return { segment, commits: reply.commits };
  }

  async ack(): Promise<void> {
    await this.request({ type: 'ack' });
    this.position = this.pendingEnd!;
    this.pendingEnd = undefined;
  }

  /** Ends the follower: its read transactions and its process. */
  async close(): Promise<void> {
    if (!this.closed) await this.request({ type: 'close' }).catch(() => undefined);
    this.socket.destroy();
  }

  private settle(reply: FollowerReply | Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(reply);
  }

  private request(request: FollowerRequest): Promise<FollowerReply> {
    const next = this.queue.then(
      () =>
        new Promise<FollowerReply>((resolve, reject) => {
          if (this.closed) return reject(new WalContinuityError('the WAL follower process ended'));
          const timer = setTimeout(
            () => this.settle(new WalContinuityError(`the WAL follower process did not answer "${request.type}" within a minute`)),
            REQUEST_TIMEOUT_MS,
          );
          this.waiting = (reply) => {
            clearTimeout(timer);
            if (reply instanceof Error) reject(reply);
            else if (reply.type === 'error') {
              reject(
                reply.continuity ? new WalContinuityError(reply.message) : Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}),
              );
            } else resolve(reply);
          };
          writeMessage(this.socket, request);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Ends a follower process a killed streamer left for `file`, if there is one. */
async function endLeftover(file: string): Promise<void> {
  await (await attachLeftover(file))?.follower.close();
}

/**
 * The follower process a killed streamer left for `file`, attached, with what it says of itself;
 * undefined when there is none. A follower that hangs up at once serves another streamer, alive:
 * two streamers of one database is refused.
 */
async function attachLeftover(file: string): Promise<{ follower: FollowerProcess; reply: FollowerReply } | undefined> {
  // A follower that is ending (its resumeWithin over) may still take a connection and then drop
  // it, as one serving another streamer does: refused only when it keeps doing so.
  for (let attempt = 1; ; attempt++) {
    const socket = await connect(socketFor(file));
    if (!socket) return undefined;
    const follower = new FollowerProcess(socket, file, { salt: undefined, frame: 0, checksum: [0, 0] }, true);
    try {
      return { follower, reply: await follower.attach() };
    } catch {
      socket.destroy();
      if (attempt >= ATTACH_ATTEMPTS) throw new UsageError(`Another streamer is following ${file} (its WAL follower serves it); stop that one first.`);
      await new Promise((resolve) => setTimeout(resolve, ATTACH_RETRY_MS));
    }
  }
}

/** How often, and how far apart, a follower that drops the connection is asked again before it counts as another streamer's. */
const ATTACH_ATTEMPTS = 5;
const ATTACH_RETRY_MS = 300;

/**
 * The socket of `file`'s follower: in a folder of this user's only (0700), named by a hash of the
 * database's real path, so that a streamer finds the follower of the same database, and nobody
 * else can read frames from it.
 */
function socketFor(file: string): string {
  const dir = path.join(os.tmpdir(), `botbackup-follow-${process.getuid?.() ?? 'user'}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || (process.getuid && stat.uid !== process.getuid()) || (stat.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a private folder of this user; remove it`);
  }
  let real = file;
  try {
    real = fs.realpathSync(file);
  } catch {
    // a missing database is reported by the follower
  }
  return path.join(dir, `${createHash('sha256').update(real).digest('hex').slice(0, 24)}.sock`);
}

/** A connection to the socket, or undefined when nothing listens there (a stale socket file is removed). */
function connect(socketPath: string): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') fs.rmSync(socketPath, { force: true });
      resolve(undefined);
    });
  });
}

function samePosition(a: WalPosition, b: WalPosition): boolean {
  return (
    a.frame === b.frame && a.salt?.[0] === b.salt?.[0] && a.salt?.[1] === b.salt?.[1] && a.checksum[0] === b.checksum[0] && a.checksum[1] === b.checksum[1]
  );
}
