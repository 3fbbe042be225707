import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse as parseYaml } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '@botbackup/core';
import { createBot, makeKeys, repoRoot, runCli, sha256File, useTempDir, writeConfig } from './helpers/bot.js';
import { storedFiles, writeStoredFiles } from './helpers/file-list.js';

const CHECKS = `    checks:
      - { name: deals-not-empty, query: "SELECT count(*) > 0 FROM deals" }
      - { name: counter-matches, query: "SELECT n = (SELECT count(*) FROM deals) FROM counter" }
`;

interface Setup {
  root: string;
  repo: string;
  config: string;
  db: string;
}

async function setUp(dir: string, options: { keys?: boolean } = {}): Promise<Setup> {
  const root = path.join(dir, 'bot');
  const repo = path.join(dir, 'repo');
  await createBot(root, { deals: 3000 });
  const keys = options.keys ? await makeKeys(dir) : undefined;
  const config = await writeConfig(dir, { root, repo, ...(keys ? { keys } : {}) });
  const text = await fs.readFile(config, 'utf8');
  await fs.writeFile(config, text.replace(/( {4}allowPlaintextSecrets: \w+\n)/, `$1${CHECKS}`));
  return { root, repo, config, db: path.join(root, 'data/trades.db') };
}

async function backup(s: Setup): Promise<string> {
  const cli = await runCli(['--config', s.config, '--json', 'backup']);
  expect(cli.code, cli.stderr).toBe(0);
  return (JSON.parse(cli.stdout) as { id: string }).id;
}

async function recover(s: Setup, ...args: string[]) {
  const cli = await runCli(['--config', s.config, '--json', 'recover', ...args]);
  return { ...cli, result: cli.stdout ? (JSON.parse(cli.stdout) as Record<string, unknown>) : undefined };
}

const deals = (db: string) => execFileSync('sqlite3', [db, 'SELECT count(*) FROM deals'], { encoding: 'utf8' }).trim();

