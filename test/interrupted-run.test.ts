import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProcessTag } from '@botbackup/storage';
import { cliBin, createBot, listFiles, runCli, useTempDir, writeConfig } from './helpers/bot.js';

/**
 * Issue 15: what a SIGKILLed backup leaves behind (the `.part` file of its upload, the folder it
 * made for the object, its database copy in the temp folder) is removed by the next backup or
 * prune. The kill is deterministic: strace kills the process at its first rename(2), which is
 * LocalStore committing the archive (written and fsync-ed in `.tmp/`, the staging copy still there).
 */
describe('leftovers of a killed backup', () => {
  const tmp = useTempDir();

  async function setup() {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const repo = path.join(tmp.dir, 'repo');
    const file = await writeConfig(tmp.dir, { root, repo });
    // The default temp folder is botbackup's own, under $XDG_CACHE_HOME.
    // The system temp folder (os.tmpdir()), where older versions staged their copies.
    const systemTmp = path.join(tmp.dir, 'system-tmp');
    await fs.mkdir(systemTmp);
    const env = { XDG_CACHE_HOME: path.join(tmp.dir, 'cache'), TMPDIR: systemTmp };
    const tmpRoot = path.join(tmp.dir, 'cache', 'botbackup', 'tmp');
    const cli = (...args: string[]) => runCli(['--config', file, ...args], { env });
    const killedBackup = async () => {
      const r = await runCli(
        [
          'strace',
          '-f',
          '-qq',
          '-o',
          '/dev/null',
          '-e',
          'trace=rename,renameat,renameat2',
          '-e',
          'inject=rename,renameat,renameat2:signal=SIGKILL',
          process.execPath,
          cliBin,
          '--config',
          file,
          '-v',
          'backup',
        ],
        { raw: true, env },
      );
      // strace re-raises the SIGKILL on itself (no exit code) or exits 137.
      expect([-1, 128 + 9], r.stderr).toContain(r.code);
      expect(r.stderr).not.toMatch(/backup committed/);
    };
    return { repo, cli, killedBackup, tmpRoot, systemTmp };
  }

  it("the next backup removes the killed upload's .part file, the empty folder and the database copy, and says so", async () => {
    const { repo, cli, killedBackup, tmpRoot, systemTmp } = await setup();
    await killedBackup();
    const parts = (await fs.readdir(path.join(repo, '.tmp'))).filter((n) => n.endsWith('.part'));
    expect(parts).toHaveLength(1);
    expect((await fs.stat(path.join(repo, '.tmp', parts[0]!))).size).toBeGreaterThan(10_000);
    const emptyDirs = await fs.readdir(path.join(repo, 'data', 'testbot'));
    expect(emptyDirs).toHaveLength(1);
    expect(await fs.readdir(path.join(repo, 'data', 'testbot', emptyDirs[0]!))).toEqual([]);
    // The killed run's database copy, in botbackup's own temp folder (0700), not in /tmp.
    expect((await fs.stat(tmpRoot)).mode & 0o777).toBe(0o700);
    const staged = await fs.readdir(tmpRoot);
    expect(staged).toHaveLength(1);
    expect(staged[0]).toMatch(/^botbackup-[0-9a-f]{10}\.\d+\.\d+\./);
    // The database copy, and the file list the run was writing as it packed.
    const copies = await fs.readdir(path.join(tmpRoot, staged[0]!));
    expect(copies.filter((n) => n.endsWith('.sqlite'))).toHaveLength(1);
    expect(copies.filter((n) => !n.endsWith('.sqlite'))).toEqual(['stored-files.ndjson']);

    // What older versions left in /tmp: removed once untouched for orphanGrace (6 h), not before;
    // other programs' folders are never touched.
    const old = new Date(Date.now() - 7 * 3600_000);
    for (const name of ['botbackup-Ab12Cd', 'botbackup-verify-Zz99Yy', 'botbackup-Qq11Ww', 'botbackup-other-tool']) {
      await fs.mkdir(path.join(systemTmp, name, 'restore'), { recursive: true });
      await fs.writeFile(path.join(systemTmp, name, 'trades.sqlite'), 'x'.repeat(1000));
      if (name !== 'botbackup-Qq11Ww') {
        for (const p of [path.join(name, 'trades.sqlite'), path.join(name, 'restore'), name]) await fs.utimes(path.join(systemTmp, p), old, old);
      }
    }
    const next = await cli('backup');
    expect(next.code, next.stderr).toBe(0);
    const lines = next.stdout.split('\n');
    expect(lines.filter((l) => /^ {2}removed 3 temporary copies of interrupted backups \([\d.]+ KiB\): .*botbackup-/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^ {2}removed 1 \.part file of interrupted uploads \([\d.]+ KiB\) and 2 empty folders in "local"$/.test(l))).toHaveLength(1);
    expect((await fs.readdir(path.join(repo, '.tmp'))).filter((n) => n.endsWith('.part'))).toEqual([]);
    // data/testbot/<killed id> and data/testbot (emptied by then), made again by the new backup.
    expect(await fs.readdir(path.join(repo, 'data', 'testbot'))).toHaveLength(1);
    expect(await fs.readdir(tmpRoot)).toEqual([]);
    expect((await fs.readdir(systemTmp)).sort()).toEqual(['botbackup-Qq11Ww', 'botbackup-other-tool']);
    // The repository holds exactly the new backup.
    const listed = JSON.parse((await cli('--json', 'list')).stdout) as unknown[];
    expect(listed).toHaveLength(1);
    expect((await listFiles(repo)).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it("prune removes them too and reports them in --json; a live writer's .part, and another host's younger than the grace period, are kept", async () => {
    const { repo, cli, killedBackup } = await setup();
    expect((await cli('backup')).code).toBe(0);
    await killedBackup();
    const [killedPart] = (await fs.readdir(path.join(repo, '.tmp'))).filter((n) => n.endsWith('.part'));
    // Another host's (another machine tag): one fresh, one older than orphanGrace (6 h).
    const foreignFresh = 'abcdef0123.4242.99.0011223344556677.part';
    const foreignOld = 'abcdef0123.4243.99.8899aabbccddeeff.part';
    // A live writer on this host: this test process.
    const live = `${formatProcessTag()}.0000000000000000.part`;
    // Older naming (no owner): only the grace period decides.
    const legacyOld = '0123456789abcdef.part';
    for (const name of [foreignFresh, foreignOld, live, legacyOld]) await fs.writeFile(path.join(repo, '.tmp', name), 'partial');
    const old = new Date(Date.now() - 7 * 3600_000);
    for (const name of [foreignOld, live, legacyOld]) await fs.utimes(path.join(repo, '.tmp', name), old, old);

    const prune = await cli('--json', 'prune');
    expect(prune.code, prune.stderr).toBe(0);
    const result = JSON.parse(prune.stdout) as { temporary: { store: string; path: string; kind: string; bytes: number; reason: string }[] };
    const removed = result.temporary.map((t) => [t.store, t.kind, t.path, t.reason]).sort();
    expect(removed).toEqual(
      [
        ['local', 'part', `.tmp/${killedPart}`, 'writer is dead'],
        ['local', 'part', `.tmp/${foreignOld}`, 'older than the grace period'],
        ['local', 'part', `.tmp/${legacyOld}`, 'older than the grace period'],
        ['local', 'folder', expect.stringMatching(/^data\/testbot\/\S+$/), 'empty'],
      ].sort(),
    );
    expect(result.temporary.find((t) => t.path === `.tmp/${killedPart}`)!.bytes).toBeGreaterThan(10_000);
    expect((await fs.readdir(path.join(repo, '.tmp'))).sort()).toEqual([foreignFresh, live].sort());

    // The table says it in one line too.
    await killedBackup();
    const text = await cli('prune');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^removed 1 \.part file of interrupted uploads \([\d.]+ KiB\) and 1 empty folder in "local"$/m);
  });

  it('a default temp folder out of reach falls back to a private one in the system temp folder; a configured one that cannot be made is exit 5', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const repo = path.join(tmp.dir, 'repo');
    const systemTmp = path.join(tmp.dir, 'system-tmp');
    await fs.mkdir(systemTmp);
    // A cache home that is a file: $XDG_CACHE_HOME/botbackup/tmp cannot be created.
    const blocked = path.join(tmp.dir, 'not-a-folder');
    await fs.writeFile(blocked, 'x');
    const file = await writeConfig(tmp.dir, { root, repo });
    const r = await runCli(['--config', file, 'backup'], { env: { XDG_CACHE_HOME: blocked, TMPDIR: systemTmp } });
    expect(r.code, r.stderr).toBe(0);
    const fallback = path.join(systemTmp, `botbackup-tmp-${process.getuid!()}`);
    expect((await fs.stat(fallback)).mode & 0o777).toBe(0o700);
    // The run's own folder in it was removed when the backup ended.
    expect(await fs.readdir(fallback)).toEqual([]);

    const configured = await writeConfig(tmp.dir, { root, repo, extra: `defaults: { tmpDir: ${JSON.stringify(path.join(blocked, 'tmp'))} }\n` });
    const bad = await runCli(['--config', configured, 'backup'], { env: { TMPDIR: systemTmp } });
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(
      /Cannot use the temporary folder \S+not-a-folder\/tmp \(defaults\.tmpDir\): a file is in the way; set defaults\.tmpDir to a folder this user can write\./,
    );
  });
});
