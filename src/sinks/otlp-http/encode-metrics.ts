/**
 * A MetricBatch as an OTLP ExportMetricsServiceRequest, in protobuf (`application/x-protobuf`) and
 * in the OTLP/JSON mapping (`application/json`).
 *
 * Mapping: counter → Sum (monotonic), gauge → Gauge, histogram → Histogram (explicit buckets),
 * temporality from the batch. Every point carries the batch's start and end times, gauges too:
 * the OpenTelemetry JS SDK 2.x sends a start time on gauge points (the same one its sums get), so
 * receivers see the same shape from us as from the SDK.
 *
 * Names go out in their Prometheus form with the catalogue's UCUM unit; Prometheus' OTLP
 * translation then yields the same name (see names.test.ts).
 *
 * Number points are always `as_double`: counter and gauge values are JavaScript numbers (CPU cores
 * and percentages are fractional, delta arithmetic happens in doubles), and a series whose points
 * flipped between `as_int` and `as_double` from one push to the next could be treated as a type
 * change by a receiver. A double carries every integer up to 2^53 exactly, so nothing is lost.
 */
import type { Attributes, BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from '../../push/types.js';
import { nanosDecimalFromMs, nanosFromMs, ProtoWriter, uint64Decimal, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from '../../wire/protobuf-writer.js';

export interface InstrumentationScope {
  readonly name: string;
  readonly version?: string;
}

/** OTLP AggregationTemporality values (not the SDK's enum, which numbers them differently). */
export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;

function temporalityOf(batch: MetricBatch): number {
  return batch.temporality === 'delta' ? TEMPORALITY_DELTA : TEMPORALITY_CUMULATIVE;
}

const TWO_32 = 0x1_0000_0000;

/**
 * Encoded attributes already in the buffer, by key then value: the attributes of a batch repeat
 * (one project id, a few regions, each app's id and name on every one of its series and in every
 * metric), so each distinct pair is encoded once and copied afterwards. The bytes cached include
 * the field tag, so there is one cache per field number (7 in number points, 9 in histogram
 * points, 1 in the resource). The number packs where the bytes are (`mark()` after writing, which
 * is where they start, counted from the end) and their length: `fromEnd * 2^16 + length`.
 */
type AttrCache = Map<string, Map<string, number>>;
const MAX_CACHED_LEN = 0xffff;

interface AttrCaches {
  readonly number: AttrCache;
  readonly histogram: AttrCache;
}

/** One KeyValue with a string AnyValue and its tag; returns its cache entry (or -1: not cached). */
function writeStringKeyValue(w: ProtoWriter, field: number, key: string, value: string): number {
  const m0 = w.mark();
  // AnyValue { string_value = 1 }
  const v0 = w.mark();
  w.string(value);
  w.tag(1, WIRE_LEN);
  w.lengthSince(v0);
  w.tag(2, WIRE_LEN);
  w.string(key);
  w.tag(1, WIRE_LEN);
  w.lengthSince(m0);
  w.tag(field, WIRE_LEN);
  const start = w.mark();
  const len = start - m0;
  return len <= MAX_CACHED_LEN ? start * 0x10000 + len : -1;
}

/**
 * The attributes of one point, in order. Cached pairs that were written next to each other before
 * (the same labels on another series of the app, or in another metric) are copied as one run, so
 * a point whose labels all repeat costs one or two copies rather than one per label.
 */
function writeAttributes(w: ProtoWriter, field: number, attrs: Attributes, cache: AttrCache): void {
  let runStart = 0; // fromEnd of the run's first byte (0: no run pending)
  let runLen = 0;
  for (let j = attrs.length - 1; j >= 0; j--) {
    const a = attrs[j];
    let byValue = cache.get(a[0]);
    if (byValue === undefined) cache.set(a[0], (byValue = new Map()));
    const ref = byValue.get(a[1]);
    if (ref !== undefined) {
      const start = Math.floor(ref / 0x10000);
      const len = ref & 0xffff;
      // Written backwards, this pair goes in front of the run: mergeable if it ends where the run starts.
      if (runLen !== 0 && start - len === runStart) {
        runLen += len;
        runStart = start;
      } else {
        if (runLen !== 0) w.copyWritten(runStart, runLen);
        runStart = start;
        runLen = len;
      }
      continue;
    }
    if (runLen !== 0) {
      w.copyWritten(runStart, runLen);
      runLen = 0;
    }
    const entry = writeStringKeyValue(w, field, a[0], a[1]);
    if (entry >= 0) byValue.set(a[1], entry);
  }
  if (runLen !== 0) w.copyWritten(runStart, runLen);
}

interface Times {
  readonly sLo: number;
  readonly sHi: number;
  readonly tLo: number;
  readonly tHi: number;
}

/** A data point's time_unix_nano (3) and start_time_unix_nano (2), written back to front as everything here; the same fields in every point type. */
function writePointTimes(w: ProtoWriter, t: Times): void {
  w.fixed64(t.tLo, t.tHi);
  w.tag(3, WIRE_FIXED64);
  w.fixed64(t.sLo, t.sHi);
  w.tag(2, WIRE_FIXED64);
}

function writeNumberPoints(w: ProtoWriter, points: BatchMetric['points'], t: Times, cache: AttrCache): void {
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i] as NumberPoint;
    const p0 = w.mark();
    writeAttributes(w, 7, p.attributes, cache);
    w.double(p.value);
    w.tag(4, WIRE_FIXED64);
    writePointTimes(w, t);
    w.lengthSince(p0);
    w.tag(1, WIRE_LEN);
  }
}

