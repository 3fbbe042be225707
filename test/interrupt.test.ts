import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliBin, createBot, listFiles, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';

// Ctrl-C at any moment: one line on stderr saying what was kept (docs/cli.md, "Interrupts"), exit
// 130, and what the line says is true: a real CLI process, a real SIGINT while it works.

/** Starts the CLI; `interrupt` sends SIGINT once `ready` (polled) says the work is under way, and returns how it ended. */
function startCli(args: string[]): {
  child: ChildProcessWithoutNullStreams;
  stderr: () => string;
  interrupt: (ready: () => Promise<boolean>) => Promise<number>;
} {
  const child = spawn(process.execPath, [cliBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const closed = once(child, 'close') as Promise<[number | null]>;
  let ended = false;
  void closed.then(() => (ended = true));
  return {
    child,
    stderr: () => stderr,
    interrupt: async (ready) => {
      // A sign of the work, not a time: the test waits as long as the machine needs to get there.
      while (!ended && !(await ready())) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(ended, `the command ended before it was interrupted: ${stderr}`).toBe(false);
      child.kill('SIGINT');
      const [code] = await closed;
      return code ?? -1;
    },
  };
}

/** The lines of stderr that botbackup itself printed (logs are JSON lines): exactly one is expected. */
function botbackupLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('botbackup:'));
}

describe('an interrupted command', () => {
  const tmp = useTempDir('all');
  let root: string;
  let repo: string;
  let staging: string;
  let config: string;

  beforeAll(async () => {
    root = path.join(tmp.dir, 'bot');
    repo = path.join(tmp.dir, 'repo');
    staging = path.join(tmp.dir, 'staging');
    await createBot(root, { deals: 150_000 });
    config = await writeConfig(tmp.dir, { root, repo, extra: `defaults: { tmpDir: ${JSON.stringify(staging)} }` });
  });

  it('backup: exit 130, one line, nothing committed, no .part and no staging files left', async () => {
    const run = startCli(['--config', config, 'backup', '--debug']);
    // Under way: its "backup started" log line is out.
    const code = await run.interrupt(async () => run.stderr().includes('backup started'));
    expect(code, run.stderr()).toBe(130);
    expect(botbackupLines(run.stderr())).toEqual(['botbackup: Interrupted; no backup was committed, and what it had uploaded was removed.']);
    expect(run.stderr().trimEnd().split('\n').at(-1)).toMatch(/^botbackup: /);
    const listed = await runCli(['--config', config, '--json', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
    expect((await listFiles(repo).catch(() => [])).filter((f) => !f.startsWith('.tmp/'))).toEqual([]);
    expect((await listFiles(repo).catch(() => [])).filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(await fs.readdir(staging)).toEqual([]);
  });

  it('restore --force over an older copy: exit 130, one line, the target as it was', async () => {
    const made = await runCli(['--config', config, 'backup']);
    expect(made.code, made.stderr).toBe(0);
    const target = path.join(tmp.dir, 'restored');
    const first = await runCli(['--config', config, 'restore', 'latest', '--target', target]);
    expect(first.code, first.stderr).toBe(0);
    // The target now differs from the backup: an interrupted restore must leave this version.
    await fs.writeFile(path.join(target, 'config/bot.json'), '{"an":"older version"}\n');
    const db = path.join(target, 'data/trades.db');
    await fs.truncate(db, 4096);
    const before = { files: await listFiles(target), db: await sha256File(db) };

    const run = startCli(['--config', config, 'restore', 'latest', '--target', target, '--force']);
    // Under way: its staging folder is in the target.
    const code = await run.interrupt(async () => (await fs.readdir(target)).some((name) => name.startsWith('.botbackup-restore-')));
    expect(code, run.stderr()).toBe(130);
    expect(botbackupLines(run.stderr())).toEqual([`botbackup: Interrupted; nothing was restored: ${target} is as it was.`]);
    expect(await listFiles(target)).toEqual(before.files);
    expect(await sha256File(db)).toBe(before.db);
    expect(await fs.readFile(path.join(target, 'config/bot.json'), 'utf8')).toBe('{"an":"older version"}\n');
  });

  it('verify --deep, which changes nothing: exit 130, one line saying so, its scratch folder removed', async () => {
    const run = startCli(['--config', config, 'verify', 'latest', '--deep']);
    // Under way: its scratch folder is in the staging folder.
    const code = await run.interrupt(async () => (await fs.readdir(staging)).length > 0);
    expect(code, run.stderr()).toBe(130);
    expect(botbackupLines(run.stderr())).toEqual(['botbackup: Interrupted; nothing was changed.']);
    expect(await fs.readdir(staging)).toEqual([]);
  });
});
