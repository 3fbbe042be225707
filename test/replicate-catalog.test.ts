import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryKeys } from '@botbackup/core';
import { createBot, makeKeys, runCli, useTempDir, writeConfig } from './helpers/bot.js';

/**
 * Issue 16: after a degraded backup, `replicate` records the copy it made with the same manifest
 * hash as backup and verify, so `list` shows both copies ok, not the new one as bad.
 */
describe('replicate after a degraded backup', () => {
  const tmp = useTempDir();

  it.each(['plain', 'encrypted and signed'])('list shows the replicated copy ok and the backup not degraded (%s)', async (kind) => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const keys = kind === 'plain' ? undefined : await makeKeys(tmp.dir);
    const second = path.join(tmp.dir, 'second');
    const file = await writeConfig(tmp.dir, {
      root,
      repo: path.join(tmp.dir, 'repo'),
      codec: 'none',
      keys,
      extra: `minCopies: 1\n`,
    });
    const text = (await fs.readFile(file, 'utf8')).replace(
      /^compression:/m,
      `  - { name: second, type: local, path: ${JSON.stringify(second)} }\ncompression:`,
    );
    await fs.writeFile(file, text);
    // The catalog of this config only: a state folder of the test's own.
    const env = { XDG_STATE_HOME: path.join(tmp.dir, 'state') };
    const cli = (...args: string[]) => runCli(['--config', file, ...args], { env });

    // The second target is unusable: its path is a regular file.
    await fs.writeFile(second, 'in the way\n');
    const backup = await cli('--json', 'backup');
    expect(backup.code, backup.stderr).toBe(9);
    const { id } = JSON.parse(backup.stdout) as { id: string };

    await fs.rm(second);
    const replicated = await cli('replicate');
    expect(replicated.code, replicated.stderr).toBe(0);
    expect(replicated.stdout + replicated.stderr).toMatch(/1 copy made/);
    const key = repositoryKeys.manifest('testbot', id);
    expect(await fs.readFile(path.join(second, key))).toEqual(await fs.readFile(path.join(tmp.dir, 'repo', key)));

    const list = await cli('--json', 'list');
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as { id: string; degraded: boolean; copies: { target: string; state: string; error?: string }[] }[];
    expect(listed.map((b) => [b.id, b.degraded, b.copies.map((c) => `${c.target}:${c.state}`)])).toEqual([
      [id, false, ['local:unverified', 'second:unverified']],
    ]);
    expect(list.stdout + list.stderr).not.toMatch(/differs/);

    // verify then records both copies verified, with the same hash: still not degraded.
    const verify = await cli('verify', '--all');
    expect(verify.code, verify.stderr).toBe(0);
    const after = JSON.parse((await cli('--json', 'list')).stdout) as { degraded: boolean; copies: { target: string; state: string }[] }[];
    expect(after.map((b) => [b.degraded, b.copies.map((c) => `${c.target}:${c.state}`)])).toEqual([[false, ['local:verified', 'second:verified']]]);
  });
});