describe('botbackup recover', () => {
  const tmp = useTempDir();
  let s: Setup;
  let id: string;
  let manifest: Manifest;

  beforeEach(async () => {
    s = await setUp(tmp.dir);
    id = await backup(s);
    manifest = JSON.parse(await fs.readFile(path.join(s.repo, 'manifests/testbot', `${id}.json`), 'utf8')) as Manifest;
  });

  it('changes nothing when the data is healthy (exit 0), however often it runs', async () => {
    const before = await sha256File(s.db);
    const files = await fs.readdir(path.join(s.root, 'data'));
    for (let i = 0; i < 2; i++) {
      const cli = await recover(s);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.result).toMatchObject({ status: 'healthy', restoredFiles: [] });
    }
    expect(await sha256File(s.db)).toBe(before);
    expect(await fs.readdir(path.join(s.root, 'data'))).toEqual(files);
    const text = await runCli(['--config', s.config, 'recover']);
    expect(text.stdout).toMatch(/is healthy: 1 database\(s\) pass integrity_check and their checks/);
  });

  const damages: [string, (db: string) => Promise<unknown>, string][] = [
    ['deleted', async (db: string) => fs.rm(db), 'is missing'],
    [
      'overwritten pages',
      async (db: string) => {
        const handle = await fs.open(db, 'r+');
        await handle.write(Buffer.alloc(4096 * 20, 0xab), 0, 4096 * 20, 4096 * 5);
        await handle.close();
      },
      'fails integrity_check',
    ],
    ['truncated', async (db: string) => fs.truncate(db, (await fs.stat(db)).size / 2), 'fails integrity_check'],
    ['emptied', async (db: string) => fs.truncate(db, 0), 'is empty'],
    ['failing its check', async (db: string) => void execFileSync('sqlite3', [db, 'DELETE FROM deals']), 'fails its check "deals-not-empty"'],
  ];
  it.each(damages)('a database %s is restored (exit 12), the damaged copy kept aside, and a second run changes nothing', async (_name, damage, problem) => {
    await damage(s.db);
    const damaged = await fs.readFile(s.db).catch(() => undefined);
    const cli = await recover(s);
    expect(cli.code, cli.stderr).toBe(12);
    expect(cli.result).toMatchObject({ status: 'recovered', backupId: id, store: 'local' });
    const db = (cli.result!.databases as { path: string; problem: string; keptAside: string[]; restored: boolean }[])[0]!;
    expect(db.problem).toContain(problem);
    expect(db.restored).toBe(true);
    expect(await sha256File(s.db)).toBe(manifest.databases[0]!.sha256);
    expect(deals(s.db)).toBe('3000');
    if (damaged) {
      // Kept aside under a dated name, byte for byte: never deleted.
      expect(db.keptAside[0]).toMatch(/^data\/trades\.db\.damaged-\d{8}T\d{6}Z$/);
      expect((await fs.readFile(path.join(s.root, db.keptAside[0]!))).equals(damaged)).toBe(true);
    } else {
      // Only a stale -wal or -shm of the deleted file, moved aside so that SQLite never replays it into the restored one.
      for (const aside of db.keptAside) expect(aside).toMatch(/^data\/trades\.db\.damaged-\d{8}T\d{6}Z-(wal|shm)$/);
    }
    const again = await recover(s);
    expect(again.code, again.stderr).toBe(0);
    expect(again.result).toMatchObject({ status: 'healthy' });
    // No staging folder is left behind.
    expect((await fs.readdir(s.root)).filter((f) => f.startsWith('.botbackup'))).toEqual([]);
  });

  it('puts back a missing secret file 0600 and leaves present files alone', async () => {
    await fs.rm(path.join(s.root, '.env'));
    await fs.writeFile(path.join(s.root, 'config/bot.json'), '{"changed": true}');
    const cli = await runCli(['--config', s.config, 'recover']);
    expect(cli.code, cli.stderr).toBe(12);
    expect(cli.stdout).toMatch(/\.env: was missing; restored/);
    expect((await fs.stat(path.join(s.root, '.env'))).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(path.join(s.root, 'config/bot.json'), 'utf8')).toBe('{"changed": true}');
  });

  it('falls back to the backup before when the newest is corrupt in every target, and says so', async () => {
    execFileSync('sqlite3', [s.db, "INSERT INTO deals (ts, symbol) VALUES (1, 'NEW'); UPDATE counter SET n = n + 1;"]);
    const newest = await backup(s);
    const archive = path.join(s.repo, `data/testbot/${newest}/archive.tar.zst`);
    const bytes = await fs.readFile(archive);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await fs.writeFile(archive, bytes);
    await fs.rm(s.db);
    const cli = await runCli(['--config', s.config, 'recover']);
    expect(cli.code, cli.stderr).toBe(12);
    expect(cli.stdout).toContain(`Recovered source "testbot" from backup ${id}`);
    expect(cli.stdout).toMatch(new RegExp(`skipped ${newest}: .*(sha256|corrupt)`));
    expect(deals(s.db)).toBe('3000');
  });

  it('refuses while another process has the database open (exit 8, naming it), unless --force', async () => {
    const holder = spawn(process.execPath, [
      '-e',
      `const D = require(${JSON.stringify(path.join(repoRoot, 'node_modules/better-sqlite3'))}); const db = new D(${JSON.stringify(s.db)}); db.prepare('SELECT 1').get(); console.log('open'); setInterval(() => {}, 1000);`,
    ]);
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const refused = await runCli(['--config', s.config, 'recover']);
      expect(refused.code).toBe(8);
      expect(refused.stderr).toContain(`is open by process ${holder.pid}`);
      expect(refused.stderr).toMatch(/stop it before recovering, or pass --force/);
      const forced = await runCli(['--config', s.config, 'recover', '--force']);
      expect(forced.code, forced.stderr).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('with no usable backup at all: exit 13, nothing changed; --allow-new lets a new bot start', async () => {
    await fs.rm(s.repo, { recursive: true });
    await fs.rm(s.db);
    const none = await runCli(['--config', s.config, 'recover']);
    expect(none.code).toBe(13);
    expect(none.stderr).toMatch(/data\/trades\.db is missing, and no backup of source "testbot" exists; nothing was changed\./);
    const fresh = await recover(s, '--allow-new');
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.result).toMatchObject({ status: 'new' });
  });
});

