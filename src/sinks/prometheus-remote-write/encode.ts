/**
 * A MetricBatch as a Prometheus remote write request, in protobuf (the sink compresses it with
 * snappy): 1.0's `prometheus.WriteRequest` and 2.0's `io.prometheus.write.v2.Request`, the
 * schemas vendored in src/wire/proto/prompb/.
 *
 * Mapping, the same in both versions: a counter or a gauge is one series with one float sample;
 * a histogram point is its classic series, `_bucket{le=...}` with cumulative counts (the `+Inf`
 * bucket included), `_sum` and `_count`, so receivers without native histograms store it and
 * `histogram_quantile` works on it. Labels are `__name__` and the point's attributes, sorted by
 * name in UTF-8 byte order as both specs require (so `__name__` is first only as long as no name
 * starts with a capital: `Z` sorts before `_`), with empty values left out (an empty label is no
 * label to Prometheus, and receivers may refuse one).
 * Every sample carries the batch's time, so a resend writes the same points again rather than new
 * ones. `le` values and names are written exactly as the scrape endpoint and the query API write
 * them (`formatValue`), so a series has the same labels everywhere.
 *
 * Series that were pushed before and are gone now (see stale.ts) get one sample with the
 * Prometheus staleness marker, the NaN with bits 0x7ff0000000000002, written as bits: a NaN
 * passed through a double could come out as the canonical one.
 *
 * Written with the backwards protobuf writer: labels that repeat (a project's, an app's, the 18
 * series of one histogram point) are written once per request and copied afterwards; in 2.0 they
 * become symbol references, looked up once per point rather than once per series.
 */
