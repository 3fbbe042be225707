import { IntegrityError } from '@botbackup/core';
import { describe, expect, it } from 'vitest';
import { decodeCommits, encodeCommits } from '../src/repository/pack-commits.js';

describe("a pack's commit list", () => {
  const commits: [number, number][] = [
    [103, 1796677004881],
    [104, 1796677004881],
    [110, 1796677004890],
    [4100, 1796677041682],
  ];
  it('round-trips, at a few bytes a commit, and says where the frames begin', () => {
    const encoded = Buffer.concat([encodeCommits(commits, 101), Buffer.from('frames')]);
    const { commits: back, end } = decodeCommits(encoded, 101, 'pack p');
    expect(back).toEqual(commits);
    expect(encoded.subarray(end).toString()).toBe('frames');
    // The first time is whole (6 bytes); the rest are small distances.
    expect(end).toBeLessThan(4 + 7 + 3 * 4);
  });
  it('refuses commits out of order when encoding', () => {
    expect(() =>
      encodeCommits(
        [
          [5, 10],
          [5, 11],
        ],
        1,
      ),
    ).toThrow(/out of order/);
    expect(() =>
      encodeCommits(
        [
          [5, 10],
          [6, 9],
        ],
        1,
      ),
    ).toThrow(/out of order/);
  });
  it('refuses a list cut short, an empty one, or one claiming more commits than the body holds', () => {
    const encoded = encodeCommits(commits, 101);
    for (const bad of [encoded.subarray(0, 3), encoded.subarray(0, encoded.length - 1), Buffer.from([0, 0, 0, 0]), Buffer.from([0, 0, 1, 0, 1, 1])]) {
      expect(() => decodeCommits(bad, 101, 'pack p')).toThrow(IntegrityError);
    }
  });
});