describe('recover before the bot starts (the docker-compose one-shot service)', () => {
  const tmp = useTempDir();

  it('a manifest planted in the storage (unsigned) cannot make a healthy bot look broken', async () => {
    const s = await setUp(tmp.dir, { keys: true });
    const id = await backup(s);
    const raw = JSON.parse(await fs.readFile(path.join(s.repo, 'manifests/testbot', `${id}.json`), 'utf8')) as Record<string, unknown> & Manifest;
    const planted = `${id.slice(0, 4)}9${id.slice(5)}`;
    delete raw.signature;
    raw.id = planted;
    // Its file list names a file the bot does not have (the list is the planted backup's own, with its sha256).
    const files = storedFiles(s.repo, raw);
    const list = raw.objects.find((o) => o.role === 'file-list')!;
    list.key = `data/testbot/${planted}/files.ndjson.zst`;
    await fs.mkdir(path.dirname(path.join(s.repo, list.key)), { recursive: true });
    writeStoredFiles(
      s.repo,
      raw,
      [...files, { ...files[0]!, path: 'config/planted.json', storedIn: planted }].sort((x, y) => (x.path < y.path ? -1 : 1)),
    );
    const bytes = await fs.readFile(path.join(s.repo, list.key));
    Object.assign(list, { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    await fs.writeFile(path.join(s.repo, 'manifests/testbot', `${planted}.json`), `${JSON.stringify(raw, null, 2)}\n`);
    const cli = await recover(s);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.result).toMatchObject({ status: 'healthy', restoredFiles: [] });
    await expect(fs.stat(path.join(s.root, 'config/planted.json'))).rejects.toThrow();
  });

  it('an empty data folder gets the newest backup, then the bot opens its database', async () => {
    const s = await setUp(tmp.dir, { keys: true });
    await backup(s);
    // The volume is lost: an empty folder where the bot's data was.
    await fs.rm(s.root, { recursive: true });
    await fs.mkdir(s.root);
    // The command of the compose service, as it is written there.
    const compose = parseYaml(await fs.readFile(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { entrypoint?: string[]; command?: string[] }>;
    };
    const service = compose.services.recover!;
    const script = service.command![0]!.replaceAll('$$', '$');
    expect(service.entrypoint).toEqual(['/bin/sh', '-ec']);
    const run = await runCli(['/bin/sh', '-ec', script], {
      raw: true,
      env: { BOTBACKUP_CLI: `${process.execPath} ${path.join(repoRoot, 'packages/cli/bin/botbackup.js')}`, BOTBACKUP_CONFIG: s.config },
    });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/Recovered source "testbot"/);
    // The bot starts: it opens its database and finds its deals.
    const db = new Database(s.db, { fileMustExist: true });
    expect(db.prepare('SELECT count(*) AS n FROM deals').get()).toEqual({ n: 3000 });
    db.close();
    expect((await fs.stat(path.join(s.root, 'keys/binance.key'))).mode & 0o777).toBe(0o600);
    // The next start finds it healthy.
    const again = await runCli(['/bin/sh', '-ec', script], {
      raw: true,
      env: { BOTBACKUP_CLI: `${process.execPath} ${path.join(repoRoot, 'packages/cli/bin/botbackup.js')}`, BOTBACKUP_CONFIG: s.config },
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/is healthy/);
  });
});
