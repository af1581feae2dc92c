import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { Attributes, BatchMetric, MetricBatch } from '../../push/types.js';
import { compareLabelNames, encodeRequestV2, encodeWriteRequestV1, prometheusUnit, type GoneSeries } from './encode.js';
import { goneSince, seriesOf } from './stale.js';

// The vendored official schemas, not our own reading of them: a mistake in the encoder cannot hide.
const PROMPB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'wire', 'proto', 'prompb');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROMPB, target);
root.loadSync(['remote.proto', 'io/prometheus/write/v2/types.proto']);
const WriteRequest = root.lookupType('prometheus.WriteRequest');
const RequestV2 = root.lookupType('io.prometheus.write.v2.Request');
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: false };

interface V1 {
  timeseries?: Array<{ labels?: Array<{ name: string; value: string }>; samples?: Array<{ value?: number; timestamp?: number }> }>;
  metadata?: Array<{ type?: number; metricFamilyName?: string; help?: string; unit?: string }>;
}
interface V2 {
  symbols?: string[];
  timeseries?: Array<{
    labelsRefs?: number[];
    samples?: Array<{ value?: number; timestamp?: number }>;
    metadata?: { type?: number; helpRef?: number; unitRef?: number };
    createdTimestamp?: number;
  }>;
}
const decodeV1 = (b: Uint8Array) => WriteRequest.toObject(WriteRequest.decode(b), TO_OBJECT) as V1;
const decodeV2 = (b: Uint8Array) => RequestV2.toObject(RequestV2.decode(b), TO_OBJECT) as V2;

/** Every series as `name{sorted labels}` → [value, timestamp], and the label lists as sent. */
function seriesV1(req: V1): { values: Map<string, [number, number]>; orders: string[][] } {
  const values = new Map<string, [number, number]>();
  const orders: string[][] = [];
  for (const ts of req.timeseries ?? []) {
    const labels = ts.labels ?? [];
    orders.push(labels.map((l) => l.name));
    expect(ts.samples).toHaveLength(1);
    values.set(key(labels.map((l) => [l.name, l.value])), [ts.samples![0].value ?? 0, ts.samples![0].timestamp ?? 0]);
  }
  return { values, orders };
}

function seriesV2(req: V2): { values: Map<string, [number, number]>; orders: string[][] } {
  const sym = req.symbols ?? [];
  const values = new Map<string, [number, number]>();
  const orders: string[][] = [];
  for (const ts of req.timeseries ?? []) {
    const refs = ts.labelsRefs ?? [];
    expect(refs.length % 2).toBe(0);
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < refs.length; i += 2) pairs.push([sym[refs[i]], sym[refs[i + 1]]]);
    orders.push(pairs.map((p) => p[0]));
    values.set(key(pairs), [ts.samples![0].value ?? 0, ts.samples![0].timestamp ?? 0]);
  }
  return { values, orders };
}

