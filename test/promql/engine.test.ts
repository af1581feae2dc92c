// The engine's public API: result shapes, typed errors and limits.
import { describe, expect, it } from 'vitest';
import {
  Engine,
  PromQLExecutionError,
  PromQLParseError,
  PromQLTimeoutError,
  PromQLTooManySamplesError,
  formatTimestamp,
  formatValue,
  parse,
} from '../../src/promql/index.js';
import { MemoryStorage } from '../../src/promql/conformance/memory.js';

const storage = new MemoryStorage();
for (let k = 0; k <= 20; k++) {
  storage.append({ __name__: 'up', job: 'a' }, k * 15_000, 1);
  storage.append({ __name__: 'up', job: 'b' }, k * 15_000, k);
}

describe('Engine', () => {
  const engine = new Engine();

  it('returns an instant vector with ms timestamps', async () => {
    const r = await engine.instantQuery(storage, 'up{job="b"}', 60_000);
    expect(r).toEqual({
      resultType: 'vector',
      result: [{ labels: { __name__: 'up', job: 'b' }, timestampMs: 60_000, value: 4 }],
      annotations: { warnings: [], infos: [] },
    });
  });

  it('returns a scalar and a string', async () => {
    expect((await engine.instantQuery(storage, '1 + 2', 0)).result).toEqual({ timestampMs: 0, value: 3 });
    const s = await engine.instantQuery(storage, '"x"', 5);
    expect(s.resultType).toBe('string');
    expect(s.result).toEqual({ timestampMs: 5, value: 'x' });
  });

  it('returns a sorted matrix for a range query, a scalar becoming one series', async () => {
    const r = await engine.rangeQuery(storage, 'sum by (job) (up)', 0, 30_000, 15_000);
    expect(r.resultType).toBe('matrix');
    if (r.resultType !== 'matrix') return;
    expect(r.result.map((s) => s.labels)).toEqual([{ job: 'a' }, { job: 'b' }]);
    expect(r.result[1]).toEqual({ labels: { job: 'b' }, timestampsMs: [0, 15_000, 30_000], values: [0, 1, 2] });
    const sc = await engine.rangeQuery(storage, 'time()', 0, 2000, 1000);
    expect(sc.result).toEqual([{ labels: {}, timestampsMs: [0, 1000, 2000], values: [0, 1, 2] }]);
  });

  it('refuses a range vector for a range query', async () => {
    await expect(engine.rangeQuery(storage, 'up[1m]', 0, 60_000, 15_000)).rejects.toThrow(
      'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    );
  });

  it('raises a typed parse error with position and Prometheus wording', () => {
    let err: unknown;
    try {
      parse('sum(up');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PromQLParseError);
    const p = err as PromQLParseError;
    expect(p.errorType).toBe('bad_data');
    expect(p.position.line).toBe(1);
    expect(p.message).toMatch(/^1:\d+: parse error: /);
    expect(() => parse('rate(up)')).toThrow('expected type range vector in call to function "rate", got instant vector');
    expect(() => parse('1 > 2')).toThrow('comparisons between scalars must use BOOL modifier');
    expect(() => parse('{job=""}')).toThrow('vector selector must contain at least one non-empty matcher');
    expect(() => parse('sum(up')).toThrow('1:7: parse error: unclosed left parenthesis');
    expect(() => parse('up{')).toThrow('unexpected end of input inside braces');
    expect(() => parse('foo bar')).toThrow('1:5: parse error: unexpected identifier "bar"');
    expect(() => parse('1 + * 2')).toThrow('unexpected <op:*>');
    expect(() => parse('"abc')).toThrow('unterminated quoted string');
    expect(() => parse('')).toThrow('no expression found in input');
    expect(() => parse('rate(up[5m])[1m:] offset 1m offset 2m')).toThrow('offset may not be set multiple times');
  });

  it('raises typed execution errors', async () => {
    const err = await engine.instantQuery(storage, 'up + on() up', 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PromQLExecutionError);
    expect((err as PromQLExecutionError).errorType).toBe('execution');
  });

  it('honours the lookback option', async () => {
    const short = new Engine({ lookbackDeltaMs: 30_000 });
    expect((await short.instantQuery(storage, 'up{job="b"}', 320_000)).result).toEqual([
      { labels: { __name__: 'up', job: 'b' }, timestampMs: 320_000, value: 20 },
    ]);
    expect((await short.instantQuery(storage, 'up{job="b"}', 330_000)).result).toEqual([]);
  });

  it('returns annotations with the position of the expression they concern', async () => {
    const r = await engine.instantQuery(storage, 'sum(rate(up[1m]))', 120_000);
    expect(r.annotations.infos).toEqual([
      'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up" (1:10)',
    ]);
    const q = await engine.rangeQuery(storage, 'sort(up)', 0, 60_000, 15_000);
    expect(q.annotations.warnings).toEqual([
      'PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)',
    ]);
  });

  it('enforces the sample limit', async () => {
    const small = new Engine({ maxSamples: 10 });
    const err = await small.instantQuery(storage, 'count_over_time(up[5m])', 300_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PromQLTooManySamplesError);
    expect((err as Error).message).toBe('query processing would load too many samples into memory in query execution');
    expect((err as PromQLTooManySamplesError).errorType).toBe('execution');
    await expect(small.instantQuery(storage, 'up', 300_000)).resolves.toMatchObject({ resultType: 'vector' });
  });

  it('enforces the timeout', async () => {
    const hasty = new Engine({ timeoutMs: -1 });
    const err = await hasty.instantQuery(storage, 'up', 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PromQLTimeoutError);
    expect((err as PromQLTimeoutError).errorType).toBe('timeout');
  });
});

describe('formatValue', () => {
  it("formats like Go's strconv.FormatFloat(v, 'f', -1, 64) and Prometheus' specials", () => {
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(1.5)).toBe('1.5');
    expect(formatValue(1e21)).toBe('1000000000000000000000');
    expect(formatValue(1.25e-7)).toBe('0.000000125');
    expect(formatValue(-2.5e22)).toBe('-25000000000000000000000');
    expect(formatValue(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(formatTimestamp(1435781451781)).toBe(1435781451.781);
  });
});

describe('queryBounds', () => {
  it('covers lookback, ranges, offsets, @ and subqueries', async () => {
    const { queryBounds } = await import('../../src/promql/index.js');
    expect(queryBounds('up', 1_000_000, 2_000_000)).toEqual({ minMs: 700_000, maxMs: 2_000_000 });
    expect(queryBounds('rate(up[10m] offset 1m)', 1_000_000, 2_000_000)).toEqual({ minMs: 340_000, maxMs: 1_940_000 });
    expect(queryBounds('up @ 100', 1_000_000, 2_000_000)).toEqual({ minMs: -200_000, maxMs: 100_000 });
    expect(queryBounds('max_over_time(rate(up[1m])[5m:1m])', 1_000_000, 1_000_000)).toEqual({ minMs: 640_000, maxMs: 1_000_000 });
    expect(queryBounds('count_over_time(up[step()])', 1_000_000, 2_000_000, 60_000)).toEqual({ minMs: 940_000, maxMs: 2_000_000 });
    expect(queryBounds('1 + 1', 5, 6)).toEqual({ minMs: 5, maxMs: 6 });
  });

  it('opens the querier of the project over those bounds', async () => {
    const seen: [string, number, number][] = [];
    const queryable = {
      querier(project: string, minMs: number, maxMs: number) {
        seen.push([project, minMs, maxMs]);
        return storage;
      },
    };
    const r = await new Engine().instantQueryOn(queryable, 'p1', 'up{job="b"}', 60_000);
    expect(seen).toEqual([['p1', -240_000, 60_000]]);
    expect(r.result).toEqual([{ labels: { __name__: 'up', job: 'b' }, timestampMs: 60_000, value: 4 }]);
    const m = await new Engine().rangeQueryOn(queryable, 'p2', 'rate(up[1m])', 60_000, 120_000, 60_000);
    expect(seen[1]).toEqual(['p2', 0, 120_000]);
    expect(m.resultType).toBe('matrix');
  });
});
