/**
 * StatsD line protocol, DogStatsD (labels as `|#key:value` tags) or plain Etsy StatsD (labels
 * folded into the dotted name), packed into datagrams. Pure: the sink sends what this returns.
 * README.md says what every metric type becomes and how names and tags are escaped.
 */
import type { Attributes, BatchMetric, EventRecord, HistogramPoint, MetricBatch, NumberPoint } from '../../push/types.js';

export type Flavor = 'dogstatsd' | 'statsd';

export interface EncodeOptions {
  readonly flavor: Flavor;
  /** Validated by config.ts (dotted words, or ''); joined to every name with a dot. */
  readonly prefix: string;
  readonly maxDatagramBytes: number;
}

export interface Encoded {
  readonly datagrams: Buffer[];
  /**
   * Datagram i carries lines of the points firstPoint[i] to lastPoint[i] (points numbered in the
   * order of the batch, or records in the order given): a lost datagram loses those points.
   */
  readonly firstPoint: number[];
  readonly lastPoint: number[];
  readonly lines: number;
  /** How many points (or records) there were. */
  readonly points: number;
  /** Points of which a line was left out here: see `oversizeLines` and `unrepresentable`. */
  readonly droppedPoints: number[];
  /** Lines (or gauge reset pairs) longer than maxDatagramBytes on their own: dropped, never cut. */
  readonly oversizeLines: number;
  /** Values StatsD has no way to write (NaN, ±Inf): left out. */
  readonly unrepresentable: number;
}

// ---- escaping ---------------------------------------------------------------------------------

const WORD = /^[A-Za-z0-9_]*$/;
const NOT_WORD = /[^A-Za-z0-9_]/g;

/**
 * A metric name as one word of letters, digits and `_`. Prometheus names may hold `:`, which is
 * the name/value separator of the line protocol; both Datadog and Graphite read `_` where
 * Prometheus' own translation to other systems puts it.
 */
export function nameWord(name: string): string {
  return WORD.test(name) ? name : name.replace(NOT_WORD, '_');
}

