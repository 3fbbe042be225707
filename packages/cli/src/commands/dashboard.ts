import { Command } from 'commander';
import { defaultCatalogPath } from '@botbackup/engine';
import type { WrapAction } from '../command.js';
import { parsePortOption } from '../port-option.js';
import { redisOf } from '../redis-config.js';

export function dashboardCommand(wrap: WrapAction): Command {
  return new Command('dashboard')
    .description('serve the queues (bull-board), the backups and Prometheus metrics over HTTP until SIGINT or SIGTERM')
    .option('--port <n>', 'TCP port, 0 for any free one (default: dashboard.port, else 8080)')
    .option('--host <address>', 'address to listen on (default: dashboard.host, else 127.0.0.1)')
    .option('--read-write', 'allow retries, deletes and other changes through bull-board (default: read-only unless dashboard.readOnly is false)')
    .action(
      wrap(async (ctx, _args, opts) => {
        const config = await ctx.config();
        const redis = redisOf(config);
        const settings = config.dashboard;
        const port = opts.port === undefined ? settings.port : parsePortOption(opts.port, '--port');
        const readOnly = opts.readWrite ? false : settings.readOnly;
        // Loaded here, not at the top: Fastify and bull-board would add their start-up time to every other command.
        const { startDashboard } = await import('@botbackup/dashboard');
        const dashboard = await startDashboard({
          config,
          connection: redis.connection,
          stores: await ctx.stores(),
          catalogFile: config.catalog ?? defaultCatalogPath(config.file),
          host: (opts.host as string | undefined) ?? settings.host,
          port,
          auth: { token: settings.token, basic: settings.basic },
          allowedHosts: settings.allowedHosts,
          readOnly,
          logger: ctx.logger,
        });
        if (ctx.options.json) ctx.printJson({ url: dashboard.url, readOnly });
        ctx.print(`Dashboard at ${dashboard.url}${readOnly ? ' (read-only)' : ''}; stop it with Ctrl-C or SIGTERM.`);
        // SIGINT/SIGTERM abort the command's signal: then stop serving.
        if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        await dashboard.close();
      }),
    );
}
