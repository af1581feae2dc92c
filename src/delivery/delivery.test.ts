import { afterEach, describe, expect, it, vi } from 'vitest';
import { isPublicAddress } from './egress.js';
import { backoffDelay, withRetries, type Sleep } from './retry.js';
import { DeliveryError, httpFailure, parseRetryAfter } from './errors.js';
import { DeltaTracker } from './delta.js';
import { Scheduler } from './scheduler.js';
import { CircuitBreaker } from './breaker.js';
import type { MetricBatch } from '../push/types.js';

describe('egress guard', () => {
  it.each([
    ['127.0.0.1', false], ['10.1.2.3', false], ['172.16.0.1', false], ['172.31.255.255', false], ['192.168.1.1', false],
    ['169.254.169.254', false], ['100.64.0.1', false], ['0.0.0.0', false], ['::1', false], ['::', false], ['fd00::1', false],
    ['fe80::1', false], ['::ffff:127.0.0.1', false], ['::ffff:169.254.169.254', false], ['::ffff:7f00:1', false], ['::ffff:a9fe:a9fe', false],
    ['8.8.8.8', true], ['172.32.0.1', true], ['100.128.0.1', true], ['2606:4700::1111', true], ['::ffff:8.8.8.8', true],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe('classification', () => {
  it('retries network errors, timeouts, 408, 429 and 5xx only', () => {
    for (const s of [408, 429, 500, 502, 503]) expect(httpFailure(s, 'u', '').retryable).toBe(true);
    for (const s of [400, 401, 403, 404, 413, 422]) expect(httpFailure(s, 'u', '').retryable).toBe(false);
    expect(httpFailure(401, 'http://x/v1/metrics', '').message).toContain('check the auth headers');
    expect(httpFailure(404, 'http://x/v1/metrics', '').message).toContain('check the endpoint');
  });

  it('reads Retry-After as seconds or a date, capped at 60 s', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('3600')).toBe(60_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(httpFailure(503, 'u', '', '7').retryAfterMs).toBe(7000);
    expect(httpFailure(400, 'u', '', '7').retryAfterMs).toBeUndefined();
  });
});

describe('withRetries', () => {
  const policy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };
  const recordingSleep = () => {
    const delays: number[] = [];
    const sleep: Sleep = async (ms) => {
      delays.push(ms);
    };
    return { delays, sleep };
  };

  it('resends until it works, with growing jittered delays', async () => {
    const { delays, sleep } = recordingSleep();
    let calls = 0;
    const out = await withRetries(async () => {
      if (++calls < 3) throw new DeliveryError('http_5xx', 'HTTP 503', true, 503);
      return 'ok';
    }, policy, new AbortController().signal, sleep);
    expect(out).toEqual({ value: 'ok', attempts: 3 });
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(500);
    expect(delays[0]).toBeLessThanOrEqual(1000);
    expect(delays[1]).toBeGreaterThanOrEqual(1000);
    expect(delays[1]).toBeLessThanOrEqual(2000);
  });

  it('gives up after 4 attempts, and at once on a permanent failure', async () => {
    const { delays, sleep } = recordingSleep();
    let calls = 0;
    const out = await withRetries(async () => {
      calls++;
      throw new DeliveryError('timeout', 'timeout', true);
    }, policy, new AbortController().signal, sleep);
    expect(calls).toBe(4);
    expect(out.attempts).toBe(4);
    expect(out.error?.reason).toBe('timeout');
    expect(delays).toHaveLength(3);
    calls = 0;
    const permanent = await withRetries(async () => {
      calls++;
      throw new DeliveryError('auth', '401', false, 401);
    }, policy, new AbortController().signal, sleep);
    expect(calls).toBe(1);
    expect(permanent.error?.statusCode).toBe(401);
  });

  it('waits what Retry-After says instead of the backoff', async () => {
    const { delays, sleep } = recordingSleep();
    let calls = 0;
    await withRetries(async () => {
      if (++calls === 1) throw new DeliveryError('http_429', '429', true, 429, 4000);
      return 1;
    }, policy, new AbortController().signal, sleep);
    expect(delays).toEqual([4000]);
  });

  it('keeps the backoff under its cap', () => {
    for (let i = 0; i < 10; i++) expect(backoffDelay(policy, i, () => 1)).toBeLessThanOrEqual(30_000);
    expect(backoffDelay(policy, 0, () => 0)).toBe(500);
  });
});

describe('DeltaTracker', () => {
  const batch = (timeMs: number, counter: number, buckets: number[]): MetricBatch => ({
    projectId: 'p', temporality: 'cumulative', startMs: 0, timeMs,
    metrics: [
      { name: 'c_total', description: '', unit: '', type: 'counter', keys: ['a'], points: [{ attributes: [['a', '1']], value: counter }] },
      { name: 'h_seconds', description: '', unit: 's', type: 'histogram', bounds: [1], keys: ['a'], points: [{ attributes: [], count: buckets[0] + buckets[1], sum: buckets[0] + 5 * buckets[1], bucketCounts: buckets }] },
      { name: 'g', description: '', unit: '', type: 'gauge', keys: ['a'], points: [{ attributes: [], value: 42 }] },
    ],
  });
  const values = (b: MetricBatch) => [
    (b.metrics[0].points[0] as { value: number }).value,
    Array.from((b.metrics[1].points[0] as { bucketCounts: ArrayLike<number> }).bucketCounts),
    (b.metrics[2].points[0] as { value: number }).value,
  ];

  it('sends what changed since the last success, and rolls a failed push into the next', () => {
    const d = new DeltaTracker(100);
    const first = d.prepare(batch(1000, 10, [2, 1]));
    expect(first.batch.startMs).toBe(100);
    expect(first.batch.temporality).toBe('delta');
    expect(values(first.batch)).toEqual([10, [2, 1], 42]);
    first.commit();
    const failed = d.prepare(batch(2000, 15, [3, 1]));
    expect(values(failed.batch)).toEqual([5, [1, 0], 42]);
    // not committed: the next push covers both intervals from the last success
    const next = d.prepare(batch(3000, 18, [3, 2]));
    expect(next.batch.startMs).toBe(1000);
    expect(values(next.batch)).toEqual([8, [1, 1], 42]);
    expect((next.batch.metrics[1].points[0] as { sum: number }).sum).toBe(6);
    next.commit();
    expect(d.prepare(batch(4000, 18, [3, 2])).batch.startMs).toBe(3000);
  });

  it('commits the counts as they were when prepared, over many pushes, and forgets a series the project removed', () => {
    const d = new DeltaTracker(0);
    const live = [1, 0];
    const b1 = batch(1000, 1, live);
    const p1 = d.prepare(b1);
    live[0] = 100; // the snapshot's arrays are live: what was sent is what counts
    p1.commit();
    const sent: unknown[] = [];
    for (let i = 2; i <= 5; i++) {
      const p = d.prepare(batch(i * 1000, i, [i, i - 1]));
      sent.push(values(p.batch).slice(0, 2));
      p.commit();
    }
    expect(sent).toEqual([[1, [1, 1]], [1, [1, 1]], [1, [1, 1]], [1, [1, 1]]]);
    const withoutCounter = (t: number): MetricBatch => ({ ...batch(t, 0, [5, 4]), metrics: batch(t, 0, [5, 4]).metrics.slice(1) });
    d.prepare(withoutCounter(6000)).commit();
    // Back after it was gone: a new series, all of it new.
    expect(values(d.prepare(batch(7000, 7, [5, 4])).batch)[0]).toBe(7);
  });

  it('treats a counter that went down as restarted', () => {
    const d = new DeltaTracker(0);
    d.prepare(batch(1000, 10, [1, 0])).commit();
    expect(values(d.prepare(batch(2000, 3, [0, 0])).batch)[0]).toBe(3);
  });
});

describe('Scheduler', () => {
  afterEach(() => vi.useRealTimers());

  it('spreads jobs over their interval and keeps a fixed period', async () => {
    vi.useFakeTimers({ now: 0 });
    const runs: Array<[string, number]> = [];
    let r = 0;
    const randoms = [0.25, 0.75];
    const s = new Scheduler({}, Date.now, () => randoms[r++ % 2]);
    for (const id of ['a', 'b']) s.upsert({ id, intervalMs: 1000, run: async (at) => void runs.push([id, at]) });
    await vi.advanceTimersByTimeAsync(3100);
    expect(runs).toEqual([['a', 250], ['b', 750], ['a', 1250], ['b', 1750], ['a', 2250], ['b', 2750]]);
    s.remove('a');
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs.slice(6)).toEqual([['b', 3750]]);
    s.stop();
  });

  it('skips a turn while the previous run is still going', async () => {
    vi.useFakeTimers({ now: 0 });
    const skipped: string[] = [];
    let release: () => void = () => {};
    let started = 0;
    const s = new Scheduler({ skipped: (id) => skipped.push(id) }, Date.now, () => 0);
    s.upsert({ id: 'slow', intervalMs: 100, run: () => { started++; return new Promise<void>((res) => { release = res; }); } });
    await vi.advanceTimersByTimeAsync(350);
    expect(started).toBe(1);
    expect(skipped.length).toBe(3);
    release();
    await vi.advanceTimersByTimeAsync(100);
    expect(started).toBe(2);
    s.stop();
  });
});

describe('CircuitBreaker', () => {
  it('opens after repeated failures and lets one probe through after the cool-down', () => {
    let now = 0;
    const b = new CircuitBreaker(3, 1000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(b.allow()).toBe(true);
      b.failure();
    }
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    now = 1000;
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false);
    b.failure();
    expect(b.state).toBe('open');
    now = 2500;
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBe(true);
  });
});
