import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { serializeManifest, type Manifest } from '@botbackup/core';
import { zstdTar } from './helpers/archive.js';
import { cliBin, createBot, listFiles, runCli, sha256File, tempDir, writeConfig } from './helpers/bot.js';
import { fileListPath, writeStoredFiles } from './helpers/file-list.js';

let dir: string;
let cleanup: () => Promise<void>;
let root: string;
let repo: string;
let configFile: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  root = path.join(dir, 'bot');
  repo = path.join(dir, 'repo');
  await createBot(root);
  configFile = await writeConfig(dir, { root, repo });
});
afterEach(() => cleanup());

async function backup(): Promise<Manifest> {
  const result = await runCli(['--config', configFile, 'backup', '--json']);
  expect(result.code, result.stderr).toBe(0);
  const info = JSON.parse(result.stdout) as { id: string };
  return JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${info.id}.json`), 'utf8')) as Manifest;
}

const archivePath = (m: Manifest) => path.join(repo, m.objects[0]!.key);

describe('backup and restore through the CLI', () => {
  it('restores every file byte for byte with secret files 0600, and reports the backup as JSON', async () => {
    const cli = await runCli(['--config', configFile, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const info = JSON.parse(cli.stdout);
    expect(info).toMatchObject({ type: 'full', source: 'testbot', entries: 6, compression: { codec: 'zstd', level: 2 } });
    expect(info.objects[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.stored[0]).toMatchObject({ store: 'local', location: repo });

    const target = path.join(dir, 'out');
    const restored = await runCli(['--config', configFile, 'restore', info.id, '--target', target, '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    // The database is proven by its sha256 against the manifest; integrity_check is --deep's.
    expect(JSON.parse(restored.stdout)).toMatchObject({ files: 6, databases: [{ path: 'data/trades.db', integrityCheck: 'not run' }], integrityCheckMs: 0 });

    // The log older than 7 days is left out and says why.
    const manifest = JSON.parse((await runCli(['--config', configFile, 'show', info.id, '--json'])).stdout) as Manifest & {
      files: NonNullable<Manifest['files']>;
    };
    expect(manifest.excluded).toEqual([{ path: 'logs/old.log', reason: 'log not modified within 7d' }]);
    // The text output shows a hash prefix for plain files, none for secret ones.
    const shown = (await runCli(['--config', configFile, 'show', info.id])).stdout;
    const envHash = manifest.files.find((f) => f.path === '.env')!.sha256;
    expect(shown).toMatch(/^\.env\s+secret\s+\S+\s+.+\(secret\)/m);
    expect(shown).not.toContain(envHash.slice(0, 16));
    expect(shown).toContain(manifest.files.find((f) => f.path === 'config/bot.json')!.sha256.slice(0, 16));
    expect(await listFiles(target)).toEqual(['.env', 'config/bot.json', 'config/strategies/grid.json', 'data/trades.db', 'keys/binance.key', 'logs/bot.log']);
    for (const file of ['.env', 'config/bot.json', 'config/strategies/grid.json', 'keys/binance.key', 'logs/bot.log']) {
      expect(await sha256File(path.join(target, file)), file).toBe(await sha256File(path.join(root, file)));
    }
    expect(await sha256File(path.join(target, 'data/trades.db'))).toBe(manifest.databases[0]!.sha256);
    expect((await fs.stat(path.join(target, '.env'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(target, 'keys/binance.key'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(target, 'config/bot.json'))).mode & 0o777).toBe(0o644);
    // No staging folder is left behind.
    expect((await fs.readdir(target)).filter((n) => n.startsWith('.botbackup'))).toEqual([]);

    const listed = JSON.parse((await runCli(['--config', configFile, 'list', '--json'])).stdout);
    expect(listed.map((b: { id: string }) => b.id)).toEqual([info.id]);
  });

  it('refuses to overwrite existing files, replaces them only with --force, and restores one path with --only', async () => {
    const m = await backup();
    const target = path.join(dir, 'live');
    await fs.mkdir(path.join(target, 'config'), { recursive: true });
    await fs.writeFile(path.join(target, 'config/bot.json'), 'edited by mistake');
    const refused = await runCli(['--config', configFile, 'restore', 'latest', '--target', target]);
    expect(refused.code).toBe(8);
    expect(refused.stderr).toMatch(/config\/bot\.json already exist; restore into an empty folder, or add --force/);
    expect(await fs.readFile(path.join(target, 'config/bot.json'), 'utf8')).toBe('edited by mistake');
    expect(await listFiles(target)).toEqual(['config/bot.json']);

    const only = await runCli(['--config', configFile, 'restore', m.id.slice(0, 12), '--target', target, '--only', 'config/bot.json', '--force']);
    expect(only.code, only.stderr).toBe(0);
    expect(await sha256File(path.join(target, 'config/bot.json'))).toBe(await sha256File(path.join(root, 'config/bot.json')));
    expect(await listFiles(target)).toEqual(['config/bot.json']);

    await fs.mkdir(path.join(target, 'keys/binance.key'), { recursive: true });
    const folder = await runCli(['--config', configFile, 'restore', 'latest', '--target', target, '--force']);
    expect(folder.code).toBe(8);
    expect(folder.stderr).toMatch(/keys\/binance\.key is a folder, where the backup has a file; move it away first\./);
    expect(await sha256File(path.join(target, 'config/bot.json'))).toBe(await sha256File(path.join(root, 'config/bot.json')));

    const missing = await runCli(['--config', configFile, 'restore', 'latest', '--target', target, '--only', 'config/nope.json']);
    expect(missing.code).toBe(7);
    expect(missing.stderr).toMatch(/holds no file or folder "config\/nope.json"/);
  });

  it('replaces a database with --force and removes its stale -wal and -shm', async () => {
    await backup();
    const target = path.join(dir, 'live');
    await fs.mkdir(path.join(target, 'data'), { recursive: true });
    await fs.writeFile(path.join(target, 'data/trades.db'), 'damaged');
    await fs.writeFile(path.join(target, 'data/trades.db-wal'), 'stale wal frames');
    await fs.writeFile(path.join(target, 'data/trades.db-shm'), 'stale shm');
    const forced = await runCli(['--config', configFile, 'restore', 'latest', '--target', target, '--only', 'data', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await listFiles(target)).toEqual(['data/trades.db']);
  });
});

describe('damaged backups are detected and nothing is written', () => {
  it('a flipped byte in the archive fails verify and restore', async () => {
    const m = await backup();
    const file = archivePath(m);
    const bytes = await fs.readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await fs.writeFile(file, bytes);
    const verify = await runCli(['--config', configFile, 'verify', m.id]);
    expect(verify.code).toBe(6);
    expect(verify.stdout + verify.stderr).toMatch(/corrupt|does not match/);
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', m.id, '--target', target]);
    expect(restore.code).toBe(6);
    await expect(fs.stat(target)).rejects.toThrow();
  });

  it('a truncated archive is reported as truncated', async () => {
    const m = await backup();
    const file = archivePath(m);
    const { size } = await fs.stat(file);
    await fs.truncate(file, Math.floor(size / 3));
    const verify = await runCli(['--config', configFile, 'verify', '--all']);
    expect(verify.code).toBe(6);
    expect(verify.stdout).toMatch(new RegExp(`FAILED ${m.id} in "local": .*truncated \\(${Math.floor(size / 3)} of ${size} bytes\\)`));
  });

  it('a backup whose manifest is missing does not exist', async () => {
    const m = await backup();
    await fs.rm(path.join(repo, 'manifests/testbot', `${m.id}.json`));
    const restore = await runCli(['--config', configFile, 'restore', m.id, '--target', path.join(dir, 'out')]);
    expect(restore.code).toBe(7);
    expect(restore.stderr).toMatch(new RegExp(`No backup "${m.id}"`));
    expect(JSON.parse((await runCli(['--config', configFile, 'list', '--json'])).stdout)).toEqual([]);
  });

  it('restore --deep runs integrity_check: a database whose index disagrees with its table is refused and nothing is written', async () => {
    // The index declares column b but holds column a: quick_check (at backup) does not compare
    // an index with its table, integrity_check does. The backup is byte-exact all the same.
    const db = path.join(root, 'data/trades.db');
    execFileSync('sqlite3', [db, 'CREATE TABLE marks(a, b); CREATE INDEX marks_a ON marks(a); INSERT INTO marks VALUES (1, 10), (2, 20), (3, 30);']);
    execFileSync('sqlite3', [db, "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = 'CREATE INDEX marks_a ON marks(b)' WHERE name = 'marks_a';"]);
    const m = await backup();

    const plain = await runCli(['--config', configFile, 'restore', m.id, '--target', path.join(dir, 'plain'), '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).databases).toEqual([
      { path: 'data/trades.db', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), integrityCheck: 'not run' },
    ]);
    expect(await sha256File(path.join(dir, 'plain/data/trades.db'))).toBe(await sha256File(db));

    const target = path.join(dir, 'deep');
    const deep = await runCli(['--config', configFile, 'restore', m.id, '--target', target, '--deep']);
    expect(deep.code).toBe(6);
    expect(deep.stderr).toMatch(/the restored database "data\/trades.db" fails PRAGMA integrity_check \(row 1 missing from index marks_a/);
    expect(await listFiles(target).catch(() => [])).toEqual([]);
  });

  it('restore --deep of a healthy backup says integrity_check ok', async () => {
    const m = await backup();
    const deep = await runCli(['--config', configFile, 'restore', m.id, '--target', path.join(dir, 'deep'), '--deep']);
    expect(deep.code, deep.stderr).toBe(0);
    expect(deep.stdout).toMatch(/data\/trades.db: sha256 [0-9a-f]{64} matches the backup, integrity_check ok/);
  });

  it('a deep verify restores into a temp folder and runs integrity_check', async () => {
    const m = await backup();
    const deep = await runCli(['--config', configFile, 'verify', m.id, '--deep', '--json']);
    expect(deep.code, deep.stderr).toBe(0);
    expect(JSON.parse(deep.stdout)).toMatchObject([{ id: m.id, ok: true }]);
  });

  /** Replaces a backup's archive with a crafted tar and re-points the manifest at it, so only path checks can stop it. */
  async function craft(
    m: Manifest,
    tarEntries: { name: string; body: string; type?: 'file' | 'symlink'; linkname?: string }[],
    manifestPaths: string[],
  ): Promise<void> {
    const pack = tar.pack();
    for (const e of tarEntries)
      pack.entry(
        { name: e.name, type: e.type ?? 'file', linkname: e.linkname, size: e.type === 'symlink' ? 0 : Buffer.byteLength(e.body), mode: 0o644 },
        e.type === 'symlink' ? '' : e.body,
      );
    pack.finalize();
    const bytes = await zstdTar(pack);
    await fs.writeFile(archivePath(m), bytes);
    const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
    // The file list names the crafted members as files stored in this backup.
    const files = manifestPaths.map((p) => ({
      path: p,
      kind: 'config' as const,
      mode: 0o644,
      size: Buffer.byteLength(tarEntries.find((e) => e.name === p)?.body ?? ''),
      mtime: m.startedAt,
      sha256: sha(tarEntries.find((e) => e.name === p)?.body ?? ''),
      storedIn: m.id,
    }));
    writeStoredFiles(repo, m, files);
    const list = await fs.readFile(fileListPath(repo, m));
    const crafted: Manifest = {
      ...m,
      databases: [],
      entries: [],
      fileList: { files: files.length, stored: files.length, storedBytes: files.reduce((sum, f) => sum + f.size, 0) },
      objects: [
        { ...m.objects.find((o) => o.role === 'archive')!, size: bytes.length, sha256: sha(bytes) },
        { ...m.objects.find((o) => o.role === 'file-list')!, size: list.length, sha256: sha(list) },
      ],
    };
    await fs.writeFile(path.join(repo, 'manifests/testbot', `${m.id}.json`), serializeManifest(crafted));
  }

  it.each([
    [
      'a "../" entry the manifest does not list',
      [
        { name: 'ok.txt', body: 'fine' },
        { name: '../evil.txt', body: 'pwned' },
      ],
      ['ok.txt'],
    ],
    ['a "../" path in the manifest itself', [{ name: '../evil.txt', body: 'pwned' }], ['../evil.txt']],
    ['an absolute path', [{ name: '/tmp/evil-abs.txt', body: 'pwned' }], ['ok.txt']],
    [
      'a symlink out of the target',
      [
        { name: 'link', body: '', type: 'symlink' as const, linkname: '/etc/passwd' },
        { name: 'link/evil.txt', body: 'pwned' },
      ],
      ['ok.txt'],
    ],
  ])('an archive with %s writes nothing outside the target', async (_name, entries, manifestPaths) => {
    const m = await backup();
    await craft(m, entries, manifestPaths);
    const target = path.join(dir, 'sub', 'out');
    const restore = await runCli(['--config', configFile, 'restore', m.id, '--target', target]);
    expect(restore.code).toBe(8);
    expect(restore.stderr).toMatch(/unsafe path|botbackup archives only regular files/);
    await expect(fs.stat(path.join(dir, 'sub', 'evil.txt'))).rejects.toThrow();
    await expect(fs.stat('/tmp/evil-abs.txt')).rejects.toThrow();
    await expect(fs.stat(target)).rejects.toThrow();
  });
});

describe('bad input gets one clear sentence and a documented exit code', () => {
  it('a missing database: exit 4, the path named, nothing stored', async () => {
    await fs.rm(path.join(root, 'data/trades.db'));
    const r = await runCli(['--config', configFile, 'backup']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`botbackup: Database "trades" not found at ${path.join(root, 'data/trades.db')}`));
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('botbackup:')),
    ).toHaveLength(1);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(await listFiles(repo).catch(() => [])).toEqual([]);
  });

  it('a file that is not a database: exit 4', async () => {
    await fs.writeFile(path.join(root, 'data/trades.db'), 'this is not sqlite '.repeat(100));
    const r = await runCli(['--config', configFile, 'backup']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/is not a valid SQLite database/);
  });

  it('a database with damaged pages fails quick_check: exit 4, and the archive already streamed is removed', async () => {
    const file = path.join(root, 'data/trades.db');
    const bytes = await fs.readFile(file);
    // Overwrite pages in the middle of the deals table with garbage.
    bytes.fill(0x5a, 4096 * 10, 4096 * 14);
    await fs.writeFile(file, bytes);
    const r = await runCli(['--config', configFile, 'backup']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/botbackup: Database "trades" at .* fails PRAGMA quick_check \(.+\); nothing was stored\./);
    expect(await listFiles(repo).catch(() => [])).toEqual([]);
  });

  it('a bad config: exit 3 naming the file and the field', async () => {
    await fs.writeFile(configFile, (await fs.readFile(configFile, 'utf8')).replace('compression: { codec: zstd }', 'compression: { codec: zstd, levle: 3 }'));
    const r = await runCli(['--config', configFile, 'backup']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(
      `botbackup: ${configFile}: field "compression" has unknown setting "levle"; check the spelling against docs/configuration.md.`,
    );
  });

  it('a missing config, and a missing source root for a backup: exit 3', async () => {
    const none = await runCli(['--config', path.join(dir, 'nope.yaml'), 'list']);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/nope\.yaml: does not exist; pass --config/);
    await fs.rm(root, { recursive: true });
    const noRoot = await runCli(['--config', configFile, 'backup']);
    expect(noRoot.code).toBe(3);
    expect(noRoot.stderr).toMatch(/field "sources\[0\]\.root" points to .*, which is not an existing folder/);
    // Commands that read only storage do not need the bot's folder (a host or container without it).
    const list = await runCli(['--config', configFile, 'list']);
    expect(list.code, list.stderr).toBe(0);
  });

  it('an unknown backup id: exit 7', async () => {
    await backup();
    const r = await runCli(['--config', configFile, 'restore', 'nope', '--target', path.join(dir, 'x')]);
    expect(r.code).toBe(7);
  });

  // Root reads any file, so this runs the CLI as the unprivileged user "nobody" (setpriv, from
  // util-linux); it needs root to switch users and is skipped elsewhere rather than faked.
  it.skipIf(process.getuid?.() !== 0)('an unreadable key file: exit 4 before any snapshot, nothing stored', async () => {
    await fs.chmod(dir, 0o777);
    execFileSync('chmod', ['-R', 'a+rwX', dir]);
    await fs.chmod(path.join(root, 'keys/binance.key'), 0o000);
    const r = await runCli(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliBin, '--config', configFile, '-v', 'backup'], {
      raw: true,
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      new RegExp(
        `botbackup: Cannot read secret file ${path.join(root, 'keys/binance.key')} \\(source "testbot"\\): permission denied; fix its permissions or exclude it\\.`,
      ),
    );
    expect(r.stderr).not.toMatch(/snapshot taken/);
    expect(await listFiles(repo).catch(() => [])).toEqual([]);
  });

  // Needs root to mount a small tmpfs, as on the project's CI and dev machines; elsewhere it is
  // skipped rather than faked.
  const canMount = process.getuid?.() === 0;
  it.skipIf(!canMount)('a full disk: exit 5, a clear sentence, and nothing half-written is left', async () => {
    const small = path.join(dir, 'small');
    await fs.mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
    try {
      const cfg = await writeConfig(dir, { root, repo: small, codec: 'none' });
      const r = await runCli(['--config', cfg, 'backup']);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/Storage "local" is out of disk space in .*small; free some space or prune old backups, then retry\./);
      expect(await listFiles(small)).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it.skipIf(!canMount)('a snapshot copy that fails while the archive is already reading it: one sentence, nothing stored, no staging left', async () => {
    // The archive follows the copy as it is written; here the staging folder fills up after 64 KiB
    // of a database of several MiB, so the copy fails with the archive's stream under way.
    const staging = path.join(dir, 'staging');
    await fs.mkdir(staging);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', staging]);
    try {
      const db = path.join(root, 'data/trades.db');
      execFileSync('sqlite3', [db, 'CREATE TABLE filler(x); INSERT INTO filler SELECT randomblob(4000) FROM generate_series(1, 1500);']);
      const cfg = await writeConfig(dir, { root, repo, extra: `defaults: { tmpDir: ${JSON.stringify(staging)} }\n` });
      const r = await runCli(['--config', cfg, 'backup']);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/^botbackup: Cannot snapshot database "trades" at \S+trades\.db: .*ENOSPC.*\.$/m);
      expect(await listFiles(repo).catch(() => [])).toEqual([]);
      expect(await listFiles(staging)).toEqual([]);
    } finally {
      execFileSync('umount', [staging]);
    }
  });
});
