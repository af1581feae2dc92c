/**
 * Series state. Each series pre-renders its label set once, at creation, because exposition
 * renders the same labels on every scrape and escaping is the expensive part of it.
 */
import { renderLabelPairs } from '../exposition/escape.js';

export type LabelValues = ReadonlyArray<string | undefined>;

abstract class SeriesBase {
  /** `name="value",...` without braces, escaped for the text formats. */
  readonly labelText: string;
  constructor(
    labelNames: readonly string[],
    readonly labelValues: LabelValues,
  ) {
    this.labelText = renderLabelPairs(labelNames, labelValues);
  }
}

export class CounterSeries extends SeriesBase {
  value = 0;
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

export class HistogramSeries extends SeriesBase {
  /** Non-cumulative counts per bucket; the last slot is the +Inf bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    labelNames: readonly string[],
    labelValues: LabelValues,
    private readonly upperBounds: readonly number[],
  ) {
    super(labelNames, labelValues);
    this.counts = new Float64Array(upperBounds.length + 1);
  }
  observe(value: number): void {
    const bounds = this.upperBounds;
    // Linear scan: with 12 to 15 buckets it beats a binary search, and most latencies fall in the low ones.
    let i = 0;
    const n = bounds.length;
    while (i < n && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

export type AnySeries = CounterSeries | GaugeSeries | HistogramSeries;
