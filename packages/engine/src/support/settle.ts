import { BotbackupError } from '@botbackup/core';

/**
 * Awaits every promise of a stream pipeline and its consumers, and when some fail, throws the
 * most telling error: a typed BotbackupError (disk full, checksum mismatch...) rather than the
 * "premature close" or AbortError that the failure caused in the streams around it.
 */
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length === 0) return;
  throw failures.find((e) => e instanceof BotbackupError) ?? failures[0];
}
