import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backupIdTime, createBackupId, isBackupId } from './backup-id.js';

describe('backup ids', () => {
  it('encode the time to the millisecond and parse back', () => {
    const at = new Date('2026-11-26T06:27:17.123Z');
    const id = createBackupId(at, randomBytes(10));
    expect(id).toMatch(/^20261126T062717\.123Z-[0-9a-z]{10}$/);
    expect(isBackupId(id)).toBe(true);
    expect(backupIdTime(id).toISOString()).toBe(at.toISOString());
  });

  it('sort by time as strings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e12 }), fc.integer({ min: 1, max: 1e9 }), (t, dt) => {
        const a = createBackupId(new Date(t), randomBytes(10));
        const b = createBackupId(new Date(t + dt), randomBytes(10));
        return a < b;
      }),
    );
  });

  it('do not collide for many backups in the same millisecond', () => {
    const at = new Date();
    const ids = new Set(Array.from({ length: 100_000 }, () => createBackupId(at, randomBytes(10))));
    expect(ids.size).toBe(100_000);
  });
});
