import { UsageError } from '@botbackup/core';

/** A TCP port given on the command line (`option` names it in the error): 0 to 65535, 0 for any free one. */
export function parsePortOption(value: unknown, option: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(String(value)) || port > 65535) throw new UsageError(`${option} must be a TCP port (0 to 65535), not "${String(value)}".`);
  return port;
}
