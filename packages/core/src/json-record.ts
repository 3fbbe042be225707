/**
 * Reading back records that another process (or another version) wrote as JSON, such as those
 * kept in Redis: each parser keeps the fields it knows and checks their types with these, and
 * treats anything else as no record rather than show it wrong.
 */

/** The JSON object `text` holds, or undefined when it is not JSON or not an object. */
export function parseJsonRecord(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export const isString = (v: unknown): v is string => typeof v === 'string';

export const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
