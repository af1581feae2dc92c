/**
 * Builds the batch every push starts from out of a project's live series: the one place the push
 * shapes (`types.ts`) meet the aggregation. Delivery calls it; sinks never do (they get a batch).
 */
import type { ProjectMetrics } from '../aggregate/project.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import type { Attributes, BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from './types.js';

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
    metrics.push({
      name: def.name, description: def.help, unit: def.otlpUnit ?? '', type: def.type, bounds: def.buckets, keys, points,
      ...(def.catalogKey === undefined ? {} : { catalogKey: def.catalogKey }),
    });
  }
  return { projectId: pm.projectId, temporality: 'cumulative', startMs: pm.startedMs, timeMs, metrics };
}
