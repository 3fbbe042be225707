import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryKeys } from '@botbackup/core';
import { createBot, flipByte, makeKeys, runCli, useTempDir, writeConfig } from './helpers/bot.js';

interface Verdict {
  id: string;
  store: string;
  ok: boolean;
  code?: string;
  exitCode?: number;
  error?: string;
}

/** Issue 15: `verify --all` checks every backup, reports each one, and exits with the worst. */
describe('verify --all', () => {
  const tmp = useTempDir();

  /**
   * An encrypted repository with four backups; the first is encrypted to a recipient whose
   * identity this host does not have (as after a key rotation), so it cannot be opened here.
   */
  async function setup() {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const repo = path.join(tmp.dir, 'repo');
    const keys = await makeKeys(tmp.dir);
    const other = await makeKeys(tmp.dir, 'other');
    const file = await writeConfig(tmp.dir, { root, repo, keys });
    const text = await fs.readFile(file, 'utf8');
    const rotated = path.join(tmp.dir, 'rotated.yaml');
    await fs.writeFile(rotated, text.replace(JSON.stringify(keys.recipient), JSON.stringify(other.recipient)));
    const cli = (...args: string[]) => runCli(['--config', file, ...args]);
    const backup = async (config: string) => {
      const r = await runCli(['--config', config, '--json', 'backup']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { id: string }).id;
    };
    const ids = [await backup(rotated), await backup(file), await backup(file), await backup(file)];
    const archive = (id: string) => path.join(repo, repositoryKeys.archive('testbot', id, 'zstd', true));
    return { cli, ids, archive };
  }

  it('goes on past a backup it cannot open and a corrupt one, reports every backup (table and --json), exits with the worst (integrity)', async () => {
    const { cli, ids, archive } = await setup();
    await flipByte(archive(ids[2]!));

    const json = await cli('--json', 'verify', '--all');
    expect(json.code, json.stderr).toBe(6);
    const verdicts = JSON.parse(json.stdout) as Verdict[];
    expect(verdicts.map((v) => [v.id, v.store, v.ok, v.exitCode])).toEqual([
      [ids[0], 'local', false, 11],
      [ids[1], 'local', true, undefined],
      [ids[2], 'local', false, 6],
      [ids[3], 'local', true, undefined],
    ]);
    expect(verdicts[0]!.error).toMatch(/encrypted to other recipients/i);
    expect(verdicts[2]!.code).toMatch(/^[A-Z_]+$/);

    const text = await cli('verify', '--all');
    expect(text.code, text.stderr).toBe(6);
    // One line per copy as it goes, then a table of every backup.
    expect(text.stdout).toMatch(new RegExp(`^FAILED ${ids[0]} in "local": `, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^ok +${ids[1]} in "local"`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^FAILED ${ids[2]} in "local": `, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^ok +${ids[3]} in "local"`, 'm'));
    expect(text.stdout).toMatch(/^BACKUP +SOURCE +LOCAL +RESULT/m);
    for (const [i, id] of ids.entries()) expect(text.stdout).toMatch(new RegExp(`^${id} +testbot +${i === 1 || i === 3 ? 'ok' : 'FAILED'} `, 'm'));
    expect(text.stderr).toMatch(/^botbackup: 2 of 4 copies failed verification \(listed above\)/m);
  });

  it('exits 11 when the worst is a backup no identity here opens', async () => {
    const { cli, ids } = await setup();
    const r = await cli('--json', 'verify', '--all');
    expect(r.code, r.stderr).toBe(11);
    expect((JSON.parse(r.stdout) as Verdict[]).map((v) => v.ok)).toEqual([false, true, true, true]);
    expect(r.stderr).toContain(ids[0]);
  });
});
