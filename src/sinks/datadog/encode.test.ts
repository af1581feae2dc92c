/**
 * The Datadog encoder against Datadog's own models: every payload is deserialized by the
 * official API client's ObjectSerializer (v2 MetricPayload, v1 MetricsPayload and
 * DistributionPointsPayload), which throws on a wrong type or a missing field, and is then walked
 * for fields the model does not know (they land in `additionalProperties`) and enum values it does
 * not accept (`_unparsed`).
 */
import { describe, expect, it } from 'vitest';
import { deflateSync, inflateSync } from 'node:zlib';
import { v1, v2 } from '@datadog/datadog-api-client';
import type { BatchMetric, MetricBatch } from '../../push/types.js';
import {
  distributionValues, encodeUnits, LIMITS, newCaches, normalizeMetricName, normalizeTag, packParts, pythonFloat, unitId,
  type Amount, type EncodeOptions, type Unit,
} from './encode.js';

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const T = 1_700_000_060_000;

/** Deserializes with the official models and fails on anything they do not take as it is. */
function official(namespace: 'v1' | 'v2', type: string, doc: unknown): any {
  const serializer = namespace === 'v2' ? v2.ObjectSerializer : v1.ObjectSerializer;
  const instance = serializer.deserialize(doc, type, '');
  const walk = (o: unknown, path: string): void => {
    if (o === null || typeof o !== 'object') return;
    const rec = o as Record<string, unknown>;
    expect(rec.additionalProperties, `${path}: fields the ${type} model does not know`).toBeUndefined();
    expect(rec._unparsed, `${path}: a value the ${type} model does not accept`).toBeUndefined();
    expect(o.constructor?.name, path).not.toBe('UnparsedObject');
    for (const [k, v] of Object.entries(rec)) walk(v, `${path}.${k}`);
  };
  walk(instance, type);
  return instance;
}

function batch(metrics: BatchMetric[], startMs = T - 60_000, timeMs = T): MetricBatch {
  return { projectId: 'p-1', temporality: 'delta', startMs, timeMs, metrics };
}

const LABELS = [['project_id', 'p-1'], ['app_id', 'p-1-Chat'], ['app_name', 'Chat Bot'], ['region', 'eu']] as const;

function sample(): BatchMetric[] {
  const counts = new Float64Array(BOUNDS.length + 1);
  counts[0] = 2;
  counts[4] = 3;
  counts[BOUNDS.length] = 1;
  return [
    { name: 'meterway_runs_total', description: '', unit: '{run}', type: 'counter', keys: ['a', 'b'], points: [{ attributes: LABELS, value: 3 }, { attributes: [['project_id', 'p-1']], value: 0.5 }] },
    { name: 'meterway_app_replicas', description: '', unit: '1', type: 'gauge', keys: ['a'], points: [{ attributes: LABELS, value: 4 }] },
    { name: 'meterway_run_execution_time_seconds', description: '', unit: 's', type: 'histogram', bounds: BOUNDS, keys: ['a'], points: [{ attributes: LABELS, count: 6, sum: 12.3, bucketCounts: counts }] },
  ];
}

const opts = (o: Partial<EncodeOptions> = {}): EncodeOptions => ({ seriesApi: 'v2', histograms: 'distributions', intervalS: 60, extraTags: ['env:prod'], ...o });
const payload = (units: readonly Unit[]) => JSON.parse(`{"series":[${units.map((u) => u.json).join(',')}]}`);

