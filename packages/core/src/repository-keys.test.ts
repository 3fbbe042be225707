import { describe, expect, it } from 'vitest';
import { formatWalSegmentName, parseWalSegmentName, repositoryKeys, type WalSegmentName } from './repository-keys.js';

const ID = '20261126T062717.123Z-k3j9x2m0qa';

describe('repositoryKeys: an object is named for what it is', () => {
  it.each([
    ['zstd', false, 'archive.tar.zst'],
    ['zstd', true, 'archive.tar.zst.age'],
    ['gzip', false, 'archive.tar.gz'],
    ['gzip', true, 'archive.tar.gz.age'],
    ['none', false, 'archive.tar'],
    ['none', true, 'archive.tar.age'],
  ] as const)('the archive, %s, encrypted %s: %s', (codec, encrypted, name) => {
    expect(repositoryKeys.archive('bot', ID, codec, encrypted)).toBe(`data/bot/${ID}/${name}`);
  });

  it('a page map ends in .age when it is encrypted', () => {
    expect(repositoryKeys.pageMap('bot', ID, 'trades', false)).toBe(`data/bot/${ID}/pagemap-trades.bin`);
    expect(repositoryKeys.pageMap('bot', ID, 'trades', true)).toBe(`data/bot/${ID}/pagemap-trades.bin.age`);
  });

  it('the file list (never encrypted) is named for its codec only', () => {
    expect(repositoryKeys.fileList('bot', ID, 'zstd')).toBe(`data/bot/${ID}/files.ndjson.zst`);
    expect(repositoryKeys.fileList('bot', ID, 'gzip')).toBe(`data/bot/${ID}/files.ndjson.gz`);
    expect(repositoryKeys.fileList('bot', ID, 'none')).toBe(`data/bot/${ID}/files.ndjson`);
  });

  it('every object of a backup, old names and new, belongs to it', () => {
    for (const key of [
      repositoryKeys.archive('bot', ID, 'zstd', true),
      repositoryKeys.archive('bot', ID, 'zstd', false),
      repositoryKeys.pageMap('bot', ID, 'trades', true),
      repositoryKeys.fileList('bot', ID, 'zstd'),
    ]) {
      expect(key.startsWith(repositoryKeys.dataPrefix('bot', ID)), key).toBe(true);
      expect(repositoryKeys.parseDataKey(key), key).toEqual({ sourceId: 'bot', backupId: ID });
    }
  });
});

describe('WAL segment and pack names', () => {
  const segment: WalSegmentName = { seq: 42, salt: [0x0badcafe, 0x12345678], firstFrame: 101, lastFrame: 117, lastCommitAt: 1765126800123 };
  const pack: WalSegmentName = { ...segment, lastSeq: 97, lastFrame: 5117, firstSegmentAt: 1765126755123, maxGapMs: 812 };
  it('a segment name says what its header does, and parses back', () => {
    expect(formatWalSegmentName(segment)).toBe('0000000042-1765126800123-0badcafe12345678-101-117.walseg');
    expect(parseWalSegmentName(formatWalSegmentName(segment))).toEqual(segment);
  });
  it('a pack name adds its last number, its first segment time and its longest gap, and parses back', () => {
    expect(formatWalSegmentName(pack)).toBe('0000000042-0000000097-1765126800123-0badcafe12345678-101-5117-1765126755123-812.walpack');
    expect(parseWalSegmentName(formatWalSegmentName(pack))).toEqual(pack);
    const key = repositoryKeys.walSegment('bot', '20261207T170000Z-abc123', 'trades', pack);
    expect(repositoryKeys.parseWalKey(key)).toEqual({
      sourceId: 'bot',
      generation: '20261207T170000Z-abc123',
      kind: 'segment',
      database: 'trades',
      segment: pack,
    });
  });
  it('segments and packs sort by their first number', () => {
    const names = [
      { ...pack, seq: 3, lastSeq: 9 },
      { ...segment, seq: 10 },
      { ...segment, seq: 2 },
    ].map(formatWalSegmentName);
    expect([...names].sort()).toEqual([names[2], names[0], names[1]]);
  });
  it('refuses a pack whose last number is not after its first, and names of neither kind', () => {
    expect(parseWalSegmentName('0000000042-0000000042-1765126800123-0badcafe12345678-101-5117-1765126755123-812.walpack')).toBeUndefined();
    expect(parseWalSegmentName('0000000042-1765126800123-0badcafe12345678-101-117.walpack')).toBeUndefined();
    expect(parseWalSegmentName('0000000042-1765126800123-0badcafe12345678-101-117.walseg.tmp')).toBeUndefined();
  });
});
