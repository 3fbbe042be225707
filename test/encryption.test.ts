import { execFileSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateWorkerKey, parseWorkerKey } from '@botbackup/engine';
import { serializeSignedManifest, type Manifest } from '@botbackup/core';
import { withFiles, writeStoredFiles } from './helpers/file-list.js';
import { createBot, listFiles, makeKeys, repoRoot, runCli, sha256File, useTempDir, writeConfig, type TestKeys } from './helpers/bot.js';

/** One sentence on stderr, prefixed "botbackup: ", and no stack trace. */
function expectOneSentence(stderr: string): void {
  const line = stderr.trim().split('\n').at(-1)!;
  expect(line).toMatch(/^botbackup: [^\n]+\.$/);
  expect(stderr).not.toMatch(/\n\s+at /);
}

interface Repo {
  root: string;
  repo: string;
  keys: TestKeys;
  /** A backup host's config: recipients and the worker key, no identity. */
  worker: string;
  /** A restore host's config: the same with the identity. */
  restorer: string;
}

async function setUp(dir: string): Promise<Repo> {
  const root = path.join(dir, 'bot');
  const repo = path.join(dir, 'repo');
  await createBot(root);
  const keys = await makeKeys(dir);
  await fs.mkdir(path.join(dir, 'worker'));
  await fs.mkdir(path.join(dir, 'restorer'));
  const worker = await writeConfig(path.join(dir, 'worker'), { root, repo, keys, identity: false });
  const restorer = await writeConfig(path.join(dir, 'restorer'), { root, repo, keys });
  return { root, repo, keys, worker, restorer };
}

async function backup(config: string, ...args: string[]): Promise<{ id: string; type: string; parent: string | null }> {
  const cli = await runCli(['--config', config, '--json', 'backup', ...args]);
  expect(cli.code, cli.stderr).toBe(0);
  return JSON.parse(cli.stdout) as { id: string; type: string; parent: string | null };
}

const manifestFile = (r: Repo, id: string) => path.join(r.repo, 'manifests/testbot', `${id}.json`);
const readManifest = async (r: Repo, id: string) => withFiles(r.repo, JSON.parse(await fs.readFile(manifestFile(r, id), 'utf8')) as Manifest);
const archiveFile = (r: Repo, m: Manifest) => path.join(r.repo, m.objects.find((o) => o.role === 'archive')!.key);

