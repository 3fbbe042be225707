import { describe, expect, it } from 'vitest';
import { parseDrillRecord } from './drills.js';

const record = {
  sourceId: 'bot',
  backupId: '20261126T020001.120Z-a8d0k2mzq1',
  store: 'local',
  at: '2026-11-26T09:00:00.000Z',
  ok: true,
  restoreMs: 4210,
  dataAgeMs: 93_600_000,
  read: ['20261126T020001.120Z-a8d0k2mzq1'],
  checks: [{ name: 'trades', ok: true, detail: '1204' }],
};

describe('parseDrillRecord', () => {
  it('keeps the known fields of a record, error and code included', () => {
    expect(parseDrillRecord(JSON.stringify(record))).toEqual(record);
    const failed = { ...record, ok: false, error: 'the restore failed', code: 'E_X', extra: 'dropped' };
    expect(parseDrillRecord(JSON.stringify(failed))).toEqual({ ...record, ok: false, error: 'the restore failed', code: 'E_X' });
  });

  it("keeps a continuous source's shipped WAL applied, and drops a malformed one", () => {
    const wal = { segments: 12, commits: 1180, lastCommitAt: '2026-11-26T08:59:59.120Z' };
    expect(parseDrillRecord(JSON.stringify({ ...record, wal }))).toEqual({ ...record, wal });
    expect(parseDrillRecord(JSON.stringify({ ...record, wal: { segments: '12', commits: 1 } }))).toEqual(record);
  });

  it('defaults missing lists, and drops malformed checks', () => {
    const { read: _read, checks: _checks, ...bare } = record;
    expect(parseDrillRecord(JSON.stringify(bare))).toEqual({ ...bare, read: [], checks: [] });
    const odd = { ...record, read: ['a', 1], checks: [null, { name: 'x' }, { name: 'y', ok: false }] };
    expect(parseDrillRecord(JSON.stringify(odd))).toMatchObject({ read: ['a'], checks: [{ name: 'y', ok: false, detail: '' }] });
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '42'],
    ['null', 'null'],
    ['no time', JSON.stringify({ ...record, at: 'yesterday' })],
    ['ok not a boolean', JSON.stringify({ ...record, ok: 'yes' })],
    ['no restore time', JSON.stringify({ ...record, restoreMs: null })],
    ['no store', JSON.stringify({ ...record, store: undefined })],
  ])('is undefined for %s', (_name, text) => {
    expect(parseDrillRecord(text)).toBeUndefined();
  });
});
