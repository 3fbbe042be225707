import { Command, Option } from 'commander';
import { exitCodeFor, findSource, redactUrl, type Config } from '@botbackup/core';
import { checkSourceRoots } from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import type { WrapAction } from '../command.js';
import type { CommandContext } from '../context.js';
import { redisOf } from '../redis-config.js';

/** The processes of distributed mode, by what they need: the scheduler only Redis, the others Redis and the storage targets. */
const ROLES = ['scheduler', 'worker', 'dashboard'] as const;
type Role = (typeof ROLES)[number];

/** How long Redis may take to answer the PING, once connected (connecting gives up after 5 s): a health check must be quick. */
const PING_TIMEOUT_MS = 5_000;

/** One check's outcome: what was checked, where (safe to print), and the error when it failed. */
interface CheckResult {
  check: 'redis' | 'storage' | 'source';
  /** The storage target's or source's name; none for Redis. */
  name?: string | undefined;
  /** The redacted Redis URL, the target's location, the source's folder. */
  location: string;
  error?: unknown;
}

export function healthCommand(wrap: WrapAction): Command {
  return new Command('health')
    .description('check that Redis answers and that every storage target is reachable (a container health check); exit 0 when every check passes')
    .addOption(
      new Option(
        '--role <role>',
        'the process to check for: scheduler (Redis only), worker or dashboard (Redis and storage); default: Redis if configured, and storage',
      ).choices(ROLES),
    )
    .option('-s, --source <id...>', "also check that these sources' folders are there (default with --role worker: worker.sources)")
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        const role = opts.role as Role | undefined;
        const checks = await planChecks(ctx, config, role, (opts.source as string[] | undefined) ?? (role === 'worker' ? config.worker.sources : []));
        // At once: the slowest check (a target that does not answer: 5 s) sets the time, not their sum.
        const results = await Promise.all(checks.map((check) => check()));
        report(ctx, results);
      }),
    );
}

/**
 * The checks a process of `role` needs, in the order they are reported: Redis (any role, or
 * without one when the config has `redis`), each storage target (all but the scheduler), each
 * source's folder. A config that lacks what the role needs, or names no such source, throws here.
 */
async function planChecks(ctx: CommandContext, config: Config, role: Role | undefined, sources: readonly string[]): Promise<(() => Promise<CheckResult>)[]> {
  const checks: (() => Promise<CheckResult>)[] = [];
  if (role !== undefined || config.redis) {
    const redis = redisOf(config);
    checks.push(() => checkRedis(redis, ctx.signal));
  }
  if (role !== 'scheduler') {
    for (const store of await ctx.stores()) checks.push(() => checkStore(store, ctx.signal));
  }
  for (const id of sources) {
    const source = findSource(config, id);
    checks.push(() => settle({ check: 'source', name: id, location: source.root }, () => checkSourceRoots(config, [id])));
  }
  return checks;
}

/**
 * PING through a producer connection (the one every command uses: fails fast, no reconnect
 * loop), with ioredis alone: BullMQ is not loaded, since a health check runs every few seconds.
 */
async function checkRedis(redis: ReturnType<typeof redisOf>, signal: AbortSignal): Promise<CheckResult> {
  const { closeProducer, connectProducer, redisError } = await import('@botbackup/scheduler');
  return settle({ check: 'redis', location: redactUrl(redis.url) }, async () => {
    const client = await connectProducer(redis.connection, redis.url, signal, { commandTimeoutMs: PING_TIMEOUT_MS });
    try {
      await client.ping();
    } catch (error) {
      throw redisError(error, redis.url, 'ping', client);
    } finally {
      await closeProducer(client);
    }
  });
}

function checkStore(store: BackupStore, signal: AbortSignal): Promise<CheckResult> {
  return settle({ check: 'storage', name: store.name, location: store.location }, () => store.probe({ signal }));
}

/** Runs one check: its result, with the error it threw when it failed (every check runs, whatever the others do). */
async function settle(result: CheckResult, check: () => Promise<void>): Promise<CheckResult> {
  try {
    await check();
    return result;
  } catch (error) {
    return { ...result, error };
  }
}

/**
 * One line per check (`redis ok (<url>)`, `storage <name> FAILED: <why>`...), or with --json
 * `{ ok, checks: [...] }`; then, when a check failed, the first failure (in the order above) is
 * thrown: its sentence on stderr and its exit code (10 Redis, 5 storage, 3 a source's folder).
 */
function report(ctx: CommandContext, results: CheckResult[]): void {
  const failed = results.filter((r) => r.error !== undefined);
  if (ctx.options.json) {
    const checks = results.map(({ error, ...r }) =>
      error === undefined ? { ...r, ok: true } : { ...r, ok: false, error: (error as Error)?.message ?? String(error), exitCode: exitCodeFor(error) },
    );
    ctx.printJson({ ok: failed.length === 0, checks });
  }
  for (const r of results) {
    const what = r.name === undefined ? r.check : `${r.check} ${r.name}`;
    ctx.print(r.error === undefined ? `${what} ok (${r.location})` : `${what} FAILED: ${(r.error as Error)?.message ?? String(r.error)}`);
  }
  if (failed.length > 0) throw failed[0]!.error;
}