function key(pairs: Array<[string, string]>): string {
  const name = pairs.find((p) => p[0] === '__name__')?.[1] ?? '?';
  const rest = pairs.filter((p) => p[0] !== '__name__').map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name}{${rest.join(',')}}`;
}

const BOUNDS = [0.005, 0.25, 1, 2.5];
const base: Attributes = [['project_id', 'p-1'], ['app_id', 'p-1-chat'], ['app_name', 'chat'], ['region', 'eu']];

function batch(extra: Partial<MetricBatch> = {}): MetricBatch {
  const counter: BatchMetric = {
    name: 'meterway_runs_total', description: 'Runs completed, successful or not.', unit: '{run}', type: 'counter',
    keys: ['a', 'b'], points: [{ attributes: base, value: 37 }, { attributes: [...base.slice(0, 3), ['region', 'us']], value: 1.5 }],
  };
  const gauge: BatchMetric = {
    name: 'meterway_memory_usage_bytes', description: 'Memory in use by the app, in bytes.', unit: 'By', type: 'gauge',
    keys: ['g'], points: [{ attributes: base, value: 6_442_450_944 }],
  };
  const hist: BatchMetric = {
    name: 'meterway_run_execution_time_seconds', description: 'Time a run spent executing, in seconds.', unit: 's', type: 'histogram', bounds: BOUNDS,
    keys: ['h'], points: [{ attributes: base, count: 37, sum: 23, bucketCounts: Float64Array.from([0, 30, 0, 7, 0]) }],
  };
  return { projectId: 'p-1', temporality: 'cumulative', startMs: 1_700_000_000_000, timeMs: 1_700_000_060_123, metrics: [counter, gauge, hist], ...extra };
}

const T = 1_700_000_060_123;
const lbl = 'app_id="p-1-chat",app_name="chat"';
const EXPECTED: Array<[string, number]> = [
  [`meterway_runs_total{${lbl},project_id="p-1",region="eu"}`, 37],
  [`meterway_runs_total{${lbl},project_id="p-1",region="us"}`, 1.5],
  [`meterway_memory_usage_bytes{${lbl},project_id="p-1",region="eu"}`, 6_442_450_944],
  [`meterway_run_execution_time_seconds_bucket{${lbl},le="0.005",project_id="p-1",region="eu"}`, 0],
  [`meterway_run_execution_time_seconds_bucket{${lbl},le="0.25",project_id="p-1",region="eu"}`, 30],
  [`meterway_run_execution_time_seconds_bucket{${lbl},le="1",project_id="p-1",region="eu"}`, 30],
  [`meterway_run_execution_time_seconds_bucket{${lbl},le="2.5",project_id="p-1",region="eu"}`, 37],
  [`meterway_run_execution_time_seconds_bucket{${lbl},le="+Inf",project_id="p-1",region="eu"}`, 37],
  [`meterway_run_execution_time_seconds_sum{${lbl},project_id="p-1",region="eu"}`, 23],
  [`meterway_run_execution_time_seconds_count{${lbl},project_id="p-1",region="eu"}`, 37],
];

/** Where the stale NaN's exact bits appear as a Sample's value (tag 0x09, then little-endian 0x7ff0000000000002). */
function staleMarkers(bytes: Uint8Array): number {
  const pat = [0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f];
  let n = 0;
  for (let i = 0; i + pat.length <= bytes.length; i++) if (pat.every((b, k) => bytes[i + k] === b)) n++;
  return n;
}

describe('remote write 1.0 WriteRequest', () => {
  it('carries every series with its value at the batch time, buckets cumulative, labels sorted, metadata per family', () => {
    const enc = encodeWriteRequestV1(batch());
    const req = decodeV1(enc.bytes);
    const { values, orders } = seriesV1(req);
    expect([...values.entries()]).toEqual(EXPECTED.map(([k, v]) => [k, [v, T]]));
    expect(enc.samples).toBe(EXPECTED.length);
    for (const o of orders) {
      expect(o[0]).toBe('__name__');
      expect(o).toEqual([...o].sort(compareLabelNames));
      expect(new Set(o).size).toBe(o.length);
    }
    expect(req.metadata).toEqual([
      { type: 1, metricFamilyName: 'meterway_runs_total', help: 'Runs completed, successful or not.' },
      { type: 2, metricFamilyName: 'meterway_memory_usage_bytes', help: 'Memory in use by the app, in bytes.', unit: 'bytes' },
      { type: 3, metricFamilyName: 'meterway_run_execution_time_seconds', help: 'Time a run spent executing, in seconds.', unit: 'seconds' },
    ]);
    expect(staleMarkers(enc.bytes)).toBe(0);
  });

  it('sorts by byte order, drops empty values, and lets a bucket own le', () => {
    const attrs: Attributes = [['zone', 'z'], ['Zeta', 'capital'], ['le', 'attr'], ['empty', ''], ['ünï', 'cødé 🚀'], ['aa', 'a "quoted" \\ value\n']];
    const b = batch({
      metrics: [
        { name: 'x_total', description: '', unit: '', type: 'counter', keys: ['1'], points: [{ attributes: attrs, value: 1 }] },
        { name: 'h', description: '', unit: '', type: 'histogram', bounds: [1], keys: ['2'], points: [{ attributes: attrs, count: 2, sum: 3, bucketCounts: [1, 1] }] },
      ],
    });
    const { values, orders } = seriesV1(decodeV1(encodeWriteRequestV1(b).bytes));
    expect(orders[0]).toEqual(['Zeta', '__name__', 'aa', 'le', 'zone', 'ünï']);
    const q = 'aa="a \\"quoted\\" \\\\ value\\n"';
    expect([...values.keys()]).toEqual([
      `x_total{Zeta="capital",${q},le="attr",zone="z",ünï="cødé 🚀"}`,
      `h_bucket{Zeta="capital",${q},le="1",zone="z",ünï="cødé 🚀"}`,
      `h_bucket{Zeta="capital",${q},le="+Inf",zone="z",ünï="cødé 🚀"}`,
      `h_sum{Zeta="capital",${q},le="attr",zone="z",ünï="cødé 🚀"}`,
      `h_count{Zeta="capital",${q},le="attr",zone="z",ünï="cødé 🚀"}`,
    ]);
  });

  it('marks gone series stale with the exact stale NaN, once per series', () => {
    const gone: GoneSeries[] = [
      { name: 'meterway_cpu_utilization_cores', type: 'gauge', attributes: base },
      { name: 'old_seconds', type: 'histogram', bounds: [1, 2], attributes: base },
    ];
    const enc = encodeWriteRequestV1(batch(), gone);
    const { values } = seriesV1(decodeV1(enc.bytes));
    const stale = [...values.entries()].filter(([, [v]]) => Number.isNaN(v)).map(([k, [, t]]) => [k.slice(0, k.indexOf('{')), t]);
    expect(stale).toEqual([
      ['meterway_cpu_utilization_cores', T], ['old_seconds_bucket', T], ['old_seconds_bucket', T], ['old_seconds_bucket', T], ['old_seconds_sum', T], ['old_seconds_count', T],
    ]);
    expect(staleMarkers(enc.bytes)).toBe(6);
    expect(enc.samples).toBe(EXPECTED.length + 6);
  });

  it('stays right when labels repeat across many series and the buffer grows', () => {
    const long = 'v'.repeat(300);
    const points = Array.from({ length: 2000 }, (_, i) => ({
      attributes: [['project_id', 'p'], ['app_id', `id-${i}`], ['app_name', `app-${i % 37}`], ['region', i % 2 ? long : 'eu'], ['model_name', `m${i % 5}`]] as Attributes,
      count: i, sum: i / 2, bucketCounts: [i, 0, 0],
    }));
    const b = batch({ metrics: [{ name: 'h', description: 'd', unit: 's', type: 'histogram', bounds: [1, 2], keys: points.map((_, i) => String(i)), points }] });
    const { values } = seriesV1(decodeV1(encodeWriteRequestV1(b).bytes));
    expect(values.size).toBe(2000 * 5);
    for (const i of [0, 1, 999, 1998, 1999]) {
      const labels = `app_id="id-${i}",app_name="app-${i % 37}",le="2",model_name="m${i % 5}",project_id="p",region="${i % 2 ? long : 'eu'}"`;
      expect(values.get(`h_bucket{${labels}}`)).toEqual([i, T]);
      expect(values.get(`h_sum{${labels.replace('le="2",', '')}}`)).toEqual([i / 2, T]);
    }
    const v2 = seriesV2(decodeV2(encodeRequestV2(b).bytes)).values;
    expect([...v2.entries()].sort()).toEqual([...values.entries()].sort());
  });

  it('refuses a histogram whose counts do not match its bounds', () => {
    const b = batch({ metrics: [{ name: 'h', description: '', unit: '', type: 'histogram', bounds: [1, 2], keys: ['x'], points: [{ attributes: base, count: 1, sum: 1, bucketCounts: [1] }] }] });
    expect(() => encodeWriteRequestV1(b)).toThrow('histogram h: 1 bucket counts for 2 bounds (want bounds + 1)');
    expect(() => encodeRequestV2(b)).toThrow('histogram h: 1 bucket counts for 2 bounds (want bounds + 1)');
  });

  it('an empty batch is an empty WriteRequest', () => {
    expect(encodeWriteRequestV1(batch({ metrics: [] })).bytes).toHaveLength(0);
  });
});

describe('remote write 2.0 Request', () => {
  it('has a symbols table starting with "", sorted label refs, metadata refs and created timestamps', () => {
    const enc = encodeRequestV2(batch(), [{ name: 'gone_total', type: 'counter', attributes: base }]);
    const req = decodeV2(enc.bytes);
    const sym = req.symbols!;
    expect(sym[0]).toBe('');
    expect(new Set(sym).size).toBe(sym.length);
    const { values, orders } = seriesV2(req);
    expect([...values.entries()].slice(0, EXPECTED.length)).toEqual(EXPECTED.map(([k, v]) => [k, [v, T]]));
    expect(enc.samples).toBe(EXPECTED.length + 1);
    for (const o of orders) expect(o).toEqual([...o].sort(compareLabelNames));
    const byName = (n: string) => req.timeseries!.filter((ts) => sym[ts.labelsRefs![1]] === n);
    const meta = (n: string) => {
      const m = byName(n)[0].metadata!;
      return { type: m.type, help: sym[m.helpRef ?? 0], unit: sym[m.unitRef ?? 0] };
    };
    expect(meta('meterway_runs_total')).toEqual({ type: 1, help: 'Runs completed, successful or not.', unit: '' });
    expect(meta('meterway_memory_usage_bytes')).toEqual({ type: 2, help: 'Memory in use by the app, in bytes.', unit: 'bytes' });
    for (const s of ['_bucket', '_sum', '_count']) expect(meta(`meterway_run_execution_time_seconds${s}`)).toEqual({ type: 3, help: 'Time a run spent executing, in seconds.', unit: 'seconds' });
    // Created timestamp: the cumulative start, on counters and histograms, not on gauges or markers.
    expect(byName('meterway_runs_total').map((ts) => ts.createdTimestamp)).toEqual([1_700_000_000_000, 1_700_000_000_000]);
    expect(byName('meterway_run_execution_time_seconds_bucket').every((ts) => ts.createdTimestamp === 1_700_000_000_000)).toBe(true);
    expect(byName('meterway_memory_usage_bytes')[0].createdTimestamp).toBeUndefined();
    const marker = byName('gone_total')[0];
    expect(marker.createdTimestamp).toBeUndefined();
    expect(marker.metadata).toBeUndefined();
    expect(Number.isNaN(marker.samples![0].value)).toBe(true);
    expect(staleMarkers(enc.bytes)).toBe(1);
  });

  it('carries the same series and values as 1.0', () => {
    const gone: GoneSeries[] = [{ name: 'old_seconds', type: 'histogram', bounds: [1], attributes: base }];
    const v1 = seriesV1(decodeV1(encodeWriteRequestV1(batch(), gone).bytes)).values;
    const v2 = seriesV2(decodeV2(encodeRequestV2(batch(), gone).bytes)).values;
    expect([...v2.keys()].sort()).toEqual([...v1.keys()].sort());
    for (const [k, v] of v1) expect(Object.is(v2.get(k)![0], v[0]) || (Number.isNaN(v[0]) && Number.isNaN(v2.get(k)![0]))).toBe(true);
  });

  it('an empty batch still has the empty symbol', () => {
    expect(decodeV2(encodeRequestV2(batch({ metrics: [] })).bytes)).toEqual({ symbols: [''] });
  });
});

describe('staleness memory', () => {
  it('finds the series of the last push that this one lacks', () => {
    const first = batch();
    const [counter, gauge, hist] = first.metrics;
    const second = batch({ metrics: [{ ...counter, keys: ['a'], points: [counter.points[0]] }, hist] });
    expect(goneSince(undefined, seriesOf(first))).toEqual([]);
    expect(goneSince(seriesOf(first), seriesOf(second))).toEqual([
      { name: 'meterway_runs_total', type: 'counter', bounds: undefined, attributes: counter.points[1].attributes },
      { name: 'meterway_memory_usage_bytes', type: 'gauge', bounds: undefined, attributes: gauge.points[0].attributes },
    ]);
    expect(goneSince(seriesOf(second), seriesOf(first))).toEqual([]);
  });
});

describe('labels and units', () => {
  it('orders names by UTF-8 bytes, not UTF-16 units', () => {
    expect(compareLabelNames('\uffff', '\u{10000}')).toBeLessThan(0); // EF BF BF < F0 90 80 80
    expect(compareLabelNames('Z', '__name__')).toBeLessThan(0);
    expect(compareLabelNames('__name__', 'a')).toBeLessThan(0);
    expect(compareLabelNames('le', 'le_x')).toBeLessThan(0);
  });

  it('words UCUM units as Prometheus does', () => {
    expect(['s', 'ms', 'By', '%', '1', '{run}', '{core}', 'By/s', '{request}/s', 'weird unit'].map(prometheusUnit)).toEqual([
      'seconds', 'milliseconds', 'bytes', 'percent', '', '', '', 'bytes_per_second', 'per_second', '',
    ]);
  });
});
