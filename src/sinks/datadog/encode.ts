/**
 * A delta MetricBatch as Datadog series (v2 or v1 JSON) and distribution points, cut into
 * requests under Datadog's documented size limits. README.md says what maps to what and why.
 *
 * Work is in two steps so that a split push can be made lossless: `encodeUnits` turns the batch
 * into units (one Datadog series each, as JSON, with the amount it carries), and `packParts`
 * groups units into compressed request bodies. The sink keeps the parts of a push for its
 * retries, and the amounts of the parts that went out for the push after a failed one.
 */
import type { Attributes, BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from '../../push/types.js';

export type SeriesApi = 'v1' | 'v2';
export type Api = 'series' | 'distribution_points';

export interface Limits {
  /** Largest request body as sent (compressed), in bytes. */
  readonly compressed: number;
  /** The body before compression must be smaller than this. */
  readonly uncompressed: number;
}

/**
 * Datadog's documented limits. v2 series: "The maximum payload size is 500 kilobytes (512000
 * bytes). Compressed payloads must have a decompressed size of less than 5 megabytes (5242880
 * bytes)"; v1 series: 3.2 MB (3200000 bytes) and 62 MB (62914560 bytes). The distribution points
 * API documents none, so it gets the strictest of the others (v2's).
 */
export const LIMITS: Readonly<Record<SeriesApi | 'distribution_points', Limits>> = {
  v2: { compressed: 512_000, uncompressed: 5_242_880 },
  v1: { compressed: 3_200_000, uncompressed: 62_914_560 },
  distribution_points: { compressed: 512_000, uncompressed: 5_242_880 },
};

/** Datadog's longest tag and metric name, in characters. */
export const MAX_TAG_CHARS = 200;
export const MAX_METRIC_CHARS = 200;

/** Values one histogram series sends as a distribution per push, at most (plus one per non-empty bucket, see distributionValues). */
export const MAX_DISTRIBUTION_VALUES = 1000;

export interface EncodeOptions {
  readonly seriesApi: SeriesApi;
  readonly histograms: 'distributions' | 'counters';
  /** Seconds a count covers: the push interval. */
  readonly intervalS: number;
  /** Extra tags, already normalized (normalizeTag), on every series. */
  readonly extraTags: readonly string[];
  readonly maxDistributionValues?: number;
}

/** What a histogram unit carries: non-cumulative bucket counts and their sum. */
export interface HistogramAmount {
  readonly buckets: Float64Array;
  readonly sum: number;
}

export type Amount = number | HistogramAmount;

/** One Datadog series of a push. */
export interface Unit {
  readonly api: Api;
  readonly json: string;
  /** UTF-8 length of `json`. */
  readonly bytes: number;
  /** Identity of what it counts, for the delivered-amount bookkeeping; undefined for gauges, which a resend cannot inflate. */
  readonly name?: string;
  readonly key?: string;
  readonly sub?: string;
  readonly amount?: Amount;
}

/** The identity of a counting unit: the metric, the series key of the batch, and which of its Datadog series. */
export function unitId(u: Unit): string | undefined {
  return u.name === undefined ? undefined : `${u.name}\u0000${u.key}\u0000${u.sub}`;
}

/** Caches that live as long as a sink: label sets and tags repeat on every push. */
export interface EncodeCaches {
  /** JSON of a point's tags (labels, then the extra tags), without brackets, by the batch's attribute array. */
  readonly tagsByAttributes: WeakMap<Attributes, string>;
  /** JSON string of one normalized `key:value` tag, '' when the pair makes no tag. */
  readonly tagByPair: Map<string, Map<string, string>>;
  /** JSON string of a normalized metric name, by batch name and suffix. */
  readonly names: Map<string, string>;
  /** Entries in tagByPair: a sink can live for months while apps come and go, so the cache is emptied past a bound. */
  pairs: number;
}

/** Label pairs kept normalized at most; far more than a project's series limit allows at once. */
const MAX_CACHED_PAIRS = 200_000;

export function newCaches(): EncodeCaches {
  return { tagsByAttributes: new WeakMap(), tagByPair: new Map(), names: new Map(), pairs: 0 };
}

// ---------------------------------------------------------------------------------------------
// Names and tags, as Datadog would store them, so every receiver sees what Datadog would.

const TAG_INVALID = /[^\p{L}\p{N}_\-:./]/gu;
const UNDERSCORES = /_{2,}/g;
const LEADING_NON_LETTERS = /^[^\p{L}]+/u;

/**
 * A tag as Datadog stores it (docs: "Getting Started with Tags", "naming metrics and tags"):
 * lowercased; characters other than letters, digits, `_ - : . /` become `_`; runs of `_` are one;
 * a trailing `_` goes; it starts with a letter (anything before the first letter goes); at most
 * 200 characters (cut). Undefined when nothing is left, or it ends with `:` (an empty value).
 */
export function normalizeTag(raw: string): string | undefined {
  let t = raw.toLowerCase().replace(TAG_INVALID, '_').replace(UNDERSCORES, '_').replace(LEADING_NON_LETTERS, '');
  if (t.length > MAX_TAG_CHARS) {
    const chars = Array.from(t);
    if (chars.length > MAX_TAG_CHARS) t = chars.slice(0, MAX_TAG_CHARS).join('');
  }
  t = t.replace(/_+$/, '');
  if (t === '' || t.endsWith(':')) return undefined;
  return t;
}

/**
 * A metric name as Datadog takes it: ASCII letters, digits, `_` and `.` (Prometheus' `:` and
 * anything else become `_`), starting with a letter, at most 200 characters.
 */
export function normalizeMetricName(raw: string): string {
  const n = raw.replace(/[^A-Za-z0-9_.]/g, '_').replace(/^[^A-Za-z]+/, '').slice(0, MAX_METRIC_CHARS);
  return n === '' ? 'metric' : n;
}

/**
 * A bucket bound as the Datadog agent's OpenMetrics check writes its `upper_bound` tag:
 * Python's `str(float(le) or 0)`, so `0.5`, `1.0`, `1e-05`, `inf`, and `0` for zero.
 */
export function pythonFloat(v: number): string {
  if (v === 0) return '0';
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const [mantissa, expText] = Math.abs(v).toExponential().split('e');
  const exp = Number(expText);
  const digits = mantissa.replace('.', '');
  let out: string;
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      out = `${int}.${digits.slice(exp + 1) || '0'}`;
    } else {
      out = `0.${'0'.repeat(-exp - 1)}${digits}`;
    }
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return v < 0 ? `-${out}` : out;
}