const DD_SAFE_VALUE = /^[^|,#\u0000-\u001f\u007f]*$/;
const DD_UNSAFE_VALUE = /[|,#\u0000-\u001f\u007f]/g;
const DD_SAFE_KEY = /^[^|,#:\u0000-\u001f\u007f]*$/;
const DD_UNSAFE_KEY = /[|,#:\u0000-\u001f\u007f]/g;

/**
 * A DogStatsD tag value: `|` ends the tags field, `,` ends a tag, `#` starts tags and a line break
 * ends the line, so each (and every other control character) becomes `_`. Everything else is
 * left for the Agent, which applies Datadog's own tag rules (lower case, 200 characters).
 */
export function ddTagValue(v: string): string {
  return DD_SAFE_VALUE.test(v) ? v : v.replace(DD_UNSAFE_VALUE, '_');
}

/** A DogStatsD tag key: as a value, and `:` too, which would move the key/value split. */
export function ddTagKey(k: string): string {
  return DD_SAFE_KEY.test(k) ? k : k.replace(DD_UNSAFE_KEY, '_');
}

const GRAPHITE_SAFE = /^[A-Za-z0-9_-]*$/;

/**
 * One Graphite path segment, in the characters Etsy's StatsD keeps: a run of white space becomes
 * `_` and `/` becomes `-` (what StatsD itself does), and every other character outside
 * `[A-Za-z0-9_-]` becomes `_`: `.` would add a level, `:`, `|` and `@` would break the line, and
 * the rest StatsD would silently delete, merging `a:b` with `ab`.
 */
export function graphiteWord(s: string): string {
  if (GRAPHITE_SAFE.test(s)) return s;
  return s.replace(/\s+/gu, '_').replace(/\//g, '-').replace(/[^A-Za-z0-9_-]/gu, '_');
}

/** Labels in the line's own terms: DogStatsD `|#k:v,...` (with its UTF-8 size), StatsD `.k_v...`. */
interface LabelText {
  readonly text: string;
  readonly bytes: number;
}

const NO_LABELS: LabelText = { text: '', bytes: 0 };

/**
 * Label text by attribute list. A series' attribute list is built once and handed to every push
 * (snapshot.ts caches it, delta.ts passes it on), so each series is escaped once, not every push.
 */
const ddCache = new WeakMap<Attributes, LabelText>();
const graphiteCache = new WeakMap<Attributes, LabelText>();

function ddLabels(attributes: Attributes): LabelText {
  let t = ddCache.get(attributes);
  if (t === undefined) {
    if (attributes.length === 0) t = NO_LABELS;
    else {
      let text = '|#';
      for (let i = 0; i < attributes.length; i++) text += `${i === 0 ? '' : ','}${ddTagKey(attributes[i][0])}:${ddTagValue(attributes[i][1])}`;
      t = { text, bytes: Buffer.byteLength(text) };
    }
    ddCache.set(attributes, t);
  }
  return t;
}

function graphiteLabels(attributes: Attributes): LabelText {
  let t = graphiteCache.get(attributes);
  if (t === undefined) {
    let text = '';
    for (const [k, v] of attributes) text += `.${graphiteWord(k)}_${graphiteWord(v)}`;
    // graphiteWord leaves ASCII only, so length is the byte count.
    t = text === '' ? NO_LABELS : { text, bytes: text.length };
    graphiteCache.set(attributes, t);
  }
  return t;
}

// ---- packing ----------------------------------------------------------------------------------

/** Lines joined by `\n` into datagrams of at most `max` bytes; a datagram ends only between lines. */
class Packer {
  readonly datagrams: Buffer[] = [];
  readonly firstPoint: number[] = [];
  readonly lastPoint: number[] = [];
  readonly droppedPoints: number[] = [];
  lines = 0;
  oversizeLines = 0;
  unrepresentable = 0;
  private text = '';
  private bytes = 0;
  private first = 0;
  private last = 0;

  constructor(private readonly max: number) {}

  /** Adds a unit of `count` lines that must share a datagram (in order), `bytes` long in UTF-8. */
  add(unit: string, bytes: number, point: number, count = 1): void {
    if (bytes > this.max) {
      // Cutting would hand the receiver a line with a wrong name or value; a larger datagram
      // than the limit is what the limit is there to prevent (the receiver truncates it).
      this.oversizeLines += count;
      this.drop(point);
      return;
    }
    if (this.bytes > 0 && this.bytes + 1 + bytes > this.max) this.flush();
    if (this.bytes === 0) {
      this.text = unit;
      this.bytes = bytes;
      this.first = point;
    } else {
      this.text += `\n${unit}`;
      this.bytes += 1 + bytes;
    }
    this.last = point;
    this.lines += count;
  }

  /** A point with a value no line can carry. */
  skip(point: number): void {
    this.unrepresentable++;
    this.drop(point);
  }

  private drop(point: number): void {
    if (this.droppedPoints[this.droppedPoints.length - 1] !== point) this.droppedPoints.push(point);
  }

  flush(): void {
    if (this.bytes === 0) return;
    this.datagrams.push(Buffer.from(this.text, 'utf8'));
    this.firstPoint.push(this.first);
    this.lastPoint.push(this.last);
    this.text = '';
    this.bytes = 0;
  }

  done(points: number): Encoded {
    this.flush();
    const { datagrams, firstPoint, lastPoint, lines, droppedPoints, oversizeLines, unrepresentable } = this;
    return { datagrams, firstPoint, lastPoint, lines, points, droppedPoints, oversizeLines, unrepresentable };
  }
}

// ---- metrics ----------------------------------------------------------------------------------

/** Names of one metric, escaped and prefixed once per push rather than per point. */
interface Names {
  readonly base: string;
  readonly count: string;
  readonly sum: string;
  readonly bucket: string;
}

function namesOf(m: BatchMetric, prefix: string): Names {
  const base = `${prefix === '' ? '' : `${prefix}.`}${nameWord(m.name)}`;
  return { base, count: `${base}_count`, sum: `${base}_sum`, bucket: `${base}_bucket` };
}

/** Number as the line protocol reads it: JavaScript's shortest round-trip form, which both parsers take. */
const num = (v: number): string => String(v);

/**
 * Encodes a batch of deltas (the factory asks delivery for delta temporality): counters as `|c`
 * increments, gauges as `|g`, histograms as `_count`, `_sum` and per-bound `_bucket` increments.
 * Counter and bucket increments of 0 are left out: StatsD reads an absent counter as 0.
 */
export function encodeBatch(batch: MetricBatch, opts: EncodeOptions): Encoded {
  const p = new Packer(opts.maxDatagramBytes);
  const dd = opts.flavor === 'dogstatsd';
  let point = -1;
  for (const m of batch.metrics) {
    const names = namesOf(m, opts.prefix);
    const nameBytes = names.base.length;
    if (m.type === 'histogram') {
      const bounds = m.bounds ?? [];
      const les = bounds.map((b) => (dd ? `le:${num(b)}` : `.le_${graphiteWord(num(b))}`));
      for (const raw of m.points) {
        point++;
        const h = raw as HistogramPoint;
        if (h.count === 0) continue;
        const labels = dd ? ddLabels(h.attributes) : graphiteLabels(h.attributes);
        const head = dd ? '' : labels.text;
        const tail = dd ? labels.text : '';
        // Every piece but the label text is ASCII, so its length is its size in bytes.
        const countLine = `${names.count}${head}:${num(h.count)}|c${tail}`;
        p.add(countLine, countLine.length - labels.text.length + labels.bytes, point);
        if (Number.isFinite(h.sum)) {
          const sumLine = `${names.sum}${head}:${num(h.sum)}|c${tail}`;
          p.add(sumLine, sumLine.length - labels.text.length + labels.bytes, point);
        } else p.skip(point);
        // Prometheus' `le` buckets: observations at or below each bound (the +Inf one is _count).
        let below = 0;
        for (let b = 0; b < bounds.length; b++) {
          below += h.bucketCounts[b];
          if (below === 0) continue;
          let line: string;
          if (dd) line = `${names.bucket}:${num(below)}|c${labels.text === '' ? '|#' : `${labels.text},`}${les[b]}`;
          else line = `${names.bucket}${labels.text}${les[b]}:${num(below)}|c`;
          p.add(line, line.length - labels.text.length + labels.bytes, point);
        }
      }
      continue;
    }
    const gauge = m.type === 'gauge';
    const type = gauge ? '|g' : '|c';
    for (const raw of m.points) {
      point++;
      const v = (raw as NumberPoint).value;
      if (!Number.isFinite(v)) {
        p.skip(point);
        continue;
      }
      if (!gauge && v === 0) continue;
      const labels = dd ? ddLabels(raw.attributes) : graphiteLabels(raw.attributes);
      const value = num(v);
      if (dd) {
        p.add(`${names.base}:${value}${type}${labels.text}`, nameBytes + 1 + value.length + type.length + labels.bytes, point);
      } else if (gauge && v < 0) {
        // In StatsD `-5|g` lowers a gauge by 5; set it to 0 first, in the same datagram so the
        // two cannot be reordered, and the decrement lands on -5.
        const key = `${names.base}${labels.text}`;
        const unit = `${key}:0|g\n${key}:${value}|g`;
        p.add(unit, unit.length, point, 2);
      } else {
        const line = `${names.base}${labels.text}:${value}${type}`;
        p.add(line, line.length, point);
      }
    }
  }
  return p.done(point + 1);
}

// ---- raw events -------------------------------------------------------------------------------

/**
 * Event fields that become tags of an event's timings. Per-event and per-device identifiers
 * (run_id, trace_id, device_id, instance_name, job_name, user, ...) are left out on purpose: as a
 * tag each would make a new series per event. `app_id` is derived as the metrics derive it.
 */
export const EVENT_TAGS: readonly string[] = [
  'project_id', 'app_id', 'app_name', 'region', 'model_name', 'service_tier', 'status', 'status_code', 'gpu',
  'platform', 'event_name', 'backend', 'gpu_name', 'fleet_name',
];
const EVENT_TAG_INDEX: ReadonlyMap<string, number> = new Map(EVENT_TAGS.map((t, i) => [t, i]));

/** Whether an event field is a duration: events report every duration in milliseconds, as `*_ms`. */
export function isDurationField(name: string, value: unknown): value is number {
  return typeof value === 'number' && name.endsWith('_ms') && Number.isFinite(value) && value >= 0;
}

/**
 * Every duration field of each event as one timing, named `meterway_{type}_{field}`
 * (`meterway_run_execution_time_ms`), in milliseconds: a DogStatsD distribution (`|d`, so the
 * Agent and Datadog compute percentiles across hosts) or an Etsy StatsD timer (`|ms`, which
 * StatsD turns into mean, upper, percentiles and count per flush).
 */
export function encodeEvents(records: readonly EventRecord[], opts: EncodeOptions): Encoded {
  const p = new Packer(opts.maxDatagramBytes);
  const dd = opts.flavor === 'dogstatsd';
  const type = dd ? '|d' : '|ms';
  const prefix = opts.prefix === '' ? '' : `${opts.prefix}.`;
  const tagValues: Array<string | undefined> = new Array(EVENT_TAGS.length);
  for (let r = 0; r < records.length; r++) {
    const rec = records[r];
    tagValues.fill(undefined);
    let durations = 0;
    for (const [k, v] of rec.attributes) {
      const at = EVENT_TAG_INDEX.get(k);
      if (at !== undefined) tagValues[at] = String(v);
      else if (isDurationField(k, v)) durations++;
    }
    if (durations === 0) continue;
    const project = tagValues[0];
    const app = tagValues[2];
    if (tagValues[1] === undefined && project !== undefined && app !== undefined) tagValues[1] = `${project}-${app}`;
    let labels = '';
    for (let t = 0; t < EVENT_TAGS.length; t++) {
      const v = tagValues[t];
      if (v === undefined || v === '') continue;
      if (dd) labels += `${labels === '' ? '|#' : ','}${EVENT_TAGS[t]}:${ddTagValue(v)}`;
      else labels += `.${EVENT_TAGS[t]}_${graphiteWord(v)}`;
    }
    const labelBytes = dd ? Buffer.byteLength(labels) : labels.length;
    const family = `${prefix}meterway_${nameWord(rec.eventName)}_`;
    for (const [k, v] of rec.attributes) {
      if (EVENT_TAG_INDEX.has(k) || !isDurationField(k, v)) continue;
      const value = num(v);
      const name = `${family}${nameWord(k)}`;
      const line = dd ? `${name}:${value}${type}${labels}` : `${name}${labels}:${value}${type}`;
      p.add(line, line.length - labels.length + labelBytes, r);
    }
  }
  return p.done(records.length);
}

/**
 * The one datagram test connection sends. DogStatsD: a service check (`_sc`, status 0 = OK),
 * which shows in Datadog's check summary and is no custom metric (nothing billed, no new
 * series). StatsD has no such thing: a gauge set to 1, which repeating a test leaves at 1.
 */
export function testDatagram(opts: EncodeOptions): Buffer {
  const name = `${opts.prefix === '' ? '' : `${opts.prefix}.`}meterway_test_connection`;
  return Buffer.from(opts.flavor === 'dogstatsd' ? `_sc|${name}|0|m:test connection from Meterway` : `${name}:1|g`);
}
