import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-process.mjs');

/** s3rver accepts only these credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * A running s3rver (see s3rver-process.mjs): its endpoint, a way to make buckets, stop(), and
 * for fault tests kill() (SIGKILL, as a crashed server: its data stays) and restart() (the same
 * data on the same port).
 */
export interface S3rver {
  endpoint: string;
  /** The folder where the server keeps its buckets (one folder per bucket). */
  directory: string;
  newBucket(): Promise<string>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections and port but answers nothing (a hung server); thaw() resumes it. */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

async function spawnS3rver(dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', script, dir, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return { child, port: Number(/^port (\d+)$/.exec(line)![1]) };
}

export async function startS3rver(): Promise<S3rver> {
  // As the botbackup command does: the pinned AWS SDK's Node-version notice is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bb-s3rver-'));
  let { child, port } = await spawnS3rver(dir, 0);
  const endpoint = `http://127.0.0.1:${port}`;
  const killed = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  return {
    endpoint,
    directory: dir,
    kill: killed,
    async restart() {
      await killed();
      ({ child, port } = await spawnS3rver(dir, port));
    },
    freeze() {
      child.kill('SIGSTOP');
    },
    thaw() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
    },
    async newBucket() {
      const bucket = `bb-${randomBytes(6).toString('hex')}`;
      const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      client.destroy();
      return bucket;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        const closed = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await closed;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
