import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StorageError } from '@botbackup/core';
import { S3Store } from '../src/index.js';
import { S3RVER_CREDENTIALS as credentials, startS3rver, type S3rver } from './s3rver.js';
import { describeStoreContract } from './store-contract.js';

let server: S3rver;
let endpoint = '';
const newBucket = () => server.newBucket();

beforeAll(async () => {
  server = await startS3rver();
  endpoint = server.endpoint;
});

afterAll(() => server.stop());

describeStoreContract('S3Store (s3rver)', async () => {
  const bucket = await newBucket();
  // A small part size, so the contract's larger objects go through real multipart uploads.
  return { store: new S3Store({ name: 's3', bucket, prefix: 'repo', endpoint, credentials, partSize: 5 * 1024 * 1024 }), cleanup: async () => undefined };
});

describe('S3Store errors', () => {
  it('a missing bucket, wrong credentials and an unreachable endpoint: one clear sentence each, no secret', async () => {
    const missing = new S3Store({ name: 's3', bucket: 'no-such-bucket', endpoint, credentials });
    // (A HEAD response has no body to say which is missing, so stat() cannot tell; put and get can.)
    for (const attempt of [() => missing.put('data/x', Buffer.from('x')), () => missing.get('manifests/x.json')]) {
      const e1 = await attempt().catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(StorageError);
      expect((e1 as StorageError).storageCode).toBe('UNAVAILABLE');
      expect((e1 as Error).message).toMatch(/The bucket "no-such-bucket" of storage "s3" .* does not exist; create it or fix "bucket" in the config\./);
    }

    const bucket = await newBucket();
    const wrong = new S3Store({
      name: 's3',
      bucket,
      endpoint,
      credentials: { accessKeyId: 'WRONGKEY', secretAccessKey: 'not-the-secret-123' },
      maxAttempts: 1,
    });
    const e2 = await wrong.put('data/x', Buffer.from('x')).catch((e: unknown) => e);
    expect((e2 as StorageError).storageCode).toBe('PERMISSION');
    expect((e2 as Error).message).not.toContain('not-the-secret-123');

    const down = new S3Store({ name: 's3', bucket, endpoint: 'http://127.0.0.1:1', credentials, maxAttempts: 1 });
    const e3 = await down.stat('data/x').catch((e: unknown) => e);
    expect((e3 as StorageError).storageCode).toBe('UNAVAILABLE');
    expect((e3 as Error).message).toMatch(/Cannot reach storage "s3" .* check the endpoint/);
  });
});

describe('S3Store: the SDK loaded on first use', () => {
  it('a body that fails while the SDK is still loading fails the put, with nothing unhandled and nothing stored', async () => {
    // A fresh copy of the module: its first call has to load the SDK.
    vi.resetModules();
    const { S3Store: FreshStore } = await import('../src/s3-store.js');
    const store = new FreshStore({ name: 's3', bucket: await newBucket(), endpoint, credentials });
    const failing = new Readable({ read: () => undefined });
    const put = store.put('early/obj', failing).catch((e: unknown) => e);
    failing.destroy(new Error('source died'));
    const error = await put;
    // As when the body fails mid-way: the put fails (an IO error, since the body's error is no
    // S3 error), caused by the body's error.
    expect((error as StorageError).storageCode).toBe('IO');
    expect(((error as Error).cause as Error).message).toBe('source died');
    expect(await store.stat('early/obj')).toBeUndefined();
  });
});

describe('S3Store probe', () => {
  it('fails with one sentence each for a missing bucket, wrong credentials and a refused connection (exit 5, no secret)', async () => {
    const missing = await new S3Store({ name: 's3', bucket: 'no-such-bucket', endpoint, credentials }).probe().catch((e: unknown) => e);
    expect((missing as StorageError).storageCode).toBe('UNAVAILABLE');
    expect((missing as StorageError).exitCode).toBe(5);
    expect((missing as Error).message).toMatch(/^The bucket "no-such-bucket" of storage "s3" .* does not exist; create it or fix "bucket" in the config\.$/);

    const bucket = await newBucket();
    const secretAccessKey = 'not-the-secret-123';
    const wrong = await new S3Store({ name: 's3', bucket, endpoint, credentials: { accessKeyId: 'WRONGKEY', secretAccessKey } })
      .probe()
      .catch((e: unknown) => e);
    expect((wrong as StorageError).storageCode).toBe('PERMISSION');
    expect((wrong as Error).message).toMatch(/^storage "s3" .* refused the check of the repository \(InvalidAccessKeyId\); check the access key/);
    expect((wrong as Error).message).not.toContain(secretAccessKey);

    const started = Date.now();
    const down = await new S3Store({ name: 's3', bucket, endpoint: 'http://127.0.0.1:1', credentials }).probe().catch((e: unknown) => e);
    expect((down as StorageError).storageCode).toBe('UNAVAILABLE');
    expect((down as Error).message).toMatch(
      /^Cannot reach storage "s3" \(s3:\/\/.* at http:\/\/127\.0\.0\.1:1\) for the check of the repository \(ECONNREFUSED\); check the endpoint/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives a server that accepts connections but does not answer up after 5 s', async () => {
    const store = new S3Store({ name: 's3', bucket: await newBucket(), endpoint, credentials });
    await store.probe();
    server.freeze();
    try {
      const started = Date.now();
      const error = await store.probe().catch((e: unknown) => e);
      expect((error as StorageError).storageCode).toBe('UNAVAILABLE');
      expect((error as Error).message).toMatch(/^Storage "s3" \(s3:\/\/.*\) did not answer within 5 s; check the endpoint and that the server is running\.$/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      server.thaw();
    }
    await store.probe();
  });
});
