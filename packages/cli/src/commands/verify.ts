import { Command } from 'commander';
import { ExitCode, UsageError, VerifyFailedError, backupSizes, formatBackupSizes, formatBytes, formatSeconds, type Manifest } from '@botbackup/core';
import {
  isTargetFailure,
  listBackupIds,
  lowerPriority,
  readManifest,
  verifyCopies,
  verifyWal,
  worstExitCode,
  type Catalog,
  type CopyVerdict,
  type WalVerdict,
} from '@botbackup/engine';
import type { BackupStore } from '@botbackup/storage';
import { withBackupSelection, type CommandContext } from '../context.js';
import type { WrapAction } from '../command.js';
import { formatTable } from '../output.js';

export function verifyCommand(wrap: WrapAction): Command {
  return withBackupSelection(
    new Command('verify')
      .description('check every copy of backups against their checksums (--deep: also restore to a temp folder and run integrity_check)')
      .argument('[backup]', 'backup id, unique id prefix, or "latest"')
      .option('--all', "verify every backup, and every continuous source's shipped WAL (each segment read once)")
      .option('--deep', 'restore into a temp folder and run PRAGMA integrity_check')
      .option('--repair', 'replace a missing or bad copy with a good one from another target (checked on the way)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      if (!opts.all && args[0] === undefined) throw new UsageError('Name a backup to verify, or pass --all.');
      const stores = await ctx.readStores(opts.storage as string | undefined);
      const config = await ctx.config();
      const catalog = await ctx.catalog();
      lowerPriority(config.nice);
      const unreachable = new Map<BackupStore, string>();
      const backups = await selectBackups(ctx, stores, args, opts, unreachable);
      const results: CopyVerdict[] = [];
      for (const backup of backups) {
        const verdicts = await verifyCopies({
          stores,
          backup,
          deep: Boolean(opts.deep),
          repair: Boolean(opts.repair),
          unreachable,
          keyring: await ctx.keyring(),
          tmpDir: config.tmpDir,
          onProgress: ctx.progress.update,
          signal: ctx.signal,
          onVerdict: (v, manifest) => printVerdict(ctx, catalog, v, manifest),
        });
        await recordRepairs(ctx, catalog, stores, verdicts);
        results.push(...verdicts);
      }
      const wal = opts.all ? await verifyShippedWal(ctx, stores, opts.source as string | undefined) : [];
      if (ctx.options.json) ctx.printJson([...results, ...wal]);
      else if (opts.all && backups.length > 0) ctx.print(`\n${verifyTable(backups, stores, results)}`);
      throwIfFailed(results, Boolean(opts.repair), wal);
    }),
  );
}

/** A backup to verify, by its ids. */
type BackupIds = { sourceId: string; backupId: string };

/**
 * The backups to verify: with `--all`, every backup any target lists (of `--source`, if given),
 * once each, by id; a target that cannot be listed goes into `unreachable` with why. Otherwise
 * the one backup the argument names.
 */
async function selectBackups(
  ctx: CommandContext,
  stores: readonly BackupStore[],
  args: string[],
  opts: Record<string, unknown>,
  unreachable: Map<BackupStore, string>,
): Promise<BackupIds[]> {
  if (!opts.all) {
    const { manifest } = await ctx.resolveBackup(args[0]!, opts);
    return [{ sourceId: manifest.source.id, backupId: manifest.id }];
  }
  const source = opts.source as string | undefined;
  const seen = new Map<string, BackupIds>();
  for (const store of stores) {
    try {
      for (const id of await listBackupIds(store, source, ctx.signal)) seen.set(`${id.sourceId}/${id.backupId}`, id);
    } catch (error) {
      if (!isTargetFailure(error)) throw error;
      unreachable.set(store, error.message);
    }
  }
  return [...seen.values()].sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
}

/**
 * `--all`: the shipped WAL of each continuous source (of `--source`, if given) on every target,
 * and of any other source that has some; one line per target as it comes, then each problem.
 */
async function verifyShippedWal(ctx: CommandContext, stores: readonly BackupStore[], sourceId: string | undefined): Promise<WalVerdict[]> {
  const config = await ctx.config();
  const policy = (await ctx.keyring()).policy;
  const verdicts: WalVerdict[] = [];
  for (const source of config.sources.filter((s) => sourceId === undefined || s.id === sourceId)) {
    const mine = await verifyWal({ stores, sourceId: source.id, policy, onProgress: ctx.progress.update, signal: ctx.signal });
    ctx.progress.done();
    if (!source.continuous && mine.every((v) => v.ok && v.generations === 0)) continue;
    for (const v of mine) {
      const counts = `${v.generations} generation(s), ${v.segments} segment(s), ${formatBytes(v.bytes)}`;
      if (v.ok) ctx.print(`ok     WAL of "${v.source}" in "${v.store}": ${counts} checked in ${formatSeconds(v.durationMs)}`);
      else ctx.print(`FAILED WAL of "${v.source}" in "${v.store}": ${counts}, ${v.problems.length} problem(s):`);
      for (const p of v.problems) ctx.print(`       ${p.error}`);
      for (const warning of v.warnings) ctx.print(`       WARNING: ${warning}`);
    }
    verdicts.push(...mine);
  }
  return verdicts;
}

