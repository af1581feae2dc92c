/**
 * An in-memory Queryable: the storage the conformance runner loads `.test` data into. Series
 * come back sorted by label set, as from Prometheus' TSDB, since result order of some functions
 * (topk, sort ties) follows input order.
 */
import type { Labels } from '../../core/labels.js';
import type { LabelMatcher, Querier, Queryable, SeriesSamples } from '../../core/queryable.js';
import { matchesAll as matches } from '../matchers.js';

import { compareLabels, labelsKey } from '../values.js';

interface StoredSeries {
  labels: Labels;
  timestamps: number[];
  /** A Float64Array keeps the staleness marker's NaN payload intact. */
  values: Float64Array;
  /** Start timestamps (ms, 0 = unknown); handed out only if some sample has one. */
  starts: number[];
  hasStarts: boolean;
  length: number;
  sorted: boolean;
}

function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryStorage implements Queryable, Querier {
  private readonly series = new Map<string, StoredSeries>();
  private ordered: StoredSeries[] | null = null;

  append(labels: Labels, timestampMs: number, value: number, startMs = 0): void {
    const key = labelsKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, timestamps: [], values: new Float64Array(16), starts: [], hasStarts: false, length: 0, sorted: true };
      this.series.set(key, s);
      this.ordered = null;
    }
    const last = s.timestamps[s.timestamps.length - 1];
    if (last !== undefined && timestampMs <= last) {
      s.sorted = false;
    }
    s.timestamps.push(timestampMs);
    s.starts.push(startMs);
    if (startMs !== 0) s.hasStarts = true;
    if (s.length === s.values.length) {
      const grown = new Float64Array(s.values.length * 2);
      grown.set(s.values);
      s.values = grown;
    }
    s.values[s.length++] = value;
  }

  clear(): void {
    this.series.clear();
    this.ordered = null;
  }

  querier(_project: string, _minMs: number, _maxMs: number): Querier {
    return this;
  }

  private all(): StoredSeries[] {
    if (!this.ordered) {
      for (const s of this.series.values()) {
        if (s.sorted) continue;
        // A later load overwrites a sample at the same timestamp, as appending to a TSDB would.
        const byTime = new Map<number, number>();
        s.timestamps.forEach((t, i) => byTime.set(t, i));
        s.timestamps = [...byTime.keys()].sort((a, b) => a - b);
        const old = s.values;
        const oldStarts = s.starts;
        s.values = new Float64Array(s.timestamps.length);
        s.timestamps.forEach((t, k) => (s.values[k] = old[byTime.get(t)!]));
        s.starts = s.timestamps.map((t) => oldStarts[byTime.get(t)!]);
        s.length = s.timestamps.length;
        s.sorted = true;
      }
      this.ordered = [...this.series.values()].sort((a, b) => compareLabels(a.labels, b.labels));
    }
    return this.ordered;
  }

  *select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples> {
    for (const s of this.all()) {
      if (!matches(s.labels, matchers)) continue;
      const lo = lowerBound(s.timestamps, minMs);
      const hi = lowerBound(s.timestamps, maxMs + 1);
      if (hi <= lo) continue;
      const timestamps = s.timestamps.slice(lo, hi);
      const values = s.values.subarray(lo, hi);
      yield s.hasStarts ? { labels: s.labels, timestamps, values, startTimestamps: s.starts.slice(lo, hi) } : { labels: s.labels, timestamps, values };
    }
  }

  labelNames(matchers: readonly LabelMatcher[]): string[] {
    const names = new Set<string>();
    for (const s of this.all()) if (matches(s.labels, matchers)) for (const n in s.labels) names.add(n);
    return [...names].sort();
  }

  labelValues(name: string, matchers: readonly LabelMatcher[]): string[] {
    const values = new Set<string>();
    for (const s of this.all()) {
      const v = s.labels[name];
      if (v !== undefined && matches(s.labels, matchers)) values.add(v);
    }
    return [...values].sort();
  }
}
