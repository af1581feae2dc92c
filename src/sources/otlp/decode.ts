/**
 * `ExportMetricsServiceRequest` bodies, protobuf or OTLP/JSON, into one plain shape the receiver
 * applies. Only structure is checked here (a body that is not OTLP is an OtlpBodyError, which the
 * route answers with 400); whether each point can be taken is the receiver's decision, per point.
 *
 * Times become milliseconds; attribute values become the strings Prometheus' translation makes of
 * them (strings as they are, numbers and booleans as text, arrays and maps as JSON).
 */
import { ProtoError, ProtoReader } from '../../wire/protobuf-reader.js';

export class OtlpBodyError extends Error {}

/** Attributes as a flat list: key, value, key, value, ... (one array per point, not one per pair). */
export type Attributes = string[];

/**
 * A point's attributes. `key` is exact (the same key, the same attributes as sent: their encoded
 * bytes, or their JSON) and always there; `list()` decodes them, which a receiver that already
 * knows the key's series never needs to do. Decoding can fail (OtlpBodyError) for protobuf
 * attributes, whose content is only checked then.
 */
export interface PointAttributes {
  readonly key: string;
  list(): Attributes;
}

export interface NumberPointIn {
  readonly attributes: PointAttributes;
  readonly startMs: number;
  readonly timeMs: number;
  /** undefined when the point carries neither as_double nor as_int. */
  readonly value: number | undefined;
  readonly flags: number;
}

/** An exemplar of a histogram point: the trace and span it came from (hex), its value and time. */
export interface ExemplarIn {
  readonly value: number;
  readonly timeMs: number;
  readonly traceId: string;
  readonly spanId: string;
}

export interface HistogramPointIn {
  readonly attributes: PointAttributes;
  /** Only when the point has any. */
  readonly exemplars?: ExemplarIn[];
  readonly startMs: number;
  readonly timeMs: number;
  readonly count: number;
  readonly sum: number | undefined;
  readonly bucketCounts: number[];
  readonly bounds: number[];
  readonly flags: number;
}

export type MetricData =
  | { readonly kind: 'gauge'; readonly points: NumberPointIn[] }
  | { readonly kind: 'sum'; readonly temporality: number; readonly monotonic: boolean; readonly points: NumberPointIn[] }
  | { readonly kind: 'histogram'; readonly temporality: number; readonly points: HistogramPointIn[] }
  /** Kinds the receiver refuses: only their points are counted, for the partial success. */
  | { readonly kind: 'exponential_histogram' | 'summary' | 'none'; readonly pointCount: number };

export interface MetricIn {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly data: MetricData;
}

export interface ResourceMetricsIn {
  readonly attributes: Attributes;
  readonly metrics: MetricIn[];
}

/** OTLP's AggregationTemporality. */
export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;

/** OTLP's DataPointFlags.FLAG_NO_RECORDED_VALUE: the series ended (Prometheus writes a staleness marker). */
export const FLAG_NO_RECORDED_VALUE = 1;


// ---- protobuf ----------------------------------------------------------------------------------
// One reader walks the whole body: nested messages are entered and left by position (enter/leave)
// instead of a reader object each, and attributes are flat [key, value, ...] arrays, so a
// 1,000-point request allocates little beyond the points themselves.

const LEN = 2;
const tagOf = (field: number, wire: number): number => (field << 3) | wire;

export function decodeProtobuf(body: Uint8Array): ResourceMetricsIn[] {
  try {
    const r = new ProtoReader(body);
    const out: ResourceMetricsIn[] = [];
    while (r.more()) {
      const tag = r.tag();
      if (tag === tagOf(1, LEN)) out.push(resourceMetrics(r, r.enter()));
      else r.skip(tag & 7);
    }
    return out;
  } catch (err) {
    if (err instanceof ProtoError) throw new OtlpBodyError(`the body is not a valid protobuf ExportMetricsServiceRequest: ${err.message}`);
    throw err;
  }
}

