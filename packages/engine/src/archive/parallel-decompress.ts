import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { CompressionCodec } from '@botbackup/core';
import type { DecompressWorkerReply, DecompressWorkerRequest } from './decompress-worker.js';

/** Compressed chunks handed to the worker before we wait for it: enough to keep both threads busy. */
const MAX_IN_FLIGHT = 4;

/**
 * A decompressing Transform whose work (and the sha256 of its compressed input) runs in a
 * worker thread. Input and output chunks move between threads by transfer, not copy. Memory is
 * bounded by MAX_IN_FLIGHT input chunks and their output.
 */
export class ParallelDecompressStream extends Transform {
  private readonly worker: Worker;
  private inFlight = 0;
  private waiting: TransformCallback | undefined;
  private flushed: TransformCallback | undefined;
  /** sha256 and size of the compressed input; set once the stream has ended. */
  inputSha256: string | undefined;
  inputBytes = 0;

  constructor(codec: CompressionCodec) {
    super({ readableHighWaterMark: 4 << 20 });
    this.worker = new Worker(new URL('./decompress-worker.js', import.meta.url), { workerData: { codec } });
    this.worker.on('message', (reply: DecompressWorkerReply) => {
      switch (reply.type) {
        case 'data':
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
          void this.worker.terminate();
          this.flushed?.();
          return;
        case 'error':
          this.destroy(new Error(reply.message));
          return;
      }
    });
    this.worker.once('error', (error) => this.destroy(error));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = new ArrayBuffer(chunk.length);
    new Uint8Array(data).set(chunk);
    this.worker.postMessage({ type: 'chunk', data } satisfies DecompressWorkerRequest, [data]);
    this.inFlight++;
    if (this.inFlight < MAX_IN_FLIGHT) callback();
    else this.waiting = callback;
  }

  override _flush(callback: TransformCallback): void {
    this.flushed = callback;
    this.worker.postMessage({ type: 'end' } satisfies DecompressWorkerRequest);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    void this.worker.terminate();
    callback(error);
  }
}
