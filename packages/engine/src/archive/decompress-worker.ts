// Worker thread of ParallelDecompressStream: hashes the stored (compressed) bytes and
// decompresses them, so that on restore this work runs beside the main thread's tar parsing,
// per-file hashing and writing instead of after it.
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { CompressionCodec } from '@botbackup/core';
// Not the support barrel: it loads the logger, notifications and more, which took a worker about
// 0.5 s to start on a busy 2-core machine (measured: ready in 650-940 ms, 100-180 ms with this
// import), paid once per archive read, so 8 times for a chain of a full and 7 incrementals.
import { createDecompressStream } from '../support/streams.js';

export type DecompressWorkerRequest = { type: 'chunk'; data: ArrayBuffer } | { type: 'consumed'; bytes: number } | { type: 'end' };

/**
 * Decompressed bytes posted but not yet read on the other side, above which decompression pauses
 * (and so, through the write callbacks, the input): a tar of tiny files decompresses 200 to 1, so
 * bounding the input alone does not bound the output.
 */
export const OUTPUT_BUDGET = 8 << 20;
export type DecompressWorkerReply =
  { type: 'data'; data: ArrayBuffer } | { type: 'ack' } | { type: 'done'; sha256: string; bytes: number } | { type: 'error'; message: string };

const { codec } = workerData as { codec: CompressionCodec };
const port = parentPort!;
const hash = createHash('sha256');
let bytes = 0;
/** Output posted and not yet reported read. */
let outstanding = 0;
const decompressor = createDecompressStream(codec);
decompressor.on('data', (chunk: Buffer) => {
  // Copy out of libzstd's buffer into one we can transfer without a second copy.
  const out = new ArrayBuffer(chunk.length);
  new Uint8Array(out).set(chunk);
  port.postMessage({ type: 'data', data: out } satisfies DecompressWorkerReply, [out]);
  outstanding += chunk.length;
  if (outstanding > OUTPUT_BUDGET) decompressor.pause();
});
decompressor.on('end', () => port.postMessage({ type: 'done', sha256: hash.digest('hex'), bytes } satisfies DecompressWorkerReply));
decompressor.on('error', (error) => port.postMessage({ type: 'error', message: error.message } satisfies DecompressWorkerReply));
port.on('message', (message: DecompressWorkerRequest) => {
  if (message.type === 'consumed') {
    outstanding -= message.bytes;
    if (outstanding <= OUTPUT_BUDGET) decompressor.resume();
    return;
  }
  if (message.type === 'end') {
    decompressor.end();
    return;
  }
  const chunk = Buffer.from(message.data);
  hash.update(chunk);
  bytes += chunk.length;
  decompressor.write(chunk, () => port.postMessage({ type: 'ack' } satisfies DecompressWorkerReply));
});
