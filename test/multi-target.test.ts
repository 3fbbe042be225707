import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryKeys, type Manifest } from '@botbackup/core';
import { listBackupIds, loadConfig, replicate, runBackup } from '@botbackup/engine';
import { createStore, type BackupStore } from '@botbackup/storage';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { createBot, flipByte, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

const env = { S3_KEY: S3RVER_CREDENTIALS.accessKeyId, S3_SECRET: S3RVER_CREDENTIALS.secretAccessKey };

/** Every key under a prefix of a store. */
async function keys(store: BackupStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

describe('several storage targets: degraded backups, replicate, fallback to a good copy', () => {
  const tmp = useTempDir();
  let s3: S3rver;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(() => s3.stop());

  /** A bot and a config with a local target and an S3 target (in this order). */
  async function setup(options: { extra?: string; codec?: 'zstd' | 'none'; deals?: number } = {}) {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: options.deals });
    const bucket = await s3.newBucket();
    const file = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), codec: options.codec, extra: options.extra });
    const text = (await fs.readFile(file, 'utf8')).replace(
      /^compression:/m,
      `  - { name: s3, type: s3, bucket: ${bucket}, prefix: bots, endpoint: "${s3.endpoint}", accessKeyId: "\${S3_KEY}", secretAccessKey: "\${S3_SECRET}" }\ncompression:`,
    );
    await fs.writeFile(file, text);
    const cli = (...args: string[]) => runCli(['--config', file, ...args], { env });
    Object.assign(process.env, env);
    const config = await loadConfig(file);
    const [local, remote] = config.storage.map(createStore) as [BackupStore, BackupStore];
    /** The file s3rver keeps an object's bytes in. */
    const s3File = (key: string) => path.join(s3.directory, bucket, 'bots', ...path.dirname(key).split('/'), `${path.basename(key)}._S3rver_object`);
    return { root, file, cli, config, local, remote, s3File };
  }

  it('S3 down for a whole backup: with minCopies 1 the local copy is committed as degraded (exit 9); replicate completes it', async () => {
    const { cli, local, remote, root } = await setup({ extra: 'minCopies: 1\n' });
    await s3.kill();
    try {
      const backup = await cli('--json', 'backup');
      expect(backup.code, backup.stderr).toBe(9);
      expect(backup.stderr).toMatch(
        /^botbackup: Backup \S+ was committed to 1 of 2 storage targets, not to "s3": Cannot reach storage "s3" .+; run "botbackup replicate" once it is back\.$/m,
      );
      const result = JSON.parse(backup.stdout) as { id: string; failed: { store: string }[] };
      expect(result.failed.map((f) => f.store)).toEqual(['s3']);
      const manifest = JSON.parse(await fs.readFile(path.join(tmp.dir, 'repo', repositoryKeys.manifest('testbot', result.id)), 'utf8')) as Manifest;
      expect(manifest.copies?.written).toEqual(['local']);
      expect(manifest.copies?.failed.map((f) => f.target)).toEqual(['s3']);

      const listed = JSON.parse((await cli('--json', 'list')).stdout) as { id: string; degraded: boolean; copies: { target: string; state: string }[] }[];
      expect(listed.map((b) => [b.id, b.degraded, b.copies.map((c) => `${c.target}:${c.state}`)])).toEqual([
        [result.id, true, ['local:unverified', 's3:unreachable']],
      ]);

      // Still down: replicate says the target is unreachable.
      const stillDown = await cli('replicate');
      expect(stillDown.code).toBe(5);
      expect(stillDown.stderr).toContain('storage "s3" is unreachable');
    } finally {
      await s3.restart();
    }
    expect(await listBackupIds(remote)).toEqual([]);

    // Back up: an incremental first copies the parent it builds on into S3, so S3 holds whole chains.
    await fs.writeFile(path.join(root, 'config/bot.json'), '{"risk":0.25}');
    const inc = await cli('--json', 'backup', '--incremental');
    expect(inc.code, inc.stderr).toBe(0);
    const incResult = JSON.parse(inc.stdout) as { id: string; type: string; repaired: { store: string; backupId: string }[]; parent: string };
    expect(incResult.type).toBe('incremental');
    expect(incResult.repaired).toEqual([{ store: 's3', backupId: incResult.parent }]);
    expect((await listBackupIds(remote)).map((b) => b.backupId)).toEqual((await listBackupIds(local)).map((b) => b.backupId));

    const again = await cli('--json', 'replicate');
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { copied: unknown[]; inSync: number }).copied).toEqual([]);
    const verify = await cli('--json', 'verify', '--all');
    expect(verify.code, verify.stderr).toBe(0);
    const copies = JSON.parse(verify.stdout) as { id: string; store: string; ok: boolean }[];
    expect(copies.map((c) => [c.store, c.ok])).toEqual([
      ['local', true],
      ['s3', true],
      ['local', true],
      ['s3', true],
    ]);
    // list shows both copies verified, and the first backup, which was degraded, no longer is.
    const listed = JSON.parse((await cli('--json', 'list')).stdout) as { degraded: boolean; copies: { target: string; state: string }[] }[];
    expect(listed.map((b) => [b.degraded, b.copies.map((c) => `${c.target}:${c.state}`)])).toEqual([
      [false, ['local:verified', 's3:verified']],
      [false, ['local:verified', 's3:verified']],
    ]);
  });

  it('S3 down with the default minCopies (all): nothing is committed anywhere (exit 5)', async () => {
    const { cli, local } = await setup();
    await s3.kill();
    try {
      const backup = await cli('backup');
      expect(backup.code).toBe(5);
      expect(backup.stderr).toMatch(
        /^botbackup: The backup reached 1 of 2 storage targets, fewer than minCopies \(2\), so nothing was committed \("s3": Cannot reach storage "s3" .+\)\.$/m,
      );
      expect(await keys(local)).toEqual([]);
    } finally {
      await s3.restart();
    }
  });

  it('S3 dies in the middle of an upload: nothing partial is listed there, and replicate completes the copy', async () => {
    // Uncompressed, so that the archive is several multipart parts and the kill lands mid-upload.
    const { config, local, remote } = await setup({ extra: 'minCopies: 1\n', codec: 'none', deals: 120_000 });
    let killed: Promise<void> | undefined;
    const result = await runBackup({
      config,
      stores: [local, remote],
      onProgress: (event) => {
        // Half the archive has been packed: the upload (at the pace of the slowest target) is under way, and not done.
        if (event.phase === 'pack' && event.total && event.done > event.total / 2) killed ??= s3.kill();
      },
    });
    await killed;
    expect(result.failed.map((f) => f.store)).toEqual(['s3']);
    await s3.restart();
    expect(await keys(remote)).toEqual([]);
    // The archive was big enough to be several multipart parts.
    expect((await fs.stat(path.join(tmp.dir, 'repo', result.manifest.objects[0]!.key))).size).toBeGreaterThan(16 << 20);

    const replicated = await replicate({ stores: [local, remote], orphanGraceMs: 0 });
    expect(replicated.copied.map((c) => [c.backupId, c.from, c.to])).toEqual([[result.manifest.id, 'local', 's3']]);
    expect((await keys(remote)).sort()).toEqual([repositoryKeys.manifest('testbot', result.manifest.id), ...result.manifest.objects.map((o) => o.key)].sort());
  });

  it('S3 dies after the archive was uploaded: the backup fails, and replicate removes the leftover object', async () => {
    const { config, local, remote } = await setup();
    // Fault injection: the server is killed for real just as the first page map is about to be stored.
    const dying: BackupStore = Object.create(remote, {
      put: {
        value: async (key: string, ...rest: Parameters<BackupStore['put']> extends [string, ...infer R] ? R : never) => {
          if (key.includes('/pagemap-')) await s3.kill();
          return remote.put(key, ...rest);
        },
      },
    }) as BackupStore;
    const failure = await runBackup({ config, stores: [local, dying] }).catch((e: unknown) => e as Error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/^The backup reached 1 of 2 storage targets, fewer than minCopies \(2\)/);
    await s3.restart();
    expect(await keys(local)).toEqual([]);
    expect(await keys(remote, 'manifests/')).toEqual([]);
    // The archive and the file list were stored before the page maps.
    const leftovers = (await keys(remote)).sort();
    expect(leftovers).toHaveLength(2);
    expect(leftovers[0]).toMatch(/^data\/testbot\/[^/]+\/archive\.tar\.zst$/);
    expect(leftovers[1]).toMatch(/^data\/testbot\/[^/]+\/files\.ndjson\.zst$/);

    // Within the grace period a leftover may be an upload in progress: it stays.
    expect((await replicate({ stores: [local, remote], orphanGraceMs: 3600_000 })).removed).toEqual([]);
    const swept = await replicate({ stores: [local, remote], orphanGraceMs: 0 });
    expect(swept.removed.map((r) => r.key).sort()).toEqual(leftovers);
    expect(swept.removed.every((r) => r.store === 's3')).toBe(true);
    expect(await keys(remote)).toEqual([]);
  });

  it('a flipped byte in one target: verify names that copy and restore uses the other; with both copies damaged, restore names both', async () => {
    const { cli, root, local, s3File } = await setup();
    const backup = await cli('--json', 'backup');
    expect(backup.code, backup.stderr).toBe(0);
    const { id } = JSON.parse(backup.stdout) as { id: string };
    const [archive] = (await keys(local, repositoryKeys.dataPrefix('testbot', id))).filter((k) => k.includes('archive'));
    await flipByte(path.join(tmp.dir, 'repo', archive!));

    const verify = await cli('--json', 'verify', id);
    expect(verify.code).toBe(6);
    const copies = JSON.parse(verify.stdout) as { store: string; ok: boolean; error?: string }[];
    expect(copies.map((c) => [c.store, c.ok])).toEqual([
      ['local', false],
      ['s3', true],
    ]);
    expect(copies[0]!.error).toContain(`in storage "local"`);
    expect(verify.stderr).toContain(archive);

    const target = path.join(tmp.dir, 'restored');
    const restore = await cli('restore', id, '--target', target);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`the copy in "local" is not usable`);
    expect(restore.stdout).toContain(`from "s3"`);
    expect(await sha256File(path.join(target, 'keys/binance.key'))).toBe(await sha256File(path.join(root, 'keys/binance.key')));

    // Now damage the S3 copy as well, on the server's disk: nothing good is left to restore.
    await flipByte(s3File(archive!));
    const none = await cli('restore', id, '--target', path.join(tmp.dir, 'nowhere'));
    expect(none.code).toBe(6);
    expect(none.stderr).toMatch(/No storage target holds a good copy of backup \S+: "local": .+; "s3": .+/);
    await expect(fs.stat(path.join(tmp.dir, 'nowhere'))).rejects.toThrow();
  });

  it('verify --repair replaces a bad copy with a good one from another target', async () => {
    const { cli, local, s3File } = await setup();
    const backup = await cli('--json', 'backup');
    const { id } = JSON.parse(backup.stdout) as { id: string };
    const [archive] = (await keys(local, repositoryKeys.dataPrefix('testbot', id))).filter((k) => k.includes('archive'));
    await flipByte(s3File(archive!));
    const repaired = await cli('verify', id, '--repair');
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toContain(`FAILED ${id} in "s3"`);
    expect(repaired.stdout).toContain(`repaired ${id} in "s3" with the copy in "local"`);
    const after = await cli('--json', 'verify', id);
    expect(after.code, after.stderr).toBe(0);
  });

  it('wrong credentials and a missing bucket: the backup goes on without that target, with one sentence saying why', async () => {
    const { file } = await setup({ extra: 'minCopies: 1\n' });
    // s3rver checks the access key id (a wrong secret alone gets through it; MinIO and AWS refuse both).
    const secret = 'not-the-S3RVER-secret-5d1f';
    const wrongKey = await runCli(['--config', file, 'backup'], { env: { S3_KEY: 'AKIAWRONGKEY', S3_SECRET: secret } });
    expect(wrongKey.code, wrongKey.stderr).toBe(9);
    expect(wrongKey.stderr).toMatch(
      /^botbackup: Backup \S+ was committed to 1 of 2 storage targets, not to "s3": storage "s3" .+ refused the put of .+; check the access key, the secret key and the bucket policy; run .+$/m,
    );
    expect(wrongKey.stderr + wrongKey.stdout).not.toContain(secret);

    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace(/bucket: bb-[0-9a-f]+/, 'bucket: no-such-bucket-here'));
    const noBucket = await runCli(['--config', file, 'backup'], { env });
    expect(noBucket.code, noBucket.stderr).toBe(9);
    expect(noBucket.stderr).toMatch(/^botbackup: Backup \S+ was committed to 1 of 2 storage targets, not to "s3": .*no-such-bucket-here.*$/m);
  });
});
