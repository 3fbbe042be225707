import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePageMap, deltaSize, diffPageMaps, encodeDeltaHeader, encodePageMap, encodeRunHeader, runPages } from '@botbackup/core';
import { applyDelta, createDeltaStream, PageRebuild, pageMapOf } from '@botbackup/engine';
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

  it('a chain read newest first, the snapshot last, rebuilds the newest image exactly, whatever pages the links share (property)', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(changeArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 40 }), async (changes, snapshotPages) => {
        const dir = path.join(tmp.dir, `chain-${round++}`);
        await fs.mkdir(dir);
        // Image 0 is the snapshot; each change rewrites some pages (often the same ones as the
        // change before: they come from one small range) and grows or shrinks the file.
        const images = [image(snapshotPages, () => randomBytes(PAGE))];
        for (const { newPages, rewritten } of changes) {
          const prev = images.at(-1)!;
          const prevPages = prev.length / PAGE;
          const changed = new Set(rewritten);
          images.push(image(newPages, (p) => (p <= prevPages && !changed.has(p) ? prev.subarray((p - 1) * PAGE, p * PAGE) : randomBytes(PAGE))));
        }
        const deltas: { bytes: Buffer; expected: { pageSize: number; basePageCount: number; pageCount: number; pages: number } }[] = [];
        for (let j = 1; j < images.length; j++) {
          const [base, next] = [images[j - 1]!, images[j]!];
          const runs = diffPageMaps(await pageMapOf(base, PAGE), await pageMapOf(next, PAGE));
          await fs.writeFile(path.join(dir, 'next'), next);
          const chunks: Buffer[] = [];
          for await (const chunk of createDeltaStream(path.join(dir, 'next'), PAGE, base.length / PAGE, next.length / PAGE, runs).stream)
            chunks.push(chunk as Buffer);
          deltas.push({
            bytes: Buffer.concat(chunks),
            expected: { pageSize: PAGE, basePageCount: base.length / PAGE, pageCount: next.length / PAGE, pages: runPages(runs) },
          });
        }
        const newest = images.at(-1)!;
        const rebuild = new PageRebuild(PAGE, newest.length / PAGE);
        const file = path.join(dir, 'rebuilt');
        const handle = await fs.open(file, 'wx+');
        try {
          await handle.truncate(rebuild.size);
          // Delivered in odd piece sizes, so that pages are split across pieces.
          const cut = 1 + (Math.abs(changes[0]!.seed) % 700);
          for (const { bytes, expected } of deltas.reverse()) await rebuild.applyDelta(pieces(bytes, cut), handle.fd, expected);
          const sha256 = await rebuild.writeBase(pieces(images[0]!, cut), handle.fd, images[0]!.length, undefined);
          expect(sha256).toBe(createHash('sha256').update(newest).digest('hex'));
        } finally {
          await handle.close();
        }
        expect((await fs.readFile(file)).equals(newest)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses, newest first, a delta or snapshot that does not fit the newer link, and a page that no link holds', async () => {
    const base = image(4, () => randomBytes(PAGE));
    /** A hand-made delta: its header and one run of random pages. */
    const delta = (basePageCount: number, pageCount: number, run: { first: number; count: number }, extra = Buffer.alloc(0)) =>
      Buffer.concat([
        encodeDeltaHeader({ pageSize: PAGE, basePageCount, pageCount, runCount: 1, pages: run.count }),
        encodeRunHeader(run),
        randomBytes(run.count * PAGE),
        extra,
      ]);
    const expect4 = (basePageCount: number, pageCount: number, pages: number) => ({ pageSize: PAGE, basePageCount, pageCount, pages });
    const attempt = async (steps: (r: PageRebuild, fd: number) => Promise<unknown>, pageCount = 4) => {
      const file = path.join(tmp.dir, `refused-${Math.random().toString(36).slice(2)}`);
      const handle = await fs.open(file, 'wx+');
      try {
        const rebuild = new PageRebuild(PAGE, pageCount);
        await handle.truncate(rebuild.size);
        await steps(rebuild, handle.fd);
      } finally {
        await handle.close();
      }
    };
    // The newest delta leaves 4 pages from a base of 4; the one before it says it leaves 5.
    await expect(
      attempt(async (r, fd) => {
        await r.applyDelta(pieces(delta(4, 4, { first: 2, count: 1 }), 100), fd, expect4(4, 4, 1));
        await r.applyDelta(pieces(delta(4, 5, { first: 5, count: 1 }), 100), fd, expect4(4, 5, 1));
      }),
    ).rejects.toThrow(/leaves a database of 5 pages, but the newer backup's delta applies to one of 4/);
    // The snapshot under a delta from 4 pages holds 3.
    await expect(
      attempt(async (r, fd) => {
        await r.applyDelta(pieces(delta(4, 4, { first: 2, count: 1 }), 100), fd, expect4(4, 4, 1));
        await r.writeBase(pieces(base.subarray(0, 3 * PAGE), 100), fd, 3 * PAGE, undefined);
      }),
    ).rejects.toThrow(/holds 3 pages, but the delta after it applies to a database of 4/);
    // A delta that grows 2 pages to 4 but holds only page 3: page 4 is in no link.
    await expect(
      attempt(async (r, fd) => {
        await r.applyDelta(pieces(delta(2, 4, { first: 3, count: 1 }), 100), fd, expect4(2, 4, 1));
        await r.writeBase(pieces(base.subarray(0, 2 * PAGE), 100), fd, 2 * PAGE, undefined);
      }),
    ).rejects.toThrow(/page 4 of the database is in no backup of the chain/);
    // Malformed as ever: bytes after the last run, a header the manifest does not say.
    await expect(attempt((r, fd) => r.applyDelta(pieces(delta(4, 4, { first: 1, count: 1 }, Buffer.alloc(8)), 100), fd, expect4(4, 4, 1)))).rejects.toThrow(
      /after its last run/,
    );
    await expect(attempt((r, fd) => r.applyDelta(pieces(delta(4, 4, { first: 1, count: 1 }), 100), fd, expect4(3, 4, 1)))).rejects.toThrow(
      /basePageCount 4, the manifest 3/,
    );
  });

  it('page maps round-trip through their stored form and refuse damage', async () => {
    const map = await pageMapOf(randomBytes(PAGE * 7), PAGE);
    const stored = encodePageMap(map);
    expect(decodePageMap(stored, 'm')).toEqual(map);
    expect(() => decodePageMap(stored.subarray(0, stored.length - 1), 'pagemap-x.bin')).toThrow(/pagemap-x.bin is malformed/);
  });
});

/** `bytes` as a stream delivers it, in pieces of `cut` bytes. */
async function* pieces(bytes: Buffer, cut: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += cut) yield bytes.subarray(i, i + cut);
}
