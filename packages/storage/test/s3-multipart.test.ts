import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '@botbackup/core';
import { S3Store } from '../src/index.js';
import { S3RVER_CREDENTIALS as credentials, startS3rver, type S3rver } from './s3rver.js';

let server: S3rver;
let proxy: http.Server;
let proxyEndpoint = '';
/** "<METHOD> <path and query>" of every request that went through the proxy, in order. */
const seen: string[] = [];

beforeAll(async () => {
  server = await startS3rver();
  // A forwarding proxy in front of s3rver that records what the store sends (s3rver logs nothing).
  const target = new URL(server.endpoint);
  proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyEndpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  await server.stop();
});

describe('S3Store: unfinished multipart uploads', () => {
  it('an upload whose body fails after a part was sent is aborted on the server (AbortMultipartUpload)', async () => {
    const bucket = await server.newBucket();
    const store = new S3Store({ name: 's3', bucket, prefix: 'repo', endpoint: proxyEndpoint, credentials, partSize: 5 * 1024 * 1024 });
    seen.length = 0;
    // 6 MiB (one whole part and more), then the source fails, as a dying backup's archive would.
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 6; i++) yield Buffer.alloc(1024 * 1024, i);
        throw new Error('the source failed');
      })(),
    );
    const error = await store.put('data/bot/x/archive.tar.zst', body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    const key = `/${bucket}/repo/data/bot/x/archive.tar.zst`;
    expect(seen.some((r) => r.startsWith(`POST ${key}?uploads`))).toBe(true);
    const uploadId = /uploadId=([^&]+)/.exec(seen.find((r) => r.startsWith(`PUT ${key}?`)) ?? '')?.[1];
    expect(uploadId, seen.join('\n')).toBeDefined();
    // (s3rver does not implement AbortMultipartUpload and answers 405; AWS and MinIO remove the parts.)
    expect(seen.filter((r) => r.startsWith('DELETE ')).map((r) => r.replace(/[?&]x-id=AbortMultipartUpload/, ''))).toEqual([
      `DELETE ${key}?uploadId=${uploadId}`,
    ]);
  });

  it('removeStaleTemp on a server without ListMultipartUploads (s3rver answers NotImplemented) removes nothing and does not fail', async () => {
    const bucket = await server.newBucket();
    const store = new S3Store({ name: 's3', bucket, prefix: 'repo', endpoint: proxyEndpoint, credentials });
    seen.length = 0;
    expect(await store.removeStaleTemp({ graceMs: 0 })).toEqual([]);
    expect(seen.map((r) => r.split('?')[0])).toEqual([`GET /${bucket}/`]);
    expect(seen[0]).toContain('uploads');
  });

  it('removeStaleTemp on a server that does not answer gives up after 10 s (not the whole stallTimeout) and removes nothing', async () => {
    const bucket = await server.newBucket();
    const store = new S3Store({ name: 's3', bucket, prefix: 'repo', endpoint: server.endpoint, credentials, stallTimeoutMs: 60_000 });
    server.freeze();
    try {
      const started = Date.now();
      expect(await store.removeStaleTemp({ graceMs: 0 })).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      server.thaw();
    }
  }, 30_000);
});
