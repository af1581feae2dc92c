/**
 * Which series went away since the last successful push, for staleness markers: both remote
 * write specs ask a sender to mark a series stale when it stops being written (Prometheus does
 * after a target or a series vanishes), or a receiver goes on answering its last value for five
 * minutes. A series leaves a batch when its gauge went stale, its project dropped it, or its
 * family is gone; the marker goes out once, with the next successful push.
 *
 * The memory is the set of series of the last successful push and nothing more, so it is bounded
 * by what the sink itself sent. It lives in the sink: an edited, paused or re-enabled integration
 * gets a new sink and starts without one (its first push marks nothing).
 */
import type { MetricType } from '../../catalog/catalog.js';
import type { Attributes, MetricBatch } from '../../push/types.js';
import type { GoneSeries } from './encode.js';

interface PushedFamily {
  readonly type: MetricType;
  readonly bounds?: readonly number[];
  /** Series key (BatchMetric.keys) → its attributes, for the marker's labels. */
  readonly series: Map<string, Attributes>;
}

/** The series of one push, by family name. */
export type PushedSeries = ReadonlyMap<string, PushedFamily>;

export function seriesOf(batch: MetricBatch): PushedSeries {
  const out = new Map<string, PushedFamily>();
  for (const m of batch.metrics) {
    if (m.points.length === 0) continue;
    const series = new Map<string, Attributes>();
    for (let i = 0; i < m.points.length; i++) series.set(m.keys[i], m.points[i].attributes);
    out.set(m.name, { type: m.type, bounds: m.bounds, series });
  }
  return out;
}

/** Series in `before` that `now` does not have (a family whose type changed counts as gone). */
export function goneSince(before: PushedSeries | undefined, now: PushedSeries): GoneSeries[] {
  const gone: GoneSeries[] = [];
  if (before === undefined) return gone;
  for (const [name, fam] of before) {
    const cur = now.get(name);
    const same = cur !== undefined && cur.type === fam.type;
    for (const [key, attributes] of fam.series) {
      if (same && cur.series.has(key)) continue;
      gone.push({ name, type: fam.type, bounds: fam.bounds, attributes });
    }
  }
  return gone;
}
