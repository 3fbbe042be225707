import type { z } from 'zod';

/**
 * A config that matches the schema but does not make sense as a whole (a repeated id, a
 * schedule for a source that is not configured...): the field, and what is wrong with it as
 * the message states it.
 */
export interface Problem {
  path: (string | number)[];
  message: string;
}

/**
 * Adds a problem to a schema's issues, marked so {@link describeIssue} gives its message as is
 * (the schema's own messages say what was expected, these say what was found).
 */
export function problemIssue(problem: Problem, input: unknown): z.core.$ZodRawIssue {
  return { code: 'custom', path: problem.path, message: problem.message, input, params: { problem: true } };
}

/** Formats a schema path as `sources[0].databases[1].path`. */
export function formatFieldPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(top level)';
}

/** What is wrong with the field of `issue`, as the end of "field "x" ..."; `root` is the parsed document. */
export function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `has unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; check the spelling against docs/configuration.md`;
    case 'invalid_type': {
      const actual = valueAt(root, issue.path);
      if (actual === undefined) return `is missing; expected ${issue.expected}`;
      // Never quote what may be a secret, even a mistyped one.
      const secret = /pass|secret|token|key|header/i.test(issue.path.map(String).join('.'));
      return `must be ${article(issue.expected)}, not ${secret ? (Array.isArray(actual) ? 'a list' : typeof actual) : describeValue(actual)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return `is not a valid entry; "type" must be one of: local, s3`;
    case 'custom':
      if (issue.params?.['problem'] === true) return issue.message;
      return mustBe(issue);
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    default:
      return mustBe(issue);
  }
}

function mustBe(issue: z.core.$ZodIssue): string {
  return `must be ${issue.message.replace(/^(Invalid input: expected |Too small: expected |Too big: expected )/, '')}`;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(root: unknown, parts: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}
