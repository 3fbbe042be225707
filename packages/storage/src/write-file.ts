import type { FileHandle } from 'node:fs/promises';

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
 */
export async function writeDurably(
  handle: FileHandle,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: WriteDurablyOptions = {},
): Promise<number> {
  const { signal, flushBehind = true } = options;
  let size = 0;
  let unflushed = 0;
  let flushing: Promise<void> | undefined;
  let flushError: unknown;
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      // FileHandle.write loops until the whole chunk is written on regular files.
      await handle.write(chunk);
      size += chunk.length;
      unflushed += chunk.length;
      if (flushBehind && unflushed >= FLUSH_BEHIND_BYTES && flushing === undefined) {
        unflushed = 0;
        flushing = handle
          .datasync()
          .catch((error: unknown) => void (flushError ??= error))
          .finally(() => (flushing = undefined));
      }
    }
    signal?.throwIfAborted();
    await flushing;
    if (flushError !== undefined) throw flushError;
    await handle.sync();
    return size;
  } finally {
    await flushing;
  }
}
