/**
 * The encoders against the official schema: everything we write is decoded by protobufjs from the
 * vendored .proto files (never by our own reader), the JSON form through protobufjs' JSON rules,
 * and the result is compared with what the OpenTelemetry JS SDK's own exporter sends for the same
 * observations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { AggregationTemporality, AggregationType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, BatchMetric, MetricBatch, Temporality } from '../../push/types.js';
import { DEFAULT_BUCKETS } from '../../catalog/catalog.js';
import { encodeMetricsJson, encodeMetricsProtobuf } from './encode-metrics.js';
import { encodeLogsJson, encodeLogsProtobuf, type LogRecordInput } from './encode-logs.js';
import { nanosDecimalFromMs, nanosFromMs, ProtoWriter, uint64Decimal, utf8Length } from '../../wire/protobuf-writer.js';
import { decodePartialSuccess } from './response.js';
import {
  decodeLogsJson,
  decodeLogsProtobuf,
  decodeMetricsJson,
  decodeMetricsProtobuf,
  encodePartialSuccessJson,
  encodePartialSuccessProtobuf,
  startOtlpReceiver,
  type KeyValue,
  type Metric,
  type MetricsRequest,
  type OtlpReceiver,
} from '../../../test/otlp-receiver.js';

const RESOURCE: Attributes = [['service.name', 'meterway']];
const SCOPE = { name: 'meterway', version: '0.1.0' };
const BOUNDS = DEFAULT_BUCKETS.latency;

const nsOf = (ms: number) => (BigInt(ms) * 1_000_000n).toString();

/** Label values that break naive encoders: quotes, backslashes, newlines, non-ASCII, astral. */
const ODD = [
  ['project_id', 'p-1'],
  ['app_name', 'say "hi"\\ \n\tnow'],
  ['region', 'ünïcödé-東京-🚀'],
] as const;

function attrsOf(kvs: readonly KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = kv.value.stringValue ?? kv.value.intValue ?? kv.value.doubleValue ?? kv.value.boolValue;
  return out;
}

function sampleBatch(temporality: Temporality, startMs: number, timeMs: number): MetricBatch {
  const counts = new Float64Array(BOUNDS.length + 1);
  counts[0] = 3;
  counts[7] = 2 ** 33 + 5; // beyond 32 bits: fixed64 high half in use
  counts[BOUNDS.length] = 1;
  const metrics: BatchMetric[] = [
    { name: 'meterway_memory_usage_bytes', description: 'Memory in use by the app, in bytes.', unit: 'By', type: 'gauge', keys: ['a', 'b'],
      points: [{ attributes: ODD, value: 1.5e9 }, { attributes: [['project_id', 'p-1']], value: -0.25 }] },
    { name: 'meterway_runs_total', description: 'Runs completed.', unit: '{run}', type: 'counter', keys: ['a'],
      points: [{ attributes: ODD, value: 42 }] },
    { name: 'meterway_run_execution_time_seconds', description: 'Time a run spent executing.', unit: 's', type: 'histogram', bounds: BOUNDS, keys: ['a', 'b'],
      points: [
        { attributes: ODD, count: counts.reduce((a, b) => a + b, 0), sum: 12.75, bucketCounts: counts },
        { attributes: [['project_id', 'p-2']], count: 0, sum: 0, bucketCounts: new Float64Array(BOUNDS.length + 1) },
      ] },
  ];
  return { projectId: 'p-1', temporality, startMs, timeMs, metrics };
}

