import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseConfig } from '@botbackup/core';
import { createStore } from '@botbackup/storage';
import { S3RVER_CREDENTIALS, startS3rver, type S3rver } from '../packages/storage/test/s3rver.js';
import { repoRoot, runCli, tempDir, useTempDir } from './helpers/bot.js';

// The MinIO set-up (docker-compose.yml, .env.example, examples/botbackup.minio.yaml) cannot be
// run here without a Docker engine. These tests check what can be checked without one: that the
// files agree with each other, that the example config means what it says and backs up to an
// S3-compatible server (s3rver standing in for MinIO), and that minio-init's script issues the
// intended mc commands.

const exampleFile = path.join(repoRoot, 'examples/botbackup.minio.yaml');
const env = { S3_ACCESS_KEY_ID: 'botbackup', S3_SECRET_ACCESS_KEY: 'from-the-environment' };

interface ComposeService {
  image: string;
  command?: string | string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

async function readCompose(): Promise<{ text: string; compose: Compose }> {
  const text = await fs.readFile(path.join(repoRoot, 'docker-compose.yml'), 'utf8');
  // Compose reads YAML merge keys (`<<: *botbackup`).
  return { text, compose: parseYaml(text, { merge: true }) as Compose };
}

/** The default of a `${NAME:-default}` reference, as docker compose resolves it without .env. */
function composeDefault(value: string | undefined): string | undefined {
  return /^\$\{[A-Z_]+:-([^}]*)\}$/.exec(value ?? '')?.[1];
}

describe('examples/botbackup.minio.yaml', () => {
  it('has a local target and a MinIO target whose keys come from the environment', async () => {
    const text = await fs.readFile(exampleFile, 'utf8');
    const config = parseConfig(text, { file: exampleFile, env });
    expect(config.minCopies).toBe(1);
    expect(config.storage).toEqual([
      { name: 'local', type: 'local', path: path.join(repoRoot, 'backups') },
      {
        name: 'minio',
        type: 's3',
        endpoint: 'http://localhost:9000',
        bucket: 'bot-backups',
        prefix: 'example-bot',
        accessKeyId: env.S3_ACCESS_KEY_ID,
        secretAccessKey: env.S3_SECRET_ACCESS_KEY,
      },
    ]);
    expect(config.sources.map((s) => s.root)).toEqual([path.join(repoRoot, 'examples/bot')]);
    // The store it makes: path-style addressing (which MinIO needs) follows from the endpoint.
    expect(createStore(config.storage[1]!).location).toBe('s3://bot-backups/example-bot/ at http://localhost:9000');
  });

  it('refuses to load without the keys in the environment, naming the variable', async () => {
    const text = await fs.readFile(exampleFile, 'utf8');
    expect(() => parseConfig(text, { file: exampleFile, env: {} })).toThrow(ConfigError);
    expect(() => parseConfig(text, { file: exampleFile, env: {} })).toThrow(/S3_ACCESS_KEY_ID/);
  });

  it('uses the bucket and the key that docker-compose.yml and .env.example set up', async () => {
    const config = parseConfig(await fs.readFile(exampleFile, 'utf8'), { file: exampleFile, env });
    const minio = config.storage[1]!;
    const init = (await readCompose()).compose.services['minio-init']!;
    expect(minio.type === 's3' && minio.bucket).toBe(composeDefault(init.environment?.BACKUP_BUCKET));
    // The host port the example's endpoint uses is the one compose publishes for the S3 API.
    expect((await readCompose()).compose.services.minio!.ports).toContain('127.0.0.1:9000:9000');
    const dotEnv = await fs.readFile(path.join(repoRoot, '.env.example'), 'utf8');
    for (const name of Object.keys(env)) {
      expect(dotEnv).toMatch(new RegExp(`^${name}=.+$`, 'm'));
      expect(init.environment?.[name]).toMatch(new RegExp(`^\\$\\{${name}:\\?`));
    }
  });

  describe('against an S3-compatible server', () => {
    const tmp = useTempDir();
    let s3: S3rver;
    beforeAll(async () => {
      s3 = await startS3rver();
    });
    afterAll(() => s3.stop());

    it('backs the example bot up to both targets, only the endpoint changed', async () => {
      await fs.cp(path.join(repoRoot, 'examples'), path.join(tmp.dir, 'examples'), { recursive: true });
      const config = path.join(tmp.dir, 'examples/botbackup.minio.yaml');
      const text = await fs.readFile(config, 'utf8');
      const pointed = text.replace(/^(\s+endpoint:) http:\/\/localhost:9000$/m, `$1 ${s3.endpoint}`);
      expect(pointed).not.toBe(text);
      await fs.writeFile(config, pointed);
      // minio-init's job: the bucket of the config.
      const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      await client.send(new CreateBucketCommand({ Bucket: 'bot-backups' }));

      const keys = { S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
      const backup = await runCli(['--config', config, '--json', 'backup'], { env: keys });
      expect(backup.code, backup.stderr).toBe(0);
      const stored = (JSON.parse(backup.stdout) as { stored: { store: string; location: string }[] }).stored;
      expect(stored.map((s) => [s.store, s.location])).toEqual([
        ['local', path.join(tmp.dir, 'backups')],
        ['minio', `s3://bot-backups/example-bot/ at ${s3.endpoint}`],
      ]);
      // The objects are under the config's prefix in the bucket.
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'bot-backups' }));
      client.destroy();
      expect(listed.KeyCount).toBeGreaterThan(0);
      expect(listed.Contents?.every((o) => o.Key?.startsWith('example-bot/'))).toBe(true);
    });
  });
});

