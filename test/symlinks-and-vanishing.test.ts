import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serializeManifest, type Manifest, type ManifestFile } from '@botbackup/core';
import { withFiles } from './helpers/file-list.js';
import { zstdTar } from './helpers/archive.js';
import { cliBin, createBot, listFiles, makeKeys, repoRoot, runCli, sha256File, tempDir, writeConfig, type CliResult } from './helpers/bot.js';

let dir: string;
let cleanup: () => Promise<void>;
let root: string;
let repo: string;
let configFile: string;

/** Content of a file outside the source root: it must never reach the repository. */
const SECRET = 'outside-secret-7f3a9c1e-never-in-a-backup';

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  root = path.join(dir, 'bot');
  repo = path.join(dir, 'repo');
  await createBot(root);
  await fs.mkdir(path.join(dir, 'outside'));
  await fs.writeFile(path.join(dir, 'outside/secret.json'), `{"secret": "${SECRET}"}\n`);
  configFile = await writeConfig(dir, { root, repo });
});
afterEach(() => cleanup());

async function useFollowInside(): Promise<void> {
  const text = await fs.readFile(configFile, 'utf8');
  await fs.writeFile(configFile, text.replace(/^( {4}allowPlaintextSecrets: \w+)\n/m, '$1\n    symlinks: follow-inside\n'));
}

interface BackupJson {
  id: string;
  skipped: { path: string; reason: string }[];
  warnings: string[];
}

