import { describe, expect, it } from 'vitest';
import type { WorkerConnection } from './inspect.js';
import { configuredQueues, workersStatus } from './status-model.js';

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
