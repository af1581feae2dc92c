/**
 * What every push sink receives: a snapshot of one project's series at one instant, in a
 * neutral shape (attributes as pairs, histograms as per-bucket counts). Sinks encode it; delivery
 * turns cumulative into delta where a sink asks for it. Types only (and one pure helper), so a
 * sink, delivery or a platform embedding the gateway can import them without pulling in the
 * aggregation they are built from (`snapshot.ts` does that).
 */
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
  /** The catalogue's key of a built-in metric (`inference_ttft`), whatever the configured prefix; absent for source families. */
  readonly catalogKey?: string;
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

/** Number of data points in a batch. */
export function pointCount(batch: MetricBatch): number {
  let n = 0;
  for (const m of batch.metrics) n += m.points.length;
  return n;
}