describe('names and tags', () => {
  it('normalizes tags as Datadog stores them', () => {
    expect(normalizeTag('App_Name:Chat Bot')).toBe('app_name:chat_bot');
    expect(normalizeTag('region:eu-west-1/a.b')).toBe('region:eu-west-1/a.b');
    expect(normalizeTag('model:llama@3!!8b__')).toBe('model:llama_3_8b');
    expect(normalizeTag('_private:x')).toBe('private:x');
    expect(normalizeTag('1abc:x')).toBe('abc:x');
    expect(normalizeTag('city:東京')).toBe('city:東京');
    expect(normalizeTag('Ünï:Çödé')).toBe('ünï:çödé');
    expect(normalizeTag('key:')).toBeUndefined();
    expect(normalizeTag('___')).toBeUndefined();
    const long = normalizeTag(`k:${'é'.repeat(300)}`)!;
    expect(Array.from(long)).toHaveLength(200);
    // Cut by characters, not UTF-16 units: an astral letter is one character of two units.
    const astral = normalizeTag(`k:${'𝒜'.repeat(300)}`)!;
    expect(Array.from(astral)).toHaveLength(200);
    expect(astral.length).toBe(2 + 198 * 2);
    // Not a letter or digit: converted, and then nothing is left of the value.
    expect(normalizeTag('k:🚀🚀')).toBeUndefined();
  });

  it('normalizes metric names to ASCII letters, digits, _ and .', () => {
    expect(normalizeMetricName('meterway_runs_total')).toBe('meterway_runs_total');
    expect(normalizeMetricName('job:rate:5m')).toBe('job_rate_5m');
    expect(normalizeMetricName('_x')).toBe('x');
    expect(normalizeMetricName('a'.repeat(250))).toHaveLength(200);
  });

  it('writes bucket bounds as the agent does (Python str of a float)', () => {
    expect([0.005, 1, 10, 0.1, 1e-5, 0.0001, 1e16, 2.5, 123456.789, Infinity, 0, -2].map(pythonFloat)).toEqual([
      '0.005', '1.0', '10.0', '0.1', '1e-05', '0.0001', '1e+16', '2.5', '123456.789', 'inf', '0', '-2.0',
    ]);
  });
});

describe('v2 series', () => {
  it('passes the official MetricPayload model, with counts, gauges, interval and tags', () => {
    const { series, distributions } = encodeUnits(batch(sample()), opts(), newCaches());
    const doc = payload(series);
    const parsed = official('v2', 'MetricPayload', doc);
    expect(parsed.series.length).toBe(series.length);
    const byName = (n: string) => doc.series.filter((s: { metric: string }) => s.metric === n);
    const runs = byName('meterway_runs_total');
    expect(runs).toEqual([
      { metric: 'meterway_runs_total', type: 1, interval: 60, points: [{ timestamp: T / 1000, value: 3 }], tags: ['project_id:p-1', 'app_id:p-1-chat', 'app_name:chat_bot', 'region:eu', 'env:prod'] },
      { metric: 'meterway_runs_total', type: 1, interval: 60, points: [{ timestamp: T / 1000, value: 0.5 }], tags: ['project_id:p-1', 'env:prod'] },
    ]);
    expect(byName('meterway_app_replicas')).toEqual([{ metric: 'meterway_app_replicas', type: 3, points: [{ timestamp: T / 1000, value: 4 }], tags: runs[0].tags }]);
    expect(byName('meterway_run_execution_time_seconds.count')[0].points[0].value).toBe(6);
    expect(byName('meterway_run_execution_time_seconds.sum')[0].points[0].value).toBe(12.3);
    for (const s of doc.series) {
      expect(Number.isInteger(s.points[0].timestamp)).toBe(true);
      expect(s.resources).toBeUndefined();
    }
    // The distribution goes to its own API.
    expect(distributions).toHaveLength(1);
  });

  it('sends histograms as counters: .count, .sum and cumulative .bucket with upper_bound, no +Inf bucket', () => {
    const { series, distributions } = encodeUnits(batch(sample()), opts({ histograms: 'counters' }), newCaches());
    expect(distributions).toEqual([]);
    const doc = payload(series);
    official('v2', 'MetricPayload', doc);
    const buckets = doc.series.filter((s: { metric: string }) => s.metric === 'meterway_run_execution_time_seconds.bucket');
    expect(buckets).toHaveLength(BOUNDS.length);
    const at = (b: string) => buckets.find((s: { tags: string[] }) => s.tags.includes(`upper_bound:${b}`)).points[0].value;
    expect([at('0.005'), at('0.05'), at('0.1'), at('1.0'), at('10.0')]).toEqual([2, 2, 5, 5, 5]);
    expect(buckets.every((s: { type: number; interval: number }) => s.type === 1 && s.interval === 60)).toBe(true);
    expect(buckets[0].tags.slice(0, 5)).toEqual(['project_id:p-1', 'app_id:p-1-chat', 'app_name:chat_bot', 'region:eu', 'env:prod']);
  });

  it('leaves out non-finite gauges (JSON cannot carry them) and keeps counts exact', () => {
    const { series } = encodeUnits(batch([
      { name: 'g', description: '', unit: '', type: 'gauge', keys: ['a', 'b'], points: [{ attributes: [], value: NaN }, { attributes: [], value: Infinity }] },
      { name: 'c_total', description: '', unit: '', type: 'counter', keys: ['a'], points: [{ attributes: [], value: 2 ** 53 - 1 }] },
    ]), opts({ extraTags: [] }), newCaches());
    expect(series).toHaveLength(1);
    const doc = payload(series);
    official('v2', 'MetricPayload', doc);
    expect(doc.series[0]).toEqual({ metric: 'c_total', type: 1, interval: 60, points: [{ timestamp: T / 1000, value: 2 ** 53 - 1 }], tags: [] });
  });
});

