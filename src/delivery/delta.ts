/**
 * Delta temporality for one integration: each push sends what changed since the last push that
 * succeeded, over [end of that push, now) (the Collector's cumulativetodelta rule). A failed push
 * commits nothing, so its increments roll into the next one. The exporter keeps one tracker per
 * integration across pauses and disables, so resuming neither resends nor drops anything (README).
 *
 * Every delta push of every integration runs through here, so it allocates little: one state per
 * series, updated in place, instead of a copy of the whole map per push. A push writes what it
 * would commit into each state's `next*` fields; `commit` moves them into place (histogram
 * bucket arrays swap, so neither is copied again), and drops the states of series the push no
 * longer carried (removed from the project), which keeps the tracker the size of the project.
 */
import type { BatchMetric, HistogramPoint, MetricBatch, NumberPoint } from '../push/types.js';

interface SeriesState {
  /** Whether a push carrying this series succeeded: until then there is nothing to subtract. */
  committed: boolean;
  /** The last prepare that carried the series. */
  round: number;
  value: number;
  count: number;
  sum: number;
  buckets: Float64Array;
  nextValue: number;
  nextCount: number;
  nextSum: number;
  nextBuckets: Float64Array;
}

const NO_BUCKETS = new Float64Array(0);

export class DeltaTracker {
  /** By metric name, then series key. */
  private readonly series = new Map<string, Map<string, SeriesState>>();
  private round = 0;
  /** End of the interval the last successful push covered. */
  private lastPushMs: number;

  constructor(startMs: number) {
    this.lastPushMs = startMs;
  }

  /** The batch as deltas since the last success, and the commit to call once it was delivered. */
  prepare(batch: MetricBatch): { batch: MetricBatch; commit: () => void } {
    const round = ++this.round;
    const metrics: BatchMetric[] = batch.metrics.map((m) => {
      if (m.type === 'gauge') return m;
      let states = this.series.get(m.name);
      if (states === undefined) this.series.set(m.name, (states = new Map()));
      const points = m.points.map((p, i) => {
        let st = states.get(m.keys[i]);
        if (st === undefined) {
          st = { committed: false, round, value: 0, count: 0, sum: 0, buckets: NO_BUCKETS, nextValue: 0, nextCount: 0, nextSum: 0, nextBuckets: NO_BUCKETS };
          states.set(m.keys[i], st);
        }
        st.round = round;
        if (m.type === 'counter') {
          const cur = (p as NumberPoint).value;
          st.nextValue = cur;
          // A value below the last one sent means the source restarted counting: all of it is new.
          return { attributes: p.attributes, value: !st.committed || cur < st.value ? cur : cur - st.value };
        }
        const h = p as HistogramPoint;
        const n = h.bucketCounts.length;
        // The snapshot's counts are the live arrays: what to commit is copied now.
        if (st.nextBuckets.length !== n) st.nextBuckets = new Float64Array(n);
        const next = st.nextBuckets;
        const reset = !st.committed || h.count < st.count || st.buckets.length !== n;
        const deltas = new Float64Array(n);
        for (let b = 0; b < n; b++) {
          next[b] = h.bucketCounts[b];
          deltas[b] = reset ? next[b] : next[b] - st.buckets[b];
        }
        st.nextCount = h.count;
        st.nextSum = h.sum;
        return { attributes: h.attributes, count: reset ? h.count : h.count - st.count, sum: reset ? h.sum : h.sum - st.sum, bucketCounts: deltas };
      });
      return { ...m, points };
    });
    return {
      batch: { ...batch, temporality: 'delta', startMs: this.lastPushMs, metrics },
      commit: () => this.commit(round, batch.timeMs),
    };
  }

  private commit(round: number, timeMs: number): void {
    // A later prepare has overwritten the pending values: this push's are gone (pushes of one
    // integration run one at a time, so this does not happen in the exporter).
    if (round !== this.round) return;
    for (const [name, states] of this.series) {
      for (const [key, st] of states) {
        if (st.round !== round) {
          states.delete(key);
          continue;
        }
        st.committed = true;
        st.value = st.nextValue;
        st.count = st.nextCount;
        st.sum = st.nextSum;
        const old = st.buckets;
        st.buckets = st.nextBuckets;
        st.nextBuckets = old;
      }
      if (states.size === 0) this.series.delete(name);
    }
    this.lastPushMs = timeMs;
  }
}
