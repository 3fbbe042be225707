// Worker thread of ParallelDecompressStream: hashes the stored (compressed) bytes and
// decompresses them, so that on restore this work runs beside the main thread's tar parsing,
// per-file hashing and writing instead of after it.
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { CompressionCodec } from '@botbackup/core';
// Not the support barrel: it loads the logger, notifications and more, which took a worker about
// 0.5 s to start on a busy 2-core machine (measured: ready in 650-940 ms, 100-180 ms with this
// import), paid once per archive read, so 8 times for a chain of a full and 7 incrementals.
import { createDecompressStream } from '../support/streams.js';

/**
 * `start` begins a stream (a worker serves one stream at a time, then waits for the next: see
 * ParallelDecompressStream's pool), then its chunks, the reader's `consumed` reports and `end`.
 */
export type DecompressWorkerRequest =
  { type: 'start'; codec: CompressionCodec } | { type: 'chunk'; data: ArrayBuffer } | { type: 'consumed'; bytes: number } | { type: 'end' };

/**
 * Decompressed bytes posted but not yet read on the other side, above which decompression pauses
 * (and so, through the write callbacks, the input): a tar of tiny files decompresses 200 to 1, so
 * bounding the input alone does not bound the output.
 */
export const OUTPUT_BUDGET = 8 << 20;
export type DecompressWorkerReply =
  { type: 'data'; data: ArrayBuffer } | { type: 'ack' } | { type: 'done'; sha256: string; bytes: number } | { type: 'error'; message: string };

const port = parentPort!;

/** One stream's state: a fresh one per `start`, so nothing of the stream before carries over. */
interface StreamState {
  hash: ReturnType<typeof createHash>;
  bytes: number;
  /** Output posted and not yet reported read. */
  outstanding: number;
  decompressor: ReturnType<typeof createDecompressStream>;
}

function start(codec: CompressionCodec): StreamState {
  const state: StreamState = { hash: createHash('sha256'), bytes: 0, outstanding: 0, decompressor: createDecompressStream(codec) };
  const { decompressor } = state;
  decompressor.on('data', (chunk: Buffer) => {
    // Copy out of libzstd's buffer into one we can transfer without a second copy.
    const out = new ArrayBuffer(chunk.length);
    new Uint8Array(out).set(chunk);
    port.postMessage({ type: 'data', data: out } satisfies DecompressWorkerReply, [out]);
    state.outstanding += chunk.length;
    if (state.outstanding > OUTPUT_BUDGET) decompressor.pause();
  });
  decompressor.on('end', () => port.postMessage({ type: 'done', sha256: state.hash.digest('hex'), bytes: state.bytes } satisfies DecompressWorkerReply));
  decompressor.on('error', (error) => port.postMessage({ type: 'error', message: error.message } satisfies DecompressWorkerReply));
  return state;
}

let current: StreamState | undefined;
port.on('message', (message: DecompressWorkerRequest) => {
  if (message.type === 'start') {
    current = start(message.codec);
    return;
  }
  const state = current!;
  if (message.type === 'consumed') {
    state.outstanding -= message.bytes;
    if (state.outstanding <= OUTPUT_BUDGET) state.decompressor.resume();
    return;
  }
  if (message.type === 'end') {
    state.decompressor.end();
    return;
  }
  const chunk = Buffer.from(message.data);
  state.hash.update(chunk);
  state.bytes += chunk.length;
  state.decompressor.write(chunk, () => port.postMessage({ type: 'ack' } satisfies DecompressWorkerReply));
});