describe('v1 series and distribution points', () => {
  it('passes the official v1 MetricsPayload model', () => {
    const { series } = encodeUnits(batch(sample()), opts({ seriesApi: 'v1', histograms: 'counters' }), newCaches());
    const doc = payload(series);
    official('v1', 'MetricsPayload', doc);
    const runs = doc.series.find((s: { metric: string }) => s.metric === 'meterway_runs_total');
    expect(runs).toEqual({ metric: 'meterway_runs_total', type: 'count', interval: 60, points: [[T / 1000, 3]], tags: ['project_id:p-1', 'app_id:p-1-chat', 'app_name:chat_bot', 'region:eu', 'env:prod'] });
    expect(doc.series.find((s: { metric: string }) => s.metric === 'meterway_app_replicas')).toMatchObject({ type: 'gauge', points: [[T / 1000, 4]] });
    expect(doc.series.every((s: { host?: string }) => s.host === undefined)).toBe(true);
  });

  it('passes the official DistributionPointsPayload model, one value per observation', () => {
    const { distributions } = encodeUnits(batch(sample()), opts(), newCaches());
    const doc = payload(distributions);
    const parsed = official('v1', 'DistributionPointsPayload', doc);
    expect(parsed.series[0].type).toBe('distribution');
    const [ts, values] = doc.series[0].points[0];
    expect(ts).toBe(T / 1000);
    expect(values).toHaveLength(6);
    expect(values.slice(0, 2)).toEqual([0.00125, 0.00375]); // bucket (0, 0.005] spread evenly
    expect(values.slice(2, 5)).toEqual([0.0583333, 0.075, 0.0916667]); // (0.05, 0.1]
    // The overflow value carries what the sum leaves: 12.3 - (2 × 0.0025 + 3 × 0.075) = 12.07, above the last bound.
    expect(values[5]).toBeCloseTo(12.07, 4);
    expect(doc.series[0].tags).toContain('env:prod');
  });
});

describe('distribution values', () => {
  it('keeps the count exactly up to the cap, and the sum where the overflow bucket can take it', () => {
    const counts = [4, 0, 6, 0];
    const values = distributionValues([1, 2, 4], counts, 4 * 0.5 + 6 * 3, 1000);
    expect(values).toHaveLength(10);
    expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(20, 10);
    expect(Math.min(...values)).toBeGreaterThan(0);
    expect(Math.max(...values)).toBeLessThanOrEqual(4);
    // No bounds: everything is in the overflow bucket, at the mean.
    expect(distributionValues([], [5], 10, 1000)).toEqual([2, 2, 2, 2, 2]);
    expect(distributionValues([1], [0, 0], 0, 1000)).toEqual([]);
  });

  it('scales down above the cap in proportion, keeping every non-empty bucket', () => {
    const counts = [900_000, 99_000, 1_000, 3];
    const values = distributionValues([0.1, 1, 10], counts, 900_000 * 0.05 + 99_000 * 0.55 + 1_000 * 5.5 + 3 * 20, 1000);
    expect(values.length).toBeGreaterThanOrEqual(1000);
    expect(values.length).toBeLessThanOrEqual(1000 + counts.length);
    const inBucket = (lo: number, hi: number) => values.filter((v) => v > lo && v <= hi).length;
    expect(inBucket(0, 0.1)).toBeGreaterThanOrEqual(899);
    expect(inBucket(0, 0.1)).toBeLessThanOrEqual(901);
    expect(inBucket(0.1, 1)).toBeGreaterThanOrEqual(98);
    expect(inBucket(1, 10)).toBe(1);
    expect(values.filter((v) => v > 10)).toEqual([20]); // 3 of a million, still there, at their mean
  });
});

