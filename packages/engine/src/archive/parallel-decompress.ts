import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { CompressionCodec } from '@botbackup/core';
import { createDecompressStream } from '../support/index.js';
import type { DecompressWorkerReply, DecompressWorkerRequest } from './decompress-worker.js';

/** Compressed chunks handed to the worker before we wait for it: enough to keep both threads busy. */
const MAX_IN_FLIGHT = 4;
/** Idle workers kept for the next stream, and for how long. */
const POOL_SIZE = 2;
const POOL_IDLE_MS = 5000;

/**
 * Workers whose stream ended cleanly, waiting for the next one. A worker took 100-200 ms to
 * start on a busy 2-core machine, paid per archive: a restore of a full backup and 7
 * incrementals reads 8 archives one after the other. An idle worker does not keep the process
 * alive (unref) and ends after POOL_IDLE_MS unused.
 */
const idle: { worker: Worker; timer: NodeJS.Timeout; drop: () => void }[] = [];

function acquireWorker(): Worker {
  const spare = idle.pop();
  if (!spare) return new Worker(new URL('./decompress-worker.js', import.meta.url));
  clearTimeout(spare.timer);
  spare.worker.off('error', spare.drop);
  spare.worker.ref();
  return spare.worker;
}

function releaseWorker(worker: Worker): void {
  if (idle.length >= POOL_SIZE) {
    void worker.terminate();
    return;
  }
  worker.unref();
  // Idle, a worker that fails (or outlives its welcome) just leaves the pool.
  const drop = (): void => {
    const at = idle.indexOf(entry);
    if (at !== -1) idle.splice(at, 1);
    clearTimeout(entry.timer);
    void worker.terminate();
  };
  const entry = { worker, timer: setTimeout(drop, POOL_IDLE_MS).unref(), drop };
  worker.once('error', drop);
  idle.push(entry);
}

/**
 * A decompressing Transform whose work (and the sha256 of its compressed input) runs in a
 * worker thread (from a small pool: see {@link idle}). Input and output chunks move between
 * threads by transfer, not copy. Memory is
 * bounded by MAX_IN_FLIGHT input chunks and OUTPUT_BUDGET bytes of output not yet read: the worker
 * pauses when the reader falls that far behind (a tar of 64-byte files decompresses 200 to 1;
 * without the budget the worker ran ahead of the tar parser and the decompressed archive of
 * 100,000 files, 100 MB, waited in memory).
 */
export class ParallelDecompressStream extends Transform {
  private readonly worker: Worker;
  /** Set once the worker went back to the pool: it serves another stream, nothing more is sent to it. */
  private released = false;
  private inFlight = 0;
  private waiting: TransformCallback | undefined;
  /** Output bytes pushed, and those reported to the worker as read (see OUTPUT_BUDGET). */
  private pushed = 0;
  private reported = 0;
  private flushed: TransformCallback | undefined;
  /** sha256 and size of the compressed input; set once the stream has ended. */
  inputSha256: string | undefined;
  inputBytes = 0;
  /** The decompressor's error: the output ended where it was met (see {@link SerialDecompressStream}). */
  failure: Error | undefined;

  constructor(codec: CompressionCodec) {
    super({ readableHighWaterMark: 4 << 20 });
    this.worker = acquireWorker();
    this.worker.on('message', this.onReply);
    this.worker.once('error', this.onError);
    this.worker.postMessage({ type: 'start', codec } satisfies DecompressWorkerRequest);
  }

  private readonly onError = (error: Error): void => {
    this.destroy(error);
  };

  private readonly onReply = (reply: DecompressWorkerReply): void => {
    switch (reply.type) {
      case 'data':
        if (this.failure) return;
        this.pushed += reply.data.byteLength;
        this.push(Buffer.from(reply.data));
        return;
      case 'ack': {
        this.inFlight--;
        const callback = this.waiting;
        this.waiting = undefined;
        callback?.();
        return;
      }
      case 'done':
        this.inputSha256 = reply.sha256;
        this.inputBytes = reply.bytes;
        // Every ack and every data message came before this one: the worker is free.
        this.release();
        this.flushed?.();
        return;
      case 'error':
        this.fail(new Error(reply.message));
        return;
    }
  };

  /** Gives the worker back to the pool, clean: its stream ended and it has nothing left to say to this one. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.worker.off('message', this.onReply);
    this.worker.off('error', this.onError);
    releaseWorker(this.worker);
  }

  /** Ends the worker (not reused: it may be mid-stream). */
  private stop(): void {
    if (this.released) return;
    this.released = true;
    this.worker.off('message', this.onReply);
    void this.worker.terminate();
  }

