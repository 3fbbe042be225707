import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { formatProcessTag } from '@botbackup/storage';
import { cliBin, createBot, listFiles, makeKeys, runCli, sha256File, useTempDir, writeConfig, type CliResult } from './helpers/bot.js';

/**
 * A restore killed at any moment leaves the target as it was, or (once the next botbackup command
 * touches it) exactly restored. The kills are made by strace at an exact system call, so no
 * timing luck is involved: `-e inject=<syscall>:signal=SIGKILL:when=N` kills the process on entry
 * to its Nth call. Injections are counted per thread; with UV_THREADPOOL_SIZE=1 every
 * asynchronous file operation (the renames, the fsyncs of staged files and of the journal) runs
 * in one thread, so the Nth call is always the same one.
 */

const hasStrace = (() => {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const isRoot = process.getuid?.() === 0;

const SECRET = 'test-secret';
const JOURNAL = '.botbackup-restore-journal.json';

interface Setup {
  dir: string;
  root: string;
  config: string;
  id: string;
  /** A clean restore of the backup: what a finished restore looks like. */
  reference: Map<string, string>;
}

async function setUp(dir: string): Promise<Setup> {
  const root = path.join(dir, 'bot');
  const repo = path.join(dir, 'repo');
  await createBot(root, { deals: 3000 });
  const keys = await makeKeys(dir);
  const config = await writeConfig(dir, { root, repo, keys });
  const cli = await runCli(['--config', config, '--json', 'backup']);
  expect(cli.code, cli.stderr).toBe(0);
  const id = (JSON.parse(cli.stdout) as { id: string }).id;
  const ref = path.join(dir, 'reference');
  const restored = await runCli(['--config', config, 'restore', id, '--target', ref]);
  expect(restored.code, restored.stderr).toBe(0);
  return { dir, root, config, id, reference: await state(ref) };
}

/** Every file under a folder (hidden ones and staging folders included): path → sha256 and mode. */
async function state(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!(await fs.stat(dir).catch(() => undefined))) return out;
  for (const file of await listFiles(dir)) {
    const full = path.join(dir, file);
    out.set(file, `${await sha256File(full)} ${((await fs.stat(full)).mode & 0o777).toString(8)}`);
  }
  return out;
}

/** Runs the CLI under strace (all threads, trace written to `log`) with strace's own `straceOptions`, on one libuv thread. */
function runStraced(log: string, straceOptions: string[], args: string[]): Promise<CliResult> {
  return runCli(['strace', '-f', '-qq', '-o', log, ...straceOptions, process.execPath, cliBin, ...args], {
    raw: true,
    env: { UV_THREADPOOL_SIZE: '1' },
  });
}

/** Runs the CLI under strace, killed with SIGKILL on entry to the `when`th call of `syscalls`. */
async function runKilled(args: string[], syscalls: string, when: number, log: string): Promise<{ killed: boolean; cli: CliResult }> {
  const cli = await runStraced(log, ['-e', `trace=${syscalls}`, '-e', `inject=${syscalls}:signal=SIGKILL:when=${when}`], args);
  const trace = await fs.readFile(log, 'utf8');
  return { killed: trace.includes('killed by SIGKILL'), cli };
}

/** The staging folders and journals botbackup left in a folder. */
async function leftovers(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.botbackup'));
}

/** Files under `dir` (outside `allowed`) whose content holds the test secret. */
async function secretCopies(dir: string, allowed: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of await listFiles(dir).catch(() => [] as string[])) {
    if (allowed.includes(file)) continue;
    if ((await fs.readFile(path.join(dir, file))).includes(SECRET)) found.push(file);
  }
  return found;
}

/** Checks what a kill left before anything else runs: staging folders are private, and the target is old or new, file by file. */
async function checkKilledState(target: string, before: Map<string, string>, after: Map<string, string>): Promise<void> {
  for (const name of await leftovers(target)) {
    const stat = await fs.stat(path.join(target, name));
    if (stat.isDirectory()) expect(stat.mode & 0o777, `${name} is private`).toBe(0o700);
  }
  const now = await state(target);
  for (const [file, value] of now) {
    if (file.startsWith('.botbackup')) continue;
    // Each visible file is either the old one or the restored one, never anything else.
    expect([before.get(file), after.get(file)], file).toContain(value);
  }
}