describe('splitting under the limits', () => {
  const many = (n: number): BatchMetric[] => [{
    name: 'meterway_inference_requests_total', description: '', unit: '', type: 'counter',
    keys: Array.from({ length: n }, (_, i) => `k${i}`),
    points: Array.from({ length: n }, (_, i) => ({ attributes: [['project_id', 'p-1'], ['app_name', `app-${i}`], ['region', `r${i % 7}`]] as const, value: i + 1 })),
  }];
  const deflate = async (s: string) => deflateSync(s, { level: 1 });

  it('cuts by the uncompressed limit, each part under both limits, adding up to the whole', async () => {
    const { series } = encodeUnits(batch(many(3000)), opts(), newCaches());
    const limits = { compressed: 1_000_000, uncompressed: 40_000 };
    const parts = await packParts(series, 'series', limits, deflate);
    expect(parts.length).toBeGreaterThan(5);
    let total = 0;
    let n = 0;
    for (const p of parts) {
      const raw = inflateSync(p.body);
      expect(raw.length).toBe(p.rawBytes);
      expect(raw.length).toBeLessThan(limits.uncompressed);
      const doc = JSON.parse(raw.toString());
      official('v2', 'MetricPayload', doc);
      for (const s of doc.series) total += s.points[0].value;
      n += doc.series.length;
    }
    expect(n).toBe(3000);
    expect(total).toBe((3000 * 3001) / 2);
  });

  it('cuts again where the compressed body is over its limit', async () => {
    const { series } = encodeUnits(batch(many(2000)), opts(), newCaches());
    const limits = { compressed: 6_000, uncompressed: LIMITS.v2.uncompressed };
    const parts = await packParts(series, 'series', limits, deflate);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.every((p) => p.body.length <= limits.compressed)).toBe(true);
    expect(parts.reduce((a, p) => a + p.units.length, 0)).toBe(2000);
  });

  it('refuses a single series larger than a request', async () => {
    const { series } = encodeUnits(batch(many(1)), opts(), newCaches());
    await expect(packParts(series, 'series', { compressed: 10, uncompressed: 1_000_000 }, deflate)).rejects.toThrow(/over the 10-byte request limit on its own/);
    await expect(packParts(series, 'series', { compressed: 1_000_000, uncompressed: 50 }, deflate)).rejects.toThrow(/over the 50-byte request limit/);
  });
});

describe('what earlier parts delivered', () => {
  it('is taken off the next push over the same interval, histograms included', () => {
    const first = encodeUnits(batch(sample()), opts(), newCaches());
    const delivered = new Map<string, Amount>();
    for (const u of [...first.series, ...first.distributions]) if (unitId(u) !== undefined) delivered.set(unitId(u)!, u.amount!);
    // The next push covers the same interval and more: 2 more runs, one more observation in bucket 4.
    const metrics = sample();
    (metrics[0].points[0] as { value: number }).value = 5;
    const h = metrics[2].points[0] as unknown as { count: number; sum: number; bucketCounts: Float64Array };
    h.count = 7;
    h.sum = 12.38;
    h.bucketCounts[4] = 4;
    const next = encodeUnits(batch(metrics), opts(), newCaches(), delivered);
    const doc = payload(next.series);
    const value = (m: string) => doc.series.find((s: { metric: string }) => s.metric === m).points[0].value;
    expect(value('meterway_runs_total')).toBe(2);
    expect(value('meterway_run_execution_time_seconds.count')).toBe(1);
    expect(value('meterway_run_execution_time_seconds.sum')).toBeCloseTo(0.08, 10);
    expect(value('meterway_app_replicas')).toBe(4); // a gauge is its value again
    const dist = payload(next.distributions).series[0].points[0][1];
    expect(dist).toEqual([0.075]);
  });
});
