import { Command } from 'commander';
import { UsageError, type Config } from '@botbackup/core';
import { lowerPriority } from '@botbackup/engine';
import type { WrapAction } from '../command.js';
import { parsePortOption } from '../port-option.js';
import { redisOf } from '../redis-config.js';

export function workerCommand(wrap: WrapAction): Command {
  return new Command('worker')
    .description('run queued and scheduled jobs until SIGTERM: backups of the sources whose files this host sees, and maintenance jobs')
    .option('-s, --source <id...>', 'sources whose backup jobs run here (default: worker.sources)')
    .option('--no-maintenance', 'do not run verify, prune, replicate and drill jobs here')
    .option('--concurrency <n>', 'jobs run at once by this process, across its queues', (v) => Number.parseInt(v, 10), 1)
    .option('--name <name>', 'how this worker is listed by "botbackup status" (default: <hostname>:<pid>)')
    .option(
      '--metrics-port <n>',
      'serve Prometheus metrics at GET /metrics and a health check at GET /healthz on this TCP port, 0 for any free one (default: worker.metrics.port, else none)',
    )
    .option('--metrics-host <address>', 'address the metrics listen on (default: worker.metrics.host, else 127.0.0.1)')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        const redis = redisOf(config);
        lowerPriority(config.nice);
        // Loaded here, not at the top: BullMQ and ioredis would add their start-up time to every other command.
        const [{ closeProducer, connectProducer, isRedisUnreachable }, { startWorker }] = await Promise.all([
          import('@botbackup/scheduler'),
          import('@botbackup/worker'),
        ]);
        // A refused login (password, ACL user, TLS certificate) does not heal by retrying: fail at
        // once with one sentence (exit 10), as status does. A Redis that is down is waited for.
        try {
          await closeProducer(await connectProducer(redis.connection, redis.url, ctx.signal));
        } catch (error) {
          if (ctx.signal.aborted || !isRedisUnreachable(error)) throw error;
          ctx.logger.warn({ err: (error as Error).message }, 'Redis is unreachable; the worker starts once it answers');
        }
        const worker = await startWorker({
          config,
          connection: redis.connection,
          stores: await ctx.stores(),
          logger: ctx.logger,
          sources: opts.source as string[] | undefined,
          maintenance: opts.maintenance as boolean,
          concurrency: opts.concurrency as number,
          name: opts.name as string | undefined,
          metrics: metricsOption(config, opts),
          url: redis.url,
          signal: ctx.signal,
        });
        if (!ctx.signal.aborted)
          ctx.print(
            `Worker serving ${worker.queues.join(', ')}${worker.metricsUrl ? `, metrics at ${worker.metricsUrl}` : ''}; stop it with Ctrl-C or SIGTERM (running jobs get ${config.worker.drainTimeoutMs / 1000} s to finish).`,
          );
        // SIGINT/SIGTERM abort the command's signal: then drain.
        if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        await worker.close();
      }),
    );
}

/** Where to serve the worker's metrics: `--metrics-port` and `--metrics-host` over `worker.metrics`; undefined (none) without a port. */
function metricsOption(config: Config, opts: Record<string, unknown>): { host: string; port: number } | undefined {
  const settings = config.worker.metrics;
  const port = opts.metricsPort === undefined ? settings.port : parsePortOption(opts.metricsPort, '--metrics-port');
  const host = (opts.metricsHost as string | undefined) ?? settings.host;
  if (port !== undefined) return { host, port };
  if (opts.metricsHost !== undefined) throw new UsageError('--metrics-host needs a port: --metrics-port <n> or worker.metrics.port.');
  return undefined;
}