function writeHistogramPoints(w: ProtoWriter, m: BatchMetric, t: Times, cache: AttrCache): void {
  const bounds = m.bounds ?? [];
  const points = m.points;
  // The bounds are the same on every point: write them once, copy them afterwards.
  let boundsRef = -1;
  let boundsLen = 0;
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i] as HistogramPoint;
    const counts = p.bucketCounts;
    if (counts.length !== bounds.length + 1) {
      throw new Error(`histogram ${m.name}: ${counts.length} bucket counts for ${bounds.length} bounds (want bounds + 1)`);
    }
    const p0 = w.mark();
    writeAttributes(w, 9, p.attributes, cache);
    if (bounds.length > 0) {
      if (boundsRef < 0) {
        const b0 = w.mark();
        w.packedDoubles(7, bounds);
        boundsRef = w.mark();
        boundsLen = boundsRef - b0;
      } else {
        w.copyWritten(boundsRef, boundsLen);
      }
    }
    w.packedFixed64(6, counts);
    w.double(p.sum);
    w.tag(5, WIRE_FIXED64);
    w.fixed64Number(p.count);
    w.tag(4, WIRE_FIXED64);
    writePointTimes(w, t);
    w.lengthSince(p0);
    w.tag(1, WIRE_LEN);
  }
}

function writeMetric(w: ProtoWriter, m: BatchMetric, temporality: number, t: Times, caches: AttrCaches): void {
  const m0 = w.mark();
  const d0 = w.mark();
  let dataField: number;
  if (m.type === 'counter') {
    w.varint32(1); // is_monotonic
    w.tag(3, WIRE_VARINT);
    w.varint32(temporality);
    w.tag(2, WIRE_VARINT);
    writeNumberPoints(w, m.points, t, caches.number);
    dataField = 7;
  } else if (m.type === 'gauge') {
    writeNumberPoints(w, m.points, t, caches.number);
    dataField = 5;
  } else {
    w.varint32(temporality);
    w.tag(2, WIRE_VARINT);
    writeHistogramPoints(w, m, t, caches.histogram);
    dataField = 9;
  }
  w.lengthSince(d0);
  w.tag(dataField, WIRE_LEN);
  if (m.unit !== '') {
    w.string(m.unit);
    w.tag(3, WIRE_LEN);
  }
  if (m.description !== '') {
    w.string(m.description);
    w.tag(2, WIRE_LEN);
  }
  w.string(m.name);
  w.tag(1, WIRE_LEN);
  w.lengthSince(m0);
}

export function writeScope(w: ProtoWriter, field: number, scope: InstrumentationScope): void {
  const s0 = w.mark();
  if (scope.version !== undefined && scope.version !== '') {
    w.string(scope.version);
    w.tag(2, WIRE_LEN);
  }
  w.string(scope.name);
  w.tag(1, WIRE_LEN);
  w.lengthSince(s0);
  w.tag(field, WIRE_LEN);
}

/** Resource { attributes = 1 } with its tag. */
export function writeResource(w: ProtoWriter, field: number, resource: Attributes): void {
  const r0 = w.mark();
  writeAttributes(w, 1, resource, new Map());
  w.lengthSince(r0);
  w.tag(field, WIRE_LEN);
}

function estimateSize(batch: MetricBatch): number {
  let n = 1024;
  for (const m of batch.metrics) {
    const attrs = m.points.length > 0 ? m.points[0].attributes.length : 0;
    const per = 40 + attrs * 40 + (m.type === 'histogram' ? 32 + 16 * ((m.bounds?.length ?? 0) + 1) : 0);
    n += 128 + m.points.length * per;
  }
  return n;
}

function timesOf(batch: MetricBatch): Times {
  const s = nanosFromMs(batch.startMs);
  const t = nanosFromMs(batch.timeMs);
  return { sLo: s.lo, sHi: s.hi, tLo: t.lo, tHi: t.hi };
}