describe('protobuf writer', () => {
  it('nanoseconds from milliseconds are exact where ms * 1e6 would round', () => {
    const cases = [0, 1, 999, 1795225122277, 1795225122277.5, 1795225122277.123456, 2 ** 41 + 1, 18446744073709.551, 4102444800000];
    for (const ms of cases) {
      const whole = Math.floor(ms);
      const sub = Math.round((ms - whole) * 1e6);
      const want = BigInt(whole) * 1_000_000n + BigInt(sub);
      const { lo, hi } = nanosFromMs(ms);
      expect((BigInt(hi) << 32n) + BigInt(lo), String(ms)).toBe(want);
      expect(nanosDecimalFromMs(ms), String(ms)).toBe(want.toString());
    }
    // The naive product is wrong for a current date: the reason for the split arithmetic.
    expect(BigInt(1795225122277 * 1e6)).not.toBe(1795225122277n * 1_000_000n);
    expect(() => nanosFromMs(-1)).toThrow(RangeError);
    expect(() => nanosFromMs(Number.NaN)).toThrow(RangeError);
    expect(() => nanosFromMs(2e13)).toThrow(RangeError);
  });

  it('uint64 decimals are exact', () => {
    for (const [lo, hi] of [[0, 0], [1, 0], [0xffffffff, 0], [0, 1], [0xffffffff, 0xffffffff], [123456789, 0x1fffff], [0x89abcdef, 0x01234567]]) {
      expect(uint64Decimal(lo, hi)).toBe(((BigInt(hi) << 32n) + BigInt(lo)).toString());
    }
  });

  it('UTF-8 lengths match TextEncoder, lone surrogates included', () => {
    for (const s of ['', 'abc', 'é', '東京', '🚀', 'a\ud800b', '\udc00', '\ud83d']) expect(utf8Length(s), JSON.stringify(s)).toBe(new TextEncoder().encode(s).length);
  });

  it('grows from a tiny buffer and keeps back-references valid', () => {
    const w = new ProtoWriter(1);
    w.string('x'.repeat(300));
    const ref = w.mark();
    w.string('é'.repeat(200));
    w.copyWritten(ref, 302);
    const out = w.finish();
    const copy = out.subarray(0, 302);
    const orig = out.subarray(out.length - 302);
    expect(Buffer.from(copy).equals(Buffer.from(orig))).toBe(true);
    expect(out.length).toBe(302 + 2 + 400 + 302);
  });
});