import type { MetricType } from '../../catalog/catalog.js';
import type { Attributes, BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from '../../push/types.js';
import { formatValue } from '../../exposition/escape.js';
import { ProtoWriter, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from '../../wire/protobuf-writer.js';

/** A series the previous successful push carried and this batch does not: one staleness marker. */
export interface GoneSeries {
  readonly name: string;
  readonly type: MetricType;
  readonly bounds?: readonly number[];
  readonly attributes: Attributes;
}

export interface EncodedRequest {
  /** The protobuf message, not yet compressed. */
  readonly bytes: Uint8Array;
  /** Samples in it (what a 2.0 receiver's Samples-Written header is compared with). */
  readonly samples: number;
}

/** Both specs' metric types (1.0 MetricMetadata.MetricType, 2.0 Metadata.MetricType share the numbers). */
const METRIC_TYPE: Readonly<Record<MetricType, number>> = { counter: 1, gauge: 2, histogram: 3 };

/** Stale NaN as the two halves of its bits (value/labels.ts of Prometheus: 0x7ff0000000000002). */
const STALE_LO = 0x00000002;
const STALE_HI = 0x7ff00000;

// ---------------------------------------------------------------------------------------------
// Labels in the order the specs require.

interface SortedLabels {
  readonly names: readonly string[];
  readonly values: readonly string[];
  /** How many of them sort before `__name__`. */
  readonly beforeName: number;
  /** How many sort before `le`. */
  readonly beforeLe: number;
  /** Index of an attribute named `le`, which a `_bucket` series' own `le` replaces; -1 when none. */
  readonly leAt: number;
}

/**
 * UTF-8 byte order, which is code point order. JavaScript's `<` compares UTF-16 units, which put
 * the surrogates of U+10000 and above before U+E000..U+FFFF; shifting them fixes that.
 */
export function compareLabelNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Sorted labels per attribute list. Snapshots hand a series the same attribute list on every push
 * (push/snapshot.ts caches it per series), so each is sorted once in its life, not once per push.
 */
const sortedCache = new WeakMap<Attributes, SortedLabels>();

function sortedLabels(attrs: Attributes): SortedLabels {
  let s = sortedCache.get(attrs);
  if (s !== undefined) return s;
  const kept = attrs.filter((a) => a[1] !== '' && a[0] !== '__name__');
  kept.sort((a, b) => compareLabelNames(a[0], b[0]));
  const names = kept.map((a) => a[0]);
  let beforeName = 0;
  let beforeLe = 0;
  for (const n of names) {
    if (compareLabelNames(n, '__name__') < 0) beforeName++;
    if (compareLabelNames(n, 'le') < 0) beforeLe++;
  }
  s = { names, values: kept.map((a) => a[1]), beforeName, beforeLe, leAt: names[beforeLe] === 'le' ? beforeLe : -1 };
  sortedCache.set(attrs, s);
  return s;
}

/** What a family's series are called and how its buckets are labelled, worked out once per request. */
interface FamilyNames {
  readonly name: string;
  readonly bucket: string;
  readonly sum: string;
  readonly count: string;
  /** `le` of every bucket, `+Inf` last. */
  readonly les: readonly string[];
}

const lesCache = new WeakMap<readonly number[], readonly string[]>();

function familyNames(name: string, type: MetricType, bounds: readonly number[] | undefined): FamilyNames {
  if (type !== 'histogram') return { name, bucket: '', sum: '', count: '', les: [] };
  const b = bounds ?? [];
  let les = lesCache.get(b);
  if (les === undefined) {
    les = [...b.map(formatValue), '+Inf'];
    lesCache.set(b, les);
  }
  return { name, bucket: `${name}_bucket`, sum: `${name}_sum`, count: `${name}_count`, les };
}

/** The unit as Prometheus words it, from the catalogue's UCUM unit (the OTLP translation's table). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', TiBy: 'tebibytes',
  KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes', TBy: 'terabytes',
  m: 'meters', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams', Cel: 'celsius', Hz: 'hertz', '%': 'percent', '1': '',
};
const PER_WORDS: Readonly<Record<string, string>> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/**
 * `s` → `seconds`, `By` → `bytes`, `By/s` → `bytes_per_second`; curly-brace annotations (`{run}`)
 * say what is counted, not a unit, and go (as in Prometheus' own OTLP translation, so a family
 * reaches Prometheus with the same unit through either sink).
 */
export function prometheusUnit(ucum: string): string {
  const u = ucum.replace(/\{[^}]*\}/g, '').trim();
  if (u === '') return '';
  const word = (x: string) => UNIT_WORDS[x] ?? (/^[A-Za-z0-9_]+$/.test(x) ? x : '');
  const slash = u.indexOf('/');
  if (slash < 0) return word(u);
  const top = word(u.slice(0, slash));
  const bottom = u.slice(slash + 1);
  const per = PER_WORDS[bottom] ?? word(bottom);
  if (per === '') return top;
  return top === '' ? `per_${per}` : `${top}_per_${per}`;
}

// ---------------------------------------------------------------------------------------------
// Pieces both versions share.

/** A varint's bytes, for the few values written into every sample (the timestamp). */
function varintBytes(prefix: number, v: number): Uint8Array {
  const out = [prefix];
  let n = Math.round(v);
  if (!(n >= 0) || n > Number.MAX_SAFE_INTEGER) throw new RangeError(`timestamp out of range: ${v}`);
  while (n > 0x7f) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/**
 * The bytes of a Sample (field 2 of a TimeSeries in both versions) around its value: in front the
 * tag, the length and the value's tag; behind it the timestamp's tag and varint. The same for
 * every sample of a request, so they are worked out once.
 */
interface SampleFrame {
  readonly head: Uint8Array;
  readonly tail: Uint8Array;
}

function sampleFrame(timeMs: number): SampleFrame {
  const tail = varintBytes((2 << 3) | WIRE_VARINT, timeMs); // timestamp = 2
  return { head: Uint8Array.from([(2 << 3) | WIRE_LEN, 9 + tail.length, (1 << 3) | WIRE_FIXED64]), tail };
}

function writeSample(w: ProtoWriter, f: SampleFrame, value: number): void {
  w.raw(f.tail);
  w.double(value);
  w.raw(f.head);
}

function writeStaleSample(w: ProtoWriter, f: SampleFrame): void {
  w.raw(f.tail);
  w.fixed64(STALE_LO, STALE_HI);
  w.raw(f.head);
}

/** Cumulative bucket counts of a point, in a scratch array reused across points. */
function cumulative(counts: ArrayLike<number>, scratch: Float64Array): Float64Array {
  const out = scratch.length >= counts.length ? scratch : new Float64Array(counts.length);
  let c = 0;
  for (let i = 0; i < counts.length; i++) {
    const v = counts[i];
    if (!(v >= 0)) throw new RangeError(`negative or NaN bucket count: ${v}`);
    out[i] = c += v;
  }
  return out;
}

function checkBuckets(m: { readonly name: string }, counts: ArrayLike<number>, les: readonly string[]): void {
  if (counts.length !== les.length) {
    throw new Error(`histogram ${m.name}: ${counts.length} bucket counts for ${les.length - 1} bounds (want bounds + 1)`);
  }
}

function estimateSize(batch: MetricBatch, gone: readonly GoneSeries[]): number {
  let n = 1024 + gone.length * 256;
  for (const m of batch.metrics) {
    const attrs = m.points.length > 0 ? m.points[0].attributes.length : 0;
    const series = m.type === 'histogram' ? (m.bounds?.length ?? 0) + 3 : 1;
    n += 256 + m.points.length * series * (32 + attrs * 8);
  }
  return n;
}

function finish(w: ProtoWriter): Uint8Array {
  const out = w.finish();
  // A view keeps the whole buffer alive; when most of it is unused (a poor estimate), copy.
  return out.length * 2 < w.buf.length ? out.slice() : out;
}

// ---------------------------------------------------------------------------------------------
// Remote write 1.0: prometheus.WriteRequest { timeseries = 1; metadata = 3 }.

/**
 * Encoded Labels already in the buffer, by name then value, as `fromEnd * 2^16 + length` (where
 * `mark()` was after writing it, and its size); a later series copies them instead of encoding.
 */
type LabelCache = Map<string, Map<string, number>>;
const MAX_CACHED_LEN = 0xffff;

/**
 * Writes Label messages last first, copying cached ones; cached labels that lie next to each
 * other in the buffer (the same neighbours in an earlier series) are copied as one run.
 */
class LabelRuns {
  private runStart = 0;
  private runLen = 0;

  constructor(
    private readonly w: ProtoWriter,
    private readonly cache: LabelCache,
  ) {}

  label(name: string, value: string): void {
    let byValue = this.cache.get(name);
    if (byValue === undefined) this.cache.set(name, (byValue = new Map()));
    const ref = byValue.get(value);
    if (ref !== undefined) {
      const start = Math.floor(ref / 0x10000);
      const len = ref & 0xffff;
      // Written backwards, this label goes in front of the run: one run if it ends where the run starts.
      if (this.runLen !== 0 && start - len === this.runStart) {
        this.runLen += len;
        this.runStart = start;
      } else {
        this.flush();
        this.runStart = start;
        this.runLen = len;
      }
      return;
    }
    this.flush();
    const w = this.w;
    const m0 = w.mark();
    w.string(value);
    w.tag(2, WIRE_LEN);
    w.string(name);
    w.tag(1, WIRE_LEN);
    w.lengthSince(m0);
    w.tag(1, WIRE_LEN); // TimeSeries.labels = 1
    const start = w.mark();
    const len = start - m0;
    if (len <= MAX_CACHED_LEN) byValue.set(value, start * 0x10000 + len);
  }

  flush(): void {
    if (this.runLen === 0) return;
    this.w.copyWritten(this.runStart, this.runLen);
    this.runLen = 0;
  }
}

/** A series' labels, last first: the attributes with `__name__` (and a bucket's `le`) in their sorted places. */
function writeLabelsV1(runs: LabelRuns, s: SortedLabels, name: string, le: string | undefined): void {
  const { names, values, beforeName, beforeLe } = s;
  const skip = le === undefined ? -1 : s.leAt;
  for (let i = names.length - 1; i >= -1; i--) {
    const gap = i + 1; // between names[i] and names[i + 1]; `__name__` sorts before `le`
    if (le !== undefined && beforeLe === gap) runs.label('le', le);
    if (beforeName === gap) runs.label('__name__', name);
    if (i >= 0 && i !== skip) runs.label(names[i], values[i]);
  }
  runs.flush();
}

function seriesV1(w: ProtoWriter, runs: LabelRuns, f: SampleFrame, s: SortedLabels, name: string, le: string | undefined, value: number, stale: boolean): void {
  const s0 = w.mark();
  if (stale) writeStaleSample(w, f);
  else writeSample(w, f, value);
  writeLabelsV1(runs, s, name, le);
  w.lengthSince(s0);
  w.tag(1, WIRE_LEN); // WriteRequest.timeseries = 1
}

/** A histogram point's series, last first: `_count`, `_sum`, then the buckets from `+Inf` down. */
function histogramV1(w: ProtoWriter, runs: LabelRuns, f: SampleFrame, n: FamilyNames, s: SortedLabels, p: HistogramPoint | undefined, scratch: Float64Array): Float64Array {
  const stale = p === undefined;
  seriesV1(w, runs, f, s, n.count, undefined, stale ? 0 : p.count, stale);
  seriesV1(w, runs, f, s, n.sum, undefined, stale ? 0 : p.sum, stale);
  let cum = scratch;
  if (!stale) {
    checkBuckets(n, p.bucketCounts, n.les);
    cum = cumulative(p.bucketCounts, scratch);
  }
  for (let b = n.les.length - 1; b >= 0; b--) seriesV1(w, runs, f, s, n.bucket, n.les[b], stale ? 0 : cum[b], stale);
  return cum;
}

function metadataV1(w: ProtoWriter, m: BatchMetric): void {
  const m0 = w.mark();
  const unit = prometheusUnit(m.unit);
  if (unit !== '') {
    w.string(unit);
    w.tag(5, WIRE_LEN);
  }
  if (m.description !== '') {
    w.string(m.description);
    w.tag(4, WIRE_LEN);
  }
  w.string(m.name);
  w.tag(2, WIRE_LEN); // metric_family_name
  w.varint32(METRIC_TYPE[m.type]);
  w.tag(1, WIRE_VARINT);
  w.lengthSince(m0);
  w.tag(3, WIRE_LEN); // WriteRequest.metadata = 3
}

/** The batch (and a marker for each gone series) as a remote write 1.0 WriteRequest. */
export function encodeWriteRequestV1(batch: MetricBatch, gone: readonly GoneSeries[] = []): EncodedRequest {
  const w = new ProtoWriter(estimateSize(batch, gone));
  const runs = new LabelRuns(w, new Map());
  const f = sampleFrame(batch.timeMs);
  let scratch: Float64Array = new Float64Array(32);
  let samples = 0;
  // Field order is timeseries, then metadata; written back to front, metadata comes first.
  for (let i = batch.metrics.length - 1; i >= 0; i--) if (batch.metrics[i].points.length > 0) metadataV1(w, batch.metrics[i]);
  for (let g = gone.length - 1; g >= 0; g--) {
    const x = gone[g];
    const s = sortedLabels(x.attributes);
    if (x.type === 'histogram') {
      const n = familyNames(x.name, x.type, x.bounds);
      histogramV1(w, runs, f, n, s, undefined, scratch);
      samples += n.les.length + 2;
    } else {
      seriesV1(w, runs, f, s, x.name, undefined, 0, true);
      samples++;
    }
  }
  for (let i = batch.metrics.length - 1; i >= 0; i--) {
    const m = batch.metrics[i];
    const points = m.points;
    if (m.type === 'histogram') {
      const n = familyNames(m.name, m.type, m.bounds);
      for (let j = points.length - 1; j >= 0; j--) {
        const p = points[j] as HistogramPoint;
        scratch = histogramV1(w, runs, f, n, sortedLabels(p.attributes), p, scratch);
      }
      samples += points.length * (n.les.length + 2);
    } else {
      for (let j = points.length - 1; j >= 0; j--) {
        const p = points[j] as NumberPoint;
        seriesV1(w, runs, f, sortedLabels(p.attributes), m.name, undefined, p.value, false);
      }
      samples += points.length;
    }
  }
  return { bytes: finish(w), samples };
}

// ---------------------------------------------------------------------------------------------
// Remote write 2.0: io.prometheus.write.v2.Request { symbols = 4; timeseries = 5 }.

/** The symbols table: every string once, `""` first as the spec requires. */
class Symbols {
  private readonly refs = new Map<string, number>([['', 0]]);
  readonly list: string[] = [''];

  ref(s: string): number {
    let r = this.refs.get(s);
    if (r === undefined) {
      r = this.list.length;
      this.list.push(s);
      this.refs.set(s, r);
    }
    return r;
  }
}

/** A family's symbol references, looked up once per request. */
interface FamilyRefs {
  readonly name: number;
  readonly bucket: number;
  readonly sum: number;
  readonly count: number;
  readonly les: readonly number[];
  /** Metadata (field 5 of a TimeSeries) with its tag, the same on every series of the family; empty for markers. */
  readonly metadata: Uint8Array;
}

function familyRefs(sym: Symbols, n: FamilyNames, m: BatchMetric | undefined): FamilyRefs {
  let metadata = new Uint8Array(0);
  if (m !== undefined) {
    const help = sym.ref(m.description);
    const unit = sym.ref(prometheusUnit(m.unit));
    const w = new ProtoWriter(64);
    const m0 = w.mark();
    if (unit !== 0) {
      w.varint32(unit);
      w.tag(4, WIRE_VARINT); // unit_ref
    }
    if (help !== 0) {
      w.varint32(help);
      w.tag(3, WIRE_VARINT); // help_ref
    }
    w.varint32(METRIC_TYPE[m.type]);
    w.tag(1, WIRE_VARINT);
    w.lengthSince(m0);
    w.tag(5, WIRE_LEN);
    metadata = w.finish().slice();
  }
  const hist = n.les.length > 0;
  return {
    name: sym.ref(n.name),
    bucket: hist ? sym.ref(n.bucket) : 0,
    sum: hist ? sym.ref(n.sum) : 0,
    count: hist ? sym.ref(n.count) : 0,
    les: n.les.map((le) => sym.ref(le)),
    metadata,
  };
}

/** Symbol references of a point's sorted labels, name then value, into a scratch array reused across points. */
function labelRefs(sym: Symbols, s: SortedLabels, scratch: Uint32Array): Uint32Array {
  const n = s.names.length;
  const out = scratch.length >= n * 2 ? scratch : new Uint32Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[2 * i] = sym.ref(s.names[i]);
    out[2 * i + 1] = sym.ref(s.values[i]);
  }
  return out;
}

interface V2Context {
  readonly w: ProtoWriter;
  readonly f: SampleFrame;
  /** References of the label names `__name__` and `le`. */
  readonly nameRef: number;
  readonly leRef: number;
}

/** The packed label references of one series, last first (values before names, so they read name, value). */
function writeRefsV2(w: ProtoWriter, s: SortedLabels, refs: Uint32Array, nameRef: number, metricRef: number, leRef: number, le: number): void {
  const l0 = w.mark();
  const { beforeName, beforeLe } = s;
  const skip = le < 0 ? -1 : s.leAt;
  for (let i = s.names.length - 1; i >= -1; i--) {
    const gap = i + 1;
    if (le >= 0 && beforeLe === gap) {
      w.varint32(le);
      w.varint32(leRef);
    }
    if (beforeName === gap) {
      w.varint32(metricRef);
      w.varint32(nameRef);
    }
    if (i >= 0 && i !== skip) {
      w.varint32(refs[2 * i + 1]);
      w.varint32(refs[2 * i]);
    }
  }
  w.lengthSince(l0);
  w.tag(1, WIRE_LEN); // labels_refs, packed
}

/** One TimeSeries; `created` is `created_timestamp` with its tag (empty for gauges and markers). */
function seriesV2(c: V2Context, s: SortedLabels, refs: Uint32Array, metricRef: number, le: number, value: number, stale: boolean, metadata: Uint8Array, created: Uint8Array): void {
  const w = c.w;
  const s0 = w.mark();
  // TimeSeries fields 1 labels_refs, 2 samples, 5 metadata, 6 created_timestamp: written last first.
  if (created.length > 0) w.raw(created);
  if (metadata.length > 0) w.raw(metadata);
  if (stale) writeStaleSample(w, c.f);
  else writeSample(w, c.f, value);
  writeRefsV2(w, s, refs, c.nameRef, metricRef, c.leRef, le);
  w.lengthSince(s0);
  w.tag(5, WIRE_LEN); // Request.timeseries = 5
}

function histogramV2(c: V2Context, r: FamilyRefs, n: FamilyNames, s: SortedLabels, refs: Uint32Array, p: HistogramPoint | undefined, scratch: Float64Array, created: Uint8Array): Float64Array {
  const stale = p === undefined;
  seriesV2(c, s, refs, r.count, -1, stale ? 0 : p.count, stale, r.metadata, created);
  seriesV2(c, s, refs, r.sum, -1, stale ? 0 : p.sum, stale, r.metadata, created);
  let cum = scratch;
  if (!stale) {
    checkBuckets(n, p.bucketCounts, n.les);
    cum = cumulative(p.bucketCounts, scratch);
  }
  for (let b = n.les.length - 1; b >= 0; b--) seriesV2(c, s, refs, r.bucket, r.les[b], stale ? 0 : cum[b], stale, r.metadata, created);
  return cum;
}

/**
 * The batch (and a marker for each gone series) as a remote write 2.0 Request. Every series
 * carries its family's metadata (type, help, unit) and, for counters and histograms, the batch's
 * start as its created timestamp: the time the cumulative count started from.
 */
export function encodeRequestV2(batch: MetricBatch, gone: readonly GoneSeries[] = []): EncodedRequest {
  const w = new ProtoWriter(estimateSize(batch, gone));
  const sym = new Symbols();
  // Nothing to send (a test connection): just the empty symbol the spec wants first.
  if (gone.length === 0 && batch.metrics.every((m) => m.points.length === 0)) {
    w.string('');
    w.tag(4, WIRE_LEN);
    return { bytes: finish(w), samples: 0 };
  }
  const c: V2Context = { w, f: sampleFrame(batch.timeMs), nameRef: sym.ref('__name__'), leRef: sym.ref('le') };
  const created = batch.startMs > 0 ? varintBytes((6 << 3) | WIRE_VARINT, batch.startMs) : new Uint8Array(0);
  const none = new Uint8Array(0);
  let scratch: Float64Array = new Float64Array(32);
  let refs: Uint32Array = new Uint32Array(32);
  let samples = 0;
  for (let g = gone.length - 1; g >= 0; g--) {
    const x = gone[g];
    const s = sortedLabels(x.attributes);
    const n = familyNames(x.name, x.type, x.bounds);
    const r = familyRefs(sym, n, undefined);
    refs = labelRefs(sym, s, refs);
    if (x.type === 'histogram') {
      histogramV2(c, r, n, s, refs, undefined, scratch, none);
      samples += n.les.length + 2;
    } else {
      seriesV2(c, s, refs, r.name, -1, 0, true, none, none);
      samples++;
    }
  }
  for (let i = batch.metrics.length - 1; i >= 0; i--) {
    const m = batch.metrics[i];
    const points = m.points;
    if (points.length === 0) continue;
    const n = familyNames(m.name, m.type, m.bounds);
    const r = familyRefs(sym, n, m);
    const ct = m.type === 'gauge' ? none : created;
    for (let j = points.length - 1; j >= 0; j--) {
      const p = points[j];
      const s = sortedLabels(p.attributes);
      refs = labelRefs(sym, s, refs);
      if (m.type === 'histogram') scratch = histogramV2(c, r, n, s, refs, p as HistogramPoint, scratch, ct);
      else seriesV2(c, s, refs, r.name, -1, (p as NumberPoint).value, false, r.metadata, ct);
    }
    samples += m.type === 'histogram' ? points.length * (n.les.length + 2) : points.length;
  }
  // Symbols (field 4) come before the series on the wire: written last, in reverse, so index i is list[i].
  for (let k = sym.list.length - 1; k >= 0; k--) {
    w.string(sym.list[k]);
    w.tag(4, WIRE_LEN);
  }
  return { bytes: finish(w), samples };
}
