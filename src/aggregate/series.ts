/**
 * Series state. Each series pre-renders its label set once, at creation, because exposition
 * renders the same labels on every scrape and escaping is the expensive part of it.
 */
import { renderLabelPairs } from '../exposition/escape.js';

export type LabelValues = ReadonlyArray<string | undefined>;

/** An OpenMetrics exemplar's labels: a run's `run_id`, a request's `trace_id` (128 characters at most together). */
export type ExemplarLabels = Readonly<Record<string, string>>;

/**
 * The newest exemplar of each bucket: the observation that last fell in it and what identifies
 * it. Parallel arrays, so an observation with an exemplar allocates nothing; `fresh` marks those
 * the sampler has not handed to the store yet.
 */
export class BucketExemplars {
  readonly labels: Array<ExemplarLabels | undefined>;
  readonly values: Float64Array;
  readonly timesMs: Float64Array;
  readonly fresh: Uint8Array;
  constructor(buckets: number) {
    this.labels = new Array<ExemplarLabels | undefined>(buckets).fill(undefined);
    this.values = new Float64Array(buckets);
    this.timesMs = new Float64Array(buckets);
    this.fresh = new Uint8Array(buckets);
  }
}

abstract class SeriesBase {
  /** `name="value",...` without braces, escaped for the text formats. */
  readonly labelText: string;
  constructor(
    /**
     * The series' own label names: its family's for event families (one shared array), its own
     * for a source's series, whose points each carry their own attributes.
     */
    readonly labelNames: readonly string[],
    readonly labelValues: LabelValues,
  ) {
    this.labelText = renderLabelPairs(labelNames, labelValues);
  }
}

/**
 * Where a source's cumulative stream stands, for the series it feeds: the start time its values
 * count from (a new one is a reset) and the time of the newest point applied (an older or equal
 * delta point is a resend, not more). Event series leave both alone.
 */
interface SourceStream {
  startMs: number;
  pointMs: number;
  /** Wall-clock time of the last point applied, which decides staleness (as a gauge's does). */
  updatedAt: number;
}

export class CounterSeries extends SeriesBase implements SourceStream {
  value = 0;
  startMs = 0;
  pointMs = -Infinity;
  updatedAt = 0;
  inc(by: number): void {
    this.value += by;
  }
}

export class GaugeSeries extends SeriesBase {
  value = 0;
  /** Time of the newest sample (event time), used to keep the latest value when events arrive out of order. */
  sampleMs = -Infinity;
  /** Wall-clock time of the last update, which decides staleness. */
  updatedAt = 0;
  set(value: number, sampleMs: number, nowMs: number): void {
    if (sampleMs >= this.sampleMs) {
      this.value = value;
      this.sampleMs = sampleMs;
    }
    this.updatedAt = nowMs;
  }
}

export class HistogramSeries extends SeriesBase implements SourceStream {
  /** Non-cumulative counts per bucket; the last slot is the +Inf bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  startMs = 0;
  pointMs = -Infinity;
  updatedAt = 0;
  constructor(
    labelNames: readonly string[],
    labelValues: LabelValues,
    private readonly upperBounds: readonly number[],
  ) {
    super(labelNames, labelValues);
    this.counts = new Float64Array(upperBounds.length + 1);
  }
  /** Made only for a series that got an exemplar. */
  exemplars: BucketExemplars | undefined;
  observe(value: number, exemplar?: ExemplarLabels, exemplarMs = 0): void {
    const i = this.bucketOf(value);
    this.counts[i]++;
    this.sum += value;
    this.count++;
    if (exemplar !== undefined) this.setExemplar(i, value, exemplar, exemplarMs);
  }

  /** Attaches an exemplar to the bucket `value` falls in, counting nothing (a source's exemplars come beside its counts). */
  exemplar(value: number, labels: ExemplarLabels, timeMs: number): void {
    this.setExemplar(this.bucketOf(value), value, labels, timeMs);
  }

  private bucketOf(value: number): number {
    const bounds = this.upperBounds;
    // Linear scan: with 12 to 15 buckets it beats a binary search, and most latencies fall in the low ones.
    let i = 0;
    const n = bounds.length;
    while (i < n && value > bounds[i]) i++;
    return i;
  }

  private setExemplar(i: number, value: number, labels: ExemplarLabels, timeMs: number): void {
    const e = (this.exemplars ??= new BucketExemplars(this.counts.length));
    e.labels[i] = labels;
    e.values[i] = value;
    e.timesMs[i] = timeMs;
    e.fresh[i] = 1;
  }
}

export type AnySeries = CounterSeries | GaugeSeries | HistogramSeries;
