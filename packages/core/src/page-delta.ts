/**
 * Page maps and page deltas: the two binary formats behind incremental database backups
 * (docs/format.md). Pure functions over bytes; no I/O, no clock.
 *
 * A page map lists one 8-byte hash per page of a database snapshot. It is stored beside every
 * backup, so that any host can compute the next incremental from the parent's map alone.
 *
 * A page delta turns the parent's database into this backup's: runs of whole pages to write at
 * their place, and the new page count (the file is cut to it, so a database can also shrink).
 */
import { IntegrityError } from './errors.js';

export const PAGE_MAP_MAGIC = 'BBPGMAP1';
export const PAGE_DELTA_MAGIC = 'BBDELTA1';
export const PAGE_MAP_HEADER_SIZE = 32;
export const PAGE_DELTA_HEADER_SIZE = 32;
export const PAGE_RUN_HEADER_SIZE = 8;
/** Bytes per page hash. */
export const PAGE_HASH_SIZE = 8;
/** Page hash algorithms, by their number in the page map header. */
export const PAGE_HASH_ALGORITHMS = { 1: 'xxh64' } as const;
export type PageHashAlgorithm = (typeof PAGE_HASH_ALGORITHMS)[keyof typeof PAGE_HASH_ALGORITHMS];

export interface PageMap {
  algorithm: PageHashAlgorithm;
  pageSize: number;
  pageCount: number;
  /** pageCount × 8 bytes: the hash of page n (1-based) at offset (n-1)×8. */
  hashes: Uint8Array;
}

/** A run of consecutive pages to write: pages `first` (1-based) to `first + count - 1`. */
export interface PageRun {
  first: number;
  count: number;
}

export interface DeltaHeader {
  pageSize: number;
  /** Pages of the database the delta applies to. */
  basePageCount: number;
  /** Pages of the database after the delta: the file is cut (or grown) to this. */
  pageCount: number;
  runCount: number;
  /** Pages in all runs together. */
  pages: number;
}

/** Serializes a page map: 32-byte header, then the hashes. */
export function encodePageMap(map: PageMap): Uint8Array {
  if (map.hashes.length !== map.pageCount * PAGE_HASH_SIZE) throw new Error(`page map of ${map.pageCount} pages holds ${map.hashes.length} hash bytes`);
  const out = new Uint8Array(PAGE_MAP_HEADER_SIZE + map.hashes.length);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(PAGE_MAP_MAGIC, 'ascii'), 0);
  view.setUint32(8, 1);
  view.setUint32(12, algorithmNumber(map.algorithm));
  view.setUint32(16, map.pageSize);
  view.setUint32(20, map.pageCount);
  out.set(map.hashes, PAGE_MAP_HEADER_SIZE);
  return out;
}

/** Parses a stored page map; `where` names it in the error when it is malformed. */
export function decodePageMap(bytes: Uint8Array, where: string): PageMap {
  const bad = (why: string) => new IntegrityError('BAD_ARCHIVE', `The page map ${where} is malformed (${why}).`, { subject: where });
  if (bytes.length < PAGE_MAP_HEADER_SIZE || Buffer.from(bytes.subarray(0, 8)).toString('ascii') !== PAGE_MAP_MAGIC) throw bad('bad magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(8) !== 1) throw bad(`unknown version ${view.getUint32(8)}`);
  const algorithm = PAGE_HASH_ALGORITHMS[view.getUint32(12) as keyof typeof PAGE_HASH_ALGORITHMS];
  if (!algorithm) throw bad(`unknown hash algorithm ${view.getUint32(12)}`);
  const pageSize = view.getUint32(16);
  const pageCount = view.getUint32(20);
  if (bytes.length !== PAGE_MAP_HEADER_SIZE + pageCount * PAGE_HASH_SIZE) throw bad(`${bytes.length} bytes for ${pageCount} pages`);
  return { algorithm, pageSize, pageCount, hashes: bytes.subarray(PAGE_MAP_HEADER_SIZE) };
}

function algorithmNumber(algorithm: PageHashAlgorithm): number {
  for (const [n, name] of Object.entries(PAGE_HASH_ALGORITHMS)) if (name === algorithm) return Number(n);
  throw new Error(`unknown page hash algorithm ${algorithm}`);
}

/**
 * The pages of `current` that a database equal to `base` must receive to become equal to
 * `current`: every page whose hash differs, and every page past the base's end, as runs of
 * consecutive pages. Pages past `current.pageCount` need no run: the delta's page count cuts them.
 */
export function diffPageMaps(base: PageMap, current: PageMap): PageRun[] {
  if (base.pageSize !== current.pageSize || base.algorithm !== current.algorithm)
    throw new Error('page maps of different page sizes or algorithms cannot be compared');
  const runs: PageRun[] = [];
  const a = base.hashes;
  const b = current.hashes;
  let open: PageRun | undefined;
  for (let page = 1; page <= current.pageCount; page++) {
    const at = (page - 1) * PAGE_HASH_SIZE;
    let changed = page > base.pageCount;
    if (!changed) {
      for (let i = 0; i < PAGE_HASH_SIZE; i++) {
        if (a[at + i] !== b[at + i]) {
          changed = true;
          break;
        }
      }
    }
    if (!changed) {
      open = undefined;
    } else if (open) {
      open.count++;
    } else {
      open = { first: page, count: 1 };
      runs.push(open);
    }
  }
  return runs;
}

/** Pages in a list of runs. */
export function runPages(runs: readonly PageRun[]): number {
  return runs.reduce((sum, r) => sum + r.count, 0);
}

/** Bytes of a delta with these runs: header, a run header per run, and the pages. */
export function deltaSize(pageSize: number, runs: readonly PageRun[]): number {
  return PAGE_DELTA_HEADER_SIZE + runs.length * PAGE_RUN_HEADER_SIZE + runPages(runs) * pageSize;
}

export function encodeDeltaHeader(header: DeltaHeader): Uint8Array {
  const out = new Uint8Array(PAGE_DELTA_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(PAGE_DELTA_MAGIC, 'ascii'), 0);
  view.setUint32(8, 1);
  view.setUint32(12, header.pageSize);
  view.setUint32(16, header.basePageCount);
  view.setUint32(20, header.pageCount);
  view.setUint32(24, header.runCount);
  view.setUint32(28, header.pages);
  return out;
}

/** Parses a delta's header; throws a plain Error (the caller names the backup and entry). */
export function decodeDeltaHeader(bytes: Uint8Array): DeltaHeader {
  if (bytes.length < PAGE_DELTA_HEADER_SIZE || Buffer.from(bytes.subarray(0, 8)).toString('ascii') !== PAGE_DELTA_MAGIC)
    throw new Error('not a page delta (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, PAGE_DELTA_HEADER_SIZE);
  if (view.getUint32(8) !== 1) throw new Error(`page delta version ${view.getUint32(8)} is not supported`);
  const pageSize = view.getUint32(12);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new Error(`bad page size ${pageSize}`);
  return { pageSize, basePageCount: view.getUint32(16), pageCount: view.getUint32(20), runCount: view.getUint32(24), pages: view.getUint32(28) };
}

export function encodeRunHeader(run: PageRun): Uint8Array {
  const out = new Uint8Array(PAGE_RUN_HEADER_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, run.first);
  view.setUint32(4, run.count);
  return out;
}

export function decodeRunHeader(bytes: Uint8Array): PageRun {
  const view = new DataView(bytes.buffer, bytes.byteOffset, PAGE_RUN_HEADER_SIZE);
  return { first: view.getUint32(0), count: view.getUint32(4) };
}