function resourceMetrics(r: ProtoReader, end: number): ResourceMetricsIn {
  const attributes: string[] = [];
  const metrics: MetricIn[] = [];
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(1, LEN)) {
      const resEnd = r.enter();
      while (r.pos < resEnd) {
        const t = r.tag();
        if (t === tagOf(1, LEN)) keyValue(r, r.enter(), attributes);
        else r.skip(t & 7);
      }
      r.leave(resEnd);
    } else if (tag === tagOf(2, LEN)) {
      const scopeEnd = r.enter();
      while (r.pos < scopeEnd) {
        const t = r.tag();
        if (t === tagOf(2, LEN)) metrics.push(metric(r, r.enter()));
        else r.skip(t & 7);
      }
      r.leave(scopeEnd);
    } else r.skip(tag & 7);
  }
  r.leave(end);
  return { attributes, metrics };
}

/** Appends one KeyValue's key and value (as label text) to `out`. */
function keyValue(r: ProtoReader, end: number, out: string[]): void {
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(1, LEN)) key = r.string();
    else if (tag === tagOf(2, LEN)) {
      const vEnd = r.enter();
      value = anyValueText(anyValue(r, vEnd));
    } else r.skip(tag & 7);
  }
  r.leave(end);
  out.push(key, value);
}

type Any = string | number | boolean | Any[] | { [k: string]: Any } | undefined;

function anyValue(r: ProtoReader, end: number): Any {
  let v: Any;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case tagOf(1, LEN): v = r.string(); break;
      case tagOf(2, 0): v = r.varint() !== 0; break;
      case tagOf(3, 0): v = r.int64(); break;
      case tagOf(4, 1): v = r.double(); break;
      case tagOf(5, LEN): {
        const arrEnd = r.enter();
        const items: Any[] = [];
        while (r.pos < arrEnd) {
          const t = r.tag();
          if (t === tagOf(1, LEN)) items.push(anyValue(r, r.enter()));
          else r.skip(t & 7);
        }
        r.leave(arrEnd);
        v = items;
        break;
      }
      case tagOf(6, LEN): {
        const listEnd = r.enter();
        const obj: { [k: string]: Any } = {};
        while (r.pos < listEnd) {
          const t = r.tag();
          if (t === tagOf(1, LEN)) {
            const kvEnd = r.enter();
            let k = '';
            let val: Any;
            while (r.pos < kvEnd) {
              const tt = r.tag();
              if (tt === tagOf(1, LEN)) k = r.string();
              else if (tt === tagOf(2, LEN)) val = anyValue(r, r.enter());
              else r.skip(tt & 7);
            }
            r.leave(kvEnd);
            obj[k] = val;
          } else r.skip(t & 7);
        }
        r.leave(listEnd);
        v = obj;
        break;
      }
      case tagOf(7, LEN): v = Buffer.from(r.bytes()).toString('base64'); break;
      default: r.skip(tag & 7);
    }
  }
  r.leave(end);
  return v;
}

/** An attribute value as the label value Prometheus' translation makes of it (pcommon's AsString). */
function anyValueText(v: Any): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function metric(r: ProtoReader, end: number): MetricIn {
  let name = '';
  let description = '';
  let unit = '';
  let data: MetricData = { kind: 'none', pointCount: 0 };
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case tagOf(1, LEN): name = r.string(); break;
      case tagOf(2, LEN): description = r.string(); break;
      case tagOf(3, LEN): unit = r.string(); break;
      case tagOf(5, LEN): data = numberData(r, r.enter(), 'gauge'); break;
      case tagOf(7, LEN): data = numberData(r, r.enter(), 'sum'); break;
      case tagOf(9, LEN): data = histogramData(r, r.enter()); break;
      case tagOf(10, LEN): data = { kind: 'exponential_histogram', pointCount: countPoints(r, r.enter()) }; break;
      case tagOf(11, LEN): data = { kind: 'summary', pointCount: countPoints(r, r.enter()) }; break;
      default: r.skip(tag & 7);
    }
  }
  r.leave(end);
  return { name, description, unit, data };
}

/** The number of data points (field 1) of a kind that is refused, its content skipped. */
function countPoints(r: ProtoReader, end: number): number {
  let n = 0;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(1, LEN)) n++;
    r.skip(tag & 7);
  }
  r.leave(end);
  return n;
}

