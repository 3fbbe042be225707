import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '@botbackup/core';
import { LocalStore } from '../src/index.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('LocalStore', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bb-local-'));
  return { store: new LocalStore({ name: 'local', path: dir }), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
});

describe('LocalStore specifics', () => {
  it('writes objects 0600 in folders 0700 and keeps temp files out of listings', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bb-local-'));
    try {
      const store = new LocalStore({ name: 'local', path: dir });
      await store.put('data/s/obj', Buffer.from('secret'));
      expect((await fs.stat(path.join(dir, 'data/s/obj'))).mode & 0o777).toBe(0o600);
      expect((await fs.stat(path.join(dir, 'data/s'))).mode & 0o777).toBe(0o700);
      await fs.writeFile(path.join(dir, '.tmp', 'stale.part'), 'x');
      const keys: string[] = [];
      for await (const o of store.list('')) keys.push(o.key);
      expect(keys).toEqual(['data/s/obj']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('LocalStore probe', () => {
  it('passes for a folder that does not exist yet (a put creates it) and creates nothing; fails with the sentence a put would meet when a file is in the way', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bb-local-'));
    try {
      const later = path.join(dir, 'not', 'yet');
      await new LocalStore({ name: 'local', path: later }).probe();
      await expect(fs.stat(path.join(dir, 'not'))).rejects.toThrow(/ENOENT/);

      await fs.writeFile(path.join(dir, 'file'), 'x');
      const error = await new LocalStore({ name: 'local', path: path.join(dir, 'file', 'repo') }).probe().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).storageCode).toBe('IO');
      expect((error as StorageError).exitCode).toBe(5);
      expect((error as Error).message).toBe(
        `Storage "local": ${path.join(dir, 'file', 'repo')} is not a folder (a file is in the way); fix the target's path.`,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
