import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress } from 'zstd-napi';
import { IntegrityError } from '@botbackup/core';
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, walChecksum } from '../src/sqlite/sqlite-wal.js';
import { decodeWalPack, WalPackWriter, type WalPackOptions } from '../src/sqlite/wal-pack.js';
import { seededRandom as prng } from '../../../test/helpers/random.js';

/** The frames of a real -wal file and what a pack of them needs beside the body. */
interface Wal extends WalPackOptions {
  frames: Buffer;
  count: number;
  frameSize: number;
}

const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOGE/USDT', 'AVAX/USDT', 'LINK/USDT'];
const WORDS = ['entry', 'exit', 'signal', 'rsi', 'macd', 'crossover', 'stop', 'limit', 'filled', 'partial', 'trailing', 'breakout', 'volume', 'spike', 'grid'];

function note(random: () => number): string {
  const length = 100 + Math.floor(random() * 201);
  let text = '';
  while (text.length < length) text += `${WORDS[Math.floor(random() * WORDS.length)]} `;
  return text.slice(0, length);
}

/**
 * Writes a trade bot's database in WAL mode, one transaction per trade, with updates and deletes
 * of older trades and a table created midway, and returns its -wal file's frames. The WAL is
 * read while the writer's connection is open: closing it would checkpoint and delete the WAL.
 */
function tradeWal(dir: string, name: string, pageSize: number, trades: number, seed: number): Wal {
  const file = path.join(dir, `${name}.db`);
  const db = new Database(file);
  try {
    db.pragma(`page_size = ${pageSize}`);
    db.pragma('journal_mode = wal');
    db.pragma('wal_autocheckpoint = 0');
    db.exec(`create table trades(id integer primary key, ts integer not null, symbol text not null, price real not null, qty real not null, note text not null);
      create index trades_symbol_ts on trades(symbol, ts);`);
    const random = prng(seed);
    const insert = db.prepare('insert into trades(ts, symbol, price, qty, note) values (?, ?, ?, ?, ?)');
    const update = db.prepare('update trades set qty = ?, note = ? where id = ?');
    const remove = db.prepare('delete from trades where id = ?');
    let ts = 1_700_000_000_000;
    for (let i = 1; i <= trades; i++) {
      ts += 1 + Math.floor(random() * 20);
      const symbol = SYMBOLS[Math.floor(random() * SYMBOLS.length)]!;
      insert.run(ts, symbol, Math.round(random() * 6e6) / 100, Math.round(random() * 1e5) / 1e4, note(random));
      if (i % 25 === 0) update.run(Math.round(random() * 1e5) / 1e4, note(random), 1 + Math.floor(random() * i));
      if (i % 60 === 0) remove.run(1 + Math.floor(random() * i));
      if (i === Math.floor(trades / 2)) db.exec('create table positions(symbol text primary key, qty real not null, updated integer not null)');
      if (i > trades / 2 && i % 3 === 0) db.prepare('insert or replace into positions values (?, ?, ?)').run(symbol, random() * 10, ts);
    }
    expect(db.pragma('page_size', { simple: true })).toBe(pageSize);
    return walFrames(fs.readFileSync(`${file}-wal`));
  } finally {
    db.close();
  }
}

/** Frames of a -wal file: the header gives the page size, salts (bytes 16-23) and chain start (bytes 24-31). */
function walFrames(wal: Buffer): Wal {
  const pageSize = wal.readUInt32BE(8);
  const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
  const frames = wal.subarray(WAL_HEADER_SIZE);
  expect(frames.length % frameSize).toBe(0);
  return {
    pageSize,
    salt: [wal.readUInt32BE(16), wal.readUInt32BE(20)],
    chainStart: [wal.readUInt32BE(24), wal.readUInt32BE(28)],
    bigEndian: wal.readUInt32BE(0) === 0x377f0683,
    frames,
    count: frames.length / frameSize,
    frameSize,
  };
}

function frameAt(wal: Wal, index: number): Buffer {
  return wal.frames.subarray(index * wal.frameSize, (index + 1) * wal.frameSize);
}

