import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePageMap, deltaSize, diffPageMaps, encodePageMap, runPages } from '@botbackup/core';
import { applyDelta, createDeltaStream, pageMapOf } from '@botbackup/engine';
import { useTempDir } from '../../../test/helpers/bot.js';

const PAGE = 512;

/** A change between two database images: pages rewritten, pages appended, and a new length. */
const changeArb = fc.record({
  basePages: fc.integer({ min: 0, max: 40 }),
  newPages: fc.integer({ min: 0, max: 48 }),
  rewritten: fc.uniqueArray(fc.integer({ min: 1, max: 48 }), { maxLength: 20 }),
  seed: fc.integer(),
});

function image(pages: number, fill: (page: number) => Buffer): Buffer {
  return Buffer.concat(Array.from({ length: pages }, (_, i) => fill(i + 1)));
}

describe('page deltas', () => {
  const tmp = useTempDir('all');

  it('applied to the base, a delta rebuilds the new image exactly, holding only the pages that differ (property)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(changeArb, async ({ basePages, newPages, rewritten, seed }) => {
        const base = image(basePages, () => randomBytes(PAGE));
        // The new image keeps the base's pages except those rewritten; pages past the base are new.
        const changed = new Set(rewritten.filter((p) => p <= newPages));
        const next = image(newPages, (p) => (p <= basePages && !changed.has(p) ? base.subarray((p - 1) * PAGE, p * PAGE) : randomBytes(PAGE)));
        // A page rewritten with its old content is not a change: make one such, when possible.
        if (basePages > 0 && newPages > 0 && seed % 2 === 0) base.copy(next, 0, 0, PAGE);

        const baseMap = await pageMapOf(base, PAGE);
        const nextMap = await pageMapOf(next, PAGE);
        const runs = diffPageMaps(baseMap, nextMap);
        let differing = 0;
        for (let p = 1; p <= newPages; p++) {
          if (p > basePages || !base.subarray((p - 1) * PAGE, p * PAGE).equals(next.subarray((p - 1) * PAGE, p * PAGE))) differing++;
        }
        expect(runPages(runs)).toBe(differing);
        for (let i = 1; i < runs.length; i++) expect(runs[i]!.first).toBeGreaterThan(runs[i - 1]!.first + runs[i - 1]!.count);

        const dir = path.join(tmp.dir, String(run++));
        await fs.mkdir(dir);
        await fs.writeFile(path.join(dir, 'next'), next);
        await fs.writeFile(path.join(dir, 'rebuilt'), base);
        const delta = createDeltaStream(path.join(dir, 'next'), PAGE, basePages, newPages, runs);
        const chunks: Buffer[] = [];
        for await (const chunk of delta.stream) chunks.push(chunk as Buffer);
        const bytes = Buffer.concat(chunks);
        expect(bytes.length).toBe(delta.size);
        expect(delta.size).toBe(deltaSize(PAGE, runs));

        // Applied in arbitrary chunk sizes, as a stream delivers it.
        const cut = 1 + (Math.abs(seed) % 700);
        const pieces = (async function* () {
          for (let i = 0; i < bytes.length; i += cut) yield bytes.subarray(i, i + cut);
        })();
        const handle = await fs.open(path.join(dir, 'rebuilt'), 'r+');
        try {
          await applyDelta(pieces, handle, { pageSize: PAGE, basePageCount: basePages, pageCount: newPages, pages: runPages(runs) });
        } finally {
          await handle.close();
        }
        expect((await fs.readFile(path.join(dir, 'rebuilt'))).equals(next)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a delta that does not fit the file or the manifest, or is cut short', async () => {
    const base = image(4, () => randomBytes(PAGE));
    const next = Buffer.from(base);
    randomBytes(PAGE).copy(next, PAGE);
    const runs = diffPageMaps(await pageMapOf(base, PAGE), await pageMapOf(next, PAGE));
    await fs.writeFile(path.join(tmp.dir, 'next'), next);
    const chunks: Buffer[] = [];
    for await (const chunk of createDeltaStream(path.join(tmp.dir, 'next'), PAGE, 4, 4, runs).stream) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const attempt = async (fileBytes: Buffer, body: Buffer, expected = { pageSize: PAGE, basePageCount: 4, pageCount: 4, pages: 1 }) => {
      const file = path.join(tmp.dir, 'target');
      await fs.writeFile(file, fileBytes);
      const handle = await fs.open(file, 'r+');
      try {
        await applyDelta([body], handle, expected);
      } finally {
        await handle.close();
      }
    };
    await expect(attempt(base.subarray(0, 3 * PAGE), bytes)).rejects.toThrow(/applies to a database of 4 pages, not 3/);
    await expect(attempt(base, bytes, { pageSize: PAGE, basePageCount: 4, pageCount: 5, pages: 1 })).rejects.toThrow(/pageCount 4, the manifest 5/);
    await expect(attempt(base, bytes.subarray(0, bytes.length - 10))).rejects.toThrow(/ends in the middle/);
    await expect(attempt(base, Buffer.concat([bytes, Buffer.alloc(8)]))).rejects.toThrow(/after its last run/);
    await expect(attempt(base, Buffer.from('not a delta at all, just some text..'))).rejects.toThrow(/bad magic/);
  });

  it('page maps round-trip through their stored form and refuse damage', async () => {
    const map = await pageMapOf(randomBytes(PAGE * 7), PAGE);
    const stored = encodePageMap(map);
    expect(decodePageMap(stored, 'm')).toEqual(map);
    expect(() => decodePageMap(stored.subarray(0, stored.length - 1), 'pagemap-x.bin')).toThrow(/pagemap-x.bin is malformed/);
  });
});
