/**
 * What an interrupt (Ctrl-C, SIGTERM) leaves behind, in the one line `botbackup:` prints with
 * exit 130, for each command before it reaches its commit point. Each line holds for every
 * moment up to that point because of how the engine stops: a backup writes its manifest last
 * and removes what it wrote when it is aborted; a restore or recover renames nothing before its
 * journal is written, and removes its staging folder (and a target folder it made) when aborted;
 * prune deletes a backup manifest first; a copy made by replicate or verify --repair appears
 * only once complete. Commands that pass a commit point say so themselves
 * (`CommandContext.interruptLine`).
 *
 * Undefined for the services (worker, stream, dashboard, scheduler): SIGINT and SIGTERM are how they
 * are stopped, and they end as usual.
 */
export function interruptLine(command: string, opts: Record<string, unknown>): string | undefined {
  switch (command) {
    case 'worker':
    case 'stream':
    case 'dashboard':
    case 'scheduler':
      return undefined;
    case 'backup':
      return opts.queue ? NO_JOB : 'Interrupted; no backup was committed, and what it had uploaded was removed.';
    case 'drill':
      return opts.queue ? NO_JOB : 'Interrupted; nothing was changed and no drill was recorded.';
    case 'run':
      return NO_JOB;
    case 'restore':
      return `Interrupted; nothing was restored: ${String(opts.target)} is as it was.`;
    case 'recover':
      return "Interrupted; nothing was recovered: the source's files are as they were.";
    case 'prune':
      return opts.dryRun
        ? 'Interrupted; nothing was changed.'
        : 'Interrupted; the backups already deleted are gone and every other backup is kept whole (the next prune removes any leftover objects).';
    case 'replicate':
      return 'Interrupted; the copies already made are kept and no partial copy is visible (the next replicate removes its leftovers).';
    case 'verify':
      return opts.repair ? 'Interrupted; the copies already repaired are kept and no partial copy is visible.' : 'Interrupted; nothing was changed.';
    case 'rebuild':
      return 'Interrupted; the backups were not touched; run "botbackup catalog rebuild" again to complete the local catalog.';
    case 'init':
    case 'keygen':
      // Neither looks at the signal: a file they write is written whole.
      return 'Interrupted; any file it wrote is complete.';
    default:
      return 'Interrupted; nothing was changed.';
  }
}

const NO_JOB = 'Interrupted; no job was queued.';