function numberData(r: ProtoReader, end: number, kind: 'gauge' | 'sum'): MetricData {
  const points: NumberPointIn[] = [];
  let temporality = 0;
  let monotonic = false;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(1, LEN)) points.push(numberPoint(r, r.enter()));
    else if (tag === tagOf(2, 0)) temporality = r.varint();
    else if (tag === tagOf(3, 0)) monotonic = r.varint() !== 0;
    else r.skip(tag & 7);
  }
  r.leave(end);
  return kind === 'gauge' ? { kind, points } : { kind, temporality, monotonic, points };
}

const NO_ATTRIBUTES: PointAttributes = { key: '', list: () => [] };

/**
 * A point's attribute fields as they lie in the body: their byte runs (one run as SDKs write
 * them), decoded only when asked. The key is the runs' bytes, each after its length.
 */
class ProtoAttributes implements PointAttributes {
  constructor(
    private readonly r: ProtoReader,
    private readonly runs: number[],
    readonly key: string,
  ) {}

  list(): Attributes {
    const out: Attributes = [];
    try {
      for (let i = 0; i < this.runs.length; i += 2) {
        const r = this.r.at(this.runs[i], this.runs[i + 1]);
        while (r.more()) {
          r.tag();
          keyValue(r, r.enter(), out);
        }
      }
    } catch (err) {
      if (err instanceof ProtoError) throw new OtlpBodyError(`the point's attributes are not valid protobuf: ${err.message}`);
      throw err;
    }
    return out;
  }
}

/** Collects the byte runs of a point's attribute fields (`field` wire-type LEN) while it is read. */
class AttributeRuns {
  readonly runs: number[] = [];
  add(start: number, end: number): void {
    const n = this.runs.length;
    if (n > 0 && this.runs[n - 1] === start) this.runs[n - 1] = end;
    else this.runs.push(start, end);
  }
  done(r: ProtoReader): PointAttributes {
    if (this.runs.length === 0) return NO_ATTRIBUTES;
    let key = 'p';
    for (let i = 0; i < this.runs.length; i += 2) key += `${this.runs[i + 1] - this.runs[i]}:${r.bytesKey(this.runs[i], this.runs[i + 1])}`;
    return new ProtoAttributes(r, this.runs, key);
  }
}

function jsonPointAttributes(attributes: Attributes): PointAttributes {
  if (attributes.length === 0) return NO_ATTRIBUTES;
  return { key: `j${JSON.stringify(attributes)}`, list: () => attributes };
}

function numberPoint(r: ProtoReader, end: number): NumberPointIn {
  const runs = new AttributeRuns();
  let startMs = 0;
  let timeMs = 0;
  let value: number | undefined;
  let flags = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag();
    switch (tag) {
      case tagOf(7, LEN): r.skip(LEN); runs.add(at, r.pos); break;
      case tagOf(2, 1): startMs = r.fixed64NanosAsMillis(); break;
      case tagOf(3, 1): timeMs = r.fixed64NanosAsMillis(); break;
      case tagOf(4, 1): value = r.double(); break;
      case tagOf(6, 1): value = r.sfixed64(); break;
      case tagOf(8, 0): flags = r.varint(); break;
      default: r.skip(tag & 7);
    }
  }
  r.leave(end);
  return { attributes: runs.done(r), startMs, timeMs, value, flags };
}

function histogramData(r: ProtoReader, end: number): MetricData {
  const points: HistogramPointIn[] = [];
  let temporality = 0;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(1, LEN)) points.push(histogramPoint(r, r.enter()));
    else if (tag === tagOf(2, 0)) temporality = r.varint();
    else r.skip(tag & 7);
  }
  r.leave(end);
  return { kind: 'histogram', temporality, points };
}

const readFixed64 = (r: ProtoReader): number => r.fixed64();
const readDouble = (r: ProtoReader): number => r.double();

