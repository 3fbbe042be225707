import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';

const env = { S3_KEY: S3RVER_CREDENTIALS.accessKeyId, S3_SECRET: S3RVER_CREDENTIALS.secretAccessKey };

describe('an S3 target that stops answering (a frozen server)', () => {
  const tmp = useTempDir();
  let s3: S3rver;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(() => s3.stop());

  it('fails that target after stallTimeout without progress; with minCopies 1 the local copy is committed (exit 9) and verifies', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const bucket = await s3.newBucket();
    const file = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), extra: 'minCopies: 1\n' });
    const text = (await fs.readFile(file, 'utf8')).replace(
      /^compression:/m,
      `  - { name: s3, type: s3, bucket: ${bucket}, prefix: bots, endpoint: "${s3.endpoint}", accessKeyId: "\${S3_KEY}", secretAccessKey: "\${S3_SECRET}", stallTimeout: 2s }\ncompression:`,
    );
    await fs.writeFile(file, text);
    const cli = (...args: string[]) => runCli(['--config', file, ...args], { env });

    // The server accepts connections (the kernel does) but never answers: a hung server.
    s3.freeze();
    try {
      const started = Date.now();
      const backup = await cli('--json', 'backup');
      expect(backup.code, backup.stderr).toBe(9);
      // Not forever, and not once per retry: a few stall timeouts at most.
      expect(Date.now() - started).toBeLessThan(30_000);
      // The line logged when the target is given up (a JSON log line: --json), naming it.
      const stalled = backup.stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { store?: string; err?: string; msg: string })
        .filter((entry) => entry.store === 's3');
      // One line while it waits (before it is given up), then the one that gives it up.
      expect(
        stalled.map((entry) => entry.msg.replace(/\(s3:\/\/[^)]+\)/, '(…)')),
        backup.stderr,
      ).toEqual([
        'Waiting for storage "s3" (…): nothing sent or received for 1 s; it is given up after 2 s without progress (stallTimeout).',
        'storage target failed; the backup goes on without it',
      ]);
      expect(stalled[1]!.err).toMatch(/Storage "s3" \(s3:\/\/.+\) stopped answering: the \w+ of \S+ made no progress for 2 s \(stallTimeout\)/);
      expect(backup.stderr).toMatch(/^botbackup: Backup \S+ was committed to 1 of 2 storage targets, not to "s3": Storage "s3" .+ stopped answering/m);
      const result = JSON.parse(backup.stdout) as { id: string; stored: { store: string }[]; failed: { store: string }[] };
      expect(result.stored.map((s) => s.store)).toEqual(['local']);
      expect(result.failed.map((f) => f.store)).toEqual(['s3']);

      const verify = await cli('--json', 'verify', result.id, '--storage', 'local', '--deep');
      expect(verify.code, verify.stderr).toBe(0);
    } finally {
      s3.thaw();
    }
  });
});
