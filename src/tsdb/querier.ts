/**
 * A read view of one project over [minMs, maxMs]: the PromQL engine's Querier. Every lookup
 * starts from the project's own index, so no matcher (not even one on `project_id`) can reach
 * another project's series.
 */
import type { Labels } from '../core/labels.js';
import type { LabelMatcher, MetricMetadata, Querier, SeriesSamples } from '../core/queryable.js';
import type { MemSeries } from './series.js';
import type { Tsdb } from './store.js';

export class TsdbQuerier implements Querier {
  constructor(
    private readonly store: Tsdb,
    readonly project: string,
    readonly minMs: number,
    readonly maxMs: number,
  ) {}

  private matching(matchers: readonly LabelMatcher[]): MemSeries[] {
    return this.store.index(this.project)?.select(matchers) ?? [];
  }

  /** Matching series with samples in [minMs, maxMs], in label-set order, decoded one at a time. */
  *select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples> {
    for (const s of this.matching(matchers)) {
      if (s.deleted) continue;
      const data = this.store.read(s, minMs, maxMs);
      if (data === null) continue;
      yield { labels: s.labels, timestamps: data.ts, values: data.vs };
    }
  }

  /**
   * Label sets of matching series whose data may lie in the range, judged by chunk bounds as
   * Prometheus does (no samples are decoded).
   */
  seriesLabels(matchers: readonly LabelMatcher[], minMs = this.minMs, maxMs = this.maxMs): Labels[] {
    return this.matching(matchers)
      .filter((s) => s.overlaps(minMs, maxMs))
      .map((s) => s.labels);
  }

  labelNames(matchers: readonly LabelMatcher[]): string[] {
    const names = new Set<string>();
    for (const s of this.matching(matchers)) {
      if (!s.overlaps(this.minMs, this.maxMs)) continue;
      for (let i = 0; i < s.pairs.length; i += 2) names.add(s.pairs[i]);
    }
    return [...names].sort();
  }

  labelValues(name: string, matchers: readonly LabelMatcher[]): string[] {
    const values = new Set<string>();
    // With no matchers, every series holding the label qualifies: still one pass over the
    // project's own series, never anyone else's.
    for (const s of this.matching(matchers)) {
      const v = s.labels[name];
      if (v === undefined || !s.overlaps(this.minMs, this.maxMs)) continue;
      values.add(v);
    }
    return [...values].sort();
  }

  /** Metadata of the project's metrics (one metric when named). */
  metricMetadata(metric?: string): Map<string, MetricMetadata> {
    const all = this.store.metadata(this.project);
    if (metric === undefined) return new Map(all);
    const m = all.get(metric);
    return m === undefined ? new Map() : new Map([[metric, m]]);
  }
}