describe('encrypted backups (age) made on a host without the identity', () => {
  const tmp = useTempDir('all');
  let r: Repo;
  let full: Manifest & { files: NonNullable<Manifest['files']> };
  let inc: Manifest & { files: NonNullable<Manifest['files']> };

  beforeAll(async () => {
    r = await setUp(tmp.dir);
    full = await readManifest(r, (await backup(r.worker)).id);
    execFileSync('sqlite3', [path.join(r.root, 'data/trades.db'), 'UPDATE deals SET price = price + 1 WHERE id % 300 = 0;']);
    await fs.writeFile(path.join(r.root, 'config/bot.json'), JSON.stringify({ exchange: 'binance', risk: 0.02 }));
    const made = await backup(r.worker, '--incremental');
    expect(made.type).toBe('incremental');
    inc = await readManifest(r, made.id);
  });

  it('stores every object but the file list as an age file and signs the manifest', async () => {
    for (const m of [full, inc]) {
      expect(m.schemaVersion).toBe(4);
      expect(m.signature?.publicKey).toBe(r.keys.publicKey);
      // The file list holds what a manifest always held in plain text (paths and HMACs, checked below).
      expect(m.objects.find((o) => o.role === 'file-list')!.encryption).toBeNull();
      for (const object of m.objects.filter((o) => o.role !== 'file-list')) {
        expect(object.encryption?.format).toBe('age');
        const head = (await fs.readFile(path.join(r.repo, object.key))).subarray(0, 22).toString('latin1');
        expect(head).toBe('age-encryption.org/v1\n');
      }
      expect(m.objects.find((o) => o.role === 'archive')!.encryption!.readers).toBe('recipients');
      expect(m.objects.find((o) => o.role === 'page-map')!.encryption!.readers).toBe('recipients+worker');
    }
  });

  it('show says it is encrypted and who signed it', async () => {
    const cli = await runCli(['--config', r.worker, 'show', inc.id]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`encrypted (age, for the recipients); signed by ${r.keys.publicKey} (trusted)`);
    expect(cli.stdout).toMatch(/\.env +secret +\S+ +\S+ B +\(secret\)/);
  });

  it('the incremental read its parent page maps with the worker key alone and did not store unchanged secret files again', () => {
    expect(inc.parent).toBe(full.id);
    expect(inc.databases[0]!.stored.type).toBe('delta');
    expect(inc.entries.map((e) => e.path)).toEqual(['data/trades.db.bbdelta']);
    expect(inc.files.filter((f) => f.storedIn === inc.id).map((f) => f.path)).toEqual(['config/bot.json']);
    for (const f of inc.files.filter((f) => f.kind === 'secret')) expect(f.storedIn).toBe(full.id);
  });

  it('keeps no plain hash of any content: every hash is an HMAC under a key stored encrypted', async () => {
    for (const file of ['.env', 'keys/binance.key', 'config/strategies/grid.json', 'logs/bot.log']) {
      const content = await fs.readFile(path.join(r.root, file));
      const plain = createHash('sha256').update(content).digest('hex');
      for (const m of [full, inc]) {
        const text = (await fs.readFile(manifestFile(r, m.id), 'utf8')) + JSON.stringify(m.files);
        expect(text).not.toContain(plain);
        expect(text).not.toContain(content.toString('base64'));
        expect(text).not.toContain(content.toString('hex'));
      }
      // The HMAC is under the key the worker derives, which the manifest holds only encrypted.
      const worker = parseWorkerKey(await fs.readFile(r.keys.workerKeyFile, 'utf8'), 'worker.key');
      const keyed = createHmac('sha256', worker.contentHashKey).update(content).digest('hex');
      expect(full.files.find((f) => f.path === file)!.sha256).toBe(keyed);
      expect(full.encryption!.contentHashKeyId).toBe(worker.contentHashKeyId);
      expect(full.encryption!.contentHashKey).not.toContain(worker.contentHashKey.toString('base64'));
    }
    // The databases' too: the full backup's snapshot entry and the incremental's whole-database hash.
    const restored = path.join(tmp.dir, 'db-check');
    const cli = await runCli(['--config', r.restorer, 'restore', inc.id, '--target', restored, '--only', 'data/trades.db']);
    expect(cli.code, cli.stderr).toBe(0);
    const db = await fs.readFile(path.join(restored, 'data/trades.db'));
    const worker = parseWorkerKey(await fs.readFile(r.keys.workerKeyFile, 'utf8'), 'worker.key');
    expect(inc.databases[0]!.sha256).toBe(createHmac('sha256', worker.contentHashKey).update(db).digest('hex'));
    for (const m of [full, inc]) expect(await fs.readFile(manifestFile(r, m.id), 'utf8')).not.toContain(createHash('sha256').update(db).digest('hex'));
  });

  it('restores the chain with --identity, secret files 0600, everything equal to the source', async () => {
    const target = path.join(tmp.dir, 'restored');
    const cli = await runCli(['--config', r.worker, 'restore', inc.id, '--target', target, '--identity', r.keys.identityFile]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).not.toContain('WARNING');
    for (const file of ['.env', 'keys/binance.key', 'config/bot.json', 'config/strategies/grid.json', 'logs/bot.log']) {
      expect(await sha256File(path.join(target, file)), file).toBe(await sha256File(path.join(r.root, file)));
    }
    expect((await fs.stat(path.join(target, '.env'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(target, 'keys/binance.key'))).mode & 0o777).toBe(0o600);
    const worker = parseWorkerKey(await fs.readFile(r.keys.workerKeyFile, 'utf8'), 'worker.key');
    const db = await fs.readFile(path.join(target, 'data/trades.db'));
    expect(createHmac('sha256', worker.contentHashKey).update(db).digest('hex')).toBe(inc.databases[0]!.sha256);
    // The identity can also come from the environment or from the config.
    const fromEnv = await runCli(['--config', r.worker, 'restore', full.id, '--target', path.join(tmp.dir, 'env')], {
      env: { BOTBACKUP_IDENTITY_FILE: r.keys.identityFile },
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const fromConfig = await runCli(['--config', r.restorer, 'restore', full.id, '--target', path.join(tmp.dir, 'cfg')]);
    expect(fromConfig.code, fromConfig.stderr).toBe(0);
  });

  it('a missing identity, a wrong identity, a missing identity file: exit 11, one sentence, nothing written', async () => {
    const other = await makeKeys(tmp.dir, 'other-keys');
    const cases: [string[], RegExp][] = [
      [[], /is encrypted; give the identity that opens it with --identity/],
      [['--identity', other.identityFile], /\(given with --identity; recipient age1\w+\) does not open backup \S+, which was encrypted to other recipients/],
      [['--identity', path.join(tmp.dir, 'nope.txt')], /identity file .*nope\.txt does not exist/],
    ];
    for (const [args, message] of cases) {
      const target = path.join(tmp.dir, `refused-${args.length}`);
      const cli = await runCli(['--config', r.worker, 'restore', inc.id, '--target', target, ...args]);
      expect(cli.code, cli.stderr).toBe(11);
      expect(cli.stderr).toMatch(message);
      expectOneSentence(cli.stderr);
      await expect(fs.stat(target)).rejects.toThrow();
    }
    const identity = await fs.readFile(other.identityFile, 'utf8');
    const secretLine = identity.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    const wrong = await runCli(['--config', r.worker, 'restore', inc.id, '--target', path.join(tmp.dir, 'x'), '--identity', other.identityFile]);
    expect(wrong.stderr + wrong.stdout).not.toContain(secretLine);
  });

  it('verify without an identity proves the encrypted bytes; with one, every entry', async () => {
    const bare = await runCli(['--config', r.worker, 'verify', '--all']);
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toMatch(/encrypted bytes checked \(no identity here/);
    const full = await runCli(['--config', r.restorer, 'verify', '--all', '--deep']);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).not.toMatch(/no identity here/);
    expect(full.stdout).toMatch(/restored with integrity_check/);
  });

  it('decrypts by hand with the age tool, zstd and tar, as docs/format.md says', async () => {
    const doc = await fs.readFile(path.join(repoRoot, 'docs/format.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### An encrypted backup'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replace(/^ID=.*$/m, `ID=${full.id} SRC=testbot KEY=${r.keys.identityFile}`);
    const restored = path.join(r.repo, 'restored');
    try {
      const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: r.repo, encoding: 'utf8' });
      // The stored object's sha256, then every entry's keyed hash.
      // The archive and the file list, each file stored (no link here) and the database.
      expect(out.match(/: OK$/gm)!.length).toBe(2 + full.files.filter((f) => f.storedIn === full.id).length + full.entries.length);
      // Files the incremental did not change: as in the source.
      for (const file of ['.env', 'keys/binance.key', 'config/strategies/grid.json', 'logs/bot.log']) {
        expect(await sha256File(path.join(restored, file)), file).toBe(await sha256File(path.join(r.root, file)));
      }
    } finally {
      await fs.rm(restored, { recursive: true, force: true });
    }
  });

  it('files in the local repository are 0600 and folders 0700', async () => {
    for (const rel of await listFiles(r.repo)) {
      expect((await fs.stat(path.join(r.repo, rel))).mode & 0o777, rel).toBe(0o600);
      let dir = path.dirname(path.join(r.repo, rel));
      while (dir.startsWith(r.repo) && dir !== r.repo) {
        expect((await fs.stat(dir)).mode & 0o777, dir).toBe(0o700);
        dir = path.dirname(dir);
      }
    }
  });
});

describe('secret files and no encryption', () => {
  const tmp = useTempDir();

  it('a source with secret files is refused unless allowPlaintextSecrets: exit 3 naming the field, nothing stored', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const config = await writeConfig(tmp.dir, { root, repo });
    await fs.writeFile(config, (await fs.readFile(config, 'utf8')).replace('allowPlaintextSecrets: true', 'allowPlaintextSecrets: false'));
    const cli = await runCli(['--config', config, 'backup']);
    expect(cli.code, cli.stderr).toBe(3);
    expect(cli.stderr).toContain('field "sources[0].allowPlaintextSecrets"');
    expect(cli.stderr).toContain('no encryption is configured');
    expectOneSentence(cli.stderr);
    await expect(fs.stat(repo)).rejects.toThrow();
  });

  it('encryption without a trusted signer is a config error naming signing.trusted', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const keys = await makeKeys(tmp.dir);
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo'), keys });
    await fs.writeFile(config, (await fs.readFile(config, 'utf8')).replace(/ {2}trusted: .*\n/, ''));
    const cli = await runCli(['--config', config, 'list']);
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('field "signing.trusted"');
  });

  it('a backup of an encrypted repository without a readable worker key: exit 11, nothing stored', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const keys = await makeKeys(tmp.dir);
    await fs.rm(keys.workerKeyFile);
    const config = await writeConfig(tmp.dir, { root, repo, keys });
    const cli = await runCli(['--config', config, 'backup']);
    expect(cli.code, cli.stderr).toBe(11);
    expect(cli.stderr).toMatch(/worker key .*worker\.key cannot be read \(ENOENT\)/);
    expectOneSentence(cli.stderr);
    await expect(fs.stat(repo)).rejects.toThrow();
  });
});

