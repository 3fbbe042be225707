import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serializeManifest, type Manifest } from './manifest.js';
import { backupSizes, summarizeManifest } from './manifest-summary.js';
import { manifestChunks } from './manifest-text.js';

const json: fc.Arbitrary<unknown> = fc.jsonValue();

describe('manifestChunks', () => {
  it('joined, they are exactly serializeManifest (any object of JSON values, with undefined members left out)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.oneof(json, fc.array(json), fc.constant(undefined))), (value) => {
        const manifest = value as unknown as Manifest;
        expect([...manifestChunks(manifest)].join('')).toBe(serializeManifest(manifest));
      }),
      { numRuns: 300 },
    );
  });

  it('a manifest of many files: the same bytes, in pieces of about 64 Ki characters', () => {
    const files = Array.from({ length: 5000 }, (_, i) => ({
      path: `state/f${i}.json`,
      kind: 'other',
      mode: 0o644,
      size: i,
      mtime: 'x',
      sha256: 'a'.repeat(64),
      storedIn: 'id',
    }));
    const manifest = { format: 'botbackup.manifest', id: 'id', files, deleted: [], stats: { entryBytes: 1 }, copies: undefined } as unknown as Manifest;
    const chunks = [...manifestChunks(manifest)];
    expect(chunks.join('')).toBe(serializeManifest(manifest));
    expect(chunks.length).toBeGreaterThan(10);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(64 * 1024 + 300);
    expect(summarizeManifest({ ...manifest, entries: [], excluded: [] }).counts).toEqual({ entries: 0, files: 5000, excluded: 0 });
  });
});

describe('backupSizes', () => {
  const object = (key: string, size: number) => ({
    key,
    role: 'archive' as const,
    size,
    sha256: 'a'.repeat(64),
    compression: 'zstd' as const,
    encryption: null,
  });

  it("stored: every object of the backup (archive, file list, page maps) added up; packed: the entries' bytes", () => {
    const objects = [object('archive.tar.zst', 1000), object('files.ndjson.zst', 200), object('pagemap-trades.bin', 30)];
    expect(backupSizes({ objects, stats: { entryBytes: 5000, storedBytes: 1230, durationMs: 1 } })).toEqual({ entryBytes: 5000, storedBytes: 1230 });
    // From the objects, not the stats: a stat that disagrees with them is not what storage holds.
    expect(backupSizes({ objects, stats: { entryBytes: 5000, storedBytes: 1000, durationMs: 1 } }).storedBytes).toBe(1230);
  });

  it("the same numbers from a manifest and from the catalog's summary of it", () => {
    const manifest = {
      files: [],
      entries: [],
      excluded: [],
      objects: [object('a', 7), object('b', 9)],
      stats: { entryBytes: 40, storedBytes: 16, durationMs: 1 },
    } as unknown as Manifest;
    expect(backupSizes(summarizeManifest(manifest))).toEqual(backupSizes(manifest));
    expect(backupSizes(manifest)).toEqual({ entryBytes: 40, storedBytes: 16 });
  });
});
