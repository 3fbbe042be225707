import type { CommandContext } from './context.js';

/**
 * What a command module and main.ts share. It lives apart from main.ts because main.ts imports
 * every command: a command importing main.ts back made each of them a cycle with it.
 */

/** A command's body: gets its context, its positional arguments and its own options. */
export type CommandAction = (ctx: CommandContext, args: string[], options: Record<string, unknown>) => Promise<void>;

/** Turns a command's body into a commander action: main.ts builds the context and reports errors. */
export type WrapAction = (action: CommandAction) => (...args: unknown[]) => Promise<void>;
