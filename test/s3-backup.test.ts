import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { createBot, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

describe('backups to local disk and an S3-compatible server at once', () => {
  const tmp = useTempDir();
  let s3: S3rver;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(() => s3.stop());

  it('full and incremental backups reach both targets, and restore and verify read from S3 alone', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const bucket = await s3.newBucket();
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
    const { readFile, writeFile } = await import('node:fs/promises');
    // A second target: the S3 server, credentials from the environment.
    const text = (await readFile(config, 'utf8')).replace(
      /^compression:/m,
      `  - { name: s3, type: s3, bucket: ${bucket}, prefix: bots/prod, endpoint: "${s3.endpoint}", accessKeyId: "\${S3_KEY}", secretAccessKey: "\${S3_SECRET}" }\ncompression:`,
    );
    await writeFile(config, text);
    const env = { S3_KEY: S3RVER_CREDENTIALS.accessKeyId, S3_SECRET: S3RVER_CREDENTIALS.secretAccessKey };
    const cli = (...args: string[]) => runCli(['--config', config, ...args], { env });

    const full = await cli('--json', 'backup');
    expect(full.code, full.stderr).toBe(0);
    expect((JSON.parse(full.stdout) as { stored: { store: string; location: string }[] }).stored.map((s) => [s.store, s.location])).toEqual([
      ['local', path.join(tmp.dir, 'repo')],
      ['s3', `s3://${bucket}/bots/prod/ at ${s3.endpoint}`],
    ]);
    await writeFile(path.join(root, 'config/bot.json'), '{"risk":0.5}');
    const inc = await cli('--json', 'backup', '--incremental');
    expect(inc.code, inc.stderr).toBe(0);
    const { id, type } = JSON.parse(inc.stdout) as { id: string; type: string };
    expect(type).toBe('incremental');

    const listed = JSON.parse((await cli('--json', 'list', '--storage', 's3')).stdout) as { id: string }[];
    expect(listed.map((b) => b.id)).toContain(id);
    const verify = await cli('--json', 'verify', id, '--storage', 's3', '--deep');
    expect(verify.code, verify.stderr).toBe(0);
    const target = path.join(tmp.dir, 'restored');
    const restore = await cli('--json', 'restore', id, '--storage', 's3', '--target', target);
    expect(restore.code, restore.stderr).toBe(0);
    for (const file of ['config/bot.json', '.env', 'keys/binance.key']) {
      expect(await sha256File(path.join(target, file))).toBe(await sha256File(path.join(root, file)));
    }
  });
});
