import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '@botbackup/engine';
import { createStreamMetrics } from './worker-metrics.js';

/** The value of the one sample `series` (name and labels, exactly as prom-client writes them) in the registry's text; undefined when absent. */
async function valueOf(registry: Registry, series: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const LAST = 'botbackup_stream_last_shipped_commit_timestamp_seconds{source="bot",database="trades"}';
const UNSHIPPED = 'botbackup_stream_unshipped_seconds{source="bot",database="trades"}';
const UNSHIPPED_ORDERS = 'botbackup_stream_unshipped_seconds{source="bot",database="orders"}';
const SEGMENTS = 'botbackup_stream_segments_total{source="bot",database="trades"}';

function shipped(database: string, seq: number, lastCommitAt: number): StreamEvent {
  return { type: 'shipped', database, generation: 'g', seq, frames: 3, commits: 2, lastCommitAt, failed: [] };
}

describe('the stream series of the worker metrics, fed by stream events', () => {
  it('a tracked source has its series at 0 before its first segment, and no shipped time yet', async () => {
    const registry = new Registry();
    const metrics = createStreamMetrics(registry);
    metrics.track({ id: 'bot', databases: ['trades', 'orders'], alertAfterMs: 60_000 });
    expect(await valueOf(registry, SEGMENTS)).toBe(0);
    expect(await valueOf(registry, UNSHIPPED)).toBe(0);
    expect(await valueOf(registry, UNSHIPPED_ORDERS)).toBe(0);
    expect(await valueOf(registry, LAST)).toBeUndefined();
  });

  it('counts segments and keeps the newest shipped commit time, per database', async () => {
    const registry = new Registry();
    const metrics = createStreamMetrics(registry);
    metrics.track({ id: 'bot', databases: ['trades'], alertAfterMs: 60_000 });
    metrics.record('bot', shipped('trades', 1, 1_765_126_800_123));
    metrics.record('bot', shipped('trades', 2, 1_765_126_801_456));
    metrics.record('bot', shipped('orders', 1, 1_765_126_801_000));
    metrics.record('bot', { type: 'caught-up', store: 's3', objects: 2 });
    expect(await valueOf(registry, SEGMENTS)).toBe(2);
    expect(await valueOf(registry, LAST)).toBe(1_765_126_801.456);
    expect(await valueOf(registry, 'botbackup_stream_segments_total{source="bot",database="orders"}')).toBe(1);
  });

  it('after the alert, the unshipped gauge is the wait of the oldest commit (the bound and the time since), until the database ships again', async () => {
    const registry = new Registry();
    const metrics = createStreamMetrics(registry);
    metrics.track({ id: 'bot', databases: ['trades', 'orders'], alertAfterMs: 60_000 });
    metrics.record('bot', shipped('trades', 1, Date.now() - 120_000));
    expect(await valueOf(registry, UNSHIPPED)).toBe(0);
    // The alert came 5 s ago: the oldest unshipped commit has waited the bound and those 5 s.
    metrics.record('bot', { type: 'alert', message: 'commits to "trades" have waited 1m unshipped' }, Date.now() - 5_000);
    const waited = (await valueOf(registry, UNSHIPPED))!;
    expect(waited).toBeGreaterThanOrEqual(65);
    expect(waited).toBeLessThan(70);
    // One database ships again: its gauge is 0; the other's still counts until it ships or the streamer recovers.
    metrics.record('bot', shipped('trades', 2, Date.now()));
    expect(await valueOf(registry, UNSHIPPED)).toBe(0);
    expect(await valueOf(registry, UNSHIPPED_ORDERS)).toBeGreaterThanOrEqual(65);
    metrics.record('bot', { type: 'recovered', message: 'shipping again' });
    expect(await valueOf(registry, UNSHIPPED_ORDERS)).toBe(0);
  });

  it('keeps sources apart', async () => {
    const registry = new Registry();
    const metrics = createStreamMetrics(registry);
    metrics.track({ id: 'bot', databases: ['trades'], alertAfterMs: 1000 });
    metrics.track({ id: 'spot', databases: ['trades'], alertAfterMs: 1000 });
    metrics.record('spot', { type: 'alert', message: 'x' });
    expect(await valueOf(registry, UNSHIPPED)).toBe(0);
    expect(await valueOf(registry, 'botbackup_stream_unshipped_seconds{source="spot",database="trades"}')).toBeGreaterThanOrEqual(1);
  });
});
