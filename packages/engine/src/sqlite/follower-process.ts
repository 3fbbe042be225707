import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FollowerReply, FollowerRequest } from './follower-child.js';
import { WalContinuityError, type WalPosition, type WalSegment } from './wal-follower.js';

/**
 * A {@link WalFollower} in a child process of its own (see follower-child.ts for why: POSIX
 * locks), with the same start/resume/poll/ack/close, asynchronous, and each segment's commits
 * dated by when they were first seen. Requests are answered one at a time, in order.
 */
export class FollowerProcess {
  private queue: Promise<unknown> = Promise.resolve();
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly file: string,
    private position: WalPosition,
  ) {}

  /** Starts following `file` from now (see WalFollower.start). */
  static start(file: string, sampleMs = 10): Promise<FollowerProcess> {
    return FollowerProcess.open(file, { type: 'start', file, sampleMs });
  }

  /** Follows `file` again from an acknowledged position (see WalFollower.resume). */
  static resume(file: string, position: WalPosition, sampleMs = 10): Promise<FollowerProcess> {
    return FollowerProcess.open(file, { type: 'resume', file, position, sampleMs });
  }

  private static async open(file: string, request: FollowerRequest): Promise<FollowerProcess> {
    const child = fork(fileURLToPath(new URL('./follower-child.js', import.meta.url)), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const follower = new FollowerProcess(child, file, { salt: undefined, frame: 0, checksum: [0, 0] });
    child.once('exit', () => (follower.exited = true));
    // A send to a process that is gone is reported by the request (its exit); not an unhandled error.
    child.on('error', () => undefined);
    try {
      const reply = await follower.request(request);
      follower.position = (reply as { position: WalPosition }).position;
      return follower;
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** What is acknowledged. */
  get acknowledged(): WalPosition {
    return this.position;
  }

  /** The frames committed since the acknowledged position, with when each commit was first seen; undefined when none. */
  async poll(): Promise<{ segment: WalSegment; commits: [number, number][] } | undefined> {
    const reply = await this.request({ type: 'poll' });
    if (reply.type !== 'segment') return undefined;
    // Buffers come back as Uint8Arrays through the channel.
    const segment = { ...reply.segment, frames: Buffer.from(reply.segment.frames.buffer, reply.segment.frames.byteOffset, reply.segment.frames.byteLength) };
    this.pendingEnd = segment.end;
    return { segment, commits: reply.commits };
  }

  private pendingEnd: WalPosition | undefined;

  async ack(): Promise<void> {
    await this.request({ type: 'ack' });
    this.position = this.pendingEnd!;
    this.pendingEnd = undefined;
  }

  /** Ends the read transactions and the process. */
  async close(): Promise<void> {
    if (this.exited) return;
    await this.request({ type: 'close' }).catch(() => undefined);
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private request(request: FollowerRequest): Promise<FollowerReply> {
    const next = this.queue.then(
      () =>
        new Promise<FollowerReply>((resolve, reject) => {
          if (this.exited || !this.child.connected) return reject(new WalContinuityError('the WAL follower process has exited'));
          const onExit = (code: number | null) => reject(new WalContinuityError(`the WAL follower process exited (${code})`));
          this.child.once('exit', onExit);
          this.child.once('message', (reply: FollowerReply) => {
            this.child.off('exit', onExit);
            if (reply.type === 'error') {
              reject(
                reply.continuity ? new WalContinuityError(reply.message) : Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}),
              );
            } else resolve(reply);
          });
          this.child.send(request);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }
}