describe('metrics encoders round trip through the vendored schema', () => {
  const startMs = 1795225122277;
  const timeMs = 1795225182277.25;

  for (const temporality of ['cumulative', 'delta'] as const) {
    it(`protobuf, ${temporality}`, () => {
      const batch = sampleBatch(temporality, startMs, timeMs);
      const req = decodeMetricsProtobuf(encodeMetricsProtobuf(batch, RESOURCE, SCOPE));
      expect(req.resourceMetrics).toHaveLength(1);
      const rm = req.resourceMetrics![0];
      expect(attrsOf(rm.resource?.attributes)).toEqual({ 'service.name': 'meterway' });
      expect(rm.scopeMetrics![0].scope).toEqual({ name: 'meterway', version: '0.1.0' });
      const ms = rm.scopeMetrics![0].metrics!;
      expect(ms.map((m) => [m.name, m.unit, m.description])).toEqual(batch.metrics.map((m) => [m.name, m.unit, m.description]));
      const otlpTemp = temporality === 'delta' ? 1 : 2;
      const startNs = nsOf(startMs);
      const timeNs = (1795225182277n * 1_000_000n + 250_000n).toString();

      const [gauge, sum, hist] = ms;
      expect(gauge.sum).toBeUndefined();
      expect(gauge.gauge!.dataPoints).toEqual([
        { attributes: ODD.map(([key, v]) => ({ key, value: { stringValue: v } })), startTimeUnixNano: startNs, timeUnixNano: timeNs, asDouble: 1.5e9 },
        { attributes: [{ key: 'project_id', value: { stringValue: 'p-1' } }], startTimeUnixNano: startNs, timeUnixNano: timeNs, asDouble: -0.25 },
      ]);
      expect(sum.sum!.aggregationTemporality).toBe(otlpTemp);
      expect(sum.sum!.isMonotonic).toBe(true);
      expect(sum.sum!.dataPoints![0]).toMatchObject({ startTimeUnixNano: startNs, timeUnixNano: timeNs, asDouble: 42 });
      expect(attrsOf(sum.sum!.dataPoints![0].attributes)).toEqual(Object.fromEntries(ODD));

      expect(hist.histogram!.aggregationTemporality).toBe(otlpTemp);
      const [h0, h1] = hist.histogram!.dataPoints!;
      expect(h0.explicitBounds).toEqual([...BOUNDS]);
      const want = new Array(BOUNDS.length + 1).fill('0');
      want[0] = '3';
      want[7] = (2n ** 33n + 5n).toString();
      want[BOUNDS.length] = '1';
      expect(h0.bucketCounts).toEqual(want);
      expect(h0.count).toBe((2n ** 33n + 9n).toString());
      expect(h0.sum).toBe(12.75);
      expect(h0.startTimeUnixNano).toBe(startNs);
      expect(h0.timeUnixNano).toBe(timeNs);
      expect(attrsOf(h0.attributes)).toEqual(Object.fromEntries(ODD));
      // An empty histogram still says it is one: count 0, sum 0 present, every bucket 0.
      expect(h1.count ?? '0').toBe('0');
      expect(h1.bucketCounts).toEqual(new Array(BOUNDS.length + 1).fill('0'));
      expect(h1.explicitBounds).toEqual([...BOUNDS]);
      expect(attrsOf(h1.attributes)).toEqual({ project_id: 'p-2' });
    });

    it(`JSON decodes (protobufjs JSON rules) to the same request as protobuf, ${temporality}`, () => {
      const batch = sampleBatch(temporality, startMs, timeMs);
      const json = encodeMetricsJson(batch, RESOURCE, SCOPE);
      expect(() => JSON.parse(json)).not.toThrow();
      expect(json).toContain('"timeUnixNano":"1795225182277250000"');
      expect(json).toContain(`"aggregationTemporality":${temporality === 'delta' ? 1 : 2}`);
      expect(decodeMetricsJson(json)).toEqual(decodeMetricsProtobuf(encodeMetricsProtobuf(batch, RESOURCE, SCOPE)));
    });
  }

  it('non-finite gauge values survive both encodings', () => {
    const batch: MetricBatch = { projectId: 'p', temporality: 'cumulative', startMs: 1, timeMs: 2, metrics: [
      { name: 'g', description: '', unit: '', type: 'gauge', keys: ['a', 'b', 'c'],
        points: [{ attributes: [], value: Number.NaN }, { attributes: [], value: Number.POSITIVE_INFINITY }, { attributes: [], value: Number.NEGATIVE_INFINITY }] },
    ] };
    const fromPb = decodeMetricsProtobuf(encodeMetricsProtobuf(batch, RESOURCE, SCOPE));
    const fromJson = decodeMetricsJson(encodeMetricsJson(batch, RESOURCE, SCOPE));
    for (const req of [fromPb, fromJson]) {
      const m = req.resourceMetrics![0].scopeMetrics![0].metrics![0];
      expect(m.description).toBeUndefined();
      expect(m.gauge!.dataPoints!.map((p) => p.asDouble)).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    }
  });

  it('many series: repeated attributes are copied correctly, and the buffer grows', () => {
    const points = [];
    for (let i = 0; i < 3000; i++) {
      points.push({ attributes: [['project_id', 'p'], ['app_id', `app-${i % 97}`], ['region', i % 2 === 0 ? 'eu' : 'üs']] as Attributes, value: i });
    }
    const batch: MetricBatch = { projectId: 'p', temporality: 'cumulative', startMs: 1, timeMs: 2, metrics: [
      { name: 'c_total', description: 'd', unit: '1', type: 'counter', keys: points.map((_, i) => String(i)), points },
    ] };
    const dps = decodeMetricsProtobuf(encodeMetricsProtobuf(batch, RESOURCE, SCOPE)).resourceMetrics![0].scopeMetrics![0].metrics![0].sum!.dataPoints!;
    expect(dps).toHaveLength(3000);
    for (let i = 0; i < 3000; i++) {
      expect(dps[i].asDouble).toBe(i);
      expect(attrsOf(dps[i].attributes)).toEqual({ project_id: 'p', app_id: `app-${i % 97}`, region: i % 2 === 0 ? 'eu' : 'üs' });
    }
  });

  it('random label sets from small alphabets (many partial repeats) decode exactly, in both point kinds', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const keys = ['project_id', 'app_id', 'app_name', 'region', 'gpu'];
    const values = ['a', 'b', 'ü', '', 'x"y', 'long-value-'.repeat(20)];
    const sets: Attributes[] = [];
    for (let i = 0; i < 1500; i++) {
      const n = rnd(keys.length + 1);
      const set: Array<[string, string]> = [];
      for (let k = 0; k < n; k++) set.push([keys[(k + rnd(2)) % keys.length], values[rnd(values.length)]]);
      sets.push(set);
    }
    const batch: MetricBatch = { projectId: 'p', temporality: 'cumulative', startMs: 1, timeMs: 2, metrics: [
      { name: 'g', description: '', unit: '', type: 'gauge', keys: sets.map(String), points: sets.map((a, i) => ({ attributes: a, value: i })) },
      { name: 'h', description: '', unit: 's', type: 'histogram', bounds: [1], keys: sets.map(String),
        points: sets.map((a, i) => ({ attributes: a, count: i, sum: i, bucketCounts: [i, 0] })) },
    ] };
    const [g, h] = decodeMetricsProtobuf(encodeMetricsProtobuf(batch, RESOURCE, SCOPE)).resourceMetrics![0].scopeMetrics![0].metrics!;
    const pairs = (kvs: KeyValue[] | undefined) => (kvs ?? []).map((kv) => [kv.key, kv.value.stringValue ?? '']);
    expect(g.gauge!.dataPoints!.map((p) => pairs(p.attributes))).toEqual(sets);
    expect(h.histogram!.dataPoints!.map((p) => pairs(p.attributes))).toEqual(sets);
  });

  it('refuses a histogram whose counts do not fit its bounds', () => {
    const batch: MetricBatch = { projectId: 'p', temporality: 'cumulative', startMs: 1, timeMs: 2, metrics: [
      { name: 'h', description: '', unit: 's', type: 'histogram', bounds: [1, 2], keys: ['a'], points: [{ attributes: [], count: 1, sum: 1, bucketCounts: [1, 0] }] },
    ] };
    expect(() => encodeMetricsProtobuf(batch, RESOURCE, SCOPE)).toThrow(/bucket counts/);
    expect(() => encodeMetricsJson(batch, RESOURCE, SCOPE)).toThrow(/bucket counts/);
  });

  it('refuses negative counts rather than wrapping them to huge uint64s', () => {
    const batch: MetricBatch = { projectId: 'p', temporality: 'delta', startMs: 1, timeMs: 2, metrics: [
      { name: 'h', description: '', unit: 's', type: 'histogram', bounds: [1], keys: ['a'], points: [{ attributes: [], count: 0, sum: 0, bucketCounts: [1, -1] }] },
    ] };
    expect(() => encodeMetricsProtobuf(batch, RESOURCE, SCOPE)).toThrow(RangeError);
    expect(() => encodeMetricsJson(batch, RESOURCE, SCOPE)).toThrow(RangeError);
  });

  it('an empty batch is still a valid request', () => {
    const batch: MetricBatch = { projectId: 'p', temporality: 'cumulative', startMs: 1, timeMs: 2, metrics: [] };
    const pb = decodeMetricsProtobuf(encodeMetricsProtobuf(batch, RESOURCE, SCOPE));
    expect(pb.resourceMetrics![0].scopeMetrics![0].metrics ?? []).toEqual([]);
    expect(decodeMetricsJson(encodeMetricsJson(batch, RESOURCE, SCOPE))).toEqual(pb);
  });
});

