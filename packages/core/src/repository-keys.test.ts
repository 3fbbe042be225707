import { describe, expect, it } from 'vitest';
import { repositoryKeys } from './repository-keys.js';

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
