import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, createGunzip } from 'node:zlib';
import { CompressStream, DecompressStream } from 'zstd-napi';
import type { CompressionCodec } from '@botbackup/core';

/**
 * A pass-through that computes the sha256 (or, given a key, the HMAC-SHA256: the hashes of
 * secret files in an encrypted repository) and byte count of what flows through it.
 */
export class HashingStream extends Transform {
  private readonly hash: Hash | Hmac;
  bytes = 0;
  constructor(
    private readonly onBytes?: (n: number) => void,
    key?: Buffer,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = key ? createHmac('sha256', key) : createHash('sha256');
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }
  /** The hex digest; call once, after the stream has finished. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * A compressor for a codec. zstd runs with two worker threads inside libzstd (nbWorkers), so
 * compression overlaps with reading and hashing on the event loop's thread and the output is
 * one standard zstd frame that `zstd -d` reads. Jobs of 2 MiB instead of the default (4 windows,
 * 8 MiB at level 3) keep libzstd's buffers small: measured on a 256 MiB database, peak RSS
 * 103 MB instead of 144 MB, for 0.07% more output.
 */
export function createCompressStream(codec: CompressionCodec, level: number): Transform {
  switch (codec) {
    case 'zstd':
      return new CompressStream({ compressionLevel: level, nbWorkers: 2, jobSize: 2 << 20, checksumFlag: true });
    case 'gzip':
      return createGzip({ level });
    case 'none':
      return new Transform({ transform: (chunk, _enc, done) => done(null, chunk) });
  }
}

/** The matching decompressor. */
export function createDecompressStream(codec: CompressionCodec): Transform {
  switch (codec) {
    case 'zstd':
      return new DecompressStream();
    case 'gzip':
      return createGunzip();
    case 'none':
      return new Transform({ transform: (chunk, _enc, done) => done(null, chunk) });
  }
}

/**
 * sha256 of a file, streamed in 1 MiB reads: the whole file, or its first `size` bytes (a file
 * that grows while it is read is cut there). Returns the digest and the bytes actually read.
 */
export async function hashFile(
  file: string,
  options: { size?: number; onBytes?: (n: number) => void; signal?: AbortSignal | undefined; key?: Buffer | undefined } = {},
): Promise<{ sha256: string; bytes: number }> {
  const hasher = new HashingStream(options.onBytes, options.key);
  const body =
    options.size === 0
      ? Readable.from([])
      : createReadStream(file, { start: 0, end: options.size === undefined ? undefined : options.size - 1, highWaterMark: 1 << 20 });
  await pipeline(body, hasher, new Writable({ write: (_chunk, _enc, done) => done() }), { signal: options.signal });
  return { sha256: hasher.digest(), bytes: hasher.bytes };
}
