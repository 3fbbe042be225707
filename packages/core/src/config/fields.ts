import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../duration.js';

// Field schemas shared by the config's sections.

export const slug = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name of letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit)');
export const relPath = z.string().min(1, 'a non-empty path');
export const duration = z.string().refine((v) => parseDuration(v) !== undefined, 'a duration such as "12h", "7d" or "2w"');

/**
 * A path in the config, made absolute against `dir` (the config file's folder): relative paths
 * mean the same wherever the command runs.
 */
export function pathIn(dir: string) {
  return relPath.transform((p) => path.resolve(dir, p));
}

/** Milliseconds of a duration the schema has already accepted (so it parses). */
export function ms(value: string): number {
  return parseDuration(value)!;
}

/** Why `zone` is not an IANA time zone, or undefined when it is (or is not set). */
export function timeZoneProblem(zone: string | undefined): string | undefined {
  // UTC (what init writes) is always valid: checking it would load ICU's time zone data, 50-90 ms
  // of every command's start-up, for a command that never works out a schedule.
  if (zone === undefined || zone === 'UTC') return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `is "${zone}", which is not an IANA time zone such as "UTC" or "Europe/Berlin"`;
  }
}
