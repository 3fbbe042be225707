import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../src/index.js';

/**
 * The cleanup of multipart uploads a killed process left (ListMultipartUploads, ListParts,
 * AbortMultipartUpload) needs a server that implements them; s3rver does not (see
 * s3-multipart.test.ts for what happens there). Python's moto does, and is on this project's
 * machines (`moto_server`); where it is not installed, this file is skipped and says why.
 */
const moto = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).stdout.trim();
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

let server: ChildProcess | undefined;
let endpoint = '';

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  if (!moto) return;
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  server = spawn(moto, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  // Ready when it answers; bounded, not a guess at how long it takes to start.
  for (let i = 0; ; i++) {
    const ok = await fetch(endpoint).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error('moto_server did not start within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(() => {
  server?.kill('SIGKILL');
});

describe.skipIf(!moto)('S3Store.removeStaleTemp against a server that lists multipart uploads (moto)', () => {
  it('aborts the unfinished uploads under its prefix older than the grace period, reports their size, and leaves the others', async () => {
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    const bucket = 'leftovers';
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    // What a killed backup leaves: an upload begun, one 5 MiB part sent, never completed.
    const begin = async (key: string, bytes: number) => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(bytes, 7) }));
      return UploadId!;
    };
    await begin('repo/data/bot/20261206T000000Z-aaaa/archive.tar.zst', 5 * 1024 * 1024);
    const otherId = await begin('other-app/big.bin', 1024);
    const store = new S3Store({ name: 's3', bucket, prefix: 'repo', endpoint, credentials, forcePathStyle: true });
    const uploads = async () => (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.map((u) => u.Key).sort() ?? [];

    // moto dates every upload far in the past (2010): a grace period longer than that keeps it.
    expect(await store.removeStaleTemp({ graceMs: 100 * 365 * 24 * 3600_000 })).toEqual([]);
    expect(await uploads()).toEqual(['other-app/big.bin', 'repo/data/bot/20261206T000000Z-aaaa/archive.tar.zst']);

    const removed = await store.removeStaleTemp({ graceMs: 3600_000 });
    expect(removed).toEqual([expect.objectContaining({ path: 'data/bot/20261206T000000Z-aaaa/archive.tar.zst', bytes: 5 * 1024 * 1024 })]);
    // Only what is under the store's prefix: another application's upload in the bucket is left.
    expect(await uploads()).toEqual(['other-app/big.bin']);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'other-app/big.bin', UploadId: otherId }));
    client.destroy();
  });
});
