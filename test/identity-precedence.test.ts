import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBot, makeKeys, runCli, sha256File, useTempDir, writeConfig, type TestKeys } from './helpers/bot.js';

// Which identity opens an encrypted backup (docs/security.md, "Which identity is used"): the
// --identity files alone when given, else $BOTBACKUP_IDENTITY_FILE alone, else the config's
// encryption.identityFile; one that does not open the backup is refused (exit 11) before any
// object of the backup is read or anything written.

describe('identity precedence', () => {
  const tmp = useTempDir('all');
  let root: string;
  let repo: string;
  let keys: TestKeys;
  let other: TestKeys;
  let id: string;
  /** The config's identityFile is the right one / another one / a file that does not exist. */
  const configs = { right: '', wrong: '', missing: '' };

  async function configWithIdentity(name: string, identityFile: string): Promise<string> {
    const dir = path.join(tmp.dir, name);
    await fs.mkdir(dir);
    const file = await writeConfig(dir, { root, repo, keys });
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.replace(/identityFile: .*/, `identityFile: ${JSON.stringify(identityFile)}`));
    return file;
  }

  beforeAll(async () => {
    root = path.join(tmp.dir, 'bot');
    repo = path.join(tmp.dir, 'repo');
    await createBot(root, { deals: 200 });
    keys = await makeKeys(tmp.dir);
    other = await makeKeys(tmp.dir, 'other-keys');
    configs.right = await configWithIdentity('right', keys.identityFile);
    configs.wrong = await configWithIdentity('wrong', other.identityFile);
    configs.missing = await configWithIdentity('missing', path.join(tmp.dir, 'gone/identity.txt'));
    const made = await runCli(['--config', configs.missing, '--json', 'backup']);
    expect(made.code, made.stderr).toBe(0);
    id = (JSON.parse(made.stdout) as { id: string }).id;
  });

  /** A restore into a new folder: its result, and the folder (which must exist only on success). */
  async function restore(config: string, args: string[], env: Record<string, string | undefined> = {}) {
    const target = path.join(tmp.dir, `target-${Math.random().toString(36).slice(2)}`);
    const cli = await runCli(['--config', config, 'restore', id, '--target', target, ...args], { env: { BOTBACKUP_IDENTITY_FILE: undefined, ...env } });
    return { ...cli, target };
  }

  it('--identity or BOTBACKUP_IDENTITY_FILE opens the backup while the config names a file that does not exist', async () => {
    for (const [args, env] of [
      [['--identity', keys.identityFile], {}],
      [[], { BOTBACKUP_IDENTITY_FILE: keys.identityFile }],
    ] as const) {
      const cli = await restore(configs.missing, [...args], env);
      expect(cli.code, cli.stderr).toBe(0);
      expect(await sha256File(path.join(cli.target, '.env'))).toBe(await sha256File(path.join(root, '.env')));
    }
    const verify = await runCli(['--config', configs.missing, 'verify', id, '--identity', keys.identityFile]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).not.toMatch(/no identity here/);
    // Without either, the config's file is the one used, and its absence is the error.
    const none = await restore(configs.missing, []);
    expect(none.code).toBe(11);
    expect(none.stderr).toMatch(/^botbackup: The identity file .*gone\/identity\.txt does not exist; /);
  });

  it('a wrong identity is refused in one sentence, exit 11, even when the config names the right one', async () => {
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      [configs.right, ['--identity', other.identityFile], {}, /\(given with --identity; recipient age1\w+\)/],
      [configs.right, [], { BOTBACKUP_IDENTITY_FILE: other.identityFile }, /\(from BOTBACKUP_IDENTITY_FILE; recipient age1\w+\)/],
      [configs.wrong, [], {}, /\(encryption\.identityFile in .*wrong\/botbackup\.yaml; recipient age1\w+\)/],
    ];
    for (const [config, args, env, origin] of cases) {
      const cli = await restore(config, args, env);
      expect(cli.code, cli.stderr).toBe(11);
      expect(cli.stderr).toMatch(new RegExp(`^botbackup: The identity ${other.identityFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
      expect(cli.stderr).toMatch(origin);
      expect(cli.stderr).toMatch(
        new RegExp(`does not open backup ${id}, which was encrypted to other recipients; give the identity whose recipient the backup was made for\\.\\n$`),
      );
      expect(cli.stderr).toContain(other.recipient);
      expect(cli.stderr.trim().split('\n')).toHaveLength(1);
      await expect(fs.stat(cli.target)).rejects.toThrow(/ENOENT/);
    }
  });

  it('verify, show and drill refuse a wrong --identity too, and --identity wins over a wrong BOTBACKUP_IDENTITY_FILE', async () => {
    for (const args of [['verify', id], ['verify', '--all'], ['verify', id, '--deep'], ['show', id], ['drill']]) {
      const cli = await runCli(['--config', configs.right, ...args, '--identity', other.identityFile]);
      expect(cli.code, `${args.join(' ')}: ${cli.stderr}`).toBe(11);
      expect(cli.stderr, args.join(' ')).toMatch(/does not open backup \S+, which was encrypted to other recipients/);
    }
    const right = await restore(configs.wrong, ['--identity', keys.identityFile], { BOTBACKUP_IDENTITY_FILE: other.identityFile });
    expect(right.code, right.stderr).toBe(0);
  });

  it('is refused before any object of the backup is read: with the archive gone, the key is still what is said', async () => {
    const manifest = JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${id}.json`), 'utf8')) as { objects: { role: string; key: string }[] };
    const archive = path.join(repo, manifest.objects.find((o) => o.role === 'archive')!.key);
    await fs.rename(archive, `${archive}.away`);
    try {
      const wrong = await restore(configs.right, ['--identity', other.identityFile]);
      expect(wrong.code, wrong.stderr).toBe(11);
      // The right identity then meets the missing archive: the check above did not hide it.
      const right = await restore(configs.right, []);
      expect(right.code, right.stderr).toBe(6);
    } finally {
      await fs.rename(`${archive}.away`, archive);
    }
  });
});