describe('docker-compose.yml', () => {
  it('is valid YAML with a MinIO service that keeps its data in a named volume and reports its health', async () => {
    const { compose } = await readCompose();
    expect(Object.keys(compose.services).sort()).toEqual([
      'dashboard',
      'minio',
      'minio-init',
      'recover',
      'redis',
      'scheduler',
      'worker-1',
      'worker-2',
      'worker-bot',
    ]);
    const minio = compose.services.minio!;
    expect(minio.image).toMatch(/^minio\/minio:RELEASE\./);
    expect(minio.command).toEqual(['server', '/data', '--console-address', ':9001']);
    expect(minio.volumes).toEqual(['minio-data:/data']);
    expect(Object.keys(compose.volumes)).toEqual(['minio-data', 'redis-data', 'backups', 'botbackup-state']);
    expect(minio.healthcheck?.test).toEqual(['CMD', 'mc', 'ready', 'local']);
    expect(minio.environment?.MINIO_API_STALE_UPLOADS_EXPIRY).toBe('24h');
  });

  it('runs minio-init once MinIO is healthy, and only once', async () => {
    const init = (await readCompose()).compose.services['minio-init']!;
    expect(init.image).toMatch(/^minio\/mc:RELEASE\./);
    expect(init.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    expect(init.restart).toBe('no');
  });

  it('holds no secret: every credential is a required ${VAR} that .env.example defines', async () => {
    const { compose } = await readCompose();
    const dotEnv = await fs.readFile(path.join(repoRoot, '.env.example'), 'utf8');
    const secretNames = /USER|PASSWORD|KEY|SECRET|TOKEN/;
    let checked = 0;
    for (const service of Object.values(compose.services)) {
      for (const [name, value] of Object.entries(service.environment ?? {})) {
        if (!secretNames.test(name)) continue;
        expect(value, name).toMatch(new RegExp(`^\\$\\{${name}:\\?[^}]+\\}$`));
        expect(dotEnv).toMatch(new RegExp(`^${name}=.+$`, 'm'));
        checked++;
      }
    }
    // minio 2, minio-init 4, redis 1, and 5 (with DASHBOARD_TOKEN and BOTBACKUP_SIGNING_PUBLIC_KEY) in each of the 6 botbackup services.
    expect(checked).toBe(37);
  });

  it('runs the scheduler, a worker that sees the bot read-only, and two storage-only workers, all on one config', async () => {
    const { compose, text } = await readCompose();
    const s = compose.services as unknown as Record<string, Record<string, unknown>>;
    expect(s.scheduler!.command).toEqual(['scheduler']);
    const metrics = ['--metrics-port', '9464', '--metrics-host', '0.0.0.0'];
    expect(s['worker-bot']!.command).toEqual(['worker', '--source', 'bot', '--no-maintenance', '--name', 'worker-bot', ...metrics]);
    expect(s['worker-bot']!.volumes).toContain('${BOT_DATA_DIR:-./examples/bot}:/bot:ro');
    expect(s['worker-1']!.command).toEqual(['worker', '--name', 'worker-1', ...metrics]);
    expect(s['worker-2']!.command).toEqual(['worker', '--name', 'worker-2', ...metrics]);
    expect(s['worker-1']!.volumes).not.toContainEqual(expect.stringContaining(':/bot'));
    // recover alone writes to the bot's folder; it runs once and only needs storage.
    expect(s.recover!.volumes).toContain('${BOT_DATA_DIR:-./examples/bot}:/bot');
    expect(s.recover!.restart).toBe('no');
    expect(s.recover!.depends_on).toEqual({ 'minio-init': { condition: 'service_completed_successfully' } });
    for (const name of ['scheduler', 'worker-bot', 'worker-1', 'worker-2', 'dashboard']) {
      expect(s[name]!.volumes).toContain('./deploy/botbackup.yaml:/config/botbackup.yaml:ro');
      expect(s[name]!.depends_on).toEqual({ redis: { condition: 'service_healthy' }, 'minio-init': { condition: 'service_completed_successfully' } });
    }
    // Redis as BullMQ needs it, with its password in a file inside the container, not on a command line.
    const redisScript = (s.redis!.command as string[])[0]!;
    expect(redisScript).toContain('--appendonly yes');
    expect(redisScript).toContain('--maxmemory-policy noeviction');
    expect(redisScript).toMatch(/printf 'requirepass %s\\n' "\$\$REDIS_PASSWORD" > \/tmp\/redis.conf/);
    expect(text).not.toMatch(/--requirepass/);

    // The config the containers mount loads, with the environment compose gives them.
    const deployFile = path.join(repoRoot, 'deploy/botbackup.yaml');
    const config = parseConfig(await fs.readFile(deployFile, 'utf8'), {
      file: deployFile,
      env: {
        REDIS_PASSWORD: 'p',
        S3_ACCESS_KEY_ID: 'k',
        S3_SECRET_ACCESS_KEY: 's',
        BACKUP_BUCKET: 'bot-backups',
        DASHBOARD_TOKEN: 'a-dashboard-token-for-tests',
        BOTBACKUP_RECIPIENT: 'age1mxs4lnfs0xgrcdduqrce52v5nxc5s03wvezdh2vpk2mh3ltrmulqpauh9u',
        BOTBACKUP_SIGNING_PUBLIC_KEY: 'ed25519:3hhhKIvDVb9/KElcpR8n2kVq29/txWb/i/NEgAT2LOE=',
      },
    });
    // Encrypted and signed; only worker-bot holds the worker key.
    expect(config.encryption?.recipients).toEqual(['age1mxs4lnfs0xgrcdduqrce52v5nxc5s03wvezdh2vpk2mh3ltrmulqpauh9u']);
    expect(config.signing).toEqual({ keyFile: '/run/secrets/botbackup-worker.key', trusted: ['ed25519:3hhhKIvDVb9/KElcpR8n2kVq29/txWb/i/NEgAT2LOE='] });
    const keyMount = (v: unknown) => String(v).endsWith(':/run/secrets/botbackup-worker.key:ro');
    expect((s['worker-bot']!.volumes as string[]).filter(keyMount)).toHaveLength(1);
    for (const name of ['scheduler', 'worker-1', 'worker-2', 'dashboard']) expect((s[name]!.volumes as string[]).some(keyMount), name).toBe(false);
    expect(config.sources[0]!.root).toBe('/bot');
    expect(config.redis?.url).toBe('redis://:p@redis:6379/0');
    expect(config.schedules.map((x) => [x.id, x.job, x.cron])).toEqual([
      ['daily-incremental', 'incremental', '0 2 * * *'],
      ['weekly-full', 'full', '0 3 * * 0'],
      ['daily-verify', 'verify', '30 4 * * *'],
      ['hourly-replicate', 'replicate', '15 * * * *'],
    ]);
    // The dashboard: published on this machine only, listening on the container's interfaces behind the token, read-only.
    expect(s.dashboard!.command).toEqual(['dashboard', '--host', '0.0.0.0', '--port', '8080']);
    expect(s.dashboard!.ports).toEqual(['127.0.0.1:8080:8080']);
    expect(s.dashboard!.volumes).not.toContainEqual(expect.stringContaining(':/bot'));
    expect(config.dashboard).toMatchObject({ token: 'a-dashboard-token-for-tests', readOnly: true, port: 8080 });
    // A worker gets longer to stop than a running job gets to finish.
    expect(Number.parseInt(String(s['worker-bot']!.stop_grace_period), 10) * 1000).toBeGreaterThan(config.worker.drainTimeoutMs);
  });

  it('docker-compose config accepts it, with the variables .env.example sets', async () => {
    const result = await runCli(['docker-compose', '--env-file', '.env.example', '-f', 'docker-compose.yml', 'config', '-q'], { raw: true });
    expect(result.code, `${result.stderr} (docker-compose is installed by .ci/run)`).toBe(0);
    // A required variable that is missing is named.
    const missing = await runCli(['docker-compose', '-f', 'docker-compose.yml', 'config', '-q'], {
      raw: true,
      env: { REDIS_PASSWORD: '', MINIO_ROOT_USER: '' },
    });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/set (REDIS_PASSWORD|MINIO_ROOT_USER) in \.env/);
  });

  // What this cannot show: that a real mc accepts these commands and repeats them without error on
  // a second `docker compose up` (mc mb --ignore-existing; user add updates; attaching an attached
  // policy succeeds since minio/mc#5058, October 2024). That needs a Docker engine.
  it("minio-init's script creates the bucket idempotently and a key allowed into it only (mc replaced by a recorder)", async () => {
    const init = (await readCompose()).compose.services['minio-init']!;
    expect(init.entrypoint).toEqual(['/bin/sh', '-ec']);
    const raw = (init.command as string[])[0]!;
    // Compose would interpolate a lone "$" from the host's environment; "$$" reaches the shell as "$".
    expect(raw).not.toMatch(/(?<!\$)\$(?!\$)/);
    const script = raw.replaceAll('$$', '$');

    // The script writes the policy to /tmp/botbackup-policy.json, as it does in the container.
    const policyFile = '/tmp/botbackup-policy.json';
    const hadPolicyFile = await fs.stat(policyFile).then(
      () => true,
      () => false,
    );
    const { dir, cleanup } = await tempDir('bb-mc-');
    try {
      const log = path.join(dir, 'calls');
      await fs.writeFile(
        path.join(dir, 'mc'),
        `#!/bin/sh
printf '%s\\n' "$*" >> "${log}"
if [ "$1 $2 $3" = "admin policy create" ]; then cp "$6" "${log}.policy.json"; fi
`,
        { mode: 0o755 },
      );
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn('/bin/sh', ['-ec', script], {
          env: { PATH: `${dir}:${process.env.PATH}`, MINIO_ROOT_USER: 'admin', MINIO_ROOT_PASSWORD: 'admin-password', ...env, BACKUP_BUCKET: 'bot-backups' },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        child.on('error', reject);
        child.on('close', resolve);
      });
      expect(code).toBe(0);
      const calls = (await fs.readFile(log, 'utf8')).trim().split('\n');
      expect(calls).toEqual([
        'alias set local http://minio:9000 admin admin-password',
        'mb --ignore-existing local/bot-backups',
        'admin policy create local botbackup /tmp/botbackup-policy.json',
        `admin user add local ${env.S3_ACCESS_KEY_ID} ${env.S3_SECRET_ACCESS_KEY}`,
        `admin policy attach local botbackup --user ${env.S3_ACCESS_KEY_ID}`,
      ]);
      const policy = JSON.parse(await fs.readFile(`${log}.policy.json`, 'utf8')) as { Statement: { Action: string[]; Resource: string[] }[] };
      expect(policy.Statement.map((s) => s.Resource)).toEqual([['arn:aws:s3:::bot-backups'], ['arn:aws:s3:::bot-backups/*']]);
      expect(policy.Statement.flatMap((s) => s.Action)).toEqual(
        expect.arrayContaining(['s3:ListBucket', 's3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload']),
      );
    } finally {
      await cleanup();
      if (!hadPolicyFile) await fs.rm(policyFile, { force: true });
    }
  });
});
