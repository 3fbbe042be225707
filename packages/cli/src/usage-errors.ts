import type { Command, CommanderError } from 'commander';

/**
 * Commander's own usage errors (unknown option, missing argument, bad choice...) in botbackup's
 * one-line form: commander prints nothing itself, and {@link usageErrorLine} turns the error it
 * throws (through exitOverride) into `botbackup: <what>; see "botbackup <command> --help".`
 */
export interface UsageErrors {
  /** The command whose parse failed last (commander's error does not say which). */
  readonly failedCommand: Command | undefined;
}

/**
 * Makes `program` and every command under it throw its usage errors instead of printing them
 * (exitOverride, and an outputError that only notes which command failed), keeping help and
 * version output as commander writes them. Call it once every command is added: commands added
 * with addCommand do not inherit these settings.
 */
export function throwUsageErrors(program: Command): UsageErrors {
  const state: { failedCommand: Command | undefined } = { failedCommand: undefined };
  const visit = (command: Command): void => {
    command.exitOverride().configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: () => {
        state.failedCommand = command;
      },
    });
    for (const sub of command.commands) visit(sub);
  };
  visit(program);
  return state;
}

/**
 * The line for a usage error commander threw while parsing `command`: its message made one
 * sentence (commander's "error: " prefix dropped, a suggestion kept), naming the command, with
 * the help to read.
 */
export function usageErrorLine(error: CommanderError, command: Command | undefined): string {
  const names: string[] = [];
  for (let c = command; c; c = c.parent ?? undefined) names.unshift(c.name());
  const full = names.length > 0 ? names.join(' ') : 'botbackup';
  const sub = names.slice(1).join(' ');
  const [first = '', ...rest] = error.message
    .replace(/^error: /, '')
    .trim()
    .split('\n');
  // Commander's messages end with a period, and some are two sentences ("... Expected 0 arguments but got 1.").
  let what = first.replace(/\.$/, '').replace(/\. ([A-Z])/g, (_, c: string) => `; ${c.toLowerCase()}`);
  // Commander says which command only for too many arguments; the others get it here.
  if (
    sub !== '' &&
    (error.code === 'commander.unknownOption' || error.code === 'commander.missingArgument' || error.code === 'commander.missingMandatoryOptionValue')
  ) {
    what += ` for "${sub}"`;
  }
  const suggestion = /^\(Did you mean (.+)\?\)$/.exec(rest.join(' ').trim())?.[1];
  if (suggestion !== undefined) what += ` (did you mean ${suggestion}?)`;
  return `botbackup: ${what}; see "${full} --help".`;
}
