import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { SourceError, type EntryKind, type ManifestEntry } from '@botbackup/core';
import { HashingStream } from './streams.js';

/** One entry to put into the archive: a file, or a stream opened when its turn comes. */
export type ArchiveInput = {
  /** Path inside the archive (relative, forward slashes). */
  path: string;
  kind: EntryKind;
  mode: number;
  mtime: Date;
} & (
  | {
      absPath: string;
      /** Bytes to take: a file that grows while it is read (a log) is cut at this size. */
      size: number;
    }
  | {
      /** Opens the entry's content when the archive reaches it (a database snapshot). */
      open: () => Promise<{ size: number; stream: Readable }>;
    }
);

/**
 * Streams the inputs as a POSIX tar (ustar, pax headers for long names) and hashes every entry
 * on the way. Returns the tar stream at once; `entries` resolves, after the stream has ended,
 * to the manifest entries with their sha256. A file that shrinks while it is read fails the
 * archive with FILE_CHANGED rather than storing a torn copy. With `contentKey`, every entry's
 * hash is an HMAC-SHA256 under it (an encrypted repository; see keys.ts).
 */
export function packArchive(
  inputs: readonly ArchiveInput[],
  onBytes?: (n: number) => void,
  contentKey?: Buffer,
): { stream: Readable; entries: Promise<ManifestEntry[]> } {
  const pack = tar.pack();
  const entries = (async () => {
    const out: ManifestEntry[] = [];
    try {
      for (const input of inputs) {
        const hasher = new HashingStream(onBytes, contentKey);
        const { size, body } =
          'open' in input
            ? await input.open().then((opened) => ({ size: opened.size, body: opened.stream }))
            : {
                size: input.size,
                body: input.size === 0 ? Readable.from([]) : createReadStream(input.absPath, { start: 0, end: input.size - 1, highWaterMark: 1 << 20 }),
              };
        const entry = pack.entry({ name: input.path, size, mode: input.mode, mtime: input.mtime, type: 'file' });
        try {
          await pipeline(body, hasher, entry);
        } catch (error) {
          if (hasher.bytes < size && 'absPath' in input) {
            throw new SourceError(
              'FILE_CHANGED',
              input.absPath,
              `${input.absPath} shrank while it was being backed up (from ${size} to ${hasher.bytes} bytes); run the backup again.`,
              {
                cause: error,
              },
            );
          }
          throw error;
        }
        out.push({ path: input.path, kind: input.kind, mode: input.mode, size, mtime: input.mtime.toISOString(), sha256: hasher.digest() });
      }
      pack.finalize();
      return out;
    } catch (error) {
      pack.destroy(error as Error);
      throw error;
    }
  })();
  // The caller learns of a failure through the stream; keep the promise from being reported as unhandled meanwhile.
  entries.catch(() => undefined);
  return { stream: Readable.from(pack), entries };
}
