import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StorageError, createBackupId, repositoryKeys, serializeManifest, summarizeManifest, type Manifest } from '@botbackup/core';
import { Catalog, defaultCatalogPath, type CatalogBackup } from '@botbackup/engine';
import { LocalStore, S3Store, type BackupStore, type GetOptions, type ObjectInfo, type StoreCallOptions } from '@botbackup/storage';
import { createBot, runCli, useTempDir, writeConfig } from './helpers/bot.js';
import { sampleManifest } from '../packages/core/test/manifest.js';

/** A real store that counts the calls a catalog makes: observation by delegation, not a mock. */
class CountingStore implements BackupStore {
  gets: string[] = [];
  lists = 0;
  constructor(private readonly inner: BackupStore) {}
  get name(): string {
    return this.inner.name;
  }
  get location(): string {
    return this.inner.location;
  }
  put(key: string, body: Readable | Uint8Array, options?: StoreCallOptions): Promise<{ size: number }> {
    return this.inner.put(key, body, options);
  }
  get(key: string, options?: GetOptions): Promise<Readable> {
    this.gets.push(key);
    return this.inner.get(key, options);
  }
  stat(key: string, options?: StoreCallOptions): Promise<ObjectInfo | undefined> {
    return this.inner.stat(key, options);
  }
  list(prefix: string, options?: StoreCallOptions): AsyncIterable<ObjectInfo> {
    this.lists++;
    return this.inner.list(prefix, options);
  }
  delete(key: string, options?: StoreCallOptions): Promise<void> {
    return this.inner.delete(key, options);
  }
  probe(options?: StoreCallOptions): Promise<void> {
    return this.inner.probe(options);
  }
}

const T0 = Date.UTC(2026, 10, 26, 6, 0, 0);

/** The id of the i-th test backup: one minute apart, so that ids sort by i. */
function idAt(i: number): string {
  return createBackupId(
    new Date(T0 + i * 60_000),
    Uint8Array.from({ length: 10 }, (_, k) => (i * 7 + k) % 256),
  );
}

/** A valid manifest of a full backup (only its metadata matters to the catalog). */
function manifestOf(sourceId: string, i: number, extra: Partial<Manifest> = {}): Manifest {
  const id = idAt(i);
  const at = new Date(T0 + i * 60_000).toISOString();
  return sampleManifest({
    schemaVersion: 2,
    id,
    source: { id: sourceId, host: 'vm', root: '/bots/' + sourceId },
    startedAt: at,
    completedAt: at,
    objects: [{ key: `data/${sourceId}/${id}/archive.tar.zst`, role: 'archive', size: 100, sha256: 'b'.repeat(64), compression: 'zstd', encryption: null }],
    stats: { entryBytes: 1000 + i, storedBytes: 100, durationMs: 5 },
    ...extra,
  });
}

async function putManifest(store: BackupStore, manifest: Manifest): Promise<void> {
  await store.put(repositoryKeys.manifest(manifest.source.id, manifest.id), Buffer.from(serializeManifest(manifest)));
}

async function putBytes(store: BackupStore, manifest: Manifest, text: string): Promise<void> {
  await store.put(repositoryKeys.manifest(manifest.source.id, manifest.id), Buffer.from(text));
}

const states = (b: CatalogBackup | undefined) => b?.copies.map((c) => `${c.target}:${c.state}`).join(' ');

