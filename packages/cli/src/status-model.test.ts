import { describe, expect, it } from 'vitest';
import type { WorkerConnection } from './inspect.js';
import { configuredQueues, continuousStatus, workersStatus } from './status-model.js';

const configured = configuredQueues({ sources: [{ id: 'bot' }, { id: 'idle' }] as never });

const conn = (queue: string, name: string | null, addr: string, ageSeconds: number): WorkerConnection => ({ queue, name, addr, ageSeconds });

describe('workersStatus', () => {
  it('the configured queues: maintenance, then each source backup queue', () => {
    expect(configured).toEqual([
      { queue: 'maintenance', sourceId: null },
      { queue: 'backup.bot', sourceId: 'bot' },
      { queue: 'backup.idle', sourceId: 'idle' },
    ]);
  });

  it.each([
    {
      case: 'one process on two queues (a connection per queue, each from its own port) is one worker, connected as long as its newest connection',
      connections: [conn('maintenance', 'host-a:41', '10.0.0.5:50312', 3600), conn('backup.bot', 'host-a:41', '10.0.0.5:50318', 3590)],
      list: [
        {
          name: 'host-a:41',
          host: '10.0.0.5',
          queues: ['maintenance', 'backup.bot'],
          connectedForMs: 3_590_000,
          connections: [
            { queue: 'maintenance', addr: '10.0.0.5:50312', ageMs: 3_600_000 },
            { queue: 'backup.bot', addr: '10.0.0.5:50318', ageMs: 3_590_000 },
          ],
        },
      ],
      unserved: ['backup.idle'],
    },
    {
      case: 'the same name on two hosts is two workers; sorted by name, unnamed first',
      connections: [conn('maintenance', 'worker', '10.0.0.7:1', 5), conn('maintenance', 'worker', '10.0.0.6:1', 9), conn('backup.bot', null, '[::1]:7', 2)],
      list: [
        { name: null, host: '[::1]', queues: ['backup.bot'], connectedForMs: 2000 },
        { name: 'worker', host: '10.0.0.6', queues: ['maintenance'], connectedForMs: 9000 },
        { name: 'worker', host: '10.0.0.7', queues: ['maintenance'], connectedForMs: 5000 },
      ],
      unserved: ['backup.idle'],
    },
    {
      case: 'a worker of a queue the config does not have is listed; every configured queue is unserved',
      connections: [conn('backup.gone', 'old', '10.0.0.9:3', 60)],
      list: [{ name: 'old', queues: ['backup.gone'] }],
      unserved: ['maintenance', 'backup.bot', 'backup.idle'],
    },
    { case: 'no worker at all', connections: [], list: [], unserved: ['maintenance', 'backup.bot', 'backup.idle'] },
  ])('$case', ({ connections, list, unserved }) => {
    const status = workersStatus({ connections }, configured);
    expect(status.error).toBeNull();
    expect(status.list).toHaveLength(list.length);
    list.forEach((w, i) => expect(status.list![i]).toMatchObject(w));
    expect(status.unserved!.map((q) => q.queue)).toEqual(unserved);
  });

  it('workers that cannot be listed: the reason, and no list nor unserved queues (unknown, not "none")', () => {
    expect(workersStatus({ error: 'the Redis user may not run CLIENT LIST' }, configured)).toEqual({
      error: 'the Redis user may not run CLIENT LIST',
      list: null,
      unserved: null,
    });
  });
});

describe('continuousStatus', () => {
  const source = { id: 'bot', continuous: { alertAfterMs: 60_000 }, databases: [{ name: 'trades', path: '/bot/trades.db' }] } as never;
  const G = '20261207T120000Z-abcdef';
  const T = Date.UTC(2026, 11, 7, 12, 0, 10);
  const name = (seq: number) => ({ seq, salt: [7, 8] as [number, number], firstFrame: seq * 10 - 9, lastFrame: seq * 10, lastCommitAt: T + seq * 1000 });
  const listing = (...seqs: number[]) => ({
    generations: [{ id: G, hasRecord: true, databases: new Map([['trades', seqs.map((seq) => ({ name: name(seq), size: 1000 }))]]) }],
  });

  it('a source that is not continuous: null', () => {
    expect(continuousStatus({ ...(source as object), continuous: undefined } as never, { listings: [], unreachable: [], wal: {} }, T)).toBeNull();
  });

  it.each([
    {
      case: 'a quiet bot: the WAL-index holds nothing past the newest segment, an hour later',
      read: { listings: [listing(1, 2)], wal: { trades: { salt: [7, 8] as [number, number], maxFrame: 20 } } },
      now: T + 3_600_000,
      expected: { state: 'shipped', unshipped: false, warning: null },
    },
    {
      case: 'frames past the newest segment, whose commit is older than the bound',
      read: { listings: [listing(1, 2)], wal: { trades: { salt: [7, 8] as [number, number], maxFrame: 25 } } },
      now: T + 120_000,
      expected: { state: 'behind', unshipped: true, warning: expect.stringMatching(/^committed frames wait unshipped .*\(1m\)/) as unknown },
    },
    {
      case: 'the database not readable here, the newest commit old: cannot tell',
      read: { listings: [listing(1, 2)], wal: {} },
      now: T + 120_000,
      expected: { state: 'old', unshipped: null, warning: expect.stringContaining('cannot read the database') as unknown },
    },
    {
      case: 'a gap, within the bound',
      read: { listings: [listing(1, 3)], wal: {} },
      now: T + 4000,
      expected: { state: 'recent', warning: 'segment 2 of the newest generation is missing from every target: restore --at cannot go past it' },
    },
    {
      case: 'a generation begun, nothing committed since: no warning',
      read: { listings: [listing()], wal: { trades: { salt: [0, 0] as [number, number], maxFrame: 0 } } },
      now: T,
      expected: { state: 'none', newestShippedCommit: null, warning: null },
    },
    {
      case: 'nothing stored, the database not readable here',
      read: { listings: [{ generations: [] }], wal: {} },
      now: T,
      expected: { state: 'none', generation: null, warning: expect.stringContaining('nothing shipped yet') as unknown },
    },
  ])('$case', ({ read, now, expected }) => {
    const status = continuousStatus(source, { unreachable: [], ...read }, now)!;
    expect(status.error).toBeNull();
    expect(status.databases).toHaveLength(1);
    expect(status.databases[0]).toMatchObject(expected);
  });

  it('no target listed: the error, and no state claimed', () => {
    const status = continuousStatus(source, { listings: [], unreachable: [{ target: 'local', error: 'EACCES' }], wal: {} }, T)!;
    expect(status.error).toBe('EACCES');
    expect(status.databases[0]).toMatchObject({ state: 'none', warning: null });
  });
});
