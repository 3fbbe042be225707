import { describe, expect, it } from 'vitest';
import { IntegrityError } from './errors.js';
import { FileListCounts, comparePaths, entryOfFile, fileListLine, fileOfEntry, joinByPath, mergeByPath, parseFileListLine, pathsGone } from './file-list.js';
import type { ManifestFile } from './manifest.js';
import { collect, stream } from '../test/streams.js';

const THIS = '20261127T020000.000Z-bbbbbbbbbb';
const OLDER = '20261126T020000.000Z-aaaaaaaaaa';

function record(path: string, storedIn = THIS, extra: Partial<ManifestFile> = {}): ManifestFile {
  return { path, kind: 'config', mode: 0o644, size: 10, mtime: '2026-11-25T00:00:00.000Z', sha256: 'a'.repeat(64), storedIn, ...extra };
}

describe('file list lines', () => {
  it('a record round-trips through its line, link target and all, with its keys in a fixed order', () => {
    const link = record('config/alias.json', OLDER, { size: 0, mode: 0o777, linkTarget: 'bot.json' });
    const plain = record('bot.json');
    for (const r of [plain, link]) {
      const line = fileListLine(r);
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      expect(parseFileListLine(line, 1, undefined, 'test')).toEqual(r);
    }
    // Keys in the fixed order whatever order the record had; no linkTarget key on a plain file.
    const shuffled = { storedIn: THIS, sha256: plain.sha256, path: plain.path, mtime: plain.mtime, size: plain.size, mode: plain.mode, kind: plain.kind };
    expect(Object.keys(JSON.parse(fileListLine(shuffled)) as object)).toEqual(['path', 'kind', 'mode', 'size', 'mtime', 'sha256', 'storedIn']);
    expect(Object.keys(JSON.parse(fileListLine(link)) as object).at(-1)).toBe('linkTarget');
  });

  it('rejects a line that is not a file record', () => {
    for (const line of ['not json', '{}', JSON.stringify({ ...record('a'), kind: 'database' }), JSON.stringify({ ...record('a'), sha256: 'x' }), '[]']) {
      expect(() => parseFileListLine(line, 3, undefined, 'files.ndjson')).toThrow(IntegrityError);
      expect(() => parseFileListLine(line, 3, undefined, 'files.ndjson')).toThrow('The file list files.ndjson is damaged: line 3 is not a file record.');
    }
  });

  it('rejects a path out of order or repeated, and accepts one after its predecessor', () => {
    const line = fileListLine(record('b.json'));
    expect(parseFileListLine(line, 2, 'a.json', 'test').path).toBe('b.json');
    expect(() => parseFileListLine(line, 2, 'c.json', 'test')).toThrow(IntegrityError);
    expect(() => parseFileListLine(line, 2, 'c.json', 'test')).toThrow(/line 2 \("b.json"\) is out of order or repeated/);
    expect(() => parseFileListLine(line, 5, 'b.json', 'test')).toThrow(/line 5 \("b.json"\) is out of order or repeated/);
    const error = (() => {
      try {
        parseFileListLine(line, 2, 'c.json', 'test');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ code: 'BAD_MANIFEST' });
  });

  it('orders paths by UTF-16 code units', () => {
    const paths = ['b', 'a/b', 'a', 'a.json', 'B', 'é', 'a-b'];
    expect([...paths].sort(comparePaths)).toEqual([...paths].sort());
    expect(comparePaths('a', 'a')).toBe(0);
    expect(comparePaths('a/b', 'a.json')).toBeGreaterThan(0);
  });

  it('an archive entry and the record of a file stored in this backup convert both ways', () => {
    const link = record('l', THIS, { size: 0, linkTarget: 't' });
    expect(entryOfFile(link)).not.toHaveProperty('storedIn');
    expect(fileOfEntry(entryOfFile(link), THIS)).toEqual(link);
    expect(fileOfEntry(entryOfFile(record('x')), THIS)).not.toHaveProperty('linkTarget');
  });
});

describe('joinByPath', () => {
  it('pairs each item with the record of its path, or none, records missing on either side', async () => {
    const items = [{ path: 'a' }, { path: 'c' }, { path: 'd' }, { path: 'f' }];
    const records = [record('b'), record('c', OLDER), record('e'), record('f', OLDER), record('g')];
    const pairs = await collect(joinByPath(items, stream(records)));
    expect(pairs.map(([item, r]) => [item.path, r?.path, r?.storedIn])).toEqual([
      ['a', undefined, undefined],
      ['c', 'c', OLDER],
      ['d', undefined, undefined],
      ['f', 'f', OLDER],
    ]);
    // Items from an async source, and no records at all.
    expect((await collect(joinByPath(stream(items), stream([])))).map(([i, r]) => [i.path, r])).toEqual(items.map((i) => [i.path, undefined]));
  });
});

describe('mergeByPath', () => {
  it('merges two lists in path order into one', async () => {
    const a = [record('a'), record('c'), record('d')];
    const b = [record('b', OLDER), record('e', OLDER), record('f', OLDER)];
    const merged = await collect(mergeByPath(stream(a), stream(b)));
    expect(merged.map((r) => [r.path, r.storedIn])).toEqual([
      ['a', THIS],
      ['b', OLDER],
      ['c', THIS],
      ['d', THIS],
      ['e', OLDER],
      ['f', OLDER],
    ]);
    expect(await collect(mergeByPath(stream([]), stream(b)))).toEqual(b);
    expect(await collect(mergeByPath(stream(a), stream([])))).toEqual(a);
  });
});

describe('pathsGone', () => {
  it('yields the paths of the list before that the list after lacks', async () => {
    const before = ['a', 'b', 'c', 'd', 'e'].map((p) => record(p));
    const after = ['b', 'bb', 'd'].map((p) => record(p));
    expect(await collect(pathsGone(stream(before), stream(after)))).toEqual(['a', 'c', 'e']);
    expect(await collect(pathsGone(stream(before), stream(before)))).toEqual([]);
    expect(await collect(pathsGone(stream(before), stream([])))).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('FileListCounts', () => {
  it('counts every record, and those stored in its backup with their bytes', () => {
    const counts = new FileListCounts(THIS);
    expect(counts.toJSON()).toEqual({ files: 0, stored: 0, storedBytes: 0 });
    counts.add(record('a', THIS, { size: 7 }));
    counts.add(record('b', OLDER, { size: 1000 }));
    counts.add(record('c', THIS, { size: 0, linkTarget: 'a' }));
    counts.add(record('d', THIS, { size: 5 }));
    expect(counts.toJSON()).toEqual({ files: 4, stored: 3, storedBytes: 12 });
    expect(JSON.parse(JSON.stringify({ fileList: counts })) as unknown).toEqual({ fileList: { files: 4, stored: 3, storedBytes: 12 } });
  });
});