function tagJson(caches: EncodeCaches, key: string, value: string): string {
  let byValue = caches.tagByPair.get(key);
  if (byValue === undefined) caches.tagByPair.set(key, (byValue = new Map()));
  let s = byValue.get(value);
  if (s === undefined) {
    // An empty label value is an absent label in Prometheus terms: no tag.
    const t = value === '' ? undefined : normalizeTag(`${key}:${value}`);
    s = t === undefined ? '' : JSON.stringify(t);
    byValue.set(value, s);
    caches.pairs++;
  }
  return s;
}

function tagsOf(caches: EncodeCaches, attrs: Attributes, extra: string): string {
  let s = caches.tagsByAttributes.get(attrs);
  if (s === undefined) {
    s = '';
    for (const [k, v] of attrs) {
      const t = tagJson(caches, k, v);
      if (t !== '') s = s === '' ? t : `${s},${t}`;
    }
    if (extra !== '') s = s === '' ? extra : `${s},${extra}`;
    caches.tagsByAttributes.set(attrs, s);
  }
  return s;
}

function nameJson(caches: EncodeCaches, name: string, suffix: string): string {
  const k = `${name}${suffix}`;
  let s = caches.names.get(k);
  if (s === undefined) {
    s = JSON.stringify(normalizeMetricName(name) + suffix);
    caches.names.set(k, s);
  }
  return s;
}

