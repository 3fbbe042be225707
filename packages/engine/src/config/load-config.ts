import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseConfig, type Config } from '@botbackup/core';

/**
 * Reads, parses and validates a config file. Errors name the file and the field. Source roots
 * are not checked here: most commands (and the scheduler, the dashboard and maintenance workers,
 * which run where the bots' files are not) never read them; what reads a source checks its root
 * with {@link checkSourceRoots}.
 */
export async function loadConfig(file: string, env: Record<string, string | undefined> = process.env): Promise<Config> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await fs.readFile(abs, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ConfigError(file, undefined, 'does not exist; pass --config <file>, set BOTBACKUP_CONFIG, or create one with "botbackup init <bot-dir>"', {
        cause: error,
      });
    throw new ConfigError(file, undefined, `cannot be read (${code ?? (error as Error).message})`, { cause: error });
  }
  return parseConfig(text, { file, env });
}

/** Checks that the roots of these sources (by id) are existing folders; a ConfigError names the field of the first that is not. */
export async function checkSourceRoots(config: Config, sourceIds: readonly string[]): Promise<void> {
  for (const [i, source] of config.sources.entries()) {
    if (!sourceIds.includes(source.id)) continue;
    const stat = await fs.stat(source.root).catch(() => undefined);
    if (!stat?.isDirectory()) throw new ConfigError(config.file, `sources[${i}].root`, `points to ${source.root}, which is not an existing folder`);
  }
}