function expectedAfterForce(before: Map<string, string>, reference: Map<string, string>): Map<string, string> {
  const expected = new Map(before);
  for (const [file, value] of reference) expected.set(file, value);
  return new Map([...expected].sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe.skipIf(!hasStrace)('restore killed at any moment (SIGKILL injected by strace)', () => {
  const tmp = useTempDir();
  let s: Setup;
  beforeEach(async () => {
    s = await setUp(tmp.dir);
  }, 60_000);

  it('uses the rename system call that the kills are counted on', async () => {
    const log = path.join(s.dir, 'trace.log');
    const target = path.join(s.dir, 'out');
    const cli = await runStraced(log, ['-e', 'trace=rename,renameat,renameat2'], ['--config', s.config, 'restore', s.id, '--target', target]);
    expect(cli.code, cli.stderr).toBe(0);
    const calls = (await fs.readFile(log, 'utf8')).split('\n').filter((l) => l.includes(target));
    // The backup's five top-level names (.env and the folders config, data, keys, logs), one
    // rename each: a folder the new target lacks moves in whole. All through rename(2).
    expect(calls.filter((l) => /\brename\(/.test(l))).toHaveLength(5);
    expect(calls.filter((l) => /\brenameat2?\(/.test(l))).toHaveLength(0);
  }, 60_000);

  it('into a new folder: killed while reading and staging, after the journal, and between every two renames; the next restore finishes or undoes it', async () => {
    const args = (target: string) => ['--config', s.config, 'restore', s.id, '--target', target];
    // fsync 1 and 3: the first and third staged files were just written (the archive is being read).
    // rename 1..5: the journal is written; 0..4 renames are made. rename 6: there is none (a normal run).
    const moments: [string, number][] = [
      ['fsync', 1],
      ['fsync', 3],
      ['rename', 1],
      ['rename', 2],
      ['rename', 4],
      ['rename', 5],
    ];
    for (const [syscall, when] of moments) {
      const target = path.join(s.dir, `out-${syscall}-${when}`);
      const { killed } = await runKilled(args(target), syscall, when, path.join(s.dir, `trace-${syscall}-${when}.log`));
      expect(killed, `${syscall} #${when} killed the restore`).toBe(true);
      await checkKilledState(target, new Map(), s.reference);
      const committed = (await leftovers(target)).includes(JOURNAL);
      expect(committed, `${syscall} #${when}: journal written`).toBe(syscall === 'rename');

      const again = await runCli(args(target));
      expect(again.code, `${syscall} #${when}: ${again.stderr}`).toBe(0);
      if (committed)
        expect(again.stdout).toMatch(
          new RegExp(`^First finished an interrupted restore of backup ${s.id} into ${target} \\(\\d+ rename\\(s\\) rolled forward\\)\\.$`, 'm'),
        );
      else expect(again.stdout).toMatch(/^First removed the staging folder of an interrupted restore in .+\.$/m);
      expect(await state(target), `${syscall} #${when}`).toEqual(s.reference);
      expect(await leftovers(target)).toEqual([]);
      expect(await secretCopies(target, ['.env'])).toEqual([]);
    }
  }, 240_000);

  it('with --force over the bot folder: killed before the commit leaves it as it was; killed after, the next backup or recover finishes it', async () => {
    // The bot went on: a config changed, the key file changed, a file the backup does not have appeared.
    await fs.writeFile(path.join(s.root, 'config/bot.json'), '{"exchange":"kraken"}');
    await fs.writeFile(path.join(s.root, 'keys/binance.key'), 'rotated-key\n', { mode: 0o600 });
    await fs.writeFile(path.join(s.root, 'notes.txt'), 'mine\n');
    const pristine = path.join(s.dir, 'pristine');
    await fs.cp(s.root, pristine, { recursive: true });
    const args = ['--config', s.config, 'restore', s.id, '--target', s.root, '--force'];
    // Existing files are first moved into the staging folder, then the staged ones renamed in:
    // 6 files, 6 replaced ones: 12 renames.
    const moments: [string, number, 'backup' | 'recover'][] = [
      ['fsync', 2, 'backup'],
      ['rename', 1, 'recover'],
      ['rename', 2, 'backup'],
      ['rename', 5, 'recover'],
      ['rename', 12, 'backup'],
    ];
    for (const [syscall, when, next] of moments) {
      await fs.rm(s.root, { recursive: true, force: true });
      await fs.cp(pristine, s.root, { recursive: true });
      const before = await state(s.root);
      const expected = expectedAfterForce(before, s.reference);
      const { killed } = await runKilled(args, syscall, when, path.join(s.dir, `trace-force-${syscall}-${when}.log`));
      expect(killed, `${syscall} #${when} killed the restore`).toBe(true);
      const committed = (await leftovers(s.root)).includes(JOURNAL);
      expect(committed, `${syscall} #${when}: journal written`).toBe(syscall === 'rename');
      await checkKilledState(s.root, before, expected);
      if (!committed) {
        // Nothing visible changed.
        const visible = new Map([...(await state(s.root))].filter(([f]) => !f.startsWith('.botbackup')));
        expect(visible).toEqual(before);
      }

      const cli = await runCli(['--config', s.config, next]);
      expect(cli.code, `${syscall} #${when} then ${next}: ${cli.stderr}`).toBe(0);
      expect(cli.stderr + cli.stdout).toMatch(committed ? /finished an interrupted restore of backup/ : /removed the staging folder of an interrupted restore/);
      expect(await state(s.root), `${syscall} #${when} then ${next}`).toEqual(committed ? expected : before);
      expect(await leftovers(s.root)).toEqual([]);
      expect(await secretCopies(s.root, ['.env'])).toEqual([]);
    }
  }, 240_000);

  it('recover killed between moving the damaged database aside and renaming the good copy in: the next recover finishes it', async () => {
    const db = path.join(s.root, 'data/trades.db');
    await fs.writeFile(db, Buffer.alloc(8192, 7));
    await fs.rm(path.join(s.root, 'keys/binance.key'));
    // Renames: the damaged database aside (1), the good copy in (2), the missing key file (3).
    // The recovery's own restore into its staging folder makes 5 renames first (its five top-level
    // names), so these are 6, 7, 8.
    const { killed } = await runKilled(['--config', s.config, 'recover'], 'rename', 7, path.join(s.dir, 'trace-recover.log'));
    expect(killed).toBe(true);
    expect(await fs.stat(db).catch(() => undefined)).toBeUndefined();
    const cli = await runCli(['--config', s.config, 'recover']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^First finished an interrupted recovery of backup .+ \(2 rename\(s\) rolled forward\)\.$/m);
    expect(cli.stdout).toMatch(/healthy/);
    const now = await state(s.root);
    expect(now.get('data/trades.db')).toBe(s.reference.get('data/trades.db'));
    expect(now.get('keys/binance.key')).toBe(s.reference.get('keys/binance.key'));
    expect([...now.keys()].filter((f) => f.includes('.damaged-'))).toHaveLength(1);
    expect(await leftovers(s.root)).toEqual([]);
  }, 120_000);
});

describe('finishPendingRestore', () => {
  const tmp = useTempDir();

  it("a journal cut short while it was written is no commit: the staging folder and the journal go, nothing else; a live process's staging folder stays", async () => {
    const { finishPendingRestore } = await import('@botbackup/engine');
    const root = tmp.dir;
    await fs.writeFile(path.join(root, 'keep.txt'), 'mine\n');
    // No owner tag in the name: nobody to wait for.
    const dead = path.join(root, '.botbackup-restore-99999999-aaaaaa');
    await fs.mkdir(path.join(dead, 'keys'), { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(dead, 'keys/binance.key'), `${SECRET}\n`);
    await fs.writeFile(path.join(root, JOURNAL), '{"version":1,"kind":"restore","backupId":"x","stag');
    const live = path.join(root, `.botbackup-restore-${formatProcessTag()}-bbbbbb`);
    await fs.mkdir(live, { mode: 0o700 });
    let outcome = await finishPendingRestore(root);
    // The half-written journal may be the live restore's own: left to it.
    expect(outcome?.action).toBe('rolled-back');
    expect((await fs.readdir(root)).sort()).toEqual([JOURNAL, path.basename(live), 'keep.txt'].sort());
    await fs.rm(live, { recursive: true });
    outcome = await finishPendingRestore(root);
    expect(outcome?.message).toMatch(/^removed the staging folder of an interrupted restore in /);
    expect(await fs.readdir(root)).toEqual(['keep.txt']);
    expect(await finishPendingRestore(root)).toBeUndefined();
  });
});

describe('a restore target that cannot be used is refused (exit 8), never reported as a bad backup', () => {
  const tmp = useTempDir();
  let s: Setup;
  beforeEach(async () => {
    s = await setUp(tmp.dir);
  }, 60_000);

  it('refuses a file as the target, and a target under a file, with one sentence naming the path', async () => {
    const file = path.join(s.dir, 'a-file');
    await fs.writeFile(file, 'not a folder\n');
    for (const target of [file, path.join(file, 'sub')]) {
      const cli = await runCli(['--config', s.config, 'restore', s.id, '--target', target]);
      expect(cli.code, cli.stderr).toBe(8);
      const lines = cli.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('botbackup:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(file);
      expect(lines[0]).toMatch(/is a file, not a folder/);
      expect(cli.stderr).not.toMatch(/Internal error|EEXIST|ENOTDIR|good copy|integrity/i);
    }
    expect(await fs.readFile(file, 'utf8')).toBe('not a folder\n');
  });

  it('refuses a file where the backup has a folder, and existing files without --force, leaving everything as it was', async () => {
    const target = path.join(s.dir, 'out');
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'config'), 'in the way\n');
    let cli = await runCli(['--config', s.config, 'restore', s.id, '--target', target]);
    expect(cli.code, cli.stderr).toBe(8);
    expect(cli.stderr).toContain(`${path.join(target, 'config')} is a file, where the backup has a folder`);
    expect(await listFiles(target)).toEqual(['config']);

    await fs.rm(path.join(target, 'config'));
    await fs.writeFile(path.join(target, '.env'), 'mine\n');
    cli = await runCli(['--config', s.config, 'restore', s.id, '--target', target]);
    expect(cli.code, cli.stderr).toBe(8);
    expect(cli.stderr).toContain(`${path.join(target, '.env')} already exist`);
    expect(await listFiles(target)).toEqual(['.env']);

    // A full restore into a folder that holds anything else would be a mix: refused too.
    await fs.rm(path.join(target, '.env'));
    await fs.writeFile(path.join(target, 'notes.txt'), 'mine\n');
    cli = await runCli(['--config', s.config, 'restore', s.id, '--target', target]);
    expect(cli.code, cli.stderr).toBe(8);
    expect(cli.stderr).toContain(`The restore target ${target} is not empty (it holds notes.txt)`);
    expect(await listFiles(target)).toEqual(['notes.txt']);
    // Part of the backup (--only) may go beside other files.
    cli = await runCli(['--config', s.config, 'restore', s.id, '--target', target, '--only', 'config']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(await listFiles(target)).toEqual(['config/bot.json', 'config/strategies/grid.json', 'notes.txt']);
  });
});

describe.skipIf(!hasStrace)("a full disk under the target is the target's problem", () => {
  const tmp = useTempDir();

  it('a write into the staging folder failing with ENOSPC exits 8 naming the target, not 6 (a corrupt backup), and leaves nothing behind', async () => {
    const s = await setUp(tmp.dir);
    const target = path.join(s.dir, 'out');
    await fs.mkdir(target);
    const log = path.join(s.dir, 'trace.log');
    // The first fsync of a staged file fails as on a full disk.
    const cli = await runStraced(
      log,
      ['-e', 'trace=fsync', '-e', 'inject=fsync:error=ENOSPC:when=1'],
      ['--config', s.config, 'restore', s.id, '--target', target],
    );
    expect(await fs.readFile(log, 'utf8')).toMatch(/ENOSPC \(No space left on device\) \(INJECTED\)/);
    expect(cli.code, cli.stderr).toBe(8);
    expect(cli.stderr).toContain(`Cannot write into the restore target ${target} (ENOSPC`);
    expect(cli.stderr).not.toMatch(/corrupt|good copy|tampered/i);
    expect(await fs.readdir(target)).toEqual([]);
  }, 60_000);
});

describe('backup, recover and restore leave the bot folder as they found it', () => {
  const tmp = useTempDir();

  it('no new -wal/-shm beside a WAL database, and no changed owner or mode', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root, { deals: 500 });
    const config = await writeConfig(tmp.dir, { root, repo });
    const db = path.join(root, 'data/trades.db');
    // WAL mode, read from the header (bytes 18 and 19 are 2): opening it to ask would make the very -shm this test looks for.
    const header = await fs.readFile(db);
    expect([header[18], header[19]]).toEqual([2, 2]);
    // The bot runs as another user: its files belong to uid 1234 (only root can make that).
    if (isRoot) for (const file of [...(await listFiles(root)), 'data', 'config', 'keys', 'logs', '.']) await fs.chown(path.join(root, file), 1234, 1234);
    await fs.chmod(db, 0o640);
    const snapshot = async () => {
      const out: Record<string, string> = {};
      for (const file of await listFiles(root)) {
        const st = await fs.stat(path.join(root, file));
        out[file] = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${await sha256File(path.join(root, file))}`;
      }
      for (const d of ['.', 'data']) {
        const st = await fs.stat(path.join(root, d));
        out[`${d}/`] = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
      }
      return out;
    };
    const before = await snapshot();
    expect(Object.keys(before).filter((f) => /-(wal|shm)$/.test(f))).toEqual([]);

    const backup = await runCli(['--config', config, '--json', 'backup']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(await snapshot(), 'after backup').toEqual(before);
    const recover = await runCli(['--config', config, 'recover']);
    expect(recover.code, recover.stderr).toBe(0);
    expect(await snapshot(), 'after recover').toEqual(before);
    const target = path.join(tmp.dir, 'out');
    const restore = await runCli(['--config', config, 'restore', 'latest', '--target', target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await listFiles(target)).filter((f) => /-(wal|shm|journal)$/.test(f))).toEqual([]);
    expect(await snapshot(), 'after restore elsewhere').toEqual(before);

    // What recover and restore --force put into the bot's folder belongs to the bot's user, not to root.
    const owner = async (file: string) => {
      const st = await fs.stat(path.join(root, file));
      return `${st.uid}:${st.gid}`;
    };
    const botUser = isRoot ? '1234:1234' : `${process.getuid!()}:${process.getgid!()}`;
    await fs.writeFile(db, Buffer.alloc(8192, 7));
    if (isRoot) await fs.chown(db, 1234, 1234);
    await fs.rm(path.join(root, 'keys/binance.key'));
    const recovered = await runCli(['--config', config, 'recover']);
    expect(recovered.code, recovered.stderr).toBe(12);
    expect(await owner('data/trades.db')).toBe(botUser);
    expect(await owner('keys/binance.key')).toBe(botUser);
    expect((await listFiles(root)).filter((f) => /trades\.db-(wal|shm)$/.test(f))).toEqual([]);
    const forced = await runCli(['--config', config, 'restore', 'latest', '--target', root, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    for (const file of ['data/trades.db', '.env', 'config/bot.json', 'keys/binance.key']) expect(await owner(file), file).toBe(botUser);
    expect((await listFiles(root)).filter((f) => /-(wal|shm)$/.test(f))).toEqual([]);
  }, 60_000);
});