function histogramPoint(r: ProtoReader, end: number): HistogramPointIn {
  const runs = new AttributeRuns();
  let startMs = 0;
  let timeMs = 0;
  let count = 0;
  let sum: number | undefined;
  const bucketCounts: number[] = [];
  const bounds: number[] = [];
  let exemplars: ExemplarIn[] | undefined;
  let flags = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 6) r.repeated64(wire, readFixed64, bucketCounts);
    else if (field === 7) r.repeated64(wire, readDouble, bounds);
    else if (tag === tagOf(9, LEN)) {
      r.skip(LEN);
      runs.add(at, r.pos);
    }
    else if (tag === tagOf(2, 1)) startMs = r.fixed64NanosAsMillis();
    else if (tag === tagOf(3, 1)) timeMs = r.fixed64NanosAsMillis();
    else if (tag === tagOf(4, 1)) count = r.fixed64();
    else if (tag === tagOf(5, 1)) sum = r.double();
    else if (tag === tagOf(10, 0)) flags = r.varint();
    else if (tag === tagOf(8, LEN)) (exemplars ??= []).push(exemplar(r, r.enter()));
    else r.skip(wire);
  }
  r.leave(end);
  return { attributes: runs.done(r), ...(exemplars === undefined ? {} : { exemplars }), startMs, timeMs, count, sum, bucketCounts, bounds, flags };
}

function exemplar(r: ProtoReader, end: number): ExemplarIn {
  let value = NaN;
  let timeMs = 0;
  let traceId = '';
  let spanId = '';
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === tagOf(3, 1)) value = r.double();
    else if (tag === tagOf(6, 1)) value = r.sfixed64();
    else if (tag === tagOf(2, 1)) timeMs = r.fixed64NanosAsMillis();
    else if (tag === tagOf(5, LEN)) traceId = Buffer.from(r.bytes()).toString('hex');
    else if (tag === tagOf(4, LEN)) spanId = Buffer.from(r.bytes()).toString('hex');
    else r.skip(tag & 7);
  }
  r.leave(end);
  return { value, timeMs, traceId, spanId };
}

// ---- OTLP/JSON --------------------------------------------------------------------------------

/**
 * OTLP/JSON as the specification defines it: lowerCamelCase field names, 64-bit integers as
 * decimal strings (numbers accepted too), enums as integers, trace ids as hex (not read here).
 * Field names in their proto form (snake_case) are accepted as proto3 JSON parsers do.
 */
export function decodeJson(text: string): ResourceMetricsIn[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new OtlpBodyError(`the body is not valid JSON: ${(err as Error).message}`);
  }
  const root = obj(doc, 'the body');
  return arr(field(root, 'resourceMetrics', 'resource_metrics'), 'resourceMetrics').map((rm, i) => {
    const at = `resourceMetrics[${i}]`;
    const o = obj(rm, at);
    const resource = field(o, 'resource');
    const attributes = resource === undefined ? [] : jsonAttributes(field(obj(resource, `${at}.resource`), 'attributes'), `${at}.resource.attributes`);
    const metrics: MetricIn[] = [];
    arr(field(o, 'scopeMetrics', 'scope_metrics'), `${at}.scopeMetrics`).forEach((sm, j) => {
      const sat = `${at}.scopeMetrics[${j}]`;
      arr(field(obj(sm, sat), 'metrics'), `${sat}.metrics`).forEach((m, k) => metrics.push(jsonMetric(m, `${sat}.metrics[${k}]`)));
    });
    return { attributes, metrics };
  });
}

function fail(at: string, what: string): never {
  throw new OtlpBodyError(`${at}: ${what}`);
}

function obj(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at, 'must be a JSON object');
  return v as Record<string, unknown>;
}

function arr(v: unknown, at: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(at, 'must be a JSON array');
  return v;
}

function field(o: Record<string, unknown>, camel: string, snake?: string): unknown {
  const v = o[camel];
  return v !== undefined ? v : snake === undefined ? undefined : o[snake];
}

function str(v: unknown, at: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') fail(at, 'must be a string');
  return v;
}

/** An int64/uint64 field: a decimal string or a number. */
function int(v: unknown, at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return Number(v);
  return fail(at, `must be an integer (a decimal string or a number), got ${JSON.stringify(v)}`);
}

