import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ParallelDecompressStream, SerialDecompressStream } from '@botbackup/engine';

const MiB = 1 << 20;

describe('ParallelDecompressStream', () => {
  it('does not run ahead of a slow reader: a 2000-to-1 input waits in the worker, not in memory', async () => {
    // 64 MiB of zeros compress to a few KB (by the system zstd): one input chunk makes all of it.
    const input = execFileSync('sh', ['-c', 'head -c 67108864 /dev/zero | zstd -q -c']);
    expect(input.length).toBeLessThan(64 * 1024);
    const stream = new ParallelDecompressStream('zstd');
    stream.end(input);
    const { bytes, digest, mostWaiting } = await readSlowly(stream, () => stream.readableLength);
    expect(bytes).toBe(64 * MiB);
    expect(digest).toBe(
      createHash('sha256')
        .update(Buffer.alloc(64 * MiB))
        .digest('hex'),
    );
    expect(stream.inputSha256).toBe(createHash('sha256').update(input).digest('hex'));
    // The worker's budget (8 MiB) and the stream's own buffer (4 MiB), plus one chunk in transit.
    expect(mostWaiting).toBeLessThanOrEqual(13 * MiB);
  });
});

describe('ParallelDecompressStream, one stream after another (workers are reused)', () => {
  it('each stream gets its own output and input hash, after a clean end, a damaged input or a reader that stopped early', async () => {
    const plain = (n: number) => {
      const b = Buffer.alloc(n);
      for (let at = 0; at < n; at += 4096) randomFillSync(b, at, 512);
      return b;
    };
    const compress = (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1 << 30 });
    const whole = async (input: Buffer) => {
      const stream = new ParallelDecompressStream('zstd');
      Readable.from(
        (function* () {
          for (let at = 0; at < input.length; at += 64 * 1024) yield input.subarray(at, at + 64 * 1024);
        })(),
      ).pipe(stream);
      const { bytes, digest } = await readSlowly(stream, () => 0, 0);
      return { bytes, digest, inputSha256: stream.inputSha256, failure: stream.failure };
    };
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    for (const size of [3 * MiB, 5 * MiB, 1 * MiB]) {
      const data = plain(size);
      const input = compress(data);
      await expect(whole(input)).resolves.toEqual({ bytes: size, digest: sha(data), inputSha256: sha(input), failure: undefined });
    }
    // Damage: the stream fails; the next one is unaffected.
    const damaged = Buffer.from(compress(plain(2 * MiB)));
    damaged.fill(0xaa, damaged.length >> 1, (damaged.length >> 1) + 64);
    expect((await whole(damaged)).failure).toBeInstanceOf(Error);
    // A reader that stops early (a restore of one file): the stream is destroyed mid-way.
    const early = new ParallelDecompressStream('zstd');
    early.end(compress(plain(8 * MiB)));
    for await (const _ of early) break;
    const data = plain(2 * MiB);
    const input = compress(data);
    await expect(whole(input)).resolves.toEqual({ bytes: data.length, digest: sha(data), inputSha256: sha(input), failure: undefined });
  });
});

describe('SerialDecompressStream', () => {
  it('hands zstd 4 KiB at a time: a 1 MiB read of a tar of tiny files does not become 40 MiB in memory', async () => {
    // Like a tar of 64-byte files: each KiB holds 64 bytes that do not compress, then zeros.
    const plain = Buffer.alloc(64 * MiB);
    for (let at = 0; at < plain.length; at += 1024) randomFillSync(plain, at, 64);
    const input = execFileSync('zstd', ['-q', '-c'], { input: plain, maxBuffer: 1 << 30 });
    const stream = new SerialDecompressStream('zstd');
    // As the local store reads it: 1 MiB at a time.
    Readable.from(
      (function* () {
        for (let at = 0; at < input.length; at += MiB) yield input.subarray(at, at + MiB);
      })(),
    ).pipe(stream);
    const { bytes, digest, mostWaiting } = await readSlowly(stream, () => stream.bufferedBytes);
    expect(bytes).toBe(plain.length);
    expect(digest).toBe(createHash('sha256').update(plain).digest('hex'));
    expect(stream.inputSha256).toBe(createHash('sha256').update(input).digest('hex'));
    // One piece's output (4 KiB at about 15 to 1) beyond the stream's own 1 MiB buffer.
    expect(mostWaiting).toBeLessThanOrEqual(2 * MiB);
  });
});

/** Reads a stream more slowly than it can decompress (as a tar parser writing a file per entry does). */
async function readSlowly(stream: AsyncIterable<unknown>, waiting: () => number, delayMs = 1): Promise<{ bytes: number; digest: string; mostWaiting: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let mostWaiting = 0;
  for await (const chunk of stream) {
    mostWaiting = Math.max(mostWaiting, waiting());
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return { bytes, digest: hash.digest('hex'), mostWaiting };
}
