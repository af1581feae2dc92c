/**
 * The boundary between storage and the PromQL engine. The project id is an explicit argument:
 * no code path can read a series without naming its project, so isolation is enforced where the
 * data is read, not by rewriting query text.
 */
import type { Labels } from './labels.js';

export type MatchType = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly type: MatchType;
  readonly name: string;
  readonly value: string;
}

/** One series' samples in time order; timestamps in milliseconds since the epoch. */
export interface SeriesSamples {
  readonly labels: Labels;
  readonly timestamps: ArrayLike<number>;
  /**
   * Prefer a Float64Array: staleness markers are NaNs told apart by their payload, which V8 may
   * canonicalise in plain arrays (the PromQL engine would then see an ordinary NaN value).
   */
  readonly values: ArrayLike<number>;
  /**
   * Optional start time (ms) of each sample, 0 where unknown: OpenTelemetry's
   * start_time_unix_nano. rate(), increase(), irate() and resets() use it to detect counter
   * resets (and delta samples) that values alone cannot show.
   */
  readonly startTimestamps?: ArrayLike<number>;
}

export interface Querier {
  /** Series matching every matcher, with their samples in [minMs, maxMs] (both inclusive). */
  select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples>;
  /** Label names present on series matching the matchers (all series when none). */
  labelNames(matchers: readonly LabelMatcher[]): string[];
  /** Values of one label on series matching the matchers. */
  labelValues(name: string, matchers: readonly LabelMatcher[]): string[];
  /** Label sets of series matching every matcher that have samples in [minMs, maxMs] (no samples read). */
  seriesLabels?(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Labels[];
  /** Metric metadata of the querier's project: metric name to its type, help and unit. */
  metricMetadata?(metric?: string): Map<string, MetricMetadata>;
}

/** What Prometheus' /api/v1/metadata reports for a metric. */
export interface MetricMetadata {
  readonly type: string;
  readonly help: string;
  readonly unit: string;
}

export interface Queryable {
  querier(project: string, minMs: number, maxMs: number): Querier;
}