function pack(wal: Wal, frames = wal.frames): ReturnType<WalPackWriter['finish']> {
  const writer = new WalPackWriter(wal.pageSize, wal.salt, wal.chainStart);
  writer.append(frames);
  return writer.finish();
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** A body written by hand (layout in wal-pack.ts) from whole records (head, then its range heads and bytes, or its page), split into the body's parts. */
function craftBody(records: Buffer[]): Buffer {
  const parts: Buffer[][] = [[], [], [], []];
  for (const r of records) {
    parts[0]!.push(r.subarray(0, 9));
    if (r[8] !== 1) {
      parts[3]!.push(r.subarray(9));
      continue;
    }
    const n = r.readUInt16BE(9);
    parts[1]!.push(r.subarray(9, 11 + 4 * n));
    parts[2]!.push(r.subarray(11 + 4 * n));
  }
  const head = Buffer.alloc(25);
  head.writeUInt8(2, 0);
  head.writeUInt32BE(records.length, 1);
  [1, 2, 3].forEach((k, i) => head.writeUInt32BE(Buffer.concat(parts[k]!).length, 13 + 4 * i));
  return Buffer.concat([head, ...parts.flat()]);
}

function record(page: number, tag: number, rest: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(page, 0);
  head.writeUInt8(tag, 8);
  return Buffer.concat([head, rest]);
}

function rangesOf(ranges: [offset: number, bytes: Buffer][]): Buffer {
  const entries = Buffer.alloc(2 + 4 * ranges.length);
  entries.writeUInt16BE(ranges.length, 0);
  ranges.forEach(([offset, bytes], k) => {
    entries.writeUInt16BE(offset, 2 + 4 * k);
    entries.writeUInt16BE(bytes.length, 4 + 4 * k);
  });
  return Buffer.concat([entries, ...ranges.map(([, bytes]) => bytes)]);
}

describe('WAL packs', () => {
  let dir: string;
  let trades: Wal;
  let other: Wal;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bb-wal-pack-'));
    trades = tradeWal(dir, 'trades', 4096, 3000, 1);
    other = tradeWal(dir, 'other', 4096, 20, 2);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('decodes to the exact frames of a real WAL, its chain ending at the last frame’s checksum', () => {
    expect(trades.count).toBeGreaterThan(3000);
    const packed = pack(trades);
    expect(packed.frames).toBe(trades.count);
    expect(packed.bigEndian).toBe(trades.bigEndian);
    const last = frameAt(trades, trades.count - 1);
    expect(packed.chainEnd).toEqual([last.readUInt32BE(16), last.readUInt32BE(20)]);

    const decoded = decodeWalPack(packed.body, trades);
    expect(decoded.count).toBe(trades.count);
    expect(decoded.chainEnd).toEqual(packed.chainEnd);
    expect(decoded.frames.equals(trades.frames)).toBe(true);
  });

  it('gives the same body appended in chunks of random whole-frame sizes as in one append', () => {
    const random = prng(7);
    const writer = new WalPackWriter(trades.pageSize, trades.salt, trades.chainStart);
    let appends = 0;
    for (let frame = 0; frame < trades.count; appends++) {
      const take = Math.min(trades.count - frame, 1 + Math.floor(random() * 40));
      writer.append(trades.frames.subarray(frame * trades.frameSize, (frame + take) * trades.frameSize));
      frame += take;
    }
    expect(appends).toBeGreaterThan(100);
    expect(writer.finish().body.equals(pack(trades).body)).toBe(true);
  });

  it('compresses (zstd-3) to well under 0.6 of the raw frames compressed alike', () => {
    const frames = compress(trades.frames, { compressionLevel: 3 }).length;
    const packed = compress(pack(trades).body, { compressionLevel: 3 }).length;
    expect(packed, `pack ${packed} B, frames ${frames} B (${trades.frames.length} B raw, ${trades.count} frames)`).toBeLessThan(0.6 * frames);
  });

  it('finds big-endian checksums (a WAL written on a big-endian machine) and round-trips them', () => {
    // The same frames with their chain computed on big-endian words, as SQLite writes them there.
    const frames = Buffer.from(trades.frames.subarray(0, 200 * trades.frameSize));
    let chain = trades.chainStart;
    for (let i = 0; i < 200; i++) {
      const frame = frames.subarray(i * trades.frameSize, (i + 1) * trades.frameSize);
      chain = walChecksum(frame.subarray(WAL_FRAME_HEADER_SIZE), true, walChecksum(frame.subarray(0, 8), true, chain));
      frame.writeUInt32BE(chain[0], 16);
      frame.writeUInt32BE(chain[1], 20);
    }
    const packed = pack(trades, frames);
    expect(packed.bigEndian).toBe(true);
    expect(decodeWalPack(packed.body, { ...trades, bigEndian: true }).frames.equals(frames)).toBe(true);
  });

  it('refuses a damaged checksum, a frame of another WAL and a chunk of part of a frame, and stays usable after', () => {
    const damaged = Buffer.from(trades.frames.subarray(0, 20 * trades.frameSize));
    // One bit of frame 10's stored checksum flipped.
    damaged[9 * trades.frameSize + 19]! ^= 1;
    const writer = new WalPackWriter(trades.pageSize, trades.salt, trades.chainStart);
    expect(() => writer.append(damaged)).toThrow(/frame 10 \(page \d+\) has checksum .* but the chain through the frame before it gives/);
    // Refused whole: nothing of the chunk was taken.
    expect(writer.frames).toBe(0);

    const firstDamaged = Buffer.from(frameAt(trades, 0));
    firstDamaged[22]! ^= 1;
    expect(() => writer.append(firstDamaged)).toThrow(/frame 1 \(page 1\) has checksum .* gives in neither byte order/);

    writer.append(trades.frames.subarray(0, 5 * trades.frameSize));
    expect(thrown(() => writer.append(frameAt(other, 5)))).toBeInstanceOf(IntegrityError);
    expect(() => writer.append(frameAt(other, 5))).toThrow(/frame 6 has salts [0-9a-f/]+, not the pack's [0-9a-f/]+: it belongs to another WAL/);
    expect(() => writer.append(trades.frames.subarray(5 * trades.frameSize, 6 * trades.frameSize + 100))).toThrow(
      /a chunk of 4220 bytes is not a whole number of 4120-byte frames/,
    );

    writer.append(trades.frames.subarray(5 * trades.frameSize));
    expect(writer.finish().body.equals(pack(trades).body)).toBe(true);
  });

  it('refuses a truncated body, trailing bytes, and a wrong chain start, each with an IntegrityError', () => {
    const { body } = pack(trades);
    const truncated = thrown(() => decodeWalPack(body.subarray(0, body.length - 1), trades));
    expect(truncated).toBeInstanceOf(IntegrityError);
    expect((truncated as IntegrityError).message).toMatch(/the body ends after \d+ bytes, but its header says it holds \d+; it is truncated/);
    expect(() => decodeWalPack(body.subarray(0, body.length >> 1), trades)).toThrow(IntegrityError);
    expect(() => decodeWalPack(body.subarray(0, 5), trades)).toThrow(/inside its header/);

    const longer = thrown(() => decodeWalPack(Buffer.concat([body, Buffer.from([0])]), trades));
    expect(longer).toBeInstanceOf(IntegrityError);
    expect((longer as IntegrityError).message).toMatch(/1 bytes follow its last frame/);

    const wrongStart = thrown(() => decodeWalPack(body, { ...trades, chainStart: [(trades.chainStart[0] ^ 1) >>> 0, trades.chainStart[1]] }));
    expect(wrongStart).toBeInstanceOf(IntegrityError);
    expect((wrongStart as IntegrityError).code).toBe('CHECKSUM_MISMATCH');
  });

  it('refuses a range past the page and changes to a page without an earlier full image', () => {
    const options: WalPackOptions = { pageSize: 1024, salt: [1, 2], chainStart: [3, 4], bigEndian: false };
    const full = record(3, 0, Buffer.alloc(1024, 7));
    const pastPage = craftBody([full, record(3, 1, rangesOf([[1020, Buffer.alloc(8, 9)]]))]);
    const past = thrown(() => decodeWalPack(pastPage, options));
    expect(past).toBeInstanceOf(IntegrityError);
    expect((past as IntegrityError).message).toMatch(/frame 2: range 1 \(8 bytes at offset 1020\) ends past the page of 1024 bytes/);

    const noBase = craftBody([full, record(5, 1, rangesOf([[0, Buffer.from([1])]]))]);
    const orphan = thrown(() => decodeWalPack(noBase, options));
    expect(orphan).toBeInstanceOf(IntegrityError);
    expect((orphan as IntegrityError).message).toMatch(/frame 2 holds changes to page 5, which has no earlier full image/);

    const overlapping = craftBody([
      full,
      record(
        3,
        1,
        rangesOf([
          [10, Buffer.alloc(4)],
          [12, Buffer.alloc(4)],
        ]),
      ),
    ]);
    expect(() => decodeWalPack(overlapping, options)).toThrow(/range 2 .* does not start after the range before it/);
    expect(() => decodeWalPack(craftBody([record(3, 2, Buffer.alloc(1024))]), options)).toThrow(/frame 1 has tag 2/);
  });

  it.each([65536, 1024])('round-trips a database of %i-byte pages', (pageSize) => {
    const wal = tradeWal(dir, `pages-${pageSize}`, pageSize, pageSize > 4096 ? 300 : 1500, 3);
    expect(wal.pageSize).toBe(pageSize);
    const packed = pack(wal);
    const decoded = decodeWalPack(packed.body, { ...wal, bigEndian: packed.bigEndian });
    expect(decoded.count).toBe(wal.count);
    expect(decoded.frames.equals(wal.frames)).toBe(true);
    expect(packed.body.length).toBeLessThan(wal.frames.length / 4);
  });
});
