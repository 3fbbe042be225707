import { describe, expect, it } from 'vitest';
import { formatBackupSizes, formatBytes, formatSeconds } from './format.js';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [5 * 1024 ** 2 + 1, '5.0 MiB'],
    [3.25 * 1024 ** 3, '3.3 GiB'],
    [2048 * 1024 ** 4, '2048.0 TiB'],
  ])('%d bytes → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('formatSeconds', () => {
  it.each([
    [0, '0.0 s'],
    [4210, '4.2 s'],
    [59_960, '60.0 s'],
    [3_600_000, '3600.0 s'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatSeconds(ms)).toBe(text);
  });
});

describe('formatBackupSizes', () => {
  it('says packed, then stored', () => {
    expect(formatBackupSizes({ entryBytes: 2.4 * 1024 ** 2, storedBytes: 603.3 * 1024 })).toBe('2.4 MiB packed, 603.3 KiB stored');
    expect(formatBackupSizes({ entryBytes: 0, storedBytes: 512 })).toBe('0 B packed, 512 B stored');
  });
});
