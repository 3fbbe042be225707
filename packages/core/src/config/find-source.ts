import { UsageError } from '../errors.js';
import type { Config, SourceConfig } from './schema.js';

/**
 * The source of `config` with this id. Every `--source` of every command is looked up here, so
 * that an unknown one is the same error everywhere: a usage error (exit 2) naming the config
 * file and the sources it has. Backups of a source no longer in the config are still found by
 * their id.
 */
export function findSource(config: Config, id: string): SourceConfig {
  const source = config.sources.find((s) => s.id === id);
  if (!source) throw new UsageError(`${config.file} has no source "${id}"; it has ${config.sources.map((s) => s.id).join(', ')}.`);
  return source;
}
