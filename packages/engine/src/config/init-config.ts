import fs from 'node:fs/promises';
import path from 'node:path';

/** Globs for files a trading bot usually keeps, by kind. */
const COMMON = {
  config: ['config/**/*.json', 'config/**/*.yaml', 'config/**/*.yml', 'config/**/*.toml', '*.json', 'settings/**/*'],
  secret: ['.env', '.env.*', '**/*.key', '**/*.pem', 'keys/**/*', 'secrets/**/*', '**/*.salt'],
  log: ['logs/**/*.log', '*.log'],
} as const;
const IGNORE = ['node_modules/**', '.git/**', 'package.json', 'package-lock.json', 'tsconfig.json'];
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0');

export interface InitPlan {
  /** SQLite databases found, relative to the bot folder. */
  databases: string[];
  /** Per kind, the globs that matched at least one file. */
  files: { kind: 'config' | 'secret' | 'log'; include: string[]; matched: number }[];
}

/** Looks through a bot folder for SQLite databases (by their header) and common config, secret and log files. */
export async function scanBotDir(botDir: string): Promise<InitPlan> {
  // Loaded here, not at the top: only `init` scans a folder.
  const { default: fg } = await import('fast-glob');
  const candidates = await fg(['**/*.db', '**/*.sqlite', '**/*.sqlite3', '**/*.db3'], { cwd: botDir, dot: true, ignore: IGNORE, onlyFiles: true, deep: 4 });
  const databases: string[] = [];
  for (const rel of candidates.sort()) {
    const handle = await fs.open(path.join(botDir, rel), 'r').catch(() => undefined);
    if (!handle) continue;
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(16), 0, 16, 0);
      if (bytesRead === 16 && buffer.equals(SQLITE_MAGIC)) databases.push(rel);
    } finally {
      await handle.close();
    }
  }
  const files: InitPlan['files'] = [];
  for (const kind of ['config', 'secret', 'log'] as const) {
    const include: string[] = [];
    let matched = 0;
    for (const glob of COMMON[kind]) {
      const hits = (await fg(glob, { cwd: botDir, dot: true, ignore: IGNORE, onlyFiles: true, deep: 6 })).filter((hit) => !databases.includes(hit));
      if (hits.length > 0) {
        include.push(glob);
        matched += hits.length;
      }
    }
    if (include.length > 0) files.push({ kind, include, matched });
  }
  return { databases, files };
}

/** Writes the starter config's text: commented YAML that backs up `botDir` into `storageDir`. */
export function renderStarterConfig(
  plan: InitPlan,
  options: {
    botDir: string;
    storageDir: string;
    sourceId: string;
    /** Encryption and signing keys `init` made (paths relative to the config); none: a plaintext repository. */
    keys?: { recipient: string; identityFile: string; workerKeyFile: string; publicKey: string } | undefined;
  },
): string {
  const keys = options.keys;
  const hasSecrets = plan.files.some((set) => set.kind === 'secret');
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    '# botbackup configuration (see docs/configuration.md).',
    '# Paths are relative to this file. ${VAR} is replaced by the environment variable VAR,',
    '# so secrets (S3 keys, passwords) never need to be written here.',
    'version: 1',
    '',
    'sources:',
    `  - id: ${options.sourceId}`,
    '    # The bot folder; everything below is relative to it and restored relative to the target.',
    `    root: ${q(options.botDir)}`,
    '    # SQLite databases, copied as consistent snapshots while the bot keeps trading.',
    plan.databases.length > 0 ? '    databases:' : '    databases: []   # none found; add e.g. - path: data/trades.db',
    ...plan.databases.map((db) => `      - path: ${q(db)}`),
    '    # File sets: kind is config, secret (API keys, .env: restored 0600), log or other.',
    plan.files.length > 0 ? '    files:' : '    files: []',
    ...plan.files.flatMap((set) => [
      `      - kind: ${set.kind}   # ${set.matched} file(s) found`,
      `        include: [${set.include.map(q).join(', ')}]`,
      ...(set.kind === 'log' ? ['        maxAge: 7d   # only logs modified within this window'] : []),
    ]),
    ...(!keys && hasSecrets
      ? ['    # No encryption: the secret files above are stored readable by anyone who can read the storage.', '    allowPlaintextSecrets: true']
      : []),
    '',
    ...(keys
      ? [
          '# Every stored object is encrypted (age format) to these public keys; the identity that',
          '# opens them belongs OFF this host (docs/security.md): keep a copy somewhere safe, since',
          '# without it no backup can be restored.',
          'encryption:',
          `  recipients: [${q(keys.recipient)}]`,
          `  identityFile: ${q(keys.identityFile)}   # where restore looks for it (or --identity <file>)`,
          '',
          '# The worker key signs every backup; restore and verify accept only these signers.',
          'signing:',
          `  keyFile: ${q(keys.workerKeyFile)}`,
          `  trusted: [${q(keys.publicKey)}]`,
          '',
        ]
      : []),
    'storage:',
    '  - name: local',
    '    type: local',
    `    path: ${q(options.storageDir)}`,
    '',
    'compression:',
    '  codec: zstd   # zstd, gzip or none',
    '  level: 2   # 1 to 19; 3 stores ~4 % less for ~65 % more CPU',
    '',
    '# Used by "botbackup scheduler" and "botbackup worker" (distributed mode, docs/deploy.md);',
    '# "botbackup backup" alone needs none of it. Cron fields: minute hour day month weekday.',
    'schedules:',
    `  - { id: daily-incremental, source: ${options.sourceId}, job: incremental, cron: "0 2 * * *", timezone: UTC }`,
    `  - { id: weekly-full, source: ${options.sourceId}, job: full, cron: "0 3 * * 0", timezone: UTC }`,
    '# redis:',
    '#   url: redis://:${REDIS_PASSWORD}@redis:6379/0',
    '',
  ];
  return lines.join('\n');
}
