import xxhash from 'xxhash-wasm';
import { PAGE_HASH_SIZE, type PageMap } from '@botbackup/core';

const api = xxhash();

/** Hashes pages: xxh64, seed 0, each written big-endian at (page - 1) × 8 in a page map's hashes. */
export type PageHasher = (buffer: Uint8Array, firstPage: number, count: number, pageSize: number, hashes: DataView) => void;

/** Loads the hash function (a WebAssembly module, compiled once per thread). */
export async function loadPageHasher(): Promise<PageHasher> {
  const { h64Raw } = await api;
  return (buffer, firstPage, count, pageSize, hashes) => {
    for (let i = 0; i < count; i++) {
      hashes.setBigUint64((firstPage - 1 + i) * PAGE_HASH_SIZE, h64Raw(buffer.subarray(i * pageSize, (i + 1) * pageSize), 0n));
    }
  };
}

/** The page map of a whole database image held in memory (tests and small tools). */
export async function pageMapOf(bytes: Uint8Array, pageSize: number): Promise<PageMap> {
  const pageCount = Math.floor(bytes.length / pageSize);
  const hashes = new Uint8Array(pageCount * PAGE_HASH_SIZE);
  (await loadPageHasher())(bytes, 1, pageCount, pageSize, new DataView(hashes.buffer));
  return { algorithm: 'xxh64', pageSize, pageCount, hashes };
}
