/**
 * A registry of metric families and their series. One per project (the tenant's metrics) and one
 * for the gateway's own metrics. Lookups are by a caller-built key string so the hot path hashes
 * one short string per metric, not a label object.
 */
import { CounterSeries, GaugeSeries, HistogramSeries, type AnySeries, type LabelValues } from './series.js';

type SourceSeries = CounterSeries | HistogramSeries;
import type { MetricType } from '../catalog/catalog.js';

export interface FamilyDef {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Base unit, for OpenMetrics' UNIT line; '' when none. */
  readonly unit: string;
  readonly labelNames: readonly string[];
  readonly buckets?: readonly number[];
  /** UCUM unit for OTLP sinks (see catalog); absent for self-metrics. */
  readonly otlpUnit?: string;
  /** The catalogue's key (src/catalog), for families of the catalogue only: names sinks map by it, whatever the prefix. */
  readonly catalogKey?: string;
  /**
   * A family a source declared at run time: each series carries its own label names (labelNames
   * is then empty), because every point of such a source brings its own attributes.
   */
  readonly perSeriesLabels?: boolean;
}

/** `appLabelIndex` of a family whose series each have their own label names. */
export const APP_LABEL_PER_SERIES = -2;

export class Family<S extends AnySeries = AnySeries> {
  readonly series = new Map<string, S>();
  /** Index of `app_name` in labelNames, or -1: lets the per-app endpoint filter without a lookup. */
  readonly appLabelIndex: number;
  constructor(readonly def: FamilyDef) {
    this.appLabelIndex = def.perSeriesLabels === true ? APP_LABEL_PER_SERIES : def.labelNames.indexOf('app_name');
  }
  seriesValues(): Iterable<S> {
    return this.series.values();
  }
}

export interface RegistryLimits {
  /** New series past this many are dropped (0 = unlimited). */
  readonly maxSeries: number;
}

export class MetricRegistry {
  readonly families: Family[] = [];
  private readonly byName = new Map<string, Family>();
  seriesCount = 0;
  /** Samples dropped because the series limit was reached, since the registry was made. */
  droppedSamples = 0;
  /**
   * Bumped whenever series are removed, so caches of series objects (SeriesRow) can tell that
   * what they hold may no longer be in the registry. Every removal must bump it.
   */
  generation = 0;

  constructor(readonly limits: RegistryLimits = { maxSeries: 0 }) {}

  family<S extends AnySeries>(def: FamilyDef): Family<S> {
    let fam = this.byName.get(def.name);
    if (fam === undefined) {
      fam = new Family(def);
      this.families.push(fam);
      this.byName.set(def.name, fam);
    }
    return fam as Family<S>;
  }

  getFamily(name: string): Family | undefined {
    return this.byName.get(name);
  }

  /** Whether one more series would pass the limit. */
  full(): boolean {
    return this.limits.maxSeries > 0 && this.seriesCount >= this.limits.maxSeries;
  }

  /**
   * The series for `key`, created with `labelValues` (under `labelNames`, the family's unless the
   * family has per-series labels) when new; undefined when the limit drops it.
   */
  series<S extends AnySeries>(fam: Family<S>, key: string, labelValues: LabelValues, labelNames: readonly string[] = fam.def.labelNames): S | undefined {
    const existing = fam.series.get(key);
    if (existing !== undefined) return existing;
    if (this.full()) {
      this.droppedSamples++;
      return undefined;
    }
    const def = fam.def;
    let created: AnySeries;
    if (def.type === 'counter') created = new CounterSeries(labelNames, labelValues);
    else if (def.type === 'gauge') created = new GaugeSeries(labelNames, labelValues);
    else created = new HistogramSeries(labelNames, labelValues, def.buckets ?? []);
    fam.series.set(key, created as S);
    this.seriesCount++;
    return created as S;
  }

  /** Removes one series (a source said it ended); true when it was there. */
  remove(fam: Family, key: string): boolean {
    if (!fam.series.delete(key)) return false;
    this.seriesCount--;
    this.generation++;
    return true;
  }

  /**
   * Removes gauges not updated since `cutoffMs`, and the counters and histograms of families a
   * source declared (a service that stopped sending must not hold its series, and its place under
   * the series limit, for ever; event counters are the project's own totals and stay). Returns
   * how many went.
   */
  sweepStale(cutoffMs: number): number {
    let removed = 0;
    for (const fam of this.families) {
      if (fam.def.type !== 'gauge' && fam.def.perSeriesLabels !== true) continue;
      for (const [key, s] of fam.series) {
        if ((s as GaugeSeries | SourceSeries).updatedAt < cutoffMs) {
          fam.series.delete(key);
          removed++;
        }
      }
    }
    this.seriesCount -= removed;
    if (removed > 0) this.generation++;
    return removed;
  }
}

/**
 * The series one key feeds across several families, in fixed slots, so the ingest path looks a
 * key up once per event instead of once per family. A cache only: valid while the registry's
 * generation is the one it was made at.
 */
export class SeriesRow {
  readonly slots: Array<AnySeries | undefined>;
  constructor(
    readonly generation: number,
    size: number,
  ) {
    this.slots = new Array<AnySeries | undefined>(size).fill(undefined);
  }
}
