import { Command, CommanderError } from 'commander';
import { AbortedError, BotbackupError, ExitCode, exitCodeFor } from '@botbackup/core';
import { TOOL_VERSION } from '@botbackup/engine';
import { backupCommand } from './commands/backup.js';
import { catalogCommand } from './commands/catalog.js';
import { dashboardCommand } from './commands/dashboard.js';
import { diffCommand } from './commands/diff.js';
import { drillCommand } from './commands/drill.js';
import { healthCommand } from './commands/health.js';
import { historyCommand } from './commands/history.js';
import { jobsCommand } from './commands/jobs.js';
import { initCommand } from './commands/init.js';
import { keygenCommand } from './commands/keygen.js';
import { recoverCommand } from './commands/recover.js';
import { listCommand } from './commands/list.js';
import { pruneCommand } from './commands/prune.js';
import { replicateCommand } from './commands/replicate.js';
import { restoreCommand } from './commands/restore.js';
import { runCommand } from './commands/run.js';
import { workerCommand } from './commands/worker.js';
import { schedulerCommand } from './commands/scheduler.js';
import { streamCommand } from './commands/stream.js';
import { showCommand } from './commands/show.js';
import { statusCommand } from './commands/status.js';
import { verifyCommand } from './commands/verify.js';
import type { WrapAction } from './command.js';
import { CommandContext, type GlobalOptions } from './context.js';
import { interruptLine } from './interrupt-lines.js';
import { throwUsageErrors, usageErrorLine } from './usage-errors.js';

/** Every command, in the order `--help` lists them. */
const COMMANDS: ((wrap: WrapAction) => Command)[] = [
  backupCommand,
  restoreCommand,
  recoverCommand,
  listCommand,
  showCommand,
  verifyCommand,
  drillCommand,
  replicateCommand,
  pruneCommand,
  initCommand,
  keygenCommand,
  catalogCommand,
  workerCommand,
  runCommand,
  dashboardCommand,
  statusCommand,
  jobsCommand,
  healthCommand,
  historyCommand,
  diffCommand,
  schedulerCommand,
  streamCommand,
];

/**
 * Runs the `botbackup` command line and returns the exit code (docs/cli.md lists them).
 * Errors end as one sentence on stderr; a stack trace only with --debug. An interrupt ends as
 * one line saying what was kept, and exit 130.
 */
export async function main(argv: string[]): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new AbortedError('Interrupted.'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let context: CommandContext | undefined;
  const wrap: WrapAction =
    (action) =>
    async (...params: unknown[]): Promise<void> => {
      const cmd = params.at(-1) as Command;
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const opts = cmd.opts();
      context = new CommandContext(globals, abort.signal, cmd.name());
      context.interruptLine = interruptLine(cmd.name(), opts);
      // Before the command does anything: an unknown --source is one error, the same for every command.
      if (opts.source !== undefined) await context.checkSources(opts.source as string | string[]);
      await action(context, cmd.args, opts);
    };

  const program = withGlobalOptions(
    new Command('botbackup').description('Backups for trading bots: consistent SQLite snapshots, settings and keys.').version(TOOL_VERSION),
  );
  for (const make of COMMANDS) program.addCommand(make(wrap));
  const usage = throwUsageErrors(program);

  try {
    await program.parseAsync(argv, { from: 'user' });
    // Work that was done when the interrupt came is kept: the command's line says so, as for any interrupt.
    if (abort.signal.aborted && context?.interruptLine !== undefined) return interrupted(context.interruptLine);
    return context?.exitCode ?? ExitCode.ok;
  } catch (error) {
    context?.progress.done();
    if (error instanceof CommanderError) {
      // Help and version exit 0. Without a command, commander printed the help on stderr.
      if (error.exitCode === 0) return ExitCode.ok;
      process.stderr.write(error.code === 'commander.help' ? 'botbackup: name a command (listed above).\n' : `${usageErrorLine(error, usage.failedCommand)}\n`);
      return ExitCode.usage;
    }
    if (abort.signal.aborted && context?.interruptLine !== undefined) {
      // Whatever the engine threw once aborted, what matters is what was kept; a command that
      // knows better threw its own AbortedError (following a queued job: it goes on in the worker).
      return interrupted(error instanceof AbortedError && error !== abort.signal.reason ? error.message : context.interruptLine);
    }
    const reported = abort.signal.aborted && !(error instanceof BotbackupError) ? abort.signal.reason : error;
    const code = exitCodeFor(reported);
    const message =
      reported instanceof BotbackupError
        ? reported.message
        : `Internal error: ${(reported as Error)?.message ?? String(reported)} (run again with --debug and report it).`;
    process.stderr.write(`botbackup: ${message}\n`);
    if (context?.options.debug || process.env.BOTBACKUP_DEBUG) process.stderr.write(`${(reported as Error)?.stack ?? ''}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Prints the one line of an interrupted command and returns its exit code (130). */
function interrupted(line: string): number {
  process.stderr.write(`botbackup: ${line}\n`);
  return ExitCode.aborted;
}

/** The options every command accepts (GlobalOptions), wherever they come on the command line. */
function withGlobalOptions(program: Command): Command {
  return program
    .option('-c, --config <file>', 'config file (default: $BOTBACKUP_CONFIG, else ./botbackup.yaml)')
    .option('--json', 'machine-readable output on stdout')
    .option('-q, --quiet', 'no progress and no informational output')
    .option('-v, --verbose', 'also informational logs (default: only warnings and errors; the services log at info)')
    .option('--debug', 'debug logs and stack traces')
    .option('--log-file <file>', 'also append the logs, at info (--debug: debug), to this file as JSON lines (also $BOTBACKUP_LOG_FILE)')
    .option(
      '--identity <file>',
      'age identity file that opens encrypted backups (repeatable; also $BOTBACKUP_IDENTITY_FILE)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--insecure', 'accept backups that are unsigned or signed by a key signing.trusted does not list (with a warning)');
}