async function readManifest(id: string): Promise<Manifest & { files: ManifestFile[] }> {
  return withFiles(repo, JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${id}.json`), 'utf8')) as Manifest);
}

const archiveOf = (m: Manifest) => path.join(repo, m.objects.find((o) => o.role === 'archive')!.key);
/** `tar -tv` of the archive by the system tools. */
const listArchive = (m: Manifest) => execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -tvf -', 'sh', archiveOf(m)], { encoding: 'utf8' });
/** The archive decompressed by the system zstd. */
const decompressed = (m: Manifest) => execFileSync('zstd', ['-dc', archiveOf(m)], { maxBuffer: 1 << 30 });

/** Every byte under the repository, and the decompressed archives: where a secret must not be. */
async function repositoryBytes(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const f of await listFiles(repo)) {
    parts.push(await fs.readFile(path.join(repo, f)));
    if (f.endsWith('.tar.zst')) parts.push(execFileSync('zstd', ['-dc', path.join(repo, f)], { maxBuffer: 1 << 30 }));
  }
  return Buffer.concat(parts);
}

describe('symbolic links', () => {
  it('a link to a file outside the root (and to /etc/shadow) is stored as a link: its content is nowhere in the repository, tar sees a symlink, restore makes the link', async () => {
    await fs.symlink(path.join(dir, 'outside/secret.json'), path.join(root, 'config/leak.json'));
    await fs.symlink('/etc/shadow', path.join(root, 'config/shadow.json'));
    await fs.symlink('bot.json', path.join(root, 'config/alias.json'));
    // A folder link out of the root and a loop are not descended.
    await fs.symlink(path.join(dir, 'outside'), path.join(root, 'config/outdir'));
    await fs.symlink('.', path.join(root, 'config/self'));
    // A glob's fixed folder that is a link out of the root: `keys/*.key` must not read through it.
    await fs.mkdir(path.join(dir, 'outside/keys'));
    await fs.writeFile(path.join(dir, 'outside/keys/other.key'), SECRET);
    await fs.rm(path.join(root, 'keys'), { recursive: true });
    await fs.symlink(path.join(dir, 'outside/keys'), path.join(root, 'keys'));

    const cli = await runCli(['--config', configFile, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const info = JSON.parse(cli.stdout) as BackupJson;
    expect(info.skipped).toEqual([
      { path: 'keys/other.key', reason: `under the symbolic link keys (-> ${path.join(dir, 'outside/keys')}), which is not followed` },
    ]);
    const m = await readManifest(info.id);
    const byPath = new Map(m.files.map((f) => [f.path, f]));
    expect(byPath.get('config/leak.json')).toMatchObject({ linkTarget: path.join(dir, 'outside/secret.json'), size: 0 });
    expect(byPath.get('config/shadow.json')).toMatchObject({ linkTarget: '/etc/shadow', size: 0 });
    expect(byPath.get('config/alias.json')).toMatchObject({ linkTarget: 'bot.json', size: 0 });
    expect([...byPath.keys()].filter((p) => p.startsWith('config/outdir') || p.startsWith('config/self'))).toEqual([]);

    // Nothing of the outside file's content, anywhere: stored objects, manifests, the decompressed archive.
    const bytes = await repositoryBytes();
    expect(bytes.includes(SECRET)).toBe(false);
    const shadow = await fs.readFile('/etc/shadow').catch(() => undefined);
    if (shadow && shadow.length > 16) expect(decompressed(m).includes(shadow)).toBe(false);

    // The system tar reads the archive and sees symlink entries ('l').
    const listing = listArchive(m);
    expect(listing).toMatch(
      new RegExp(`^l\\S+ .* config/leak\\.json -> ${path.join(dir, 'outside/secret.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
    );
    expect(listing).toMatch(/^l\S+ .* config\/shadow\.json -> \/etc\/shadow$/m);
    expect(listing).toMatch(/^l\S+ .* config\/alias\.json -> bot\.json$/m);
    const manual = path.join(dir, 'manual');
    await fs.mkdir(manual);
    execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -xf - -C "$2"', 'sh', archiveOf(m), manual]);
    expect(await fs.readlink(path.join(manual, 'config/leak.json'))).toBe(path.join(dir, 'outside/secret.json'));

    const shown = await runCli(['--config', configFile, 'show', info.id]);
    expect(shown.stdout).toMatch(/^config\/shadow\.json -> \/etc\/shadow\s+config\s/m);

    // verify reads the links; restore makes them links again, written as they were, never followed.
    const verify = await runCli(['--config', configFile, 'verify', info.id, '--deep', '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', info.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fs.readdir(target)).not.toContain('keys');
    for (const [link, to] of [
      ['config/leak.json', path.join(dir, 'outside/secret.json')],
      ['config/shadow.json', '/etc/shadow'],
      ['config/alias.json', 'bot.json'],
    ] as const) {
      expect((await fs.lstat(path.join(target, link))).isSymbolicLink(), link).toBe(true);
      expect(await fs.readlink(path.join(target, link))).toBe(to);
    }
    expect(await fs.readFile(path.join(target, 'config/alias.json'), 'utf8')).toBe(await fs.readFile(path.join(root, 'config/bot.json'), 'utf8'));

    // The manual steps of docs/format.md check the links too (the hash of their target text).
    const doc = await fs.readFile(path.join(repoRoot, 'docs/format.md'), 'utf8');
    const steps = /```sh\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('## Checking and restoring by hand')))![1]!;
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', steps.replace(/^ID=.*$/m, `ID=${info.id} SRC=testbot`)], { cwd: repo, encoding: 'utf8' });
    for (const link of ['config/leak.json', 'config/shadow.json', 'config/alias.json']) expect(out).toMatch(new RegExp(`^${link}: OK$`, 'm'));
  });

  it('in an encrypted, signed repository a link is stored (keyed hash of its target), verified and restored as a link', async () => {
    const keys = await makeKeys(dir);
    configFile = await writeConfig(dir, { root, repo, keys });
    await fs.symlink(path.join(dir, 'outside/secret.json'), path.join(root, 'keys/outside.key'));
    const cli = await runCli(['--config', configFile, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const m = await readManifest((JSON.parse(cli.stdout) as BackupJson).id);
    const link = m.files.find((f) => f.path === 'keys/outside.key')!;
    expect(link).toMatchObject({ kind: 'secret', linkTarget: path.join(dir, 'outside/secret.json'), size: 0 });
    // Keyed like every content hash: not the plain sha256 of the target text.
    expect(link.sha256).not.toBe(createHash('sha256').update(link.linkTarget!).digest('hex'));
    const verify = await runCli(['--config', configFile, 'verify', m.id, '--deep', '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', m.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fs.readlink(path.join(target, 'keys/outside.key'))).toBe(path.join(dir, 'outside/secret.json'));
  });

  it('an incremental keeps an unchanged link in its parent and stores a link whose target changed', async () => {
    await fs.symlink('bot.json', path.join(root, 'config/alias.json'));
    const full = await runCli(['--config', configFile, 'backup', '--json']);
    expect(full.code, full.stderr).toBe(0);
    const first = JSON.parse(full.stdout) as BackupJson;
    await fs.symlink('strategies/grid.json', path.join(root, 'config/other.json'));
    const inc = await runCli(['--config', configFile, 'backup', '--incremental', '--json']);
    expect(inc.code, inc.stderr).toBe(0);
    const m = await readManifest((JSON.parse(inc.stdout) as BackupJson).id);
    expect(m.type).toBe('incremental');
    expect(m.files.find((f) => f.path === 'config/alias.json')).toMatchObject({ linkTarget: 'bot.json', storedIn: first.id });
    expect(m.files.find((f) => f.path === 'config/other.json')).toMatchObject({ linkTarget: 'strategies/grid.json', storedIn: m.id });
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', m.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fs.readlink(path.join(target, 'config/alias.json'))).toBe('bot.json');
    expect(await fs.readlink(path.join(target, 'config/other.json'))).toBe('strategies/grid.json');
  });

  it('follow-inside: a link to a file inside the root is stored as that file; a link leaving the root, a loop and a dangling link are skipped and named', async () => {
    await useFollowInside();
    await fs.symlink('bot.json', path.join(root, 'config/alias.json'));
    await fs.symlink(path.join(dir, 'outside/secret.json'), path.join(root, 'config/leak.json'));
    await fs.symlink('../../outside/secret.json', path.join(root, 'config/relative-leak.json'));
    await fs.symlink('loop-b.json', path.join(root, 'config/loop-a.json'));
    await fs.symlink('loop-a.json', path.join(root, 'config/loop-b.json'));
    await fs.symlink('missing.json', path.join(root, 'config/dangling.json'));
    await fs.symlink('../data/trades.db', path.join(root, 'config/db.json'));
    await fs.symlink('.', path.join(root, 'config/self'));
    // A folder link inside the root, read by a glob's fixed part (`keys/` of `keys/*.key`): followed, since it stays inside.
    await fs.rename(path.join(root, 'keys'), path.join(root, 'keys-real'));
    await fs.symlink('keys-real', path.join(root, 'keys'));
    // One leaving the root (`logs/` of `logs/*.log`) is not.
    await fs.mkdir(path.join(dir, 'outside/logs'));
    await fs.writeFile(path.join(dir, 'outside/logs/other.log'), SECRET);
    await fs.rm(path.join(root, 'logs'), { recursive: true });
    await fs.symlink(path.join(dir, 'outside/logs'), path.join(root, 'logs'));

    const text = await runCli(['--config', configFile, 'backup']);
    expect(text.code, text.stderr).toBe(0);
    for (const name of ['config/leak.json', 'config/relative-leak.json', 'config/loop-a.json', 'config/loop-b.json', 'config/dangling.json', 'config/db.json'])
      expect(text.stdout).toContain(`skipped ${name}: `);

    const cli = await runCli(['--config', configFile, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const info = JSON.parse(cli.stdout) as BackupJson;
    const skipped = new Map(info.skipped.map((s) => [s.path, s.reason]));
    expect(skipped.get('config/leak.json')).toMatch(/leaves the source root/);
    expect(skipped.get('config/relative-leak.json')).toMatch(/leaves the source root \(-> \.\.\/\.\.\/outside\/secret\.json\)/);
    expect(skipped.get('config/loop-a.json')).toMatch(/loop/);
    expect(skipped.get('config/loop-b.json')).toMatch(/loop/);
    expect(skipped.get('config/dangling.json')).toMatch(/dangling/);
    expect(skipped.get('config/db.json')).toMatch(/database/);
    expect(skipped.get('logs/other.log')).toBe(`path through the symbolic link logs leaves the source root (-> ${path.join(dir, 'outside/logs')})`);
    const m = await readManifest(info.id);
    expect(m.skipped).toEqual(info.skipped);
    const alias = m.files.find((f) => f.path === 'config/alias.json')!;
    expect(alias.linkTarget).toBeUndefined();
    expect(alias.sha256).toBe(m.files.find((f) => f.path === 'config/bot.json')!.sha256);
    expect(m.files.filter((f) => f.path.startsWith('config/self/'))).toEqual([]);
    const key = m.files.find((f) => f.path === 'keys/binance.key')!;
    expect(key.linkTarget).toBeUndefined();
    expect(key.size).toBe((await fs.stat(path.join(root, 'keys-real/binance.key'))).size);
    expect((await repositoryBytes()).includes(SECRET)).toBe(false);

    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', info.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await fs.lstat(path.join(target, 'config/alias.json'))).isFile()).toBe(true);
    expect(await sha256File(path.join(target, 'config/alias.json'))).toBe(await sha256File(path.join(root, 'config/bot.json')));
    expect(await listFiles(target)).not.toContain('config/leak.json');
  });

  it('a hostile archive with a link and a file under it is refused; nothing is written through the link', async () => {
    const cli = await runCli(['--config', configFile, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const m = await readManifest((JSON.parse(cli.stdout) as BackupJson).id);
    const outside = path.join(dir, 'outside');
    // The manifest lists both, as a forger with write access to the storage would.
    await craft(m, [
      { name: 'config', linkTarget: outside },
      { name: 'config/evil.json', body: 'pwned' },
    ]);
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', m.id, '--target', target]);
    expect(restore.code, restore.stdout).toBe(8);
    expect(restore.stderr).toMatch(/unsafe path/);
    await expect(fs.stat(path.join(outside, 'evil.json'))).rejects.toThrow();

    // The same with the link and the file in an order that would let a naive writer follow it.
    await craft(m, [
      { name: 'config/evil.json', body: 'pwned' },
      { name: 'config', linkTarget: outside },
    ]);
    const again = await runCli(['--config', configFile, 'restore', m.id, '--target', target]);
    expect(again.code).toBe(8);
    await expect(fs.stat(path.join(outside, 'evil.json'))).rejects.toThrow();
  });

  it('a link in the restore target is never written through, even with --force', async () => {
    const cli = await runCli(['--config', configFile, 'backup', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const id = (JSON.parse(cli.stdout) as BackupJson).id;
    const target = path.join(dir, 'out');
    await fs.mkdir(target);
    await fs.symlink(path.join(dir, 'outside'), path.join(target, 'config'));
    const restore = await runCli(['--config', configFile, 'restore', id, '--target', target, '--force']);
    expect(restore.code).toBe(8);
    expect(restore.stderr).toMatch(/symbolic link/);
    expect((await fs.readdir(path.join(dir, 'outside'))).sort()).toEqual(['secret.json']);
  });

  /** Replaces a backup's archive with a crafted tar and a manifest (unsigned repository) that lists exactly its members. */
  async function craft(m: Manifest, members: ({ name: string; body: string } | { name: string; linkTarget: string })[]): Promise<void> {
    const pack = tar.pack();
    for (const e of members) {
      if ('linkTarget' in e) pack.entry({ name: e.name, type: 'symlink', linkname: e.linkTarget, mode: 0o777 }, '');
      else pack.entry({ name: e.name, type: 'file', size: Buffer.byteLength(e.body), mode: 0o644 }, e.body);
    }
    pack.finalize();
    const bytes = await zstdTar(pack);
    await fs.writeFile(archiveOf(m), bytes);
    const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
    const entries = members.map((e) =>
      'linkTarget' in e
        ? { path: e.name, kind: 'config' as const, mode: 0o777, size: 0, mtime: m.startedAt, sha256: sha(e.linkTarget), linkTarget: e.linkTarget }
        : { path: e.name, kind: 'config' as const, mode: 0o644, size: Buffer.byteLength(e.body), mtime: m.startedAt, sha256: sha(e.body) },
    );
    // Crafted as schema 3, whose manifest lists the files inline (a reader still accepts it).
    const { fileList: _list, ...rest } = m;
    const crafted: Manifest = {
      ...rest,
      schemaVersion: 3,
      databases: [],
      entries,
      files: entries.map((e) => ({ ...e, storedIn: m.id })),
      objects: [{ ...m.objects.find((o) => o.role === 'archive')!, size: bytes.length, sha256: sha(bytes) }],
    };
    await fs.writeFile(path.join(repo, 'manifests/testbot', `${m.id}.json`), serializeManifest(crafted));
  }
});

