import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  PAGE_DELTA_HEADER_SIZE,
  PAGE_RUN_HEADER_SIZE,
  decodeDeltaHeader,
  decodeRunHeader,
  deltaSize,
  encodeDeltaHeader,
  encodeRunHeader,
  runPages,
  type DeltaHeader,
  type PageRun,
} from '@botbackup/core';

/** Bytes read from the snapshot per call when streaming a delta. */
const CHUNK = 1 << 20;

/**
 * Streams a page delta (docs/format.md) of the database copy `file`: the header, then each run's
 * header and its pages, read from the file in chunks of at most 1 MiB. Returns the stream and
 * its exact size, which the archive needs up front.
 */
export function createDeltaStream(
  file: string,
  pageSize: number,
  basePageCount: number,
  pageCount: number,
  runs: readonly PageRun[],
): { size: number; stream: Readable } {
  async function* generate(): AsyncGenerator<Uint8Array> {
    yield encodeDeltaHeader({ pageSize, basePageCount, pageCount, runCount: runs.length, pages: runPages(runs) });
    const handle = await fs.open(file, 'r');
    try {
      for (const run of runs) {
        yield encodeRunHeader(run);
        let offset = (run.first - 1) * pageSize;
        let left = run.count * pageSize;
        while (left > 0) {
          const length = Math.min(left, Math.max(pageSize, CHUNK - (CHUNK % pageSize)));
          const buffer = Buffer.allocUnsafe(length);
          const { bytesRead } = await handle.read(buffer, 0, length, offset);
          if (bytesRead !== length) throw new Error(`the snapshot copy ended before page ${Math.floor(offset / pageSize) + 1}`);
          yield buffer;
          offset += length;
          left -= length;
        }
      }
    } finally {
      await handle.close();
    }
  }
  return { size: deltaSize(pageSize, runs), stream: Readable.from(generate(), { objectMode: false }) };
}

/** What the manifest says a delta must be; a delta that says otherwise is refused. */
export interface ExpectedDelta {
  pageSize: number;
  basePageCount: number;
  pageCount: number;
  pages: number;
}

/**
 * Applies a page delta, read from `body`, to the database file open in `handle` (which must hold
 * exactly the delta's base): every run's pages are written at their place as they stream in, then
 * the file is cut to the new page count. Memory stays flat whatever the delta's size. Throws a
 * plain Error when the delta is malformed or does not match `expected`; the caller names it.
 */
export async function applyDelta(body: AsyncIterable<Buffer> | Iterable<Buffer>, handle: fs.FileHandle, expected: ExpectedDelta): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  let header: DeltaHeader | undefined;
  let run: PageRun | undefined;
  let runs = 0;
  let pages = 0;
  let lastPage = 0;
  /** Byte position in the file of the next page byte of the current run, and bytes left in it. */
  let position = 0;
  let left = 0;
  for await (const chunk of body) {
    let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (!header) {
        if (data.length < PAGE_DELTA_HEADER_SIZE) break;
        header = decodeDeltaHeader(data.subarray(0, PAGE_DELTA_HEADER_SIZE));
        data = data.subarray(PAGE_DELTA_HEADER_SIZE);
        for (const key of ['pageSize', 'basePageCount', 'pageCount', 'pages'] as const) {
          if (header[key] !== expected[key]) throw new Error(`its header says ${key} ${header[key]}, the manifest ${expected[key]}`);
        }
        const size = (await handle.stat()).size;
        if (size !== header.basePageCount * header.pageSize)
          throw new Error(`it applies to a database of ${header.basePageCount} pages, not ${size / header.pageSize}`);
        continue;
      }
      if (left === 0) {
        if (runs === header.runCount) throw new Error('it holds bytes after its last run');
        if (data.length < PAGE_RUN_HEADER_SIZE) break;
        run = decodeRunHeader(data.subarray(0, PAGE_RUN_HEADER_SIZE));
        data = data.subarray(PAGE_RUN_HEADER_SIZE);
        if (run.count === 0 || run.first <= lastPage || run.first + run.count - 1 > header.pageCount) {
          throw new Error(`its run of ${run.count} pages from page ${run.first} is out of order or past the database's ${header.pageCount} pages`);
        }
        runs++;
        pages += run.count;
        lastPage = run.first + run.count - 1;
        position = (run.first - 1) * header.pageSize;
        left = run.count * header.pageSize;
        continue;
      }
      const take = Math.min(left, data.length);
      await writeAll(handle, data.subarray(0, take), position);
      position += take;
      left -= take;
      data = data.subarray(take);
    }
    if (data.length > 0) pending = Buffer.from(data);
  }
  if (!header) throw new Error('it ends before its header');
  if (left > 0 || runs !== header.runCount || pages !== header.pages || pending.length > 0) throw new Error('it ends in the middle');
  await handle.truncate(header.pageCount * header.pageSize);
}

async function writeAll(handle: fs.FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