/** Prints one copy's verdict as it comes, and records it in the local catalog: a good copy as verified, a bad one as bad. */
function printVerdict(ctx: CommandContext, catalog: Catalog, v: CopyVerdict, manifest: Manifest | undefined): void {
  ctx.progress.done();
  if (v.ok && manifest) {
    catalog.recordCopy(v.store, manifest, 'verified', new Date());
    const what = v.contents === false ? 'encrypted bytes checked (no identity here to check the entries inside)' : 'checked';
    ctx.print(
      `ok     ${v.id} in "${v.store}": ${v.entries} entr${v.entries === 1 ? 'y' : 'ies'}, ${formatBackupSizes(backupSizes(manifest))}, ${what}${v.deep ? ' and restored with integrity_check' : ''} in ${formatSeconds(v.durationMs ?? 0)}`,
    );
    for (const warning of v.warnings ?? []) ctx.print(`       WARNING: ${warning}`);
    return;
  }
  // Only bad content marks the copy bad: not an unreachable target, nor a key this host lacks.
  if (v.exitCode === ExitCode.integrity && !v.code?.startsWith('STORAGE_')) catalog.recordBadCopy(v.store, v.source, v.id, v.error!, new Date());
  ctx.print(`FAILED ${v.id} in "${v.store}": ${v.error}`);
}

/** `--repair`: records each repaired copy in the catalog as verified (with the manifest now in its target) and says where it came from. */
async function recordRepairs(ctx: CommandContext, catalog: Catalog, stores: readonly BackupStore[], verdicts: readonly CopyVerdict[]): Promise<void> {
  for (const v of verdicts.filter((r) => r.repairedFrom !== undefined)) {
    const manifest = await readManifest(
      stores.find((s) => s.name === v.store)!,
      v.source,
      v.id,
      ctx.signal,
    );
    catalog.recordCopy(v.store, manifest, 'verified', new Date());
    ctx.print(`repaired ${v.id} in "${v.store}" with the copy in "${v.repairedFrom}"`);
  }
}

/** Throws a VerifyFailedError if any copy failed and was not repaired, or a WAL object is bad or missing: the one error, or how many failed. */
function throwIfFailed(results: readonly CopyVerdict[], repair: boolean, wal: readonly WalVerdict[] = []): void {
  const failed = results.filter((r) => !r.ok && r.repairedFrom === undefined);
  const walProblems = wal.flatMap((v) => v.problems);
  if (failed.length === 0 && walProblems.length > 0) {
    throw new VerifyFailedError(
      walProblems.length === 1
        ? walProblems[0]!.error
        : `${walProblems.length} problems with shipped WAL objects (listed above); "botbackup replicate" copies what one target lacks from another.`,
      worstExitCode(walProblems.map((p) => p.exitCode)),
    );
  }
  if (failed.length === 0) return;
  // The worst failure decides: a bad copy (6) over a key that opens none (11) over an unreachable target (5).
  throw new VerifyFailedError(
    failed.length === 1
      ? failed[0]!.error!
      : `${failed.length} of ${results.length} copies failed verification (listed above)${repair ? '' : '; "botbackup verify --repair" replaces bad copies with good ones'}.`,
    worstExitCode([...failed.map((r) => r.exitCode ?? ExitCode.integrity), ...walProblems.map((p) => p.exitCode)]),
  );
}

/** One row per backup: each target's verdict on its copy, then the backup's (the worst of its copies, with the exit code it stands for). */
function verifyTable(backups: readonly { sourceId: string; backupId: string }[], stores: readonly BackupStore[], results: readonly CopyVerdict[]): string {
  const cell = (v: CopyVerdict | undefined) =>
    !v
      ? '-'
      : v.ok
        ? 'ok'
        : v.repairedFrom !== undefined
          ? 'repaired'
          : v.code === 'STORAGE_UNAVAILABLE'
            ? 'unreachable'
            : v.code === 'BACKUP_NOT_FOUND'
              ? 'missing'
              : 'FAILED';
  const rows = backups.map((b) => {
    const mine = results.filter((r) => r.id === b.backupId && r.source === b.sourceId);
    const bad = mine.filter((r) => !r.ok && r.repairedFrom === undefined);
    const worst = worstExitCode(bad.map((r) => r.exitCode ?? ExitCode.integrity));
    return [
      b.backupId,
      b.sourceId,
      ...stores.map((s) => cell(mine.find((r) => r.store === s.name))),
      bad.length === 0 ? 'ok' : `FAILED (exit ${worst}): ${bad.map((r) => r.code ?? '?').join(', ')}`,
    ];
  });
  return formatTable(['BACKUP', 'SOURCE', ...stores.map((s) => s.name.toUpperCase()), 'RESULT'], rows);
}
