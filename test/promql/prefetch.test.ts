/**
 * The query side's storage seam: a store that answers only asynchronously (as one across the
 * network does) serves every kind of selector, the engine asks it once per selector with the
 * window and hints it will read, and an aborted fetch stops the query.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/promql/index.js';
import { selectorFetches } from '../../src/promql/prefetch.js';
import { parseExpr } from '../../src/promql/parser.js';
import type { AsyncQuerier, LabelMatcher, Querier, Queryable, SelectHints, SeriesSamples } from '../../src/core/queryable.js';
import type { Labels } from '../../src/core/labels.js';

const MIN = 60_000;

/** Series of `counter_total` (two jobs) rising by 60 a minute, and `gauge` at 5, one sample a minute. */
function data(): Array<{ labels: Labels; ts: number[]; vs: number[] }> {
  const ts = Array.from({ length: 61 }, (_, i) => i * MIN);
  return [
    { labels: { __name__: 'counter_total', job: 'a' }, ts, vs: ts.map((t) => t / 1000) },
    { labels: { __name__: 'counter_total', job: 'b' }, ts, vs: ts.map((t) => (2 * t) / 1000) },
    { labels: { __name__: 'gauge', job: 'a' }, ts, vs: ts.map(() => 5) },
  ];
}

function matches(l: Labels, ms: readonly LabelMatcher[]): boolean {
  return ms.every((m) => (m.type === '=' ? (l[m.name] ?? '') === m.value : m.type === '!=' ? (l[m.name] ?? '') !== m.value : new RegExp(`^(?:${m.value})$`).test(l[m.name] ?? '') === (m.type === '=~')));
}

/** A remote-like store: answers after a timer, never synchronously. */
function remote(calls: SelectHints[]): Queryable {
  const rows = data();
  const asyncQuerier: AsyncQuerier = {
    async select(ms, hints, signal) {
      calls.push(hints);
      await new Promise((r) => setTimeout(r, 5));
      if (signal.aborted) throw signal.reason;
      const out: SeriesSamples[] = [];
      for (const r of rows) {
        if (!matches(r.labels, ms)) continue;
        const keep = r.ts.map((t, i) => [t, r.vs[i]] as const).filter(([t]) => t >= hints.startMs && t <= hints.endMs);
        out.push({ labels: r.labels, timestamps: Float64Array.from(keep.map((k) => k[0])), values: Float64Array.from(keep.map((k) => k[1])) });
      }
      return out;
    },
  };
  const noSync: Querier = {
    select: () => {
      throw new Error('the synchronous path was used');
    },
    labelNames: () => [],
    labelValues: () => [],
  };
  return { querier: () => noSync, asyncQuerier: () => asyncQuerier };
}

describe('queries over an asynchronous store', () => {
  const engine = new Engine({ lookbackDeltaMs: 5 * MIN });

  it('evaluates instant, range and subquery selectors from series fetched before evaluation', async () => {
    const calls: SelectHints[] = [];
    const q = remote(calls);
    const instant = await engine.instantQueryOn(q, 'p', 'sum(rate(counter_total[5m])) + sum(gauge)', 30 * MIN);
    expect(instant.resultType).toBe('vector');
    expect((instant.result as Array<{ value: number }>)[0].value).toBeCloseTo(3 + 5);
    expect(calls).toHaveLength(2);
    expect(calls).toContainEqual({ startMs: 25 * MIN + 1, endMs: 30 * MIN, stepMs: 0, rangeMs: 5 * MIN, func: 'rate' });
    expect(calls).toContainEqual({ startMs: 25 * MIN + 1, endMs: 30 * MIN, stepMs: 0, rangeMs: 0, func: undefined });

    calls.length = 0;
    const range = await engine.rangeQueryOn(q, 'p', 'max_over_time(rate(counter_total{job="a"}[2m])[10m:1m])', 20 * MIN, 40 * MIN, 5 * MIN);
    const series = range.result as Array<{ values: number[] }>;
    expect(series).toHaveLength(1);
    expect(series[0].values.every((v) => Math.abs(v - 1) < 1e-9)).toBe(true);
    expect(calls).toEqual([{ startMs: 9 * MIN + 1, endMs: 40 * MIN, stepMs: MIN, rangeMs: 2 * MIN, func: 'rate' }]);
  });

  it('stops when the fetch is aborted', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('cancelled by the caller'));
    await expect(engine.instantQueryOn(remote([]), 'p', 'gauge', 30 * MIN, ctl.signal)).rejects.toThrow('cancelled by the caller');
  });

  it('gives each selector the window the engine reads, offsets and @ included', () => {
    const fetches = selectorFetches(parseExpr('a offset 5m + rate(b[10m] @ 600) + count_over_time(c[1h:5m])'), 1_000_000, 2_000_000, 15_000, { lookbackDeltaMs: 5 * MIN, defaultSubqueryStepMs: MIN });
    expect(fetches.map((f) => f.hints)).toEqual([
      { startMs: 1_000_000 - 5 * MIN - 5 * MIN + 1, endMs: 2_000_000 - 5 * MIN, stepMs: 15_000, rangeMs: 0, func: undefined },
      { startMs: 600_000 - 10 * MIN + 1, endMs: 600_000, stepMs: 15_000, rangeMs: 10 * MIN, func: 'rate' },
      // c[1h:5m]: inner steps aligned to 5m from just after start - 1h, each looking back 5m.
      { startMs: 5 * MIN * Math.trunc((1_000_000 - 60 * MIN) / (5 * MIN)) - 5 * MIN + 1, endMs: 2_000_000, stepMs: 5 * MIN, rangeMs: 0, func: undefined },
    ]);
  });
});
