import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigSyntaxError } from './errors.js';
import { DEFAULT_DASHBOARD, DEFAULT_WORKER, parseConfig, redactUrl } from './config/index.js';
import { DEFAULT_RETENTION } from './retention.js';

const base = `
version: 1
sources:
  - id: bot
    root: ./bot
    databases:
      - path: data/trades.db
    files:
      - kind: secret
        include: [".env"]
      - kind: log
        include: ["logs/*.log"]
storage:
  - name: local
    type: local
    path: \${BACKUP_DIR}
`;

function parse(text: string, env: Record<string, string> = { BACKUP_DIR: '/srv/backups' }) {
  return parseConfig(text, { file: '/etc/botbackup/botbackup.yaml', env });
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('reads encryption and signing (paths against the config folder), and allowPlaintextSecrets per source', () => {
    const recipient = 'age1mxs4lnfs0xgrcdduqrce52v5nxc5s03wvezdh2vpk2mh3ltrmulqpauh9u';
    const publicKey = 'ed25519:3hhhKIvDVb9/KElcpR8n2kVq29/txWb/i/NEgAT2LOE=';
    const keys = `encryption:\n  recipients: ["${recipient}"]\n  identityFile: keys/id.txt\nsigning:\n  keyFile: keys/worker.key\n  trusted: ["${publicKey}"]\n`;
    const config = parse(base + keys);
    expect(config.encryption).toEqual({ recipients: [recipient], passphrase: undefined, identityFile: '/etc/botbackup/keys/id.txt' });
    expect(config.signing).toEqual({ keyFile: '/etc/botbackup/keys/worker.key', trusted: [publicKey] });
    expect(config.sources[0]!.allowPlaintextSecrets).toBe(false);
    expect(parse(base).encryption).toBeUndefined();
    expect(parse(base).signing).toEqual({ keyFile: undefined, trusted: [] });
    expect(parse(base.replace('    files:', '    allowPlaintextSecrets: true\n    files:')).sources[0]!.allowPlaintextSecrets).toBe(true);
    // A passphrase from the environment instead of recipients.
    const withPassphrase = parse(`${base}encryption:\n  passphrase: \${PASS}\nsigning:\n  trusted: ["${publicKey}"]\n`, {
      BACKUP_DIR: '/b',
      PASS: 'a long passphrase here',
    });
    expect(withPassphrase.encryption!.passphrase).toBe('a long passphrase here');
  });

  it('names the field of a bad encryption or signing setting, never quoting a secret', () => {
    const publicKey = 'ed25519:3hhhKIvDVb9/KElcpR8n2kVq29/txWb/i/NEgAT2LOE=';
    expect(errorOf(() => parse(`${base}encryption:\n  recipients: ["age1nope"]\nsigning:\n  trusted: ["${publicKey}"]\n`)).field).toBe(
      'encryption.recipients[0]',
    );
    expect(errorOf(() => parse(`${base}encryption: {}\nsigning:\n  trusted: ["${publicKey}"]\n`)).message).toContain('needs either recipients or a passphrase');
    const short = errorOf(() => parse(`${base}encryption:\n  passphrase: hunter2\nsigning:\n  trusted: ["${publicKey}"]\n`));
    expect(short.field).toBe('encryption.passphrase');
    expect(short.message).not.toContain('hunter2');
    const typed = errorOf(() => parse(`${base}encryption:\n  passphrase: 123456789012345\nsigning:\n  trusted: ["${publicKey}"]\n`));
    expect(typed.message).not.toContain('123456789012345');
    expect(errorOf(() => parse(`${base}signing:\n  trusted: ["ed25519:short"]\n`)).field).toBe('signing.trusted[0]');
    const unsigned = errorOf(() => parse(`${base}encryption:\n  recipients: ["age1mxs4lnfs0xgrcdduqrce52v5nxc5s03wvezdh2vpk2mh3ltrmulqpauh9u"]\n`));
    expect(unsigned.field).toBe('signing.trusted');
  });

  it('resolves paths against the config folder and ${VAR} from the environment', () => {
    const config = parse(base);
    expect(config.sources[0]!.root).toBe('/etc/botbackup/bot');
    expect(config.sources[0]!.databases[0]).toEqual({ path: '/etc/botbackup/bot/data/trades.db', relativePath: 'data/trades.db', name: 'trades' });
    expect(config.storage[0]).toMatchObject({ type: 'local', path: '/srv/backups' });
    expect(config.compression).toEqual({ codec: 'zstd', level: 2 });
    expect(config.sources[0]!.files[1]!.maxAgeMs).toBe(7 * 86_400_000);
    expect(config.sources[0]!.files[0]!.maxAgeMs).toBeUndefined();
  });

  it('reads an S3 target with credentials from the environment, and names the field that is wrong', () => {
    const s3 = `${base}  - name: minio
    type: s3
    bucket: bot-backups
    prefix: prod
    endpoint: http://minio:9000
    accessKeyId: \${S3_KEY}
    secretAccessKey: \${S3_SECRET}
`;
    const config = parse(s3, { BACKUP_DIR: '/srv/backups', S3_KEY: 'key', S3_SECRET: 'secret' });
    expect(config.storage[1]).toEqual({
      name: 'minio',
      type: 's3',
      bucket: 'bot-backups',
      prefix: 'prod',
      endpoint: 'http://minio:9000',
      accessKeyId: 'key',
      secretAccessKey: 'secret',
    });
    const half = errorOf(() => parse(s3.replace(/ {4}secretAccessKey: .*\n/, ''), { BACKUP_DIR: '/b', S3_KEY: 'key' }));
    expect(half.message).toBe('/etc/botbackup/botbackup.yaml: field "storage[1].secretAccessKey" must be accessKeyId and secretAccessKey, both or neither.');
    const badUrl = errorOf(() => parse(s3.replace('http://minio:9000', 'minio'), { BACKUP_DIR: '/b', S3_KEY: 'k', S3_SECRET: 's' }));
    expect(badUrl.message).toMatch(/field "storage\[1\]\.endpoint" must be a URL such as http:\/\/minio:9000/);
  });

  it('accepts JSON', () => {
    const config = parse(
      JSON.stringify({ version: 1, sources: [{ id: 'b', root: '/b' }], storage: [{ name: 'l', type: 'local', path: '/x' }], compression: { codec: 'gzip' } }),
    );
    expect(config.compression).toEqual({ codec: 'gzip', level: 6 });
  });

  it.each([
    ['an unknown key', base.replace('    root: ./bot', '    root: ./bot\n    rooot: x'), 'sources[0]', /unknown setting "rooot"/],
    ['a wrong type', base.replace('version: 1', 'version: 1\ncompression: { level: "high" }'), 'compression.level', /must be a number, not string "high"/],
    ['a missing path', base.replace('    root: ./bot\n', ''), 'sources[0].root', /is missing; expected string/],
    ['a bad kind', base.replace('kind: secret', 'kind: secrets'), 'sources[0].files[0].kind', /must be one of "config", "secret", "log", "other"/],
    ['a bad duration', base.replace('include: ["logs/*.log"]', 'include: ["logs/*.log"]\n        maxAge: soon'), 'sources[0].files[1].maxAge', /duration/],
    ['an unset variable', base, 'storage[0].path', /BACKUP_DIR, which is not set/],
    ['a database outside the root', base.replace('data/trades.db', '../../etc/x.db'), 'sources[0].databases[0].path', /inside the source root/],
    ['an unsafe source id', base.replace('id: bot', 'id: ../bot'), 'sources[0].id', /letters, digits/],
  ])('names the file and field for %s', (_name, text, field, message) => {
    const error = errorOf(() => parse(text, _name === 'an unset variable' ? {} : { BACKUP_DIR: '/b' }));
    expect(error.file).toBe('/etc/botbackup/botbackup.yaml');
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith('/etc/botbackup/botbackup.yaml: field')).toBe(true);
  });

  it.each([
    ['an unclosed flow list', 'version: 1\nsources: [\n', 3, 1, /flow sequence .* must be sufficiently indented and end with a \]/],
    ['a key indented too little', 'version: 1\nsources:\n  - id: bot\n   root: ./bot\n', 4, 4, /^bad indentation: the keys of one mapping/],
    ['a key out of line with its mapping', 'version: 1\nsources:\n  - id: bot\n    root: x\n  databases: []\n', 5, 3, /^bad indentation/],
    ['a tab as indentation', 'version: 1\nsources:\n\t- id: bot\n', 3, 1, /^a tab is used for indentation; YAML indents with spaces only$/],
    // Where the quote opened, not where the file ends (where the parser notices).
    [
      'an unclosed double quote',
      'version: 1\nsources:\n  - id: "bot\n    root: ./bot\nstorage: []\n',
      3,
      9,
      /^the "quoted string that starts here is never closed/,
    ],
    ['an unclosed single quote', "version: 1\ncatalog: 'a.db\nminCopies: 1\n", 2, 10, /^the 'quoted string that starts here is never closed/],
    ['a duplicate key', 'version: 1\nsources: []\nversion: 2\n', 3, 1, /^the key "version" is set twice in the same mapping$/],
    ['a duplicate nested key', 'sources:\n  - id: a\n    root: x\n    root: y\n', 4, 5, /^the key "root" is set twice/],
  ])('names the file, line and column of %s, and what is wrong', (_name, text, line, column, problem) => {
    const error = errorOf(() => parse(text));
    expect(error).toBeInstanceOf(ConfigSyntaxError);
    const { line: l, column: c } = error as ConfigSyntaxError;
    expect([l, c]).toEqual([line, column]);
    const prefix = `/etc/botbackup/botbackup.yaml:${line}:${column}: `;
    expect(error.message.startsWith(prefix), error.message).toBe(true);
    expect(error.message.slice(prefix.length).replace(/\.$/, '')).toMatch(problem);
    expect(error.message).toMatch(/^[^\n]+\.$/);
    expect(error.exitCode).toBe(3);
  });

  it('rejects duplicate source ids and storage names', () => {
    expect(errorOf(() => parse(`${base}\n`.replace('sources:\n', 'sources:\n  - id: bot\n    root: /x\n'))).field).toBe('sources[1].id');
  });

  it('defaults minCopies to every target, and refuses more copies than targets', () => {
    const two = `${base}  - name: offsite\n    type: local\n    path: /mnt/offsite\n`;
    expect(parse(two).minCopies).toBe(2);
    expect(parse(`${two}minCopies: 1\n`).minCopies).toBe(1);
    const error = errorOf(() => parse(`${two}minCopies: 3\n`));
    expect(error.field).toBe('minCopies');
    expect(error.message).toContain('only 2 storage target(s)');
    expect(errorOf(() => parse(`${two}minCopies: 0\n`)).field).toBe('minCopies');
  });

  it('reads the catalog path and the orphan grace period', () => {
    const config = parse(`${base}catalog: state/catalog.sqlite\ndefaults:\n  orphanGrace: 2h\n`);
    expect(config.catalog).toBe('/etc/botbackup/state/catalog.sqlite');
    expect(config.orphanGraceMs).toBe(2 * 3600_000);
    expect(parse(base).orphanGraceMs).toBe(6 * 3600_000);
    expect(parse(base).catalog).toBeUndefined();
  });

  it('reads schedules, redis and worker settings, and names the schedule whose cron or zone is wrong', () => {
    const text = `${base}redis:\n  url: redis://:\${REDIS_PASSWORD}@redis:6379/0\nschedules:\n  - { id: nightly, source: bot, job: incremental, cron: "0 2 * * *" }\n  - { id: weekly, source: bot, job: full, cron: "0 3 * * 0", timezone: Europe/Berlin }\n  - { id: copy, job: replicate, cron: "*/30 * * * *", enabled: false }\nworker:\n  sources: [bot]\n  lockDuration: 20s\n`;
    const config = parse(text, { BACKUP_DIR: '/srv/backups', REDIS_PASSWORD: 'hunter2' });
    expect(config.schedules).toEqual([
      { id: 'nightly', source: 'bot', job: 'incremental', cron: '0 2 * * *', timezone: 'UTC', enabled: true },
      { id: 'weekly', source: 'bot', job: 'full', cron: '0 3 * * 0', timezone: 'Europe/Berlin', enabled: true },
      { id: 'copy', source: undefined, job: 'replicate', cron: '*/30 * * * *', timezone: 'UTC', enabled: false },
    ]);
    expect(config.redis).toEqual({ url: 'redis://:hunter2@redis:6379/0', prefix: 'botbackup' });
    expect(redactUrl(config.redis!.url)).toBe('redis://:***@redis:6379/0');
    expect(redactUrl('rediss://backup:pw@h:6380')).toBe('rediss://backup:***@h:6380');
    expect(config.worker).toMatchObject({ sources: ['bot'], lockDurationMs: 20_000, stalledIntervalMs: 15_000, maxStalledCount: 1 });
    expect(parse(base).worker).toEqual(DEFAULT_WORKER);
    // Metrics are off without a port; the host defaults to loopback (nothing asks for credentials).
    expect(DEFAULT_WORKER.metrics).toEqual({ host: '127.0.0.1', port: undefined });
    expect(parse(`${base}worker: { metrics: { port: 9464 } }\n`).worker.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(errorOf(() => parse(`${base}worker: { metrics: { port: 70000 } }\n`)).field).toBe('worker.metrics.port');

    const env = { BACKUP_DIR: '/srv/backups', REDIS_PASSWORD: 'x' };
    const bad = (from: string, to: string) => errorOf(() => parse(text.replace(from, to), env));
    expect(bad('"0 2 * * *"', '"0 25 * * *"').field).toBe('schedules[0].cron');
    expect(bad('"0 2 * * *"', '"0 25 * * *"').message).toContain('is "0 25 * * *", which is not a valid cron expression');
    expect(bad('"0 2 * * *"', '"every day"').message).toContain('has 2 field(s)');
    expect(bad('Europe/Berlin', 'Europe/Atlantis').field).toBe('schedules[1].timezone');
    expect(bad('id: weekly', 'id: nightly').field).toBe('schedules[1].id');
    expect(bad('source: bot, job: full', 'source: other, job: full').field).toBe('schedules[1].source');
    expect(bad('source: bot, job: full', 'job: full').message).toContain('a full job is for one source');
    expect(bad('job: full', 'job: snapshot').field).toBe('schedules[1].job');
    expect(bad('sources: [bot]', 'sources: [nope]').field).toBe('worker.sources[0]');
    expect(bad('redis://', 'http://').field).toBe('redis.url');
  });

  it('reads the dashboard section (token from the environment), with safe defaults when absent', () => {
    expect(parse(base).dashboard).toEqual(DEFAULT_DASHBOARD);
    expect(DEFAULT_DASHBOARD).toMatchObject({ host: '127.0.0.1', port: 8080, readOnly: true, token: undefined, basic: undefined });
    const env = { BACKUP_DIR: '/srv/backups', DASHBOARD_TOKEN: 'a-token-of-24-characters', DASHBOARD_PASSWORD: 'hunter2hunter2' };
    const text = `${base}dashboard:\n  host: 0.0.0.0\n  port: 9090\n  token: \${DASHBOARD_TOKEN}\n  basic: { user: ops, password: "\${DASHBOARD_PASSWORD}" }\n  readOnly: false\n  allowedHosts: [backups.example.com, dashboard]\n`;
    expect(parse(text, env).dashboard).toEqual({
      host: '0.0.0.0',
      port: 9090,
      token: 'a-token-of-24-characters',
      basic: { user: 'ops', password: 'hunter2hunter2' },
      readOnly: false,
      allowedHosts: ['backups.example.com', 'dashboard'],
    });
    expect(parse(`${base}dashboard: { port: 9000 }\n`).dashboard).toEqual({ ...DEFAULT_DASHBOARD, port: 9000 });
    const bad = (from: string, to: string) => errorOf(() => parse(text.replace(from, to), env));
    expect(bad('\${DASHBOARD_TOKEN}', 'short').field).toBe('dashboard.token');
    expect(bad('\${DASHBOARD_TOKEN}', 'short').message).toContain('at least 16 characters');
    expect(bad('port: 9090', 'port: 70000').field).toBe('dashboard.port');
    expect(bad('readOnly: false', 'readonly: false').message).toContain('unknown setting "readonly"');
    expect(bad('backups.example.com,', 'https://backups.example.com,').field).toBe('dashboard.allowedHosts[0]');
    expect(bad('backups.example.com,', 'https://backups.example.com,').message).toContain('a host name without scheme, port or path');
    expect(errorOf(() => parse(text, { BACKUP_DIR: '/srv/backups', DASHBOARD_PASSWORD: 'hunter2hunter2' })).message).toContain('DASHBOARD_TOKEN');
  });

  it('merges retention: the source over defaults.retention over the seed policy, with schedules keepWithin per schedule', () => {
    expect(parse(base).sources[0]!.retention).toEqual(DEFAULT_RETENTION);
    expect(DEFAULT_RETENTION).toMatchObject({ keepLast: 0, daily: 7, weekly: 4, monthly: 12, yearly: 2, keepWithinMs: 0, timezone: 'UTC', graceMs: 3_600_000 });
    const text =
      base
        .replace('    root: ./bot\n', '    root: ./bot\n    retention: { daily: 10, keepWithin: 2w }\n')
        .replace('storage:\n', '  - { id: other, root: ./other }\nstorage:\n') +
      `defaults:\n  retention: { daily: 3, weekly: 0, timezone: Europe/Berlin, grace: 2h }\nschedules:\n` +
      `  - { id: nightly, source: bot, job: incremental, cron: "0 2 * * *", keepWithin: 30d }\n  - { id: sunday, source: bot, job: full, cron: "0 3 * * 0" }\n`;
    const config = parse(text);
    expect(config.sources[0]!.retention).toEqual({
      keepLast: 0,
      daily: 10,
      weekly: 0,
      monthly: 12,
      yearly: 2,
      keepWithinMs: 14 * 86_400_000,
      timezone: 'Europe/Berlin',
      graceMs: 2 * 3_600_000,
      scheduleKeepWithinMs: { nightly: 30 * 86_400_000 },
    });
    expect(config.schedules[0]!.keepWithinMs).toBe(30 * 86_400_000);
    expect(config.schedules[1]).not.toHaveProperty('keepWithinMs');
    expect(config.sources[1]!.retention).toEqual({ ...DEFAULT_RETENTION, daily: 3, weekly: 0, timezone: 'Europe/Berlin', graceMs: 2 * 3_600_000 });
  });

  it.each([
    [
      'a retention zone that is not IANA',
      (t: string) => t.replace('    root: ./bot\n', '    root: ./bot\n    retention: { timezone: Europe/Atlantis }\n'),
      'sources[0].retention.timezone',
      /not an IANA time zone/,
    ],
    [
      'a default retention zone that is not IANA',
      (t: string) => `${t}defaults:\n  retention: { timezone: Mars/Olympus }\n`,
      'defaults.retention.timezone',
      /Mars\/Olympus/,
    ],
    ['a negative count', (t: string) => `${t}defaults:\n  retention: { daily: -1 }\n`, 'defaults.retention.daily', /must be/],
    [
      'a count that is not a whole number',
      (t: string) => t.replace('    root: ./bot\n', '    root: ./bot\n    retention: { weekly: 1.5 }\n'),
      'sources[0].retention.weekly',
      /must be/,
    ],
    [
      'a bad keepWithin',
      (t: string) => t.replace('    root: ./bot\n', '    root: ./bot\n    retention: { keepWithin: forever }\n'),
      'sources[0].retention.keepWithin',
      /duration/,
    ],
    ['a bad grace', (t: string) => `${t}defaults:\n  retention: { grace: 1y }\n`, 'defaults.retention.grace', /duration/],
    [
      'an unknown retention key',
      (t: string) => t.replace('    root: ./bot\n', '    root: ./bot\n    retention: { hourly: 24 }\n'),
      'sources[0].retention',
      /unknown setting "hourly"/,
    ],
    [
      'a keepWithin on a verify schedule',
      (t: string) => `${t}schedules:\n  - { id: check, source: bot, job: verify, cron: "0 4 * * *", keepWithin: 30d }\n`,
      'schedules[0].keepWithin',
      /only full and incremental/,
    ],
    [
      'a bad schedule keepWithin',
      (t: string) => `${t}schedules:\n  - { id: nightly, source: bot, job: full, cron: "0 4 * * *", keepWithin: 30 }\n`,
      'schedules[0].keepWithin',
      /must be/,
    ],
  ])('names the retention field for %s', (_name, edit, field, message) => {
    const error = errorOf(() => parse(edit(base)));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });
});
