import { describe, expect, it } from 'vitest';
import type { WalSegmentName } from './repository-keys.js';
import { foldWalPieces, oneOfEachNumber } from './wal-pieces.js';

const S: [number, number] = [1, 2];
const seg = (seq: number): { key: string; name: WalSegmentName } => ({
  key: `s${seq}`,
  name: { seq, salt: S, firstFrame: seq * 10 - 9, lastFrame: seq * 10, lastCommitAt: 1000 + seq },
});
const pack = (seq: number, lastSeq: number): { key: string; name: WalSegmentName } => ({
  key: `p${seq}-${lastSeq}`,
  name: { seq, lastSeq, salt: S, firstFrame: seq * 10 - 9, lastFrame: lastSeq * 10, lastCommitAt: 1000 + lastSeq, firstSegmentAt: 1000 + seq, maxGapMs: 1 },
});
const keys = (list: { key: string }[]) => list.map((e) => e.key);

describe('foldWalPieces: the segments and packs a restore reads', () => {
  it('segments alone, in number order whatever the listing order', () => {
    const folded = foldWalPieces([seg(3), seg(1), seg(2)]);
    expect(keys(folded.pieces)).toEqual(['s1', 's2', 's3']);
    expect(folded.shadowed).toEqual([]);
  });
  it('a pack is read instead of the segments it holds, which are shadowed; later segments follow it', () => {
    const folded = foldWalPieces([seg(1), seg(2), seg(3), seg(4), pack(1, 3), seg(5)]);
    expect(keys(folded.pieces)).toEqual(['p1-3', 's4', 's5']);
    expect(keys(folded.shadowed).sort()).toEqual(['s1', 's2', 's3']);
  });
  it('packs one after another, a pruned prefix before them', () => {
    const folded = foldWalPieces([pack(7, 9), pack(4, 6), seg(10)]);
    expect(keys(folded.pieces)).toEqual(['p4-6', 'p7-9', 's10']);
    expect(folded.shadowed).toEqual([]);
  });
  it('the same pack listed by two targets is read once', () => {
    const folded = foldWalPieces([pack(1, 3), pack(1, 3), seg(4)]);
    expect(keys(folded.pieces)).toEqual(['p1-3', 's4']);
    expect(keys(folded.shadowed)).toEqual(['p1-3']);
  });
  it('two segments with one number under two names both stay (the sequence check reports them); a restore reads the first', () => {
    const renamed = { key: 's2-renamed', name: { ...seg(2).name, lastCommitAt: 9999 } };
    const folded = foldWalPieces([seg(1), seg(2), renamed, seg(3)]);
    expect(keys(folded.pieces)).toEqual(['s1', 's2', 's2-renamed', 's3']);
    expect(folded.shadowed).toEqual([]);
    expect(keys(oneOfEachNumber(folded.pieces))).toEqual(['s1', 's2', 's3']);
  });
  it('an object overlapping a piece only in part stays among the pieces (the sequence check reports it), and is never shadowed', () => {
    const folded = foldWalPieces([pack(1, 3), pack(3, 5)]);
    expect(keys(folded.pieces)).toEqual(['p1-3', 'p3-5']);
    expect(folded.shadowed).toEqual([]);
  });
});