describe('logs encoders round trip through the vendored schema', () => {
  const records: LogRecordInput[] = [
    {
      timeMs: 1795225122277,
      observedMs: 1795225122300.5,
      eventName: 'inference',
      severityText: 'INFO',
      body: 'say "hi"\n東京',
      attributes: [
        ['project_id', 'p-1'],
        ['tokens', 1234],
        ['big', 2 ** 60],
        ['negative', -7],
        ['ratio', 0.25],
        ['ok', true],
        ['label', 'ünï\n"q"'],
      ],
    },
    { timeMs: 1, observedMs: 2, attributes: [['event.name', 'custom']], eventName: 'run' },
  ];

  const check = (req: ReturnType<typeof decodeLogsProtobuf>) => {
    const rl = req.resourceLogs![0];
    expect(attrsOf(rl.resource?.attributes)).toEqual({ 'service.name': 'meterway' });
    expect(rl.scopeLogs![0].scope).toEqual({ name: 'meterway', version: '0.1.0' });
    const [a, b] = rl.scopeLogs![0].logRecords!;
    expect(a.timeUnixNano).toBe(nsOf(1795225122277));
    expect(a.observedTimeUnixNano).toBe((1795225122300n * 1_000_000n + 500_000n).toString());
    expect(a.severityNumber).toBe(9);
    expect(a.severityText).toBe('INFO');
    expect(a.body).toEqual({ stringValue: 'say "hi"\n東京' });
    expect(a.attributes!.map((kv) => [kv.key, kv.value])).toEqual([
      ['project_id', { stringValue: 'p-1' }],
      ['tokens', { intValue: '1234' }],
      ['big', { intValue: (2n ** 60n).toString() }],
      ['negative', { intValue: '-7' }],
      ['ratio', { doubleValue: 0.25 }],
      ['ok', { boolValue: true }],
      ['label', { stringValue: 'ünï\n"q"' }],
      ['event.name', { stringValue: 'inference' }],
    ]);
    // An event that brought its own event.name keeps it and gets no second one.
    expect(b.attributes).toEqual([{ key: 'event.name', value: { stringValue: 'custom' } }]);
    expect(b.severityNumber).toBeUndefined();
    expect(b.timeUnixNano).toBe('1000000');
  };

  it('protobuf', () => check(decodeLogsProtobuf(encodeLogsProtobuf(records, RESOURCE, SCOPE))));

  it('JSON, and it equals the protobuf decoding', () => {
    const json = encodeLogsJson(records, RESOURCE, SCOPE);
    expect(json).toContain('"eventName":"inference"');
    check(decodeLogsJson(json));
    expect(decodeLogsJson(json)).toEqual(decodeLogsProtobuf(encodeLogsProtobuf(records, RESOURCE, SCOPE)));
  });

  it('writes event_name (field 12, newer than the vendored schema) for receivers that know it', () => {
    const bytes = encodeLogsProtobuf([{ timeMs: 1, observedMs: 1, attributes: [], eventName: 'run' }], RESOURCE, SCOPE);
    // tag 12/LEN = 0x62, length 3, "run"
    expect(Buffer.from(bytes).includes(Buffer.from([0x62, 0x03, 0x72, 0x75, 0x6e]))).toBe(true);
  });
});

