import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryKeys, type Manifest } from '@botbackup/core';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { createBot, listFiles, runCli, useTempDir, writeConfig } from './helpers/bot.js';

const env = { S3_KEY: S3RVER_CREDENTIALS.accessKeyId, S3_SECRET: S3RVER_CREDENTIALS.secretAccessKey };

/** Issue 15: a full backup with one broken target degrades (exit 9) as an incremental does. */
describe('a full backup with one broken storage target and minCopies met by the others', () => {
  const tmp = useTempDir();
  let s3: S3rver;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(() => s3.stop());

  /** A config whose first target is `broken` and whose second is a good local folder; `s3` adds a third, S3 target. */
  async function setup(broken: string, options: { s3?: boolean; codec?: 'none' | 'zstd'; deals?: number } = {}) {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: options.deals });
    const good = path.join(tmp.dir, 'good');
    const file = await writeConfig(tmp.dir, { root, repo: broken, codec: options.codec, extra: 'minCopies: 1\n' });
    const s3Line = options.s3
      ? `  - { name: s3, type: s3, bucket: ${await s3.newBucket()}, endpoint: "${s3.endpoint}", accessKeyId: "\${S3_KEY}", secretAccessKey: "\${S3_SECRET}" }\n`
      : '';
    const text = (await fs.readFile(file, 'utf8')).replace(
      /^compression:/m,
      `  - { name: good, type: local, path: ${JSON.stringify(good)} }\n${s3Line}compression:`,
    );
    await fs.writeFile(file, text);
    const cli = (...args: string[]) => runCli(['--config', file, ...args], { env });
    return { cli, good };
  }

  async function expectDegraded(cli: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, good: string, failed: string[]) {
    const backup = await cli('--json', 'backup');
    expect(backup.code, backup.stderr).toBe(9);
    expect(backup.stderr).not.toMatch(/internal error|ENOTDIR/i);
    expect(backup.stderr).toMatch(/^botbackup: Backup \S+ was committed to 1 of \d storage targets, not to "local": .+; run "botbackup replicate" once/m);
    const result = JSON.parse(backup.stdout) as { id: string; type: string; stored: { store: string }[]; failed: { store: string; error: string }[] };
    expect(result.type).toBe('full');
    expect(result.stored.map((s) => s.store)).toEqual(['good']);
    expect(result.failed.map((f) => f.store)).toEqual(failed);
    const manifest = JSON.parse(await fs.readFile(path.join(good, repositoryKeys.manifest('testbot', result.id)), 'utf8')) as Manifest;
    expect(manifest.copies?.written).toEqual(['good']);
    expect(manifest.copies?.failed.map((f) => f.target)).toEqual(failed);
    // The committed copy is whole: verify passes on it.
    const verify = await cli('verify', result.id, '--storage', 'good');
    expect(verify.code, verify.stderr).toBe(0);
    return result;
  }

  it('a local target whose path is a regular file: committed to the other, degraded (exit 9), one sentence naming the target', async () => {
    const broken = path.join(tmp.dir, 'not-a-folder');
    await fs.writeFile(broken, 'a file where the repository should be\n');
    const { cli, good } = await setup(broken);
    const result = await expectDegraded(cli, good, ['local']);
    expect(result.failed[0]!.error).toMatch(/^Storage "local": .*not-a-folder is not a folder/);
    expect(await fs.readFile(broken, 'utf8')).toBe('a file where the repository should be\n');
  });

  it('a local target that is a regular file and an unreachable S3 target: committed to the third, degraded', async () => {
    const broken = path.join(tmp.dir, 'not-a-folder');
    await fs.writeFile(broken, 'x');
    const { cli, good } = await setup(broken, { s3: true });
    await s3.kill();
    try {
      await expectDegraded(cli, good, ['local', 's3']);
    } finally {
      await s3.restart();
    }
  });

  // Needs root to mount a small tmpfs (as restore-safety's full-disk test).
  it.skipIf(process.getuid?.() !== 0)('a full local target (a small tmpfs): committed to the other, degraded, nothing left on the full one', async () => {
    const small = path.join(tmp.dir, 'small');
    await fs.mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
    try {
      const { cli, good } = await setup(small, { codec: 'none' });
      const result = await expectDegraded(cli, good, ['local']);
      expect(result.failed[0]!.error).toMatch(/out of disk space/);
      expect(await listFiles(small)).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});