/** A JSON number short enough for a payload and close enough for a sketch (Datadog's are ~1% accurate). */
function short(v: number): string {
  return String(+v.toPrecision(6));
}

// ---------------------------------------------------------------------------------------------
// Distributions from bucket counts.

/**
 * Values that stand for a histogram's observations, since only bucket counts are known. Each
 * finite bucket's count becomes that many values spread evenly inside the bucket (the first
 * bucket from 0, as Meterway's histograms observe non-negative amounts), which is the
 * assumption Prometheus' histogram_quantile makes, so Datadog's percentiles come out as it would
 * interpolate them. The overflow bucket (above the last bound) has no upper end: its values sit
 * at the mean the sum leaves for them, and never below the last bound.
 *
 * At most `cap` values: above that, the counts are scaled down in proportion (largest
 * remainders), keeping one value for every non-empty bucket so a rare tail does not vanish.
 * Count and sum are exact in the `.count` and `.sum` series sent beside the distribution.
 */
export function distributionValues(bounds: readonly number[], buckets: ArrayLike<number>, sum: number, cap: number): number[] {
  const n = bounds.length;
  let total = 0;
  for (let i = 0; i < buckets.length; i++) total += buckets[i];
  if (!(total > 0)) return [];
  const lowerOf = (i: number) => (i === 0 ? (bounds[0] > 0 ? 0 : bounds[0]) : bounds[i - 1]);
  let finiteSum = 0;
  for (let i = 0; i < n; i++) finiteSum += buckets[i] * (lowerOf(i) + bounds[i]) / 2;
  const overflow = buckets[n] ?? 0;
  const overflowAt = overflow > 0 ? Math.max(n > 0 ? bounds[n - 1] : -Infinity, (sum - finiteSum) / overflow) : 0;
  const counts = total <= cap ? Array.from(buckets, (c) => Math.round(c)) : scaled(buckets, total, cap);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = counts[i];
    if (k <= 0) continue;
    const lo = lowerOf(i);
    const width = bounds[i] - lo;
    for (let j = 0; j < k; j++) out.push(lo + ((j + 0.5) * width) / k);
  }
  for (let j = 0; j < (counts[n] ?? 0); j++) out.push(Number.isFinite(overflowAt) ? overflowAt : 0);
  return out;
}