/** The batch as a protobuf ExportMetricsServiceRequest (one ResourceMetrics, one ScopeMetrics). */
export function encodeMetricsProtobuf(batch: MetricBatch, resource: Attributes, scope: InstrumentationScope): Uint8Array {
  const w = new ProtoWriter(estimateSize(batch));
  const caches: AttrCaches = { number: new Map(), histogram: new Map() };
  const times = timesOf(batch);
  const temporality = temporalityOf(batch);
  const rm0 = w.mark();
  const sm0 = w.mark();
  for (let i = batch.metrics.length - 1; i >= 0; i--) {
    const m = batch.metrics[i];
    if (m.points.length === 0) continue;
    writeMetric(w, m, temporality, times, caches);
    w.tag(2, WIRE_LEN);
  }
  writeScope(w, 1, scope);
  w.lengthSince(sm0);
  w.tag(2, WIRE_LEN);
  writeResource(w, 1, resource);
  w.lengthSince(rm0);
  w.tag(1, WIRE_LEN);
  const out = w.finish();
  // A view keeps the whole buffer alive; when most of it is unused (a poor estimate), copy.
  return out.length * 2 < w.buf.length ? out.slice() : out;
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON: the proto3 JSON mapping with lowerCamelCase names, 64-bit integers (fixed64
// included) as decimal strings, enums as integers, non-finite doubles as "NaN"/"Infinity".

/** A double as proto3 JSON writes it. */
export function jsonDouble(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

/** A non-negative integer count as a JSON uint64 string, exact beyond 2^53. */
export function jsonUint64(v: number): string {
  if (!(v >= 0)) throw new RangeError(`negative or NaN count: ${v}`);
  if (v < 9007199254740992) return `"${Math.floor(v)}"`;
  return `"${uint64Decimal(v >>> 0, Math.floor(v / TWO_32) >>> 0)}"`;
}

type JsonAttrCache = Map<string, Map<string, string>>;

function jsonStringKeyValues(attrs: Attributes, cache: JsonAttrCache): string {
  let out = '[';
  for (let j = 0; j < attrs.length; j++) {
    const [k, v] = attrs[j];
    let byValue = cache.get(k);
    if (byValue === undefined) cache.set(k, (byValue = new Map()));
    let s = byValue.get(v);
    if (s === undefined) {
      s = `{"key":${JSON.stringify(k)},"value":{"stringValue":${JSON.stringify(v)}}}`;
      byValue.set(v, s);
    }
    out += j === 0 ? s : ',' + s;
  }
  return out + ']';
}

function jsonMetric(m: BatchMetric, temporality: number, start: string, time: string, cache: JsonAttrCache): string {
  let out = `{"name":${JSON.stringify(m.name)}`;
  if (m.description !== '') out += `,"description":${JSON.stringify(m.description)}`;
  if (m.unit !== '') out += `,"unit":${JSON.stringify(m.unit)}`;
  const times = `"startTimeUnixNano":"${start}","timeUnixNano":"${time}"`;
  const pts: string[] = [];
  if (m.type === 'histogram') {
    const bounds = m.bounds ?? [];
    const boundsJson = bounds.length > 0 ? `,"explicitBounds":[${bounds.map(jsonDouble).join(',')}]` : '';
    for (const raw of m.points) {
      const p = raw as HistogramPoint;
      if (p.bucketCounts.length !== bounds.length + 1) {
        throw new Error(`histogram ${m.name}: ${p.bucketCounts.length} bucket counts for ${bounds.length} bounds (want bounds + 1)`);
      }
      const counts: string[] = [];
      for (let i = 0; i < p.bucketCounts.length; i++) counts.push(jsonUint64(p.bucketCounts[i]));
      pts.push(
        `{"attributes":${jsonStringKeyValues(p.attributes, cache)},${times},"count":${jsonUint64(p.count)},"sum":${jsonDouble(p.sum)},"bucketCounts":[${counts.join(',')}]${boundsJson}}`,
      );
    }
    return `${out},"histogram":{"dataPoints":[${pts.join(',')}],"aggregationTemporality":${temporality}}}`;
  }
  for (const raw of m.points) {
    const p = raw as NumberPoint;
    pts.push(`{"attributes":${jsonStringKeyValues(p.attributes, cache)},${times},"asDouble":${jsonDouble(p.value)}}`);
  }
  if (m.type === 'counter') {
    return `${out},"sum":{"dataPoints":[${pts.join(',')}],"aggregationTemporality":${temporality},"isMonotonic":true}}`;
  }
  return `${out},"gauge":{"dataPoints":[${pts.join(',')}]}}`;
}

export function jsonScope(scope: InstrumentationScope): string {
  let s = `{"name":${JSON.stringify(scope.name)}`;
  if (scope.version !== undefined && scope.version !== '') s += `,"version":${JSON.stringify(scope.version)}`;
  return s + '}';
}

export function jsonResource(resource: Attributes): string {
  return `{"attributes":${jsonStringKeyValues(resource, new Map())}}`;
}

/** The batch as an OTLP/JSON ExportMetricsServiceRequest. */
export function encodeMetricsJson(batch: MetricBatch, resource: Attributes, scope: InstrumentationScope): string {
  const start = nanosDecimalFromMs(batch.startMs);
  const time = nanosDecimalFromMs(batch.timeMs);
  const temporality = temporalityOf(batch);
  const cache: JsonAttrCache = new Map();
  const metrics: string[] = [];
  for (const m of batch.metrics) {
    if (m.points.length === 0) continue;
    metrics.push(jsonMetric(m, temporality, start, time, cache));
  }
  return `{"resourceMetrics":[{"resource":${jsonResource(resource)},"scopeMetrics":[{"scope":${jsonScope(scope)},"metrics":[${metrics.join(',')}]}]}]}`;
}
