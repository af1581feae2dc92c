/**
 * What every push sink receives: a snapshot of one project's series at one instant, in a
 * neutral shape (attributes as pairs, histograms as per-bucket counts). Sinks encode it; delivery
 * turns cumulative into delta where a sink asks for it.
 */
import type { ProjectMetrics } from '../aggregate/project.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import type { MetricType } from '../catalog/catalog.js';

export type Attributes = ReadonlyArray<readonly [name: string, value: string]>;
export type Temporality = 'cumulative' | 'delta';

export interface NumberPoint {
  readonly attributes: Attributes;
  readonly value: number;
}

export interface HistogramPoint {
  readonly attributes: Attributes;
  readonly count: number;
  readonly sum: number;
  /** Non-cumulative counts per bucket; one more than `bounds` (the +Inf bucket). */
  readonly bucketCounts: ArrayLike<number>;
}

export interface BatchMetric {
  /** The Prometheus name (with unit suffix and `_total`), the same everywhere. */
  readonly name: string;
  readonly description: string;
  /** UCUM unit. */
  readonly unit: string;
  readonly type: MetricType;
  readonly bounds?: readonly number[];
  /** Series identities, parallel to `points`; delivery uses them to compute deltas. */
  readonly keys: readonly string[];
  readonly points: ReadonlyArray<NumberPoint | HistogramPoint>;
}

export interface MetricBatch {
  readonly projectId: string;
  readonly temporality: Temporality;
  /** Start of the counted interval: the project's start for cumulative, the previous push for delta. */
  readonly startMs: number;
  readonly timeMs: number;
  readonly metrics: readonly BatchMetric[];
}

/** One accepted raw event, for sinks that forward events as logs. */
export interface EventRecord {
  readonly timeMs: number;
  readonly observedMs: number;
  /** Every field of the event, as sent (type included). */
  readonly attributes: ReadonlyArray<readonly [string, string | number | boolean]>;
  readonly eventName: string;
}

/** Pairs of the defined labels of one series. */
export function attributesOf(labelNames: readonly string[], values: ReadonlyArray<string | undefined>): Attributes {
  const out: Array<readonly [string, string]> = [];
  for (let i = 0; i < labelNames.length; i++) {
    const v = values[i];
    if (v !== undefined) out.push([labelNames[i], v]);
  }
  return out;
}

/** Attribute pairs per series, built on its first push: label values never change for a series. */
const attributeCache = new WeakMap<object, Attributes>();

function cachedAttributes(s: { labelNames: readonly string[]; labelValues: ReadonlyArray<string | undefined> }): Attributes {
  let a = attributeCache.get(s);
  if (a === undefined) {
    a = attributesOf(s.labelNames, s.labelValues);
    attributeCache.set(s, a);
  }
  return a;
}

/**
 * A cumulative snapshot of a project's series; stale gauges are left out, empty families too.
 * Histogram bucket counts are the live arrays, not copies: a sink must encode the batch in the
 * same synchronous turn it was taken in (the OTLP sink does, and resends those bytes on retry).
 */
export function snapshotProject(pm: ProjectMetrics, timeMs: number, gaugeFreshSinceMs: number): MetricBatch {
  const metrics: BatchMetric[] = [];
  for (const fam of pm.families) {
    const def = fam.def;
    const keys: string[] = [];
    const points: Array<NumberPoint | HistogramPoint> = [];
    for (const [key, s] of fam.series) {
      if (def.type === 'gauge' && (s as GaugeSeries).updatedAt < gaugeFreshSinceMs) continue;
      const attributes = cachedAttributes(s);
      if (def.type === 'histogram') {
        const h = s as HistogramSeries;
        points.push({ attributes, count: h.count, sum: h.sum, bucketCounts: h.counts });
      } else {
        points.push({ attributes, value: (s as CounterSeries | GaugeSeries).value });
      }
      keys.push(key);
    }
    if (points.length === 0) continue;
    metrics.push({ name: def.name, description: def.help, unit: def.otlpUnit ?? '', type: def.type, bounds: def.buckets, keys, points });
  }
  return { projectId: pm.projectId, temporality: 'cumulative', startMs: pm.startedMs, timeMs, metrics };
}

/** Number of data points in a batch. */
export function pointCount(batch: MetricBatch): number {
  let n = 0;
  for (const m of batch.metrics) n += m.points.length;
  return n;
}