/** A TCP port nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A pino logger whose lines are kept for the test to read. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }) };
}

describe('the local catalog', () => {
  const tmp = useTempDir();
  const stores = () => ({
    local: new CountingStore(new LocalStore({ name: 'local', path: path.join(tmp.dir, 'repo-local') })),
    second: new CountingStore(new LocalStore({ name: 'second', path: path.join(tmp.dir, 'repo-second') })),
  });
  const catalogFile = () => path.join(tmp.dir, 'state', 'botbackup', 'catalog.sqlite');

  it('opens a private folder and file in WAL mode with its schema version; two connections can sync it at once', async () => {
    const { local, second } = stores();
    for (let i = 0; i < 20; i++) for (const store of [local, second]) await putManifest(store, manifestOf('bot', i));
    const a = Catalog.open(catalogFile());
    const b = Catalog.open(catalogFile());
    try {
      expect(a.warnings).toEqual([]);
      expect((await fs.stat(path.dirname(catalogFile()))).mode & 0o777).toBe(0o700);
      expect((await fs.stat(catalogFile())).mode & 0o777).toBe(0o600);
      const [ra, rb] = await Promise.all([a.sync([local, second]), b.sync([local, second])]);
      expect(ra.map(states)).toEqual(rb.map(states));
      expect(ra).toHaveLength(20);
      const raw = new Database(catalogFile(), { readonly: true });
      try {
        expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(raw.pragma('user_version', { simple: true })).toBe(2);
      } finally {
        raw.close();
      }
      expect((await fs.stat(`${catalogFile()}-wal`)).mode & 0o777).toBe(0o600);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a file that is not SQLite, or of an unknown schema version, is moved aside and rebuilt, with a warning', async () => {
    const { local } = stores();
    await putManifest(local, manifestOf('bot', 1));
    await fs.mkdir(path.dirname(catalogFile()), { recursive: true });
    await fs.writeFile(catalogFile(), 'this is not a database, just some text long enough to be a header');
    const { logger, lines } = capturingLogger();
    const first = Catalog.open(catalogFile(), { logger });
    expect(first.warnings).toHaveLength(1);
    expect(first.warnings[0]).toMatch(
      /^The catalog .*catalog\.sqlite was unusable \(file is not a database\); it was moved to .*catalog\.sqlite\.broken-\S+ and is rebuilt/,
    );
    expect(lines.join('')).toContain('was unusable');
    expect((await first.sync([local])).map(states)).toEqual(['local:unverified']);
    first.close();

    const raw = new Database(catalogFile());
    raw.pragma('user_version = 99');
    raw.close();
    const second = Catalog.open(catalogFile());
    expect(second.warnings[0]).toMatch(/\(its schema version is 99, this botbackup uses 2\)/);
    // A new, empty catalog: the backup is seen (and read) again.
    expect((await second.sync([local])).map(states)).toEqual(['local:unverified']);
    second.close();
    const names = (await fs.readdir(path.dirname(catalogFile()))).filter((n) => n.includes('.broken-'));
    expect(names.filter((n) => !n.endsWith('-wal'))).toHaveLength(2);
  });

  it("another application's database is left alone, and a folder that cannot be made: an in-memory catalog, with a warning", async () => {
    const { local } = stores();
    await putManifest(local, manifestOf('bot', 1));
    const trades = path.join(tmp.dir, 'trades.db');
    const db = new Database(trades);
    db.exec('CREATE TABLE deals (id INTEGER PRIMARY KEY); INSERT INTO deals VALUES (1)');
    db.close();
    const before = await fs.readFile(trades);
    const catalog = Catalog.open(trades);
    expect(catalog.file).toBe(':memory:');
    expect(catalog.warnings[0]).toMatch(
      /cannot be used \(it is an SQLite database of another application; set "catalog" to another file\); this run uses a temporary one in memory/,
    );
    expect((await catalog.sync([local])).map(states)).toEqual(['local:unverified']);
    catalog.close();
    expect(await fs.readFile(trades)).toEqual(before);

    const notADir = path.join(tmp.dir, 'a-file');
    await fs.writeFile(notADir, 'x');
    const elsewhere = Catalog.open(path.join(notADir, 'catalog.sqlite'));
    expect(elsewhere.file).toBe(':memory:');
    expect(elsewhere.warnings[0]).toMatch(/catalog\.sqlite cannot be used \(.*a-file.*\); this run uses a temporary one in memory/);
    elsewhere.close();
  });

  it('a second sync over 300 backups reads no manifest: it only lists', async () => {
    const { local, second } = stores();
    const manifests = Array.from({ length: 300 }, (_, i) => manifestOf(i % 3 === 0 ? 'alpha' : 'beta', i));
    // Written newest first, to show that the order comes from the ids.
    for (const m of [...manifests].reverse()) {
      await putManifest(local, m);
      await putManifest(second, m);
    }
    const catalog = Catalog.open(catalogFile());
    try {
      const first = await catalog.sync([local, second]);
      expect(first.map((b) => b.backupId)).toEqual(manifests.map((m) => m.id));
      expect(first.every((b) => states(b) === 'local:unverified second:unverified' && !b.degraded)).toBe(true);
      expect(first[7]!.manifest).toEqual(summarizeManifest(manifests[7]!));
      expect(local.gets).toHaveLength(300);
      expect(second.gets).toHaveLength(300);

      local.gets = [];
      second.gets = [];
      const again = await catalog.sync([local, second]);
      expect(local.gets).toEqual([]);
      expect(second.gets).toEqual([]);
      expect([local.lists, second.lists]).toEqual([2, 2]);
      expect(again).toEqual(first);

      // One manifest per backup is kept, not one per target.
      const raw = new Database(catalogFile(), { readonly: true });
      try {
        expect(raw.prepare('SELECT count(*) AS n FROM manifests').get()).toEqual({ n: 300 });
        expect(raw.prepare('SELECT count(*) AS n FROM copies').get()).toEqual({ n: 600 });
      } finally {
        raw.close();
      }
    } finally {
      catalog.close();
    }
  });

  it('a changed manifest is read again: while the targets disagree the odd copy is bad, then both are unverified', async () => {
    const { local, second } = stores();
    const m = manifestOf('bot', 1);
    await putManifest(local, m);
    await putManifest(second, m);
    const catalog = Catalog.open(catalogFile());
    try {
      await catalog.sync([local, second]);
      catalog.recordCopy('local', m, 'verified', new Date(T0 + 3_600_000));
      catalog.recordCopy('second', m, 'verified', new Date(T0 + 3_600_000));
      const verified = await catalog.sync([local, second]);
      expect(states(verified[0])).toBe('local:verified second:verified');
      expect(verified[0]!.copies[0]!.at).toBe(new Date(T0 + 3_600_000).toISOString());

      const changed = { ...m, warnings: ['edited by hand'] };
      await putManifest(second, changed);
      second.gets = [];
      const odd = await catalog.sync([local, second]);
      expect(second.gets).toEqual([repositoryKeys.manifest('bot', m.id)]);
      expect(odd[0]!.copies[1]).toMatchObject({ state: 'bad', error: 'its manifest differs from the copy in "local"' });
      expect(odd[0]!.copies[0]!.state).toBe('verified');
      expect(odd[0]!.manifest).toEqual(summarizeManifest(m));
      expect(odd[0]!.degraded).toBe(true);

      await putManifest(local, changed);
      const both = await catalog.sync([local, second]);
      expect(states(both[0])).toBe('local:unverified second:unverified');
      expect(both[0]!.manifest).toEqual(summarizeManifest(changed));
      expect(both[0]!.degraded).toBe(false);
    } finally {
      catalog.close();
    }
  });

  it('a copy gone from one target is missing (degraded); gone from every target, the backup is no longer listed', async () => {
    const { local, second } = stores();
    const [a, b] = [manifestOf('bot', 1), manifestOf('bot', 2)];
    for (const m of [a, b]) for (const store of [local, second]) await putManifest(store, m);
    const catalog = Catalog.open(catalogFile());
    try {
      await catalog.sync([local, second]);
      await second.delete(repositoryKeys.manifest('bot', a.id));
      const listed = await catalog.sync([local, second]);
      expect(listed.map(states)).toEqual(['local:unverified second:missing', 'local:unverified second:unverified']);
      expect(listed.map((x) => x.degraded)).toEqual([true, false]);
      expect(listed[0]!.copies[1]).toEqual({ target: 'second', state: 'missing', at: undefined, error: undefined });
      await local.delete(repositoryKeys.manifest('bot', a.id));
      expect((await catalog.sync([local, second])).map((x) => x.backupId)).toEqual([b.id]);
      // Only the targets passed to sync are shown, in that order.
      expect((await catalog.sync([second, local])).map(states)).toEqual(['second:unverified local:unverified']);
    } finally {
      catalog.close();
    }
  });

  it('a damaged manifest is a bad copy with its message, not read again; damaged everywhere, the backup stays listed with the error', async () => {
    const { local, second } = stores();
    const [a, b] = [manifestOf('bot', 1), manifestOf('bot', 2)];
    for (const m of [a, b]) for (const store of [local, second]) await putManifest(store, m);
    await putBytes(second, a, '{"format": "botbackup.manifest", "trunc');
    await putBytes(local, b, 'not json');
    await putBytes(second, b, '{}');
    const catalog = Catalog.open(catalogFile());
    try {
      const listed = await catalog.sync([local, second]);
      expect(listed[0]!.manifest).toEqual(summarizeManifest(a));
      expect(listed[0]!.copies[1]).toMatchObject({
        state: 'bad',
        error: expect.stringMatching(/manifests\/bot\/.* in storage "second" is not valid JSON; it is damaged/),
      });
      expect(listed[0]!.degraded).toBe(true);
      expect(listed[1]!.manifest).toBeUndefined();
      expect(listed[1]!.error).toMatch(/in storage "local" is not valid JSON/);
      expect(states(listed[1])).toBe('local:bad second:bad');
      expect(listed[1]!.copies[1]!.error).toMatch(/in storage "second" is malformed at "format"/);

      second.gets = [];
      local.gets = [];
      expect(await catalog.sync([local, second])).toEqual(listed);
      expect([...local.gets, ...second.gets]).toEqual([]);
    } finally {
      catalog.close();
    }
  });

  it('recordCopy and recordBadCopy upsert a copy; a recorded copy is not read by the next sync, and a bad verdict outlives it', async () => {
    const { local, second } = stores();
    const m = manifestOf('bot', 1);
    await putManifest(local, m);
    await putManifest(second, m);
    const catalog = Catalog.open(catalogFile());
    try {
      // As backup does: each copy recorded right after it is written.
      catalog.recordCopy('local', m, 'unverified', new Date(T0));
      catalog.recordCopy('second', m, 'unverified', new Date(T0));
      expect(states((await catalog.sync([local, second]))[0])).toBe('local:unverified second:unverified');
      expect([...local.gets, ...second.gets]).toEqual([]);

      catalog.recordCopy('local', m, 'verified', new Date(T0 + 1000));
      catalog.recordBadCopy('second', 'bot', m.id, 'Backup x: object data/... in storage "second" does not match its sha256.', new Date(T0 + 2000));
      const after = (await catalog.sync([local, second]))[0]!;
      expect(after.copies).toEqual([
        { target: 'local', state: 'verified', at: new Date(T0 + 1000).toISOString(), error: undefined },
        {
          target: 'second',
          state: 'bad',
          at: new Date(T0 + 2000).toISOString(),
          error: 'Backup x: object data/... in storage "second" does not match its sha256.',
        },
      ]);
      expect(after.degraded).toBe(true);

      // verify may find a copy bad before any sync saw it: the next sync reads its manifest and keeps the verdict.
      const n = manifestOf('bot', 2);
      await putManifest(local, n);
      await putManifest(second, n);
      catalog.recordBadCopy('second', 'bot', n.id, 'missing its archive', new Date(T0 + 3000));
      const listed = await catalog.sync([local, second]);
      expect(states(listed[1])).toBe('local:unverified second:bad');
      expect(listed[1]!.manifest).toEqual(summarizeManifest(n));

      // replicate wrote it again.
      catalog.recordCopy('second', n, 'unverified', new Date(T0 + 4000));
      expect(states((await catalog.sync([local, second]))[1])).toBe('local:unverified second:unverified');
    } finally {
      catalog.close();
    }
  });

  it('a target that cannot be listed keeps its cached copies, shown as unreachable; sync fails only when every target does', async () => {
    const { local } = stores();
    const s3 = new S3Store({
      name: 's3',
      bucket: 'backups',
      endpoint: `http://127.0.0.1:${await closedPort()}`,
      credentials: { accessKeyId: 'KEY', secretAccessKey: 'SECRET' },
      maxAttempts: 1,
    });
    const [a, b] = [manifestOf('bot', 1), manifestOf('bot', 2)];
    await putManifest(local, a);
    const { logger, lines } = capturingLogger();
    const catalog = Catalog.open(catalogFile(), { logger });
    try {
      // What earlier runs recorded while the server was up.
      catalog.recordCopy('s3', a, 'verified', new Date(T0));
      catalog.recordCopy('s3', b, 'unverified', new Date(T0));
      const listed = await catalog.sync([local, s3]);
      expect(listed.map((x) => x.backupId)).toEqual([a.id, b.id]);
      expect(listed[0]!.copies[1]).toEqual({
        target: 's3',
        state: 'unreachable',
        at: new Date(T0).toISOString(),
        error: expect.stringMatching(
          /^Cannot reach storage "s3" \(s3:\/\/backups\/ at http:\/\/127\.0\.0\.1:\d+\) for the list of manifests\/ \(ECONNREFUSED\); check the endpoint/,
        ),
      });
      expect(listed[0]!.degraded).toBe(false);
      expect(states(listed[1])).toBe('local:missing s3:unreachable');
      expect(listed[1]!.manifest).toEqual(summarizeManifest(b));
      expect(listed[1]!.degraded).toBe(true);
      expect(catalog.unreachable).toEqual([{ target: 's3', error: listed[0]!.copies[1]!.error }]);
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 40,
        target: 's3',
        msg: expect.stringMatching(/^Storage "s3" could not be listed; its copies are shown as unreachable: Cannot reach/),
      });
      expect(JSON.stringify(listed)).not.toContain('SECRET');

      const failure = await catalog.sync([s3]).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(StorageError);
      expect((failure as StorageError).storageCode).toBe('UNAVAILABLE');
      // The cached copies survived both syncs.
      expect(states((await catalog.sync([local, s3]))[1])).toBe('local:missing s3:unreachable');
    } finally {
      catalog.close();
    }
  });

  it('degraded: a target the manifest says failed counts until it holds a good copy', async () => {
    const { local, second } = stores();
    const m = manifestOf('bot', 1, { copies: { written: ['local'], failed: [{ target: 'second', error: 'disk full' }] } });
    await putManifest(local, m);
    const catalog = Catalog.open(catalogFile());
    try {
      expect((await catalog.sync([local]))[0]!.degraded).toBe(true);
      expect((await catalog.sync([local, second]))[0]!.degraded).toBe(true);
      await putManifest(second, m);
      const replicated = (await catalog.sync([local, second]))[0]!;
      expect(states(replicated)).toBe('local:unverified second:unverified');
      expect(replicated.degraded).toBe(false);
      // Looking at one target only, the failed one is not seen holding a copy.
      expect((await catalog.sync([local]))[0]!.degraded).toBe(true);
    } finally {
      catalog.close();
    }
  });

  it('a sourceId lists and touches only that source', async () => {
    const { local } = stores();
    for (let i = 0; i < 6; i++) await putManifest(local, manifestOf(i % 2 ? 'alpha' : 'beta', i));
    const catalog = Catalog.open(catalogFile());
    try {
      expect(await catalog.sync([local])).toHaveLength(6);
      const alpha = await catalog.sync([local], { sourceId: 'alpha' });
      expect(alpha.map((b) => b.sourceId)).toEqual(['alpha', 'alpha', 'alpha']);
      // The other source's rows are neither pruned nor read again.
      local.gets = [];
      expect(await catalog.sync([local])).toHaveLength(6);
      expect(local.gets).toEqual([]);
    } finally {
      catalog.close();
    }
  });

  it('rebuild forgets verification history; when every target fails it leaves the catalog as it was', async () => {
    const { local } = stores();
    const m = manifestOf('bot', 1);
    await putManifest(local, m);
    const catalog = Catalog.open(catalogFile());
    try {
      catalog.recordCopy('local', m, 'verified', new Date(T0));
      catalog.recordCopy('gone-target', m, 'verified', new Date(T0));
      local.gets = [];
      const rebuilt = await catalog.rebuild([local]);
      expect(states(rebuilt[0])).toBe('local:unverified');
      expect(local.gets).toHaveLength(1);

      catalog.recordCopy('local', m, 'verified', new Date(T0));
      const s3 = new S3Store({
        name: 's3',
        bucket: 'backups',
        endpoint: `http://127.0.0.1:${await closedPort()}`,
        credentials: { accessKeyId: 'KEY', secretAccessKey: 'SECRET' },
        maxAttempts: 1,
      });
      await expect(catalog.rebuild([s3])).rejects.toBeInstanceOf(StorageError);
      expect(states((await catalog.sync([local]))[0])).toBe('local:verified');
    } finally {
      catalog.close();
    }
  });

  it.each([
    { env: { XDG_STATE_HOME: '/var/state', HOME: '/home/u' }, dir: '/var/state/botbackup' },
    { env: { HOME: '/home/u' }, dir: '/home/u/.local/state/botbackup' },
    { env: { XDG_STATE_HOME: 'relative/state', HOME: '/home/u' }, dir: '/home/u/.local/state/botbackup' },
  ])('defaultCatalogPath with $env', ({ env, dir }) => {
    const file = defaultCatalogPath('/etc/botbackup/prod.yaml', env);
    expect(path.dirname(file)).toBe(dir);
    expect(path.basename(file)).toMatch(/^catalog-[0-9a-f]{12}\.sqlite$/);
    expect(defaultCatalogPath('/etc/botbackup/prod.yaml', env)).toBe(file);
    expect(defaultCatalogPath('/etc/botbackup/test.yaml', env)).not.toBe(file);
  });
});

describe('botbackup list and catalog rebuild', () => {
  const tmp = useTempDir();

  /** A bot backed up to two local targets, with the catalog under a temp $XDG_STATE_HOME. */
  async function setup(): Promise<{ config: string; env: Record<string, string>; cli: (...args: string[]) => ReturnType<typeof runCli> }> {
    const root = path.join(tmp.dir, 'bot');
    await createBot(root, { deals: 200 });
    const config = await writeConfig(tmp.dir, { root, repo: path.join(tmp.dir, 'repo') });
    const text = await fs.readFile(config, 'utf8');
    await fs.writeFile(
      config,
      text.replace(/^compression:/m, `  - { name: second, type: local, path: ${JSON.stringify(path.join(tmp.dir, 'repo2'))} }\ncompression:`),
    );
    const env = { XDG_STATE_HOME: path.join(tmp.dir, 'state') };
    return { config, env, cli: (...args: string[]) => runCli(['--config', config, ...args], { env }) };
  }

  it("list shows each target's copy and marks degraded backups; --json adds copies and degraded; catalog rebuild counts them", async () => {
    const { config, env, cli } = await setup();
    const full = await cli('--json', 'backup');
    expect(full.code, full.stderr).toBe(0);
    const inc = await cli('--json', 'backup', '--incremental');
    expect(inc.code, inc.stderr).toBe(0);
    const [fullId, incId] = [JSON.parse(full.stdout).id as string, JSON.parse(inc.stdout).id as string];

    const table = await cli('list');
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+SOURCE\s+TYPE\s+COMPLETED\s+PACKED\s+STORED\s+COPIES$/);
    expect(lines[1]).toMatch(
      new RegExp(`^${fullId}\\s+testbot\\s+full\\s+\\d{4}-\\d\\d-\\d\\d \\S+Z\\s+\\S+ \\S*B\\s+\\S+ \\S*B\\s+local:unverified second:unverified$`),
    );
    expect(lines[2]).toMatch(new RegExp(`^${incId}\\s+testbot\\s+incr 1\\s+.*local:unverified second:unverified$`));
    // The catalog is where the docs say, private to this config.
    await fs.access(defaultCatalogPath(config, env));

    await fs.rm(path.join(tmp.dir, 'repo2/manifests/testbot', `${fullId}.json`));
    const degraded = await cli('list');
    expect(degraded.stdout).toMatch(new RegExp(`${fullId} .*local:unverified second:missing  DEGRADED\\n`));
    const json = JSON.parse((await cli('list', '--json')).stdout) as { id: string; type: string; degraded: boolean; copies: unknown[] }[];
    expect(json.map((b) => [b.id, b.type, b.degraded])).toEqual([
      [fullId, 'full', true],
      [incId, 'incremental', false],
    ]);
    expect(json[0]!.copies).toEqual([
      { target: 'local', state: 'unverified', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), error: null },
      { target: 'second', state: 'missing', at: null, error: null },
    ]);
    const only = JSON.parse((await cli('list', '--json', '--storage', 'second')).stdout) as { id: string }[];
    expect(only.map((b) => b.id)).toEqual([incId]);

    await fs.writeFile(path.join(tmp.dir, 'repo/manifests/testbot', `${incId}.json`), 'damaged');
    const damaged = await cli('list');
    expect(damaged.code).toBe(0);
    expect(damaged.stdout).toMatch(new RegExp(`${incId} .*local:bad second:unverified  DEGRADED`));
    expect(damaged.stdout).toMatch(new RegExp(`\\n${incId} in "local": The manifest .* is not valid JSON`));

    const rebuild = await cli('catalog', 'rebuild');
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(rebuild.stdout).toMatch(/^Rebuilt the catalog .*catalog-[0-9a-f]{12}\.sqlite: 2 backup\(s\), 3 copies \(local: 2, second: 1\), 1 bad/);
    expect(JSON.parse((await cli('--json', 'catalog', 'rebuild')).stdout)).toEqual({
      catalog: defaultCatalogPath(config, env),
      backups: 2,
      copies: 3,
      bad: 1,
      targets: [
        { name: 'local', copies: 2, error: null },
        { name: 'second', copies: 1, error: null },
      ],
    });
  });

  it('an unreachable target: one warning line on stderr, and list still succeeds', async () => {
    const { config, cli } = await setup();
    expect((await cli('backup')).code).toBe(0);
    const text = await fs.readFile(config, 'utf8');
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    await fs.writeFile(
      config,
      text.replace(
        /^compression:/m,
        `  - { name: s3, type: s3, bucket: backups, endpoint: "${endpoint}", accessKeyId: KEY, secretAccessKey: SECRET }\ncompression:`,
      ),
    );
    const listed = await cli('list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/local:unverified second:unverified s3:unreachable\n/);
    const warnings = listed.stderr.trim().split('\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Storage \\?"s3\\?" could not be listed; its copies are shown as unreachable: Cannot reach storage/);
    expect(listed.stderr).not.toContain('SECRET');

    const rebuild = JSON.parse((await cli('--json', 'catalog', 'rebuild')).stdout) as { targets: { name: string; error: string | null }[] };
    expect(rebuild.targets.map((t) => [t.name, t.error === null])).toEqual([
      ['local', true],
      ['second', true],
      ['s3', false],
    ]);
  });
});
