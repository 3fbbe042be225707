import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseConfig, type Config } from '@botbackup/core';

/**
 * Reads, parses and validates a config file, then checks what only the filesystem can tell:
 * every source root is an existing folder. Errors name the file and the field.
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
  const config = parseConfig(text, { file, env });
  for (const [i, source] of config.sources.entries()) {
    const stat = await fs.stat(source.root).catch(() => undefined);
    if (!stat?.isDirectory()) throw new ConfigError(file, `sources[${i}].root`, `points to ${source.root}, which is not an existing folder`);
  }
  return config;
}
