import type { FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Flush-behind: an fdatasync starts after every this many bytes written. Without it a large
 * file is one burst of dirty pages flushed at the end: the bot's own fsyncs (each of its
 * commits, on the same disk) queue behind that burst, and the final fsync runs alone after all
 * the work that produced the data instead of beside it.
 */
const FLUSH_BEHIND_BYTES = 16 << 20;

export interface WriteDurablyOptions {
  signal?: AbortSignal | undefined;
  /**
   * Flush behind the writes (default true): for writes beside a live bot, whose commits must not
   * wait behind one large flush. Off, the data is flushed once at the end: the least work, for
   * writes nobody waits on.
   */
  flushBehind?: boolean;
}

/**
 * Writes every chunk of `body` to `handle` from its current position and makes it durable
 * (fsync) before returning the number of bytes written. At most one flush runs beside the
 * writes; a failed flush fails the call even if a later fsync succeeds (Linux may report a
 * writeback error only once).
 *
 * The chunks go through a Writable, one `write` each as they came: iterating a Readable with
 * `for await` joins whatever it has buffered into one new Buffer (a copy of every byte on the
 * caller's thread, 0.6 s of a 1 GiB restore), and the Writable's buffer lets the producer go on
 * while a write is in the kernel.
 */
export async function writeDurably(
  handle: FileHandle,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: WriteDurablyOptions = {},
): Promise<number> {
  const sink = new DurableSink(handle, options);
  try {
    await pipeline(body instanceof Readable ? body : Readable.from(body, { objectMode: false }), sink);
    options.signal?.throwIfAborted();
    return sink.size;
  } finally {
    await sink.flushing;
  }
}

/** Bytes the sink takes before it asks its producer to wait: a few chunks, so one can be read while another is written. */
const SINK_BUFFER = 4 << 20;

/** The Writable of {@link writeDurably}: writes in order, flushes behind, fsyncs at the end. */
class DurableSink extends Writable {
  size = 0;
  flushing: Promise<void> | undefined;
  private unflushed = 0;
  private flushError: unknown;

  constructor(
    private readonly handle: FileHandle,
    private readonly options: WriteDurablyOptions,
  ) {
    super({ highWaterMark: SINK_BUFFER });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.options.signal?.aborted) {
      callback(this.options.signal.reason as Error);
      return;
    }
    // FileHandle.write loops until the whole chunk is written on regular files.
    this.handle.write(chunk).then(() => {
      this.size += chunk.length;
      this.unflushed += chunk.length;
      if ((this.options.flushBehind ?? true) && this.unflushed >= FLUSH_BEHIND_BYTES && this.flushing === undefined) {
        this.unflushed = 0;
        this.flushing = this.handle
          .datasync()
          .catch((error: unknown) => void (this.flushError ??= error))
          .finally(() => (this.flushing = undefined));
      }
      callback();
    }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    void (async () => {
      this.options.signal?.throwIfAborted();
      await this.flushing;
      if (this.flushError !== undefined) throw this.flushError;
      await this.handle.sync();
    })().then(() => callback(), callback);
  }
}