describe('partial success', () => {
  it('protobuf, as the receiver encodes it', () => {
    expect(decodePartialSuccess(encodePartialSuccessProtobuf(7, 'bad points'), 'application/x-protobuf')).toEqual({ rejected: 7, message: 'bad points' });
    expect(decodePartialSuccess(encodePartialSuccessProtobuf(0, 'warning only'))).toEqual({ rejected: 0, message: 'warning only' });
    expect(decodePartialSuccess(encodePartialSuccessProtobuf(2 ** 40, ''))).toEqual({ rejected: 2 ** 40, message: '' });
  });

  it('JSON, camelCase or proto names, int64 as string or number', () => {
    expect(decodePartialSuccess(Buffer.from(encodePartialSuccessJson('/v1/metrics', 3, 'x')), 'application/json')).toEqual({ rejected: 3, message: 'x' });
    expect(decodePartialSuccess(Buffer.from(encodePartialSuccessJson('/v1/logs', 4, 'y')))).toEqual({ rejected: 4, message: 'y' });
    expect(decodePartialSuccess(Buffer.from('{"partial_success":{"rejected_data_points":5,"error_message":"z"}}'), 'application/json')).toEqual({ rejected: 5, message: 'z' });
  });

  it('nothing rejected and no message, an empty body, or garbage: undefined', () => {
    expect(decodePartialSuccess(new Uint8Array(0), 'application/x-protobuf')).toBeUndefined();
    expect(decodePartialSuccess(Uint8Array.from([0x0a, 0x00]), 'application/x-protobuf')).toBeUndefined();
    expect(decodePartialSuccess(Buffer.from('{}'), 'application/json')).toBeUndefined();
    expect(decodePartialSuccess(Buffer.from('{"partialSuccess":{}}'), 'application/json')).toBeUndefined();
    expect(decodePartialSuccess(Uint8Array.from([0x0a, 0x05, 0x08]), 'application/x-protobuf')).toBeUndefined();
    expect(decodePartialSuccess(Buffer.from('not json'), 'application/json')).toBeUndefined();
  });

  it('skips unknown fields around it', () => {
    // field 9 varint 1, then partial_success{ field 3 fixed32, rejected 2 }, then field 4 LEN "ab"
    const body = Uint8Array.from([0x48, 0x01, 0x0a, 0x07, 0x1d, 1, 2, 3, 4, 0x08, 0x02, 0x22, 0x02, 0x61, 0x62]);
    expect(decodePartialSuccess(body, 'application/x-protobuf')).toEqual({ rejected: 2, message: '' });
  });
});