  /** Ends the output where the damage is, in order, and lets the input drain away. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.stop();
    this.push(null);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
    this.flushed?.();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failure) return callback();
    const data = new ArrayBuffer(chunk.length);
    new Uint8Array(data).set(chunk);
    this.worker.postMessage({ type: 'chunk', data } satisfies DecompressWorkerRequest, [data]);
    this.inFlight++;
    if (this.inFlight < MAX_IN_FLIGHT) callback();
    else this.waiting = callback;
  }

  /**
   * Every read (pipe and async iteration read through here too) tells the worker how much of its
   * output has left the buffer, at least every 256 KiB and whenever the buffer is empty. Not
   * only in _read: Readable skips _read while an earlier one is pending, and an earlier one can
   * be pending with the worker paused, waiting for exactly this report.
   */
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    if (this.released) return chunk;
    const read = this.pushed - this.readableLength - this.reported;
    if (read > 0 && (read >= 256 * 1024 || this.readableLength === 0)) {
      this.reported += read;
      this.worker.postMessage({ type: 'consumed', bytes: read } satisfies DecompressWorkerRequest);
    }
    return chunk;
  }

  override _flush(callback: TransformCallback): void {
    if (this.failure) return callback();
    this.flushed = callback;
    this.worker.postMessage({ type: 'end' } satisfies DecompressWorkerRequest);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stop();
    callback(error);
  }
}

/** A decompressor of stored bytes that also hashes them (see {@link createArchiveDecompressor}). */
export type ArchiveDecompressor = Transform & {
  /** Size and sha256 of the stored (compressed) input; set once the stream has ended. */
  readonly inputBytes: number;
  readonly inputSha256: string | undefined;
  /** Damage met in the input: the output ended there (the reader sees it cut short, then this). */
  readonly failure: Error | undefined;
};

/**
 * The decompressor readArchive uses. `parallel`: {@link ParallelDecompressStream}, so that
 * decompression and hashing run beside the tar parsing, which pays for archives of big members
 * (databases). Otherwise {@link SerialDecompressStream}, on this thread: for an archive of 300,000
 * files of 64 bytes that kept the peak RSS of a verify at 177 MB against 415 MB with the worker,
 * whose output buffers churned through the other thread's allocator, in the same time
 * (docs/benchmarks.md, "Big bot folders").
 */
export function createArchiveDecompressor(codec: CompressionCodec, parallel: boolean): ArchiveDecompressor {
  return parallel ? new ParallelDecompressStream(codec) : new SerialDecompressStream(codec);
}

/** Compressed bytes handed to zstd at a time by {@link SerialDecompressStream}. */
const INPUT_PIECE = 4096;

/**
 * Decompresses and hashes its input on this thread, handing the decompressor 4 KiB at a time,
 * each piece only once the one before is taken: zstd decompresses all of one write before anyone
 * reads, and one 1 MiB read of a tar of tiny files is 200 MB of output. Damage in the input
 * ends the output there, in order, and is kept in `failure` (not thrown at once, which would drop
 * the output before it): a restore of one file stops reading once it has it, and damage after it
 * must not fail it; a reader that reaches the end sees the archive cut short, then the failure.
 */
export class SerialDecompressStream extends Transform {
  private readonly inner: Transform;
  private readonly hash = createHash('sha256');
  /** The decompressor's error: the output ended where it was met. */
  failure: Error | undefined;
  inputBytes = 0;
  inputSha256: string | undefined;

  constructor(codec: CompressionCodec) {
    super({ readableHighWaterMark: 1 << 20 });
    this.inner = createDecompressStream(codec);
    this.inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.inner.pause();
    });
    this.inner.once('error', (error) => this.fail(error));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.push(null);
  }

  /** Decompressed bytes waiting to be read: this stream's buffer and the decompressor's. */
  get bufferedBytes(): number {
    return this.readableLength + this.inner.readableLength;
  }

  override _read(size: number): void {
    if (this.failure) return;
    this.inner.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.inputBytes += chunk.length;
    let at = 0;
    const next = (error?: Error | null): void => {
      if (error) this.fail(error);
      if (this.failure || at >= chunk.length) return done();
      const piece = chunk.subarray(at, (at += INPUT_PIECE));
      this.inner.write(piece, next);
    };
    next();
  }

  override _flush(done: TransformCallback): void {
    this.inputSha256 = this.hash.digest('hex');
    if (this.failure) return done();
    this.inner.once('end', () => done());
    this.inner.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    callback(error);
  }
}
