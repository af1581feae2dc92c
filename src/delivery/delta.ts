/**
 * Delta temporality for one integration: each push sends what changed since the last push that
 * succeeded, over [end of that push, now) (the Collector's cumulativetodelta rule). A failed push
 * commits nothing, so its increments roll into the next one. The exporter keeps one tracker per
 * integration across pauses and disables, so resuming neither resends nor drops anything (README).
 */
import type { BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from '../push/types.js';

interface Sent {
  value: number;
  count: number;
  sum: number;
  buckets?: Float64Array;
}

export class DeltaTracker {
  private sent = new Map<string, Sent>();
  /** End of the interval the last successful push covered. */
  private lastPushMs: number;

  constructor(startMs: number) {
    this.lastPushMs = startMs;
  }

  /** The batch as deltas since the last success, and the commit to call once it was delivered. */
  prepare(batch: MetricBatch): { batch: MetricBatch; commit: () => void } {
    const next = new Map(this.sent);
    const metrics: BatchMetric[] = batch.metrics.map((m) => {
      if (m.type === 'gauge') return m;
      const points = m.points.map((p, i) => {
        const key = `${m.name}\u0000${m.keys[i]}`;
        const prev = this.sent.get(key);
        if (m.type === 'counter') {
          const cur = (p as NumberPoint).value;
          // A value below the last one sent means the source restarted counting: all of it is new.
          const delta = prev === undefined || cur < prev.value ? cur : cur - prev.value;
          next.set(key, { value: cur, count: 0, sum: 0 });
          return { attributes: p.attributes, value: delta };
        }
        const h = p as HistogramPoint;
        const reset = prev === undefined || h.count < prev.count;
        const buckets = new Float64Array(h.bucketCounts.length);
        for (let b = 0; b < buckets.length; b++) buckets[b] = reset ? h.bucketCounts[b] : h.bucketCounts[b] - prev!.buckets![b];
        next.set(key, { value: 0, count: h.count, sum: h.sum, buckets: Float64Array.from(h.bucketCounts) });
        return { attributes: h.attributes, count: reset ? h.count : h.count - prev!.count, sum: reset ? h.sum : h.sum - prev!.sum, bucketCounts: buckets };
      });
      return { ...m, points };
    });
    return {
      batch: { ...batch, temporality: 'delta', startMs: this.lastPushMs, metrics },
      commit: () => {
        this.sent = next;
        this.lastPushMs = batch.timeMs;
      },
    };
  }
}