describe('signed manifests: tampering is refused', () => {
  const tmp = useTempDir('all');
  let r: Repo;
  let a: Manifest;
  let b: Manifest;

  beforeAll(async () => {
    r = await setUp(tmp.dir);
    a = await readManifest(r, (await backup(r.worker)).id);
    await fs.appendFile(path.join(r.root, 'logs/bot.log'), 'more\n');
    b = await readManifest(r, (await backup(r.worker)).id);
  });

  /** Runs `change` on the repository, checks restore and verify refuse with `message`, then undoes it. */
  async function refused(change: () => Promise<void>, id: string, message: RegExp, code = 6): Promise<string> {
    const saved = new Map<string, Buffer>();
    for (const rel of await listFiles(r.repo)) saved.set(rel, await fs.readFile(path.join(r.repo, rel)));
    try {
      await change();
      const target = path.join(tmp.dir, 'target');
      const restore = await runCli(['--config', r.restorer, 'restore', id, '--target', target]);
      expect(restore.code, restore.stderr).toBe(code);
      expect(restore.stderr).toMatch(message);
      expectOneSentence(restore.stderr);
      await expect(fs.stat(target)).rejects.toThrow();
      const verify = await runCli(['--config', r.restorer, 'verify', id]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(code);
      return restore.stderr;
    } finally {
      for (const rel of await listFiles(r.repo)) if (!saved.has(rel)) await fs.rm(path.join(r.repo, rel));
      for (const [rel, bytes] of saved) await fs.writeFile(path.join(r.repo, rel), bytes, { mode: 0o600 });
    }
  }

  const editManifest = async (m: Manifest, edit: (raw: Record<string, unknown>) => string) => {
    const raw = JSON.parse(await fs.readFile(manifestFile(r, m.id), 'utf8')) as Record<string, unknown>;
    await fs.writeFile(manifestFile(r, m.id), edit(raw));
  };

  it('the untouched repository restores and verifies', async () => {
    const cli = await runCli(['--config', r.restorer, 'verify', '--all']);
    expect(cli.code, cli.stderr).toBe(0);
  });

  it('a flipped byte in an archive', async () => {
    await refused(
      async () => {
        const file = archiveFile(r, b);
        const bytes = await fs.readFile(file);
        bytes[bytes.length - 100]! ^= 0x01;
        await fs.writeFile(file, bytes);
      },
      b.id,
      /does not match its sha256|corrupt or was tampered with/,
    );
  });

  it("another backup's archive swapped in, and an older archive replayed under a newer backup's name", async () => {
    await refused(() => fs.copyFile(archiveFile(r, a), archiveFile(r, b)), b.id, /has \d+ bytes, not \d+|is truncated|does not match its sha256/);
    // The same size, so only the signed sha256 can tell: pad the older archive to the newer one's length.
    await refused(
      async () => {
        const older = await fs.readFile(archiveFile(r, a));
        const size = (await fs.stat(archiveFile(r, b))).size;
        await fs.writeFile(archiveFile(r, b), Buffer.concat([older, Buffer.alloc(Math.max(0, size - older.length))]).subarray(0, size));
      },
      b.id,
      /does not match its sha256|corrupt or was tampered with/,
    );
  });

  it('a whole backup moved under another id', async () => {
    await refused(() => fs.copyFile(manifestFile(r, a.id), manifestFile(r, b.id)), b.id, /describes backup .* it was moved or tampered with/);
  });

  it("an edited manifest (its file list's hash changed) keeps a signature that no longer matches", async () => {
    const stderr = await refused(
      () =>
        editManifest(b, (raw) => {
          (raw.objects as { role: string; sha256: string }[]).find((o) => o.role === 'file-list')!.sha256 = 'f'.repeat(64);
          return `${JSON.stringify(raw, null, 2)}\n`;
        }),
      b.id,
      /has a signature that does not match its content/,
    );
    expect(stderr).toContain('--insecure');
  });

  it("an edited file list (a file's hash changed) does not match the sha256 the signed manifest gives it", async () => {
    await refused(
      async () => {
        const files = withFiles(r.repo, b).files;
        files[0] = { ...files[0]!, sha256: 'f'.repeat(64) };
        writeStoredFiles(r.repo, b, files);
      },
      b.id,
      /file list .* (does not match its sha256|cannot be read)/,
    );
  });

  it('a manifest re-signed with an unknown key is refused, and accepted with --insecure and a warning', async () => {
    const intruder = parseWorkerKey(generateWorkerKey().text, 'intruder');
    const resign = () => editManifest(b, (raw) => serializeSignedManifest(raw as unknown as Manifest, intruder));
    await refused(resign, b.id, new RegExp(`is signed by ${intruder.publicKey.replace(/[+/]/g, '\\$&')}, which signing.trusted does not list`));
    const original = await fs.readFile(manifestFile(r, b.id));
    await resign();
    try {
      const target = path.join(tmp.dir, 'insecure');
      const cli = await runCli(['--config', r.restorer, 'restore', b.id, '--target', target, '--insecure']);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/WARNING: Backup .* is signed by .*accepted because of --insecure/);
      await fs.rm(target, { recursive: true });
    } finally {
      await fs.writeFile(manifestFile(r, b.id), original);
    }
  });

  it('a stripped signature, also for diff', async () => {
    const strip = () =>
      editManifest(b, (raw) => {
        delete raw.signature;
        return `${JSON.stringify(raw, null, 2)}\n`;
      });
    await refused(strip, b.id, /is not signed; refusing it/);
    const original = await fs.readFile(manifestFile(r, b.id));
    await strip();
    try {
      const diff = await runCli(['--config', r.restorer, 'diff', 'config/bot.json']);
      expect(diff.code, diff.stdout + diff.stderr).toBe(6);
      expect(diff.stderr).toMatch(new RegExp(`Backup ${b.id} .* is not signed; refusing it`));
    } finally {
      await fs.writeFile(manifestFile(r, b.id), original);
    }
  });

  it('an incremental never builds on a parent whose signature is bad: it makes a full backup and says why', async () => {
    await editManifest(b, (raw) => {
      delete raw.signature;
      return `${JSON.stringify(raw, null, 2)}\n`;
    });
    const cli = await runCli(['--config', r.worker, '--json', 'backup', '--incremental']);
    expect(cli.code, cli.stderr).toBe(0);
    const made = JSON.parse(cli.stdout) as { type: string; fullReason: string };
    expect(made.type).toBe('full');
    expect(made.fullReason).toMatch(/is not signed/);
  });
});

