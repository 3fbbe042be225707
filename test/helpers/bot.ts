import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliBin = path.join(repoRoot, 'packages/cli/bin/botbackup.js');

/**
 * A fresh temp folder for each test (or, with 'all', one for the whole describe block), removed
 * afterwards. Read `.dir` inside tests and hooks, not at definition time.
 */
export function useTempDir(scope: 'each' | 'all' = 'each'): { readonly dir: string } {
  let current: { dir: string; cleanup: () => Promise<void> } | undefined;
  (scope === 'each' ? beforeEach : beforeAll)(async () => {
    current = await tempDir();
  });
  (scope === 'each' ? afterEach : afterAll)(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return {
    get dir() {
      if (!current) throw new Error('useTempDir: .dir is only available inside tests and hooks');
      return current.dir;
    },
  };
}

/** A fresh temp folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'bb-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

export interface BotOptions {
  journalMode?: 'wal' | 'delete';
  /** Deal rows to insert (each ~200 bytes with its indexes). */
  deals?: number;
}

/**
 * A bot folder like a real one: data/trades.db (deals, orders, tickers and a `counter` row that
 * a writer keeps equal to the number of deals), config JSON, .env, key files, logs.
 */
export async function createBot(root: string, options: BotOptions = {}): Promise<void> {
  for (const dir of ['data', 'config/strategies', 'keys', 'logs']) await fs.mkdir(path.join(root, dir), { recursive: true });
  const db = new Database(path.join(root, 'data/trades.db'));
  db.pragma(`journal_mode = ${options.journalMode ?? 'wal'}`);
  db.exec(`
    CREATE TABLE deals (id INTEGER PRIMARY KEY, ts INTEGER, symbol TEXT, price REAL, qty REAL, note TEXT);
    CREATE INDEX deals_ts ON deals(ts);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, ts INTEGER, symbol TEXT, status TEXT);
    CREATE TABLE tickers (symbol TEXT, ts INTEGER, bid REAL, ask REAL);
    CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
    INSERT INTO counter VALUES (1, 0);
  `);
  const deals = options.deals ?? 2000;
  const ins = db.prepare('INSERT INTO deals (ts, symbol, price, qty, note) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < deals; i++)
      ins.run(1_700_000_000_000 + i * 1000, i % 2 ? 'BTCUSDT' : 'ETHUSDT', 60000 + (i % 977), (i % 13) / 10, `grid level ${i % 40} ${'x'.repeat(100)}`);
    db.prepare('UPDATE counter SET n = ?').run(deals);
    db.prepare("INSERT INTO orders (ts, symbol, status) VALUES (1, 'BTCUSDT', 'filled')").run();
  })();
  if ((options.journalMode ?? 'wal') === 'wal') db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  await fs.writeFile(path.join(root, 'config/bot.json'), JSON.stringify({ exchange: 'binance', symbols: ['BTCUSDT'], risk: 0.01 }, null, 2));
  await fs.writeFile(path.join(root, 'config/strategies/grid.json'), JSON.stringify({ levels: 10 }));
  await fs.writeFile(path.join(root, '.env'), 'BINANCE_API_KEY=test-key\nBINANCE_API_SECRET=test-secret\n', { mode: 0o640 });
  await fs.writeFile(path.join(root, 'keys/binance.key'), 'test-private-key\n', { mode: 0o644 });
  await fs.writeFile(path.join(root, 'logs/bot.log'), 'started\n'.repeat(1000));
  await fs.writeFile(path.join(root, 'logs/old.log'), 'old\n');
  const old = new Date(Date.now() - 30 * 86_400_000);
  await fs.utimes(path.join(root, 'logs/old.log'), old, old);
}

/** Writes a config for a bot folder and a local repository; returns its path. */
/** Keys of an encrypted, signed test repository (files written by {@link makeKeys}). */
export interface TestKeys {
  identityFile: string;
  recipient: string;
  workerKeyFile: string;
  publicKey: string;
}

/** A fresh age identity and worker key in `dir` (mode 0600), as `botbackup keygen` writes them. */
export async function makeKeys(dir: string, name = 'keys'): Promise<TestKeys> {
  const { generateIdentity, generateWorkerKey } = await import('@botbackup/engine');
  await fs.mkdir(path.join(dir, name), { recursive: true, mode: 0o700 });
  const pair = generateIdentity();
  const worker = generateWorkerKey();
  const identityFile = path.join(dir, name, 'identity.txt');
  const workerKeyFile = path.join(dir, name, 'worker.key');
  await fs.writeFile(identityFile, `# public key: ${pair.recipient}\n${pair.identity}\n`, { mode: 0o600 });
  await fs.writeFile(workerKeyFile, worker.text, { mode: 0o600 });
  return { identityFile, recipient: pair.recipient, workerKeyFile, publicKey: worker.publicKey };
}

/** The encryption and signing sections of a config for these keys (`identity: false` leaves the identity out: a backup host). */
export function keysYaml(keys: TestKeys, options: { identity?: boolean } = {}): string {
  return [
    'encryption:',
    `  recipients: [${JSON.stringify(keys.recipient)}]`,
    ...(options.identity === false ? [] : [`  identityFile: ${JSON.stringify(keys.identityFile)}`]),
    'signing:',
    `  keyFile: ${JSON.stringify(keys.workerKeyFile)}`,
    `  trusted: [${JSON.stringify(keys.publicKey)}]`,
    '',
  ].join('\n');
}

/**
 * The example bot's config. Without `keys` the repository is plaintext and its secret files are
 * stored readable (allowPlaintextSecrets: the test bot's secrets are fake); with `keys`, every
 * object is encrypted and every manifest signed.
 */
export async function writeConfig(
  dir: string,
  options: { root: string; repo: string; codec?: 'zstd' | 'gzip' | 'none'; extra?: string; keys?: TestKeys; identity?: boolean },
): Promise<string> {
  const file = path.join(dir, 'botbackup.yaml');
  await fs.writeFile(
    file,
    `version: 1
sources:
  - id: testbot
    root: ${JSON.stringify(options.root)}
    databases:
      - path: data/trades.db
    files:
      - { kind: config, include: ["config/**/*.json"] }
      - { kind: secret, include: [".env", "keys/*.key"] }
      - { kind: log, include: ["logs/*.log"], maxAge: 7d }
    allowPlaintextSecrets: ${options.keys ? 'false' : 'true'}
storage:
  - { name: local, type: local, path: ${JSON.stringify(options.repo)} }
compression: { codec: ${options.codec ?? 'zstd'} }
${options.keys ? keysYaml(options.keys, { identity: options.identity ?? true }) : ''}${options.extra ?? ''}`,
  );
  return file;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `botbackup` command in a child process (`raw`: `args` is the whole command line). */
export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; raw?: boolean } = {}): Promise<CliResult> {
  const [command, ...rest] = options.raw ? args : [process.execPath, cliBin, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command!, rest, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file under `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const entry of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(p);
      else out.push(p);
    }
  }
  await walk('');
  return out.sort();
}

/** Flips one byte in the middle of a file, as a failing disk would. */
export async function flipByte(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, Math.floor(size / 2));
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, Math.floor(size / 2));
  } finally {
    await handle.close();
  }
}
