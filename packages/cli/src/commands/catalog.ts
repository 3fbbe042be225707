import { Command } from 'commander';
import type { WrapAction } from '../command.js';

/** `catalog rebuild --json` (docs/cli.md). */
export interface CatalogRebuildJson {
  catalog: string;
  backups: number;
  /** Copies found in every reachable target, and how many of them are bad. */
  copies: number;
  bad: number;
  targets: { name: string; copies: number; error: string | null }[];
}

/** `botbackup catalog rebuild`: the local catalog built again from every storage target. */
export function catalogCommand(wrap: WrapAction): Command {
  const rebuild = new Command('rebuild')
    .description('drop the local catalog and build it again from every storage target (copies verified before become unverified)')
    .exitOverride()
    .action(
      wrap(async (ctx) => {
        const stores = await ctx.stores();
        const catalog = await ctx.catalog();
        const backups = await catalog.rebuild(stores, { signal: ctx.signal });
        const found = backups.flatMap((b) => b.copies).filter((c) => c.state === 'verified' || c.state === 'unverified' || c.state === 'bad');
        const result: CatalogRebuildJson = {
          catalog: catalog.file,
          backups: backups.length,
          copies: found.length,
          bad: found.filter((c) => c.state === 'bad').length,
          targets: stores.map((store) => {
            const error = catalog.unreachable.find((u) => u.target === store.name)?.error ?? null;
            return { name: store.name, copies: found.filter((c) => c.target === store.name).length, error };
          }),
        };
        if (ctx.options.json) {
          ctx.printJson(result);
          return;
        }
        const targets = result.targets.map((t) => `${t.name}: ${t.error ? 'unreachable' : `${t.copies}`}`).join(', ');
        ctx.print(
          `Rebuilt the catalog ${result.catalog}: ${result.backups} backup(s), ${result.copies} cop${result.copies === 1 ? 'y' : 'ies'} (${targets})` +
            (result.bad > 0 ? `, ${result.bad} bad (see "botbackup list").` : '.'),
        );
      }),
    );
  return new Command('catalog').description('the local catalog: a cache of manifests and copy states (docs/storage.md)').addCommand(rebuild);
}
