import { Readable } from 'node:stream';
import { randomBytes, createHash } from 'node:crypto';
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { StorageError } from '@botbackup/core';
import type { BackupStore } from '../src/index.js';

/** What a backend's test provides: a fresh, empty store per test, and its cleanup. */
export interface StoreFixture {
  store: BackupStore;
  cleanup(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * The conformance suite of the `BackupStore` contract. Every backend runs exactly this suite
 * against a real instance (a temp folder, a real S3-compatible server...).
 */
export function describeStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`BackupStore contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: BackupStore;
    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('round-trips a buffer and a multi-chunk stream byte for byte', async () => {
      await store.put('a/small.bin', Buffer.from('hello'));
      expect((await readAll(await store.get('a/small.bin'))).toString()).toBe('hello');

      // 12 MB: several parts of a multipart upload where the backend uses them (5 MiB in the S3 tests).
      const chunks = Array.from({ length: 120 }, () => randomBytes(100_003));
      const expected = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
      const { size } = await store.put('a/big.bin', Readable.from(chunks));
      expect(size).toBe(120 * 100_003);
      const got = await readAll(await store.get('a/big.bin'));
      expect(createHash('sha256').update(got).digest('hex')).toBe(expected);
    });

    it('reads a byte range', async () => {
      await store.put('r/obj', Buffer.from('0123456789'));
      expect((await readAll(await store.get('r/obj', { range: { start: 2, end: 5 } }))).toString()).toBe('2345');
      expect((await readAll(await store.get('r/obj', { range: { start: 7 } }))).toString()).toBe('789');
    });

    it('throws NOT_FOUND from get for a missing key, and stat returns undefined', async () => {
      const error = await store.get('missing/key').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).storageCode).toBe('NOT_FOUND');
      expect((error as StorageError).key).toBe('missing/key');
      expect(await store.stat('missing/key')).toBeUndefined();
    });

    it('replaces an existing object on put', async () => {
      await store.put('x/obj', Buffer.from('first version'));
      await store.put('x/obj', Buffer.from('second'));
      expect((await readAll(await store.get('x/obj'))).toString()).toBe('second');
      expect((await store.stat('x/obj'))?.size).toBe(6);
    });

    it('lists by prefix in key order, with sizes, and nothing outside the prefix', async () => {
      const keys = ['p/b/2', 'p/a/1', 'p/c', 'q/other', 'pp/not-this'];
      for (const key of keys) await store.put(key, Buffer.from(key));
      const listed = await collect(store.list('p/'));
      expect(listed.map((o) => o.key)).toEqual(['p/a/1', 'p/b/2', 'p/c']);
      expect(listed.map((o) => o.size)).toEqual([5, 5, 3]);
      expect(await collect(store.list('nothing-here/'))).toEqual([]);
    });

    it('lists more objects than fit one page of a paginated backend', async () => {
      const n = 1100;
      await Promise.all(Array.from({ length: n }, (_, i) => store.put(`many/${String(i).padStart(5, '0')}`, Buffer.from([i % 256]))));
      const listed = await collect(store.list('many/'));
      expect(listed).toHaveLength(n);
      expect(listed[0]!.key).toBe('many/00000');
      expect(listed[n - 1]!.key).toBe(`many/${String(n - 1).padStart(5, '0')}`);
    });

    it('deletes idempotently', async () => {
      await store.put('d/obj', Buffer.from('x'));
      await store.delete('d/obj');
      expect(await store.stat('d/obj')).toBeUndefined();
      await expect(store.delete('d/obj')).resolves.toBeUndefined();
    });

    it('leaves nothing visible when the body stream fails mid-way', async () => {
      const failing = new Readable({
        read() {
          this.push(randomBytes(1000));
          this.destroy(new Error('source died'));
        },
      });
      await expect(store.put('f/partial', failing)).rejects.toThrow();
      expect(await store.stat('f/partial')).toBeUndefined();
      expect(await collect(store.list('f/'))).toEqual([]);
    });

    it('honours an AbortSignal: the put fails with ABORTED and leaves nothing', async () => {
      const controller = new AbortController();
      let sent = 0;
      const endless = new Readable({
        read() {
          sent++;
          if (sent === 3) controller.abort();
          this.push(randomBytes(1 << 16));
        },
      });
      const error = await store.put('abort/obj', endless, { signal: controller.signal }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).storageCode).toBe('ABORTED');
      expect(await store.stat('abort/obj')).toBeUndefined();
    });

    it('probe() passes on a usable store and writes nothing, before and after a put', async () => {
      await expect(store.probe()).resolves.toBeUndefined();
      expect(await collect(store.list(''))).toEqual([]);
      await store.put('probe/obj', Buffer.from('x'));
      await expect(store.probe()).resolves.toBeUndefined();
      expect((await collect(store.list(''))).map((o) => o.key)).toEqual(['probe/obj']);
    });

    it('rejects keys that could escape the repository', async () => {
      for (const key of ['../x', '/abs', 'a//b', 'a/./b', '', 'a\\b']) {
        const error = await store.put(key, Buffer.from('x')).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((error as StorageError).storageCode, key).toBe('INVALID_KEY');
      }
    });
  });
}
