// The docker-compose deployment, run for real (issue 19): images built without a registry, every
// service up and healthy, a scheduled backup by worker-bot to local storage and the bucket,
// verify and replicate by a storage-only worker, worker-bot killed mid-backup, the bot's database
// deleted and recovered, the dashboard's token and every process's metrics, `status` in a
// container, and `down` + `up` keeping Redis's jobs and schedules. docs/deploy.md walks a user
// through the same steps. Run alone with `npm run test:compose` (root, as dockerd needs).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerEngine, type DockerEngine } from './docker-engine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'packages/cli/bin/botbackup.js');
const IN_CONTAINER_CLI = ['node', '/app/packages/cli/bin/botbackup.js'];
const PROJECT = 'bbe2e';
const SERVICES = ['redis', 'minio', 'scheduler', 'worker-bot', 'worker-1', 'worker-2', 'dashboard'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeout = 600_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

let dir: string;
let engine: DockerEngine | undefined;
const ports: Record<string, number> = {};
let envFile: string;
let botDir: string;
let redis: Redis;
const DASHBOARD_TOKEN = 'e2e-dashboard-token-0123456789abcdef';
const REDIS_PASSWORD = 'e2e-redis-password-long';

/**
 * docker-compose.yml without its published ports: Docker refuses them with host networking, and a
 * compose override can add to a list but not remove from it. Relative paths in both files are
 * resolved from the repository (--project-directory), as from the original's folder.
 */
function hostNetworkCompose(): string {
  const file = path.join(dir, 'docker-compose.yml');
  const doc = YAML.parseDocument(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
  const services = doc.get('services') as YAML.YAMLMap<YAML.Scalar<string>, YAML.YAMLMap>;
  for (const service of services.items) service.value!.delete('ports');
  fs.writeFileSync(file, doc.toString());
  return file;
}

async function compose(args: string[], timeout?: number): Promise<Run> {
  const files = ['-f', path.join(dir, 'docker-compose.yml'), '-f', path.join(ROOT, 'test/compose/docker-compose.test.yml')];
  return run('docker-compose', ['--project-directory', ROOT, '-p', PROJECT, '--env-file', envFile, ...files, ...args], { DOCKER_HOST: engine!.host }, timeout);
}

async function composeOk(args: string[], timeout?: number): Promise<string> {
  const result = await compose(args, timeout);
  if (result.code !== 0)
    throw new Error(`docker-compose ${args.join(' ')} exited ${result.code}:\n${result.stderr.slice(-4000)}\n${result.stdout.slice(-2000)}`);
  return result.stdout;
}

/** The CLI in a running container of `service`, as a user would run it with `docker compose exec`. */
async function cliIn(service: string, args: string[]): Promise<Run> {
  return compose(['exec', '-T', service, ...IN_CONTAINER_CLI, ...args]);
}

async function containerId(service: string): Promise<string> {
  return (await composeOk(['ps', '-q', service])).trim();
}

async function health(service: string): Promise<string> {
  const id = await containerId(service);
  if (!id) return 'no container';
  const r = await run('docker', ['inspect', '--format', '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}', id], {
    DOCKER_HOST: engine!.host,
  });
  return r.stdout.trim();
}

async function waitHealthy(services: string[], ms = 240_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const states = await Promise.all(services.map(async (s) => [s, await health(s)] as const));
    if (states.every(([, h]) => h === 'running healthy')) return;
    if (Date.now() > until)
      throw new Error(`not healthy: ${states.map(([s, h]) => `${s}: ${h}`).join(', ')}\n${(await compose(['logs', '--tail', '30'])).stdout}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function setUp(): Promise<void> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'botbackup-compose-'));
  // BOTBACKUP_TEST_DOCKER_HOST: an engine already running (its image cache makes a rerun fast);
  // by default one of the test's own, stopped at the end.
  const given = process.env.BOTBACKUP_TEST_DOCKER_HOST;
  engine = given ? { host: given, stop: async () => undefined } : await startDockerEngine(dir);
  const base = await run('bash', [path.join(ROOT, 'test/compose/base-image.sh'), engine.host]);
  if (base.code !== 0) throw new Error(`base image: ${base.stderr.slice(-3000)}`);
  for (const name of ['redis', 's3', 'dashboard', 'workerBot', 'worker1', 'worker2']) ports[name] = await freePort();
  // The bot's folder: a database of past trades (about 120 MiB, so that a full backup runs for a
  // few seconds and can be killed in the middle), owned by the containers' user (uid 1000).
  botDir = path.join(dir, 'bot');
  fs.mkdirSync(path.join(botDir, 'data'), { recursive: true });
  fs.mkdirSync(path.join(botDir, 'config'));
  fs.writeFileSync(path.join(botDir, 'config/bot.json'), '{"pair":"BTCUSDT"}\n');
  const seeded = await run('node', [path.join(ROOT, 'test/compose/trader.mjs'), 'seed', path.join(botDir, 'data/trades.db'), '120'], {
    BETTER_SQLITE3_FROM: path.join(ROOT, 'package.json'),
  });
  if (seeded.code !== 0) throw new Error(seeded.stderr);
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys);
  const recipient = (await run('node', [CLI, 'keygen', '--out', path.join(keys, 'identity.txt')])).stdout.trim().split('\n').pop()!;
  const signer = (await run('node', [CLI, 'keygen', '--worker', '--out', path.join(keys, 'worker.key')])).stdout.trim().split('\n').pop()!;
  await run('chown', ['-R', '1000:1000', botDir, keys]);
  // deploy/botbackup.yaml as it ships, with this machine's loopback ports for the service names.
  const config = fs
    .readFileSync(path.join(ROOT, 'deploy/botbackup.yaml'), 'utf8')
    .replace('@redis:6379/', `@127.0.0.1:${ports.redis}/`)
    .replace('http://minio:9000', `http://127.0.0.1:${ports.s3}`);
  expect(config).not.toContain('redis:6379');
  fs.writeFileSync(path.join(dir, 'botbackup.yaml'), config);
  hostNetworkCompose();
  envFile = path.join(dir, '.env');
  const env = {
    MINIO_ROOT_USER: 'unused-admin',
    MINIO_ROOT_PASSWORD: 'unused-admin-password',
    S3_ACCESS_KEY_ID: 'botbackup',
    S3_SECRET_ACCESS_KEY: 'e2e-s3-secret-long-enough',
    REDIS_PASSWORD,
    DASHBOARD_TOKEN,
    BOTBACKUP_RECIPIENT: recipient,
    BOTBACKUP_SIGNING_PUBLIC_KEY: signer,
    BOTBACKUP_WORKER_KEY_FILE: path.join(keys, 'worker.key'),
    BOTBACKUP_RECOVER_IDENTITY_FILE: path.join(keys, 'identity.txt'),
    BOT_DATA_DIR: botDir,
    E2E_BASE_IMAGE: base.stdout.trim(),
    E2E_CONFIG: path.join(dir, 'botbackup.yaml'),
    E2E_REDIS_PORT: ports.redis,
    E2E_S3_PORT: ports.s3,
    E2E_DASHBOARD_PORT: ports.dashboard,
    E2E_METRICS_WORKER_BOT: ports.workerBot,
    E2E_METRICS_WORKER_1: ports.worker1,
    E2E_METRICS_WORKER_2: ports.worker2,
  };
  fs.writeFileSync(
    envFile,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  await composeOk(['build'], 900_000);
  await composeOk(['up', '-d'], 300_000);
  redis = new Redis({ host: '127.0.0.1', port: ports.redis, password: REDIS_PASSWORD, lazyConnect: true, maxRetriesPerRequest: 3 });
}

const queues = new Map<string, Queue>();
/** BullMQ's view of a queue, as anyone with Redis's password can inspect it. */
function queue(name: string): Queue {
  if (!queues.has(name)) {
    const q = new Queue(name, { prefix: 'botbackup', connection: { host: '127.0.0.1', port: ports.redis, password: REDIS_PASSWORD } });
    // Redis is down between `down` and `up` on purpose: ioredis reconnects by itself.
    q.on('error', () => undefined);
    queues.set(name, q);
  }
  return queues.get(name)!;
}

/** `botbackup run <schedule> --json` in the scheduler's container: the job's final state. */
async function runSchedule(schedule: string, wait = true): Promise<{ jobId: string; state: string; result?: { backupId?: string } }> {
  const r = await cliIn('scheduler', ['run', schedule, '--json', ...(wait ? [] : ['--no-wait'])]);
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout);
}

async function listBackups(): Promise<{ id: string; type: string; copies: { target: string; state: string }[] }[]> {
  const r = await cliIn('worker-1', ['list', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const parsed = JSON.parse(r.stdout);
  return (Array.isArray(parsed) ? parsed : parsed.backups) as never;
}

describe.sequential('the docker-compose deployment', () => {
  beforeAll(setUp, 1_500_000);
  afterAll(async () => {
    for (const q of queues.values()) await q.close().catch(() => undefined);
    redis?.disconnect();
    if (engine && envFile) await compose(['down', '-v', '--timeout', '5']);
    await engine?.stop();
    // overlay mounts are gone once dockerd stopped
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('every service becomes healthy through its HEALTHCHECK; Redis keeps AOF on and noeviction', async () => {
    await waitHealthy(SERVICES);
    await redis.connect();
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    // The images run as the node user, with tini, on a read-only root filesystem.
    const inspect = JSON.parse((await run('docker', ['inspect', await containerId('worker-bot')], { DOCKER_HOST: engine!.host })).stdout)[0];
    expect(inspect.Config.User).toBe('node');
    expect(inspect.Config.Entrypoint.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
  }, 300_000);

  let firstBackup: string;

  it('a schedule fires: worker-bot backs up to the local volume and the bucket; a storage-only worker verifies and replicates', async () => {
    await composeOk(['up', '-d', 'bot']);
    const backup = await runSchedule('daily-incremental');
    expect(backup.state).toBe('completed');
    firstBackup = backup.result!.backupId!;
    const backupJob = await queue('backup.bot').getJob(backup.jobId);
    expect(backupJob!.processedBy).toBe('worker-bot');
    const listed = await listBackups();
    const copies = listed.find((b) => b.id === firstBackup)!.copies.map((c) => `${c.target}:${c.state}`);
    expect(copies.sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^local:(unverified|verified)$/), expect.stringMatching(/^minio:(unverified|verified)$/)]),
    );
    expect(copies).toHaveLength(2);
    for (const schedule of ['daily-verify', 'hourly-replicate']) {
      const job = await runSchedule(schedule);
      expect(job.state, JSON.stringify(job)).toBe('completed');
      expect(['worker-1', 'worker-2']).toContain((await queue('maintenance').getJob(job.jobId))!.processedBy);
    }
    const verified = (await listBackups()).find((b) => b.id === firstBackup)!;
    expect(verified.copies.some((c) => c.state === 'verified')).toBe(true);
  }, 300_000);

  it('worker-bot killed mid-backup: after its restart the job finishes once, with no duplicate and no partial backup', async () => {
    const before = await listBackups();
    const queued = await runSchedule('weekly-full', false);
    const jobs = queue('backup.bot');
    // Kill it once the backup is really running (a phase reported), not while it is queued.
    for (let i = 0; ; i++) {
      const job = await jobs.getJob(queued.jobId);
      if ((await job!.getState()) === 'active' && job!.progress && typeof job!.progress === 'object') break;
      if (i > 600) throw new Error('the full backup never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const killed = await run('docker', ['kill', await containerId('worker-bot')], { DOCKER_HOST: engine!.host });
    expect(killed.code, killed.stderr).toBe(0);
    expect((await jobs.getJob(queued.jobId))!.finishedOn).toBeUndefined();
    await composeOk(['up', '-d', 'worker-bot']);
    // BullMQ gives the job back after its lock runs out (worker.lockDuration + stalledInterval).
    let job = await jobs.getJob(queued.jobId);
    for (let i = 0; !job!.finishedOn; i++) {
      if (i > 180) throw new Error(`the killed job did not finish: ${await job!.getState()}`);
      await new Promise((r) => setTimeout(r, 1000));
      job = await jobs.getJob(queued.jobId);
    }
    expect(await job!.getState(), job!.failedReason).toBe('completed');
    const after = await listBackups();
    const added = after.filter((b) => !before.some((old) => old.id === b.id));
    expect(added.map((b) => b.type)).toEqual(['full']);
    expect(added[0]!.id).toBe(job!.returnvalue.backupId);
    const verify = await cliIn('worker-1', ['verify', added[0]!.id]);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    // Nothing of the killed attempt is left in the local repository (its writes are .part files under .tmp/).
    const leftovers = await compose(['exec', '-T', 'worker-1', 'find', '/backups', '-name', '*.part']);
    expect(leftovers.stdout.trim()).toBe('');
  }, 400_000);

  it('the bot loses its database; `docker compose run --rm recover` restores it and the bot reads its trades back', async () => {
    // The bot's count of trades, read by a one-off container of the bot's image beside the running
    // bot. Not `docker-compose run`: compose 1.29 links a run container to the service's
    // dependencies, which Docker refuses with host networking (the production file's network has
    // no such problem, and docs/deploy.md gives users `docker compose run --rm recover`).
    const count = async () => {
      const args = ['run', '--rm', '--network', 'host', '-v', `${botDir}:/bot`, '-v', `${path.join(ROOT, 'test/compose/trader.mjs')}:/e2e/trader.mjs:ro`];
      const r = await run('docker', [...args, '--entrypoint', 'node', 'botbackup:local', '/e2e/trader.mjs', 'count', '/bot/data/trades.db'], {
        DOCKER_HOST: engine!.host,
      });
      expect(r.code, r.stderr).toBe(0);
      return Number(r.stdout.trim().split(' ')[1]);
    };
    const beforeBackup = await count();
    const last = await runSchedule('daily-incremental');
    expect(last.state).toBe('completed');
    await composeOk(['stop', 'bot']);
    const atLoss = await count();
    expect(atLoss).toBeGreaterThan(beforeBackup);
    for (const f of fs.readdirSync(path.join(botDir, 'data'))) fs.rmSync(path.join(botDir, 'data', f));
    // The one-shot service, as `docker compose run --rm recover` runs it (see count above for why `up`).
    const recovered = await compose(['up', '--no-deps', '--exit-code-from', 'recover', 'recover']);
    expect(recovered.code, recovered.stderr + recovered.stdout).toBe(0);
    // Every trade committed before the backup began is back; those after it are what a daily
    // backup loses (issue 21's continuous protection is the answer to that).
    const back = await count();
    expect(back).toBeGreaterThanOrEqual(beforeBackup);
    expect(back).toBeLessThanOrEqual(atLoss);
    await composeOk(['up', '-d', 'bot']);
    for (let i = 0; ; i++) {
      const logs = await compose(['logs', '--no-color', 'bot']);
      if (logs.stdout.includes(`trades ${back} `)) break;
      if (i > 60) throw new Error(`the bot did not start on its recovered trades: ${logs.stdout.slice(-1000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }, 300_000);

  it('the dashboard answers with its token and refuses without it; the dashboard and each worker serve Prometheus metrics; status in a container shows schedules, jobs and workers', async () => {
    const base = `http://127.0.0.1:${ports.dashboard}`;
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: { authorization: `Bearer ${DASHBOARD_TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${DASHBOARD_TOKEN}` } })).text();
    expect(metrics).toMatch(/^botbackup_\w+\{[^}]*source="bot"/m);
    const workerBot = await (await fetch(`http://127.0.0.1:${ports.workerBot}/metrics`)).text();
    expect(workerBot).toMatch(/^botbackup_worker_jobs_total\{[^}]*queue="backup\.bot"[^}]*result="completed"[^}]*\} [1-9]/m);
    for (const port of [ports.worker1, ports.worker2]) {
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('# TYPE botbackup_worker_jobs_total counter');
    }
    const status = await cliIn('worker-bot', ['status']);
    expect(status.code, status.stderr).toBe(0);
    for (const text of ['daily-incremental', 'weekly-full', 'daily-verify', 'hourly-replicate', 'Workers', 'worker-bot', 'worker-1', 'worker-2', 'backup.bot'])
      expect(status.stdout).toContain(text);
  }, 120_000);

  it('down and up again: the schedules are not duplicated and Redis kept its jobs', async () => {
    const schedulers = async () => ({
      backup: (await queue('backup.bot').getJobSchedulers()).map((s) => s.key).sort(),
      maintenance: (await queue('maintenance').getJobSchedulers()).map((s) => s.key).sort(),
    });
    const before = await schedulers();
    expect(before).toEqual({ backup: ['daily-incremental', 'weekly-full'], maintenance: ['daily-verify', 'hourly-replicate'] });
    const completed = (await queue('backup.bot').getCompleted()).map((j) => j.id).sort();
    expect(completed.length).toBeGreaterThanOrEqual(3);
    redis.disconnect();
    await composeOk(['down', '--timeout', '30']);
    await composeOk(['up', '-d']);
    await waitHealthy(SERVICES);
    expect(await schedulers()).toEqual(before);
    expect((await queue('backup.bot').getCompleted()).map((j) => j.id).sort()).toEqual(completed);
    expect((await listBackups()).some((b) => b.id === firstBackup)).toBe(true);
  }, 400_000);
});