function scaled(buckets: ArrayLike<number>, total: number, cap: number): number[] {
  const exact = Array.from(buckets, (c) => (c * cap) / total);
  const counts = exact.map((x, i) => (buckets[i] > 0 ? Math.max(1, Math.floor(x)) : 0));
  let left = cap - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => i).sort((a, b) => (exact[b] - Math.floor(exact[b])) - (exact[a] - Math.floor(exact[a])));
  for (const i of order) {
    if (left <= 0) break;
    if (buckets[i] > 0 && exact[i] >= 1) {
      counts[i]++;
      left--;
    }
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Units.

class UnitWriter {
  readonly series: Unit[] = [];
  readonly distributions: Unit[] = [];
  private readonly ts: number;
  private readonly countHead: string;
  private readonly gaugeHead: string;

  constructor(
    batch: MetricBatch,
    private readonly opts: EncodeOptions,
    private readonly delivered: ReadonlyMap<string, Amount> | undefined,
  ) {
    this.ts = Math.floor(batch.timeMs / 1000);
    const v2 = opts.seriesApi === 'v2';
    this.countHead = v2 ? `,"type":1,"interval":${opts.intervalS},"points":[{"timestamp":${this.ts},"value":` : `,"type":"count","interval":${opts.intervalS},"points":[[${this.ts},`;
    this.gaugeHead = v2 ? `,"type":3,"points":[{"timestamp":${this.ts},"value":` : `,"type":"gauge","points":[[${this.ts},`;
  }

  private close(): string {
    return this.opts.seriesApi === 'v2' ? '}],"tags":[' : ']],"tags":[';
  }

  private minus(name: string, key: string, sub: string, v: number): number {
    if (this.delivered === undefined) return v;
    const d = this.delivered.get(`${name}\u0000${key}\u0000${sub}`);
    // A counter that restarted can fall below what was delivered: nothing more is owed.
    return typeof d === 'number' ? Math.max(0, v - d) : v;
  }

  count(metric: string, tags: string, name: string, key: string, sub: string, value: number): void {
    const v = this.minus(name, key, sub, value);
    const json = `{"metric":${metric}${this.countHead}${String(v)}${this.close()}${tags}]}`;
    this.series.push({ api: 'series', json, bytes: Buffer.byteLength(json), name, key, sub, amount: v });
  }

  gauge(metric: string, tags: string, value: number): void {
    // JSON has no NaN or Infinity, and Datadog no way to say them.
    if (!Number.isFinite(value)) return;
    const json = `{"metric":${metric}${this.gaugeHead}${String(value)}${this.close()}${tags}]}`;
    this.series.push({ api: 'series', json, bytes: Buffer.byteLength(json) });
  }

  distribution(metric: string, tags: string, name: string, key: string, bounds: readonly number[], p: HistogramPoint): void {
    let buckets = Float64Array.from(p.bucketCounts);
    let sum = p.sum;
    const d = this.delivered?.get(`${name}\u0000${key}\u0000dist`);
    if (d !== undefined && typeof d !== 'number') {
      let left = 0;
      buckets = buckets.map((c, i) => Math.max(0, c - (d.buckets[i] ?? 0)));
      for (const c of buckets) left += c;
      sum = left === 0 ? 0 : sum - d.sum;
    }
    const values = distributionValues(bounds, buckets, sum, this.opts.maxDistributionValues ?? MAX_DISTRIBUTION_VALUES);
    if (values.length === 0) return;
    let list = short(values[0]);
    for (let i = 1; i < values.length; i++) list += `,${short(values[i])}`;
    const json = `{"metric":${metric},"type":"distribution","points":[[${this.ts},[${list}]]],"tags":[${tags}]}`;
    this.distributions.push({ api: 'distribution_points', json, bytes: Buffer.byteLength(json), name, key, sub: 'dist', amount: { buckets, sum } });
  }
}

function extraTagsJson(tags: readonly string[]): string {
  return tags.map((t) => JSON.stringify(t)).join(',');
}

/**
 * The batch's Datadog series (and distributions), one unit each. `delivered` holds what parts of
 * an earlier, failed push over the same interval already delivered: it is taken off, so the
 * interval is counted once.
 */
export function encodeUnits(batch: MetricBatch, opts: EncodeOptions, caches: EncodeCaches, delivered?: ReadonlyMap<string, Amount>): { series: Unit[]; distributions: Unit[] } {
  if (caches.pairs > MAX_CACHED_PAIRS) {
    caches.tagByPair.clear();
    caches.pairs = 0;
  }
  const w = new UnitWriter(batch, opts, delivered);
  const extra = extraTagsJson(opts.extraTags);
  for (const m of batch.metrics) writeMetric(w, m, opts, caches, extra);
  return { series: w.series, distributions: w.distributions };
}

function writeMetric(w: UnitWriter, m: BatchMetric, opts: EncodeOptions, caches: EncodeCaches, extra: string): void {
  if (m.type === 'counter' || m.type === 'gauge') {
    const metric = nameJson(caches, m.name, '');
    for (let i = 0; i < m.points.length; i++) {
      const p = m.points[i] as NumberPoint;
      const tags = tagsOf(caches, p.attributes, extra);
      if (m.type === 'counter') w.count(metric, tags, m.name, m.keys[i], 'value', p.value);
      else w.gauge(metric, tags, p.value);
    }
    return;
  }
  const bounds = m.bounds ?? [];
  const countName = nameJson(caches, m.name, '.count');
  const sumName = nameJson(caches, m.name, '.sum');
  const distName = nameJson(caches, m.name, '');
  const bucketName = nameJson(caches, m.name, '.bucket');
  const upper = bounds.map((b) => JSON.stringify(normalizeTag(`upper_bound:${pythonFloat(b)}`) ?? 'upper_bound'));
  for (let i = 0; i < m.points.length; i++) {
    const p = m.points[i] as HistogramPoint;
    if (p.bucketCounts.length !== bounds.length + 1) {
      throw new Error(`histogram ${m.name}: ${p.bucketCounts.length} bucket counts for ${bounds.length} bounds (want bounds + 1)`);
    }
    const tags = tagsOf(caches, p.attributes, extra);
    const key = m.keys[i];
    w.count(countName, tags, m.name, key, 'count', p.count);
    w.count(sumName, tags, m.name, key, 'sum', p.sum);
    if (opts.histograms === 'distributions') {
      w.distribution(distName, tags, m.name, key, bounds, p);
      continue;
    }
    // Cumulative, as the agent's OpenMetrics check sends `le` buckets; the +Inf one is `.count`.
    let cumulative = 0;
    for (let b = 0; b < bounds.length; b++) {
      cumulative += p.bucketCounts[b];
      w.count(bucketName, tags === '' ? upper[b] : `${tags},${upper[b]}`, m.name, key, `bucket${b}`, cumulative);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Requests.

export interface Part {
  readonly api: Api;
  /** The compressed body. */
  readonly body: Buffer;
  /** Its size before compression. */
  readonly rawBytes: number;
  readonly units: readonly Unit[];
}

const OPEN = '{"series":[';
const CLOSE = ']}';

function bodyOf(units: readonly Unit[]): string {
  let s = OPEN;
  for (let i = 0; i < units.length; i++) s += i === 0 ? units[i].json : `,${units[i].json}`;
  return s + CLOSE;
}

/**
 * Units into request bodies under `limits`: filled up to the uncompressed limit, then any body
 * whose compressed size is over the other limit is cut in two until each fits. Throws when a
 * single unit is too large on its own.
 */
export async function packParts(units: readonly Unit[], api: Api, limits: Limits, compress: (body: string) => Promise<Buffer>): Promise<Part[]> {
  if (units.length === 0) return [];
  const groups: Unit[][] = [];
  let current: Unit[] = [];
  let size = OPEN.length + CLOSE.length;
  for (const u of units) {
    if (OPEN.length + CLOSE.length + u.bytes >= limits.uncompressed) {
      throw new Error(`one Datadog series is ${u.bytes} bytes, over the ${limits.uncompressed}-byte request limit on its own`);
    }
    const add = (current.length === 0 ? 0 : 1) + u.bytes;
    if (size + add >= limits.uncompressed) {
      groups.push(current);
      current = [];
      size = OPEN.length + CLOSE.length;
    }
    size += (current.length === 0 ? 0 : 1) + u.bytes;
    current.push(u);
  }
  groups.push(current);
  const parts = await Promise.all(groups.map((g) => fit(g, api, limits, compress)));
  return parts.flat();
}

async function fit(units: Unit[], api: Api, limits: Limits, compress: (body: string) => Promise<Buffer>): Promise<Part[]> {
  const text = bodyOf(units);
  const body = await compress(text);
  if (body.length <= limits.compressed) return [{ api, body, rawBytes: Buffer.byteLength(text), units }];
  if (units.length === 1) throw new Error(`one Datadog series compresses to ${body.length} bytes, over the ${limits.compressed}-byte request limit on its own`);
  const half = units.length >> 1;
  const [a, b] = await Promise.all([fit(units.slice(0, half), api, limits, compress), fit(units.slice(half), api, limits, compress)]);
  return [...a, ...b];
}
