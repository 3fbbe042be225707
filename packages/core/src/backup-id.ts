const ID_PATTERN = /^(\d{8}T\d{6}\.\d{3}Z)-([0-9a-z]{10})$/;
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Builds a backup id: the UTC creation time to the millisecond, then 10 random base-36
 * characters (about 51 bits), e.g. `20261126T062717.123Z-k3j9x2m0qa`. Ids sort by time as
 * plain strings, and two backups in the same millisecond on two hosts collide with a
 * probability of about 1 in 2^51. Pure: the caller passes the clock and the random bytes.
 */
export function createBackupId(createdAt: Date, random: Uint8Array): string {
  if (random.length < 10) throw new RangeError('createBackupId needs at least 10 random bytes');
  const stamp = createdAt.toISOString().replace(/[-:]/g, '');
  let suffix = '';
  for (let i = 0; i < 10; i++) suffix += ALPHABET[random[i]! % 36];
  return `${stamp}-${suffix}`;
}

/** True when `text` has the shape of a backup id. */
export function isBackupId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/** The creation time encoded in a backup id. */
export function backupIdTime(id: string): Date {
  const match = ID_PATTERN.exec(id);
  if (!match) throw new RangeError(`not a backup id: ${id}`);
  const s = match[1]!;
  return new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13)}`);
}
