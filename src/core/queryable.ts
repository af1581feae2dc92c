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

/**
 * What the engine knows of a selector before it evaluates (Prometheus' SelectHints): the window
 * it will read, the step it evaluates at (0 for an instant query), the range of a range
 * selector (0 for an instant selector) and the function around it. A remote store can use them
 * to read less (downsampled data for a long step, a pushed-down function).
 */
export interface SelectHints {
  readonly startMs: number;
  readonly endMs: number;
  readonly stepMs: number;
  readonly rangeMs: number;
  readonly func?: string;
}

/**
 * The storage seam of the query side: series are fetched asynchronously, before evaluation
 * starts (as Prometheus' populateSeries does), so a store across the network can serve queries.
 * The resolved series may be read lazily, when the engine iterates them, and more than once.
 */
export interface AsyncQuerier {
  select(matchers: readonly LabelMatcher[], hints: SelectHints, signal: AbortSignal): Promise<Iterable<SeriesSamples>>;
}

export interface Queryable {
  querier(project: string, minMs: number, maxMs: number): Querier;
  /** An asynchronous view of the project, where the store has one; else querier() is used. */
  asyncQuerier?(project: string, minMs: number, maxMs: number): AsyncQuerier;
}

/**
 * A synchronous querier as an asynchronous one: each selection reads when it is iterated, so a
 * local store keeps streaming one series at a time and holds nothing between the prefetch and
 * the evaluation.
 */
export function asAsync(q: Querier): AsyncQuerier {
  return {
    select: async (matchers, hints) => ({ [Symbol.iterator]: () => q.select(matchers, hints.startMs, hints.endMs)[Symbol.iterator]() }),
  };
}