/** A nanosecond timestamp as whole milliseconds, exact (see ProtoReader.fixed64NanosAsMillis). */
function nanosAsMillis(v: unknown, at: string): number {
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return v.length <= 6 ? 0 : Number(v.slice(0, -6));
  return Math.floor(int(v, at) / 1e6);
}

/** A double field: a number, or one of proto3 JSON's "NaN", "Infinity", "-Infinity". */
function dbl(v: unknown, at: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return fail(at, `must be a number, got ${JSON.stringify(v)}`);
}

function enumValue(v: unknown, names: readonly string[], at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && names.includes(v)) return names.indexOf(v);
  return fail(at, `must be one of ${names.map((n, i) => `${i} (${n})`).join(', ')}`);
}

const TEMPORALITY_NAMES = ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA', 'AGGREGATION_TEMPORALITY_CUMULATIVE'];

function jsonAttributes(v: unknown, at: string): Attributes {
  const out: Attributes = [];
  arr(v, at).forEach((kv, i) => {
    const o = obj(kv, `${at}[${i}]`);
    const value = field(o, 'value');
    out.push(str(field(o, 'key'), `${at}[${i}].key`), anyValueText(value === undefined || value === null ? undefined : jsonAny(value, `${at}[${i}].value`)));
  });
  return out;
}

function jsonAny(v: unknown, at: string): Any {
  const o = obj(v, at);
  const s = field(o, 'stringValue', 'string_value');
  if (s !== undefined) return str(s, `${at}.stringValue`);
  const b = field(o, 'boolValue', 'bool_value');
  if (b !== undefined) {
    if (typeof b !== 'boolean') fail(`${at}.boolValue`, 'must be true or false');
    return b;
  }
  const i = field(o, 'intValue', 'int_value');
  if (i !== undefined) return int(i, `${at}.intValue`);
  const d = field(o, 'doubleValue', 'double_value');
  if (d !== undefined) return dbl(d, `${at}.doubleValue`);
  const a = field(o, 'arrayValue', 'array_value');
  if (a !== undefined) return arr(field(obj(a, `${at}.arrayValue`), 'values'), `${at}.arrayValue.values`).map((x, j) => jsonAny(x, `${at}.arrayValue.values[${j}]`));
  const kv = field(o, 'kvlistValue', 'kvlist_value');
  if (kv !== undefined) {
    const out: { [k: string]: Any } = {};
    arr(field(obj(kv, `${at}.kvlistValue`), 'values'), `${at}.kvlistValue.values`).forEach((e, j) => {
      const eo = obj(e, `${at}.kvlistValue.values[${j}]`);
      const ev = field(eo, 'value');
      out[str(field(eo, 'key'), `${at}.kvlistValue.values[${j}].key`)] = ev === undefined || ev === null ? undefined : jsonAny(ev, `${at}.kvlistValue.values[${j}].value`);
    });
    return out;
  }
  const bytes = field(o, 'bytesValue', 'bytes_value');
  if (bytes !== undefined) return str(bytes, `${at}.bytesValue`);
  return undefined;
}

function jsonMetric(v: unknown, at: string): MetricIn {
  const o = obj(v, at);
  const name = str(field(o, 'name'), `${at}.name`);
  const description = str(field(o, 'description'), `${at}.description`);
  const unit = str(field(o, 'unit'), `${at}.unit`);
  const gauge = field(o, 'gauge');
  const sum = field(o, 'sum');
  const histogram = field(o, 'histogram');
  let data: MetricData;
  if (gauge !== undefined) {
    data = { kind: 'gauge', points: jsonNumberPoints(field(obj(gauge, `${at}.gauge`), 'dataPoints', 'data_points'), `${at}.gauge.dataPoints`) };
  } else if (sum !== undefined) {
    const s = obj(sum, `${at}.sum`);
    const mono = field(s, 'isMonotonic', 'is_monotonic');
    if (mono !== undefined && typeof mono !== 'boolean') fail(`${at}.sum.isMonotonic`, 'must be true or false');
    data = {
      kind: 'sum',
      temporality: enumValue(field(s, 'aggregationTemporality', 'aggregation_temporality'), TEMPORALITY_NAMES, `${at}.sum.aggregationTemporality`),
      monotonic: mono === true,
      points: jsonNumberPoints(field(s, 'dataPoints', 'data_points'), `${at}.sum.dataPoints`),
    };
  } else if (histogram !== undefined) {
    const h = obj(histogram, `${at}.histogram`);
    data = {
      kind: 'histogram',
      temporality: enumValue(field(h, 'aggregationTemporality', 'aggregation_temporality'), TEMPORALITY_NAMES, `${at}.histogram.aggregationTemporality`),
      points: arr(field(h, 'dataPoints', 'data_points'), `${at}.histogram.dataPoints`).map((p, i) => jsonHistogramPoint(p, `${at}.histogram.dataPoints[${i}]`)),
    };
  } else {
    const exp = field(o, 'exponentialHistogram', 'exponential_histogram');
    const summary = field(o, 'summary');
    const other = exp ?? summary;
    const pointCount = other === undefined ? 0 : arr(field(obj(other, at), 'dataPoints', 'data_points'), `${at}.dataPoints`).length;
    data = { kind: exp !== undefined ? 'exponential_histogram' : summary !== undefined ? 'summary' : 'none', pointCount };
  }
  return { name, description, unit, data };
}

