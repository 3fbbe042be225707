import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { describeIssue, formatFieldPath } from './issues.js';
import { configSchema, type Config } from './schema.js';
import { yamlSyntaxError } from './yaml-error.js';

export interface ParseConfigOptions {
  /** Path of the file, used in messages and to resolve relative paths. */
  file: string;
  /** Environment for `${VAR}` references. */
  env: Record<string, string | undefined>;
}

/**
 * Parses and validates a config file's text (YAML, of which JSON is a subset). Pure: the caller
 * reads the file. Throws a {@link ConfigError} naming the file, the field and what was expected.
 */
export function parseConfig(text: string, options: ParseConfigOptions): Config {
  const { file } = options;
  const document = resolveEnv(readDocument(text, file), options.env, file, []);
  const result = schemaFor(file).safeParse(document);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ConfigError(file, formatFieldPath(issue.path), describeIssue(issue, document));
}

// Building a schema and its first parse (zod compiles it then) cost as much again as a parse:
// keep the last file's, as a process reads one config again and again (every command of a
// test, a worker's jobs).
let last: { file: string; schema: ReturnType<typeof configSchema> } | undefined;
function schemaFor(file: string): ReturnType<typeof configSchema> {
  if (last?.file !== file) last = { file, schema: configSchema(file) };
  return last.schema;
}

/** The YAML or JSON document of `text`; an empty one is an error, as is text that is not YAML (named by line and column). */
function readDocument(text: string, file: string): unknown {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw yamlSyntaxError(error, text, file);
  }
  if (raw === null || raw === undefined) throw new ConfigError(file, undefined, 'is empty; run "botbackup init <bot-dir>" to write a starter config');
  return raw;
}

/** Replaces `${VAR}` in every string; an unset variable is an error naming the field. */
function resolveEnv(value: unknown, env: ParseConfigOptions['env'], file: string, at: PropertyKey[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(file, formatFieldPath(at), `refers to the environment variable ${name}, which is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnv(item, env, file, [...at, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnv(v, env, file, [...at, k])]));
  }
  return value;
}