describe('through the test receiver', () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => {
    await rx.close();
  });

  it('decodes gzip protobuf and plain JSON the same, and answers as scripted', async () => {
    rx.clear();
    const batch = sampleBatch('cumulative', 1795225122277, 1795225182277);
    rx.reply({ status: 200, partialSuccess: { rejected: 2, message: 'two dropped' } }, { status: 503, headers: { 'retry-after': '7' } });
    const r1 = await fetch(`${rx.url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      body: gzipSync(encodeMetricsProtobuf(batch, RESOURCE, SCOPE)),
    });
    expect(r1.status).toBe(200);
    expect(decodePartialSuccess(new Uint8Array(await r1.arrayBuffer()), r1.headers.get('content-type') ?? undefined)).toEqual({ rejected: 2, message: 'two dropped' });
    const r2 = await fetch(`${rx.url}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: encodeMetricsJson(batch, RESOURCE, SCOPE) });
    expect(r2.status).toBe(503);
    expect(r2.headers.get('retry-after')).toBe('7');
    const [a, b] = await rx.waitForRequests(2, { timeoutMs: 2000 });
    expect(a.gzip).toBe(true);
    expect(a.decodeError).toBeUndefined();
    expect(b.decodeError).toBeUndefined();
    expect(b.body).toEqual(a.body);
  });

  it('delays, and hangs until the client gives up', async () => {
    rx.clear();
    rx.reply({ delayMs: 150 }, { hang: true });
    const t0 = performance.now();
    const r = await fetch(`${rx.url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: encodeLogsProtobuf([], RESOURCE, SCOPE) });
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    const hung = fetch(`${rx.url}/v1/logs`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(200) });
    await expect(hung).rejects.toThrow();
    const reqs = await rx.waitForRequests(2, { path: '/v1/logs' });
    expect(reqs[1].body).toEqual({});
    for (let i = 0; i < 50 && rx.hanging > 0; i++) await new Promise((res) => setTimeout(res, 10));
    expect(rx.hanging).toBe(0);
    await expect(rx.waitForRequests(3, { timeoutMs: 50 })).rejects.toThrow(/2 of 3 requests/);
  });
});

// ------------------------------------------------------------------------------------------------
// Cross-check with the OpenTelemetry JS SDK 2.12 and its own OTLP/protobuf exporter.

interface Observations {
  readonly counter: ReadonlyArray<readonly [Record<string, string>, number]>;
  readonly gauge: ReadonlyArray<readonly [Record<string, string>, number]>;
  readonly histogram: ReadonlyArray<readonly [Record<string, string>, number]>;
}

const C = { name: 'meterway_runs_total', unit: '{run}', description: 'Runs completed, successful or not.' };
const G = { name: 'meterway_memory_usage_bytes', unit: 'By', description: 'Memory in use by the app, in bytes.' };
const H = { name: 'meterway_run_execution_time_seconds', unit: 's', description: 'Time a run spent executing, in seconds.' };

const L1 = { project_id: 'p-1', app_name: 'say "hi"\n', region: 'ünïcödé-東京' };
const L2 = { project_id: 'p-1', app_name: 'other', region: 'eu-west-1' };

const ROUND_1: Observations = {
  counter: [[L1, 1], [L1, 2], [L2, 5]],
  gauge: [[L1, 100], [L1, 1.5e9], [L2, 7]],
  // 0.5 and 300 sit exactly on bounds (upper-inclusive), 1000 in +Inf, 0.001 in the first bucket
  histogram: [[L1, 0.5], [L1, 0.001], [L1, 300], [L1, 1000], [L1, 3.3], [L2, 0.07]],
};
const ROUND_2: Observations = {
  counter: [[L1, 4]],
  gauge: [[L1, 2e9]],
  histogram: [[L1, 0.5], [L1, 42]],
};

const key = (attrs: Record<string, string>) => JSON.stringify(Object.entries(attrs));

/** Our side: the observations aggregated as Meterway's aggregator would hold them. */
function ourMetrics(rounds: readonly Observations[]): BatchMetric[] {
  const counters = new Map<string, [Record<string, string>, number]>();
  const gauges = new Map<string, [Record<string, string>, number]>();
  const hists = new Map<string, { attrs: Record<string, string>; counts: Float64Array; sum: number; count: number }>();
  for (const r of rounds) {
    for (const [a, v] of r.counter) counters.set(key(a), [a, (counters.get(key(a))?.[1] ?? 0) + v]);
    for (const [a, v] of r.gauge) gauges.set(key(a), [a, v]);
    for (const [a, v] of r.histogram) {
      let h = hists.get(key(a));
      if (h === undefined) hists.set(key(a), (h = { attrs: a, counts: new Float64Array(BOUNDS.length + 1), sum: 0, count: 0 }));
      let i = 0;
      while (i < BOUNDS.length && v > BOUNDS[i]) i++;
      h.counts[i]++;
      h.sum += v;
      h.count++;
    }
  }
  const pairs = (a: Record<string, string>): Attributes => Object.entries(a);
  return [
    { ...C, type: 'counter', keys: [...counters.keys()], points: [...counters.values()].map(([a, v]) => ({ attributes: pairs(a), value: v })) },
    { ...G, type: 'gauge', keys: [...gauges.keys()], points: [...gauges.values()].map(([a, v]) => ({ attributes: pairs(a), value: v })) },
    { ...H, type: 'histogram', bounds: BOUNDS, keys: [...hists.keys()],
      points: [...hists.values()].map((h) => ({ attributes: pairs(h.attrs), count: h.count, sum: h.sum, bucketCounts: h.counts })) },
  ];
}

/** What a comparison looks at: no times, attributes as sorted objects, points sorted by attributes. */
function comparable(req: MetricsRequest): unknown[] {
  const metrics: Metric[] = req.resourceMetrics!.flatMap((rm) => rm.scopeMetrics!.flatMap((sm) => sm.metrics ?? []));
  return metrics
    .map((m) => {
      const pts = (dps: Array<{ attributes?: KeyValue[] }> | undefined, pick: (p: never) => unknown) =>
        (dps ?? [])
          .map((p) => ({ attrs: attrsOf(p.attributes), ...(pick(p as never) as object) }))
          .sort((a, b) => JSON.stringify(a.attrs).localeCompare(JSON.stringify(b.attrs)));
      const base = { name: m.name, unit: m.unit, description: m.description };
      if (m.sum) return { ...base, kind: 'sum', temporality: m.sum.aggregationTemporality, monotonic: m.sum.isMonotonic, points: pts(m.sum.dataPoints, (p: { asDouble?: number }) => ({ value: p.asDouble })) };
      if (m.gauge) return { ...base, kind: 'gauge', points: pts(m.gauge.dataPoints, (p: { asDouble?: number }) => ({ value: p.asDouble })) };
      return {
        ...base,
        kind: 'histogram',
        temporality: m.histogram!.aggregationTemporality,
        points: pts(m.histogram!.dataPoints, (p: { bucketCounts?: string[]; explicitBounds?: number[]; count?: string; sum?: number }) => ({
          bounds: p.explicitBounds, counts: p.bucketCounts, count: p.count, sum: p.sum,
        })),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function startTimes(req: MetricsRequest): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  for (const m of req.resourceMetrics![0].scopeMetrics![0].metrics!) {
    const dps = (m.sum ?? m.gauge ?? m.histogram)!.dataPoints as Array<{ startTimeUnixNano?: string }>;
    out.push([m.name, dps[0].startTimeUnixNano]);
  }
  return out;
}

describe('cross-check with the OpenTelemetry JS SDK 2.12 exporter', () => {
  let rx: OtlpReceiver;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
  });
  afterAll(async () => {
    await rx.close();
  });

  for (const temporality of ['cumulative', 'delta'] as const) {
    it(`same names, units, types, temporality, monotonicity and bucket layout (${temporality})`, async () => {
      rx.clear();
      const exporter = new OTLPMetricExporter({
        url: `${rx.url}/v1/metrics`,
        temporalityPreference: temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
      });
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
      const provider = new MeterProvider({
        resource: resourceFromAttributes({ 'service.name': 'meterway' }),
        readers: [reader],
        views: [{ instrumentName: H.name, aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [...BOUNDS], recordMinMax: false } } }],
      });
      const meter = provider.getMeter('meterway', '0.1.0');
      const counter = meter.createCounter(C.name, { unit: C.unit, description: C.description });
      const gauge = meter.createGauge(G.name, { unit: G.unit, description: G.description });
      const hist = meter.createHistogram(H.name, { unit: H.unit, description: H.description });
      const record = (o: Observations) => {
        for (const [a, v] of o.counter) counter.add(v, a);
        for (const [a, v] of o.gauge) gauge.record(v, a);
        for (const [a, v] of o.histogram) hist.record(v, a);
      };
      try {
        record(ROUND_1);
        await provider.forceFlush();
        record(ROUND_2);
        await provider.forceFlush();
        const sdk = await rx.waitForRequests(2, { path: '/v1/metrics', timeoutMs: 5000 });
        for (const r of sdk) expect(r.decodeError).toBeUndefined();

        // Ours for the same observations: cumulative sends totals, delta only the second round's.
        const second = temporality === 'cumulative' ? ourMetrics([ROUND_1, ROUND_2]) : ourMetrics([ROUND_2]);
        const first = ourMetrics([ROUND_1]);
        const ours = [first, second].map((metrics) =>
          decodeMetricsProtobuf(encodeMetricsProtobuf({ projectId: 'p-1', temporality, startMs: 1, timeMs: 2, metrics }, RESOURCE, SCOPE)),
        );
        const sdkSecond = comparable(sdk[1].body as MetricsRequest);
        // The SDK leaves out, under delta, the counter series that saw nothing in round 2.
        const oursSecond = comparable(ours[1]);
        expect(comparable(ours[0])).toEqual(comparable(sdk[0].body as MetricsRequest));
        expect(oursSecond).toEqual(sdkSecond);
        // Resource and scope as the SDK sends them (the SDK adds its own telemetry.sdk.* attributes).
        const sdkRm = (sdk[0].body as MetricsRequest).resourceMetrics![0];
        expect(attrsOf(sdkRm.resource!.attributes)['service.name']).toBe('meterway');
        expect(sdkRm.scopeMetrics![0].scope).toEqual(ours[0].resourceMetrics![0].scopeMetrics![0].scope);
        // The SDK puts a start time on every point, gauges included: so do we.
        for (const [name, start] of startTimes(sdk[0].body as MetricsRequest)) expect(start, name).toMatch(/^[1-9]\d{18}$/);
        for (const [name, start] of startTimes(ours[0])) expect(start, name).toBe('1000000');
      } finally {
        await provider.shutdown();
      }
    });
  }
});