function jsonTimes(o: Record<string, unknown>, at: string): { startMs: number; timeMs: number; flags: number } {
  return {
    startMs: nanosAsMillis(field(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${at}.startTimeUnixNano`),
    timeMs: nanosAsMillis(field(o, 'timeUnixNano', 'time_unix_nano'), `${at}.timeUnixNano`),
    flags: int(field(o, 'flags'), `${at}.flags`),
  };
}

function jsonNumberPoints(v: unknown, at: string): NumberPointIn[] {
  return arr(v, at).map((p, i) => {
    const pat = `${at}[${i}]`;
    const o = obj(p, pat);
    const d = field(o, 'asDouble', 'as_double');
    const n = field(o, 'asInt', 'as_int');
    const value = d !== undefined && d !== null ? dbl(d, `${pat}.asDouble`) : n !== undefined && n !== null ? int(n, `${pat}.asInt`) : undefined;
    return { attributes: jsonPointAttributes(jsonAttributes(field(o, 'attributes'), `${pat}.attributes`)), ...jsonTimes(o, pat), value };
  });
}

function jsonHistogramPoint(p: unknown, at: string): HistogramPointIn {
  const o = obj(p, at);
  const sum = field(o, 'sum');
  const ex = arr(field(o, 'exemplars'), `${at}.exemplars`).map((e, i) => {
    const eo = obj(e, `${at}.exemplars[${i}]`);
    const d = field(eo, 'asDouble', 'as_double');
    const n = field(eo, 'asInt', 'as_int');
    return {
      value: d !== undefined && d !== null ? dbl(d, `${at}.exemplars[${i}].asDouble`) : n !== undefined && n !== null ? int(n, `${at}.exemplars[${i}].asInt`) : NaN,
      timeMs: nanosAsMillis(field(eo, 'timeUnixNano', 'time_unix_nano'), `${at}.exemplars[${i}].timeUnixNano`),
      traceId: str(field(eo, 'traceId', 'trace_id'), `${at}.exemplars[${i}].traceId`).toLowerCase(),
      spanId: str(field(eo, 'spanId', 'span_id'), `${at}.exemplars[${i}].spanId`).toLowerCase(),
    };
  });
  return {
    ...(ex.length === 0 ? {} : { exemplars: ex }),
    attributes: jsonPointAttributes(jsonAttributes(field(o, 'attributes'), `${at}.attributes`)),
    ...jsonTimes(o, at),
    count: int(field(o, 'count'), `${at}.count`),
    sum: sum === undefined || sum === null ? undefined : dbl(sum, `${at}.sum`),
    bucketCounts: arr(field(o, 'bucketCounts', 'bucket_counts'), `${at}.bucketCounts`).map((c, i) => int(c, `${at}.bucketCounts[${i}]`)),
    bounds: arr(field(o, 'explicitBounds', 'explicit_bounds'), `${at}.explicitBounds`).map((b, i) => dbl(b, `${at}.explicitBounds[${i}]`)),
  };
}