/**
 * Runs `botbackup backup --json` (and `args`) under strace (-f: every thread; -P: only syscalls
 * on `file`), with `inject` applied to that file's syscalls. strace counts `when=N` per thread,
 * so the CLI runs with one libuv thread, where every asynchronous file operation happens: the
 * Nth open or read of the file is then the Nth of that thread. `whenRead`, if given, runs once
 * the first read of `file` has returned (strace's log shows it), while the next read is held by
 * the injected delay: what a separate process does to the file while it is being read, in a
 * known order.
 */
async function backupUnderStrace(file: string, inject: string, whenRead?: () => Promise<void>, args: string[] = []): Promise<CliResult> {
  const log = path.join(dir, 'strace.log');
  const command = [process.execPath, cliBin, '--config', configFile, 'backup', '--json', ...args];
  const child = spawn('strace', ['-f', '-qq', '-o', log, '-e', 'trace=openat,pread64,read', '-e', `inject=${inject}`, '-P', file, ...command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => child.on('error', reject).on('close', (code) => resolve(code ?? -1)));
  if (whenRead) {
    let done = false;
    void exited.then(() => (done = true));
    for (;;) {
      const text = await fs.readFile(log, 'utf8').catch(() => '');
      if (/pread64\(\d+, .*\) = [1-9]\d*$/m.test(text)) break;
      if (done) throw new Error(`the backup ended before it read ${file}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await whenRead();
  }
  return { code: await exited, stdout, stderr };
}

describe('files that vanish or change size while the backup reads them', () => {
  it('a file gone between the walk and the read is skipped and named; the backup completes with exit 0 and without a listener warning', async () => {
    const file = path.join(root, 'config/strategies/grid.json');
    // Its first open is the archive's read (the walk only lstats it): fail that open as a removal does.
    const cli = await backupUnderStrace(file, 'openat:error=ENOENT:when=1');
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).not.toMatch(/MaxListenersExceeded|Warning/);
    const info = JSON.parse(cli.stdout) as BackupJson;
    expect(info.skipped).toEqual([{ path: 'config/strategies/grid.json', reason: 'vanished before it was read' }]);
    const m = await readManifest(info.id);
    expect(m.skipped).toEqual(info.skipped);
    expect(m.files.map((f) => f.path)).not.toContain('config/strategies/grid.json');
    expect(m.entries.map((e) => e.path)).not.toContain('config/strategies/grid.json');
    expect(listArchive(m)).not.toContain('grid.json');

    const text = await runCli(['--config', configFile, 'show', info.id]);
    expect(text.stdout).toMatch(/config\/strategies\/grid\.json\s+vanished before it was read/);
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', info.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await listFiles(target)).toEqual(['.env', 'config/bot.json', 'data/trades.db', 'keys/binance.key', 'logs/bot.log']);
  });

  it('an incremental: a changed file gone between its hashing and its read is skipped, named, and counted as deleted', async () => {
    const full = await runCli(['--config', configFile, 'backup', '--json']);
    expect(full.code, full.stderr).toBe(0);
    const file = path.join(root, 'config/strategies/grid.json');
    await fs.writeFile(file, '{"levels": 12}');
    // Open 1 hashes it for the plan (it changed, so it is to be stored); open 2, the archive's, finds it gone.
    const cli = await backupUnderStrace(file, 'openat:error=ENOENT:when=2', undefined, ['--incremental']);
    expect(cli.code, cli.stderr).toBe(0);
    const info = JSON.parse(cli.stdout) as BackupJson & { type: string; deleted: string[] };
    expect(info.type).toBe('incremental');
    expect(info.skipped).toEqual([{ path: 'config/strategies/grid.json', reason: 'vanished before it was read' }]);
    expect(info.deleted).toEqual(['config/strategies/grid.json']);
    const m = await readManifest(info.id);
    expect(m.files.map((f) => f.path)).not.toContain('config/strategies/grid.json');
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', info.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await listFiles(target)).not.toContain('config/strategies/grid.json');
  });

  it("a read error is the source's error (exit 4 naming the file), not a storage failure", async () => {
    const file = path.join(root, 'config/bot.json');
    const cli = await backupUnderStrace(file, 'pread64:error=EIO:when=1');
    expect(cli.code, cli.stderr).toBe(4);
    expect(cli.stderr).toContain(`botbackup: Cannot read ${file} (EIO)`);
    expect(cli.stderr).not.toMatch(/Storage "local"|MaxListenersExceeded/);
    expect(await listFiles(path.join(repo, 'manifests')).catch(() => [])).toEqual([]);
  });

  it('a file cut short by another process while it is read is skipped and named (its padded entry is not restored); the rest is backed up', async () => {
    const file = path.join(root, 'config/big.json');
    await fs.writeFile(file, Buffer.alloc(3 << 20, 'a'));
    // The second 1 MiB read waits 3 s; meanwhile this process truncates the file for real.
    const cli = await backupUnderStrace(file, 'pread64:delay_enter=3000000:when=2', () => fs.truncate(file, 100));
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).not.toMatch(/MaxListenersExceeded/);
    const info = JSON.parse(cli.stdout) as BackupJson;
    expect(info.skipped).toEqual([
      {
        path: 'config/big.json',
        reason: expect.stringMatching(/^changed size while it was read \(shrank from 3145728 to 1048576 bytes\); not stored/) as unknown as string,
      },
    ]);
    const m = await readManifest(info.id);
    expect(m.files.map((f) => f.path)).not.toContain('config/big.json');
    // The archive still reads with the system tools (the entry has the size its header announced).
    expect(listArchive(m)).toMatch(/ 3145728 .* config\/big\.json$/m);
    const verify = await runCli(['--config', configFile, 'verify', info.id, '--deep', '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', info.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await listFiles(target)).not.toContain('config/big.json');
  });

  it('a file modified in place while it is read is stored as read, with a warning naming it', async () => {
    const file = path.join(root, 'config/big.json');
    await fs.writeFile(file, Buffer.alloc(3 << 20, 'a'));
    const cli = await backupUnderStrace(file, 'pread64:delay_enter=3000000:when=2', async () => {
      const handle = await fs.open(file, 'r+');
      await handle.write(Buffer.alloc(1 << 20, 'c'), 0, 1 << 20, 2 << 20);
      await handle.close();
    });
    expect(cli.code, cli.stderr).toBe(0);
    const info = JSON.parse(cli.stdout) as BackupJson;
    expect(info.skipped).toEqual([]);
    expect(info.warnings).toContain('config/big.json was modified while it was read; stored as read, which may mix old and new content');
  });

  it('a file that grows while it is read is stored as the bytes the walk saw, with a warning naming it', async () => {
    const file = path.join(root, 'config/big.json');
    await fs.writeFile(file, Buffer.alloc(3 << 20, 'a'));
    const cli = await backupUnderStrace(file, 'pread64:delay_enter=3000000:when=2', () => fs.appendFile(file, Buffer.alloc(1 << 20, 'b')));
    expect(cli.code, cli.stderr).toBe(0);
    const info = JSON.parse(cli.stdout) as BackupJson;
    expect(info.skipped).toEqual([]);
    expect(info.warnings).toContain('config/big.json grew while it was read (to 4194304 bytes); stored its first 3145728 bytes');
    const m = await readManifest(info.id);
    expect(m.files.find((f) => f.path === 'config/big.json')).toMatchObject({ size: 3 << 20 });
    const target = path.join(dir, 'out');
    const restore = await runCli(['--config', configFile, 'restore', info.id, '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await fs.readFile(path.join(target, 'config/big.json'))).equals(Buffer.alloc(3 << 20, 'a'))).toBe(true);
  });
});