describe('passphrase encryption', () => {
  const tmp = useTempDir();

  it('round trip with BOTBACKUP_PASSPHRASE; a wrong one is exit 11 and is never printed', async () => {
    const root = path.join(tmp.dir, 'bot');
    const repo = path.join(tmp.dir, 'repo');
    await createBot(root);
    const keys = await makeKeys(tmp.dir);
    const config = await writeConfig(tmp.dir, { root, repo, keys });
    const text = (await fs.readFile(config, 'utf8'))
      .replace(/ {2}recipients: .*\n/, '  passphrase: ${BOTBACKUP_PASSPHRASE}\n')
      .replace(/ {2}identityFile: .*\n/, '');
    await fs.writeFile(config, text);
    const passphrase = 'correct horse battery staple';
    const made = await runCli(['--config', config, '--json', 'backup'], { env: { BOTBACKUP_PASSPHRASE: passphrase } });
    expect(made.code, made.stderr).toBe(0);
    const { id } = JSON.parse(made.stdout) as { id: string };
    const manifest = JSON.parse(await fs.readFile(path.join(repo, 'manifests/testbot', `${id}.json`), 'utf8')) as Manifest;
    expect(manifest.objects.filter((o) => o.role !== 'file-list').every((o) => o.encryption?.readers === 'passphrase')).toBe(true);
    const target = path.join(tmp.dir, 'restored');
    const ok = await runCli(['--config', config, 'restore', id, '--target', target], { env: { BOTBACKUP_PASSPHRASE: passphrase } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await sha256File(path.join(target, '.env'))).toBe(await sha256File(path.join(root, '.env')));
    const wrong = await runCli(['--config', config, 'restore', id, '--target', path.join(tmp.dir, 'wrong')], {
      env: { BOTBACKUP_PASSPHRASE: 'Tr0ub4dor&3-wrong-guess' },
    });
    expect(wrong.code).toBe(11);
    expect(wrong.stderr).toMatch(/passphrase is wrong/);
    expect(wrong.stderr + wrong.stdout).not.toContain('Tr0ub4dor');
    await expect(fs.stat(path.join(tmp.dir, 'wrong'))).rejects.toThrow();
  });
});

describe('botbackup keygen and init', () => {
  const tmp = useTempDir();

  it('keygen writes a 0600 identity whose recipient age-keygen -y agrees with, and never overwrites it', async () => {
    const file = path.join(tmp.dir, 'k/identity.txt');
    const cli = await runCli(['keygen', '--out', file, '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const { recipient } = JSON.parse(cli.stdout) as { recipient: string };
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim()).toBe(recipient);
    const before = await fs.readFile(file);
    const again = await runCli(['keygen', '--out', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; a key is never overwritten/);
    expect((await fs.readFile(file)).equals(before)).toBe(true);
  });

  it('keygen --worker writes a worker key and prints its public key', async () => {
    const file = path.join(tmp.dir, 'worker.key');
    const cli = await runCli(['keygen', '--worker', '--out', file]);
    expect(cli.code, cli.stderr).toBe(0);
    const key = parseWorkerKey(await fs.readFile(file, 'utf8'), file);
    expect(cli.stdout).toContain(key.publicKey);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('init makes keys, and its config makes encrypted, signed backups that restore', async () => {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root);
    const config = path.join(tmp.dir, 'conf/botbackup.yaml');
    const init = await runCli(['--config', config, 'init', root]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/encrypted to age1\w+ and signed by ed25519:/);
    const made = await runCli(['--config', config, '--json', 'backup']);
    expect(made.code, made.stderr).toBe(0);
    const { id } = JSON.parse(made.stdout) as { id: string };
    const target = path.join(tmp.dir, 'restored');
    const restored = await runCli(['--config', config, 'restore', id, '--target', target]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await sha256File(path.join(target, 'keys/binance.key'))).toBe(await sha256File(path.join(root, 'keys/binance.key')));
    const manifest = JSON.parse(await fs.readFile(path.join(tmp.dir, 'conf/backups/manifests/bot', `${id}.json`), 'utf8')) as Manifest;
    expect(manifest.objects.filter((o) => o.role !== 'file-list').every((o) => o.encryption !== null)).toBe(true);
  });
});
