/**
 * Restart continuity: loads each counter's and histogram's newest stored values back into the
 * aggregator, so after a restart they continue where they were instead of starting from zero
 * (which rate() would read as a counter reset, and the scrape endpoint as a drop).
 */
import type { Aggregator, ProjectMetrics } from '../aggregate/project.js';
import type { Family, FamilyDef } from '../aggregate/registry.js';
import type { CounterSeries, HistogramSeries, LabelValues } from '../aggregate/series.js';
import { isStaleNaN, type Labels } from '../core/labels.js';
import { identity } from '../aggregate/samples.js';
import { formatValue } from '../exposition/escape.js';
import { LABEL_KEYED_SOURCES, METRIC, seriesKey } from '../catalog/catalog.js';
import type { MemSeries } from './series.js';
import type { Tsdb } from './store.js';

export interface RestoreReport {
  counters: number;
  histograms: number;
  /** Stored series that could not be mapped to an aggregator series (unknown label layout, extra labels, bucket layout changed, series limit). */
  skipped: number;
}

/**
 * The key src/ingest/events.ts files a series under, rebuilt from its label values; undefined
 * for a label layout the ingest path does not produce. Must stay in step with events.ts (a
 * wrong key would make a duplicate series): restore.test.ts feeds real events through
 * EVENT_TYPES after a restore and fails on any duplicate.
 * - run families (base labels only): `app` or `app\0region`;
 * - inference families: `model\0tier\0app\0region` (absent app or region as ''), and for
 *   `code_class` one more `\0class`;
 * - device, instance and job families: the catalogue's `seriesKey` of the label values.
 */
export function ingestKey(def: FamilyDef, values: LabelValues): string | undefined {
  const names = def.labelNames;
  const source = def.catalogKey === undefined ? undefined : METRIC[def.catalogKey]?.source;
  if (source !== undefined && LABEL_KEYED_SOURCES.has(source)) return seriesKey(values);
  if (names[0] !== 'project_id' || names[1] !== 'app_id' || names[2] !== 'app_name' || names[3] !== 'region') return undefined;
  const app = values[2];
  const region = values[3];
  if (names.length === 4) {
    if (app === undefined) return undefined;
    return region === undefined ? app : `${app}\u0000${region}`;
  }
  if (names[4] !== 'model_name' || names[5] !== 'service_tier') return undefined;
  const model = values[4];
  const tier = values[5];
  if (model === undefined || tier === undefined) return undefined;
  const key = `${model}\u0000${tier}\u0000${app ?? ''}\u0000${region ?? ''}`;
  if (names.length === 6) return key;
  if (names.length === 7 && names[6] === 'code_class' && values[6] !== undefined) return `${key}\u0000${values[6]}`;
  return undefined;
}

/** Label values aligned with def.labelNames; undefined when the set has labels the family lacks. */
function valuesFor(def: FamilyDef, labels: Labels, extra: readonly string[]): Array<string | undefined> | undefined {
  for (const n in labels) {
    if (n !== '__name__' && !extra.includes(n) && !def.labelNames.includes(n)) return undefined;
  }
  return def.labelNames.map((n) => labels[n]);
}

interface Placement {
  readonly key: string;
  readonly names: readonly string[];
  readonly values: LabelValues;
}

/**
 * Where a stored series goes back in its family: for an event family, under the ingest path's
 * key; for a family a source declared, under the identity its source gives it (every label but
 * `__name__` and `extra`, in name order, as src/aggregate/samples.ts builds it).
 */
function placement(def: FamilyDef, labels: Labels, extra: readonly string[]): Placement | undefined {
  if (def.perSeriesLabels === true) {
    const names = Object.keys(labels).filter((n) => n !== '__name__' && !extra.includes(n)).sort();
    return identity(names, names.map((n) => labels[n]));
  }
  const values = valuesFor(def, labels, extra);
  const key = values === undefined ? undefined : ingestKey(def, values);
  return key === undefined ? undefined : { key, names: def.labelNames, values: values! };
}

/**
 * Declares again the counter and histogram families a source had declared before the restart
 * (their metadata's origin says which), so their series go on from the store as event series do.
 * Gauges are not: a gauge is only its latest value, which the source sends again.
 */
function declareSourceFamilies(store: Tsdb, pm: ProjectMetrics): void {
  const meta = store.metadata(pm.projectId);
  const idx = store.index(pm.projectId)!;
  for (const name of store.sourceFamilies(pm.projectId)) {
    const m = meta.get(name);
    if (m === undefined || (m.type !== 'counter' && m.type !== 'histogram')) continue;
    let buckets: number[] | undefined;
    if (m.type === 'histogram') {
      const les = new Set<number>();
      for (const s of idx.select([{ type: '=', name: '__name__', value: `${name}_bucket` }])) {
        const le = Number(s.labels.le);
        if (Number.isFinite(le)) les.add(le);
      }
      buckets = [...les].sort((a, b) => a - b);
    }
    // The UCUM unit pushes send is not stored; it is empty until the family is made anew.
    pm.declare({ name, type: m.type, help: m.help, unit: m.unit, otlpUnit: '', buckets });
  }
}

function newest(store: Tsdb, s: MemSeries): number | undefined {
  const last = store.latest(s);
  // A staleness marker means the series ended (its project went away): it is not resumed.
  if (last === null || isStaleNaN(last.v) || Number.isNaN(last.v)) return undefined;
  return last.v;
}

/**
 * For every project in the aggregator, sets each stored counter and histogram to its newest
 * stored values, creating the series under the key the ingest path uses. Call once at start-up,
 * before events are ingested (values are set, not added).
 */
export function restoreInto(aggregator: Aggregator, store: Tsdb): RestoreReport {
  const report: RestoreReport = { counters: 0, histograms: 0, skipped: 0 };
  for (const pm of aggregator.all()) {
    const idx = store.index(pm.projectId);
    if (idx === undefined) continue;
    declareSourceFamilies(store, pm);
    for (const fam of pm.families) {
      if (fam.def.type === 'counter') restoreCounters(store, pm, fam as Family<CounterSeries>, report);
      else if (fam.def.type === 'histogram') restoreHistograms(store, pm, fam as Family<HistogramSeries>, report);
    }
  }
  return report;
}

function restoreCounters(store: Tsdb, pm: ProjectMetrics, fam: Family<CounterSeries>, report: RestoreReport): void {
  const def = fam.def;
  for (const s of store.index(pm.projectId)!.select([{ type: '=', name: '__name__', value: def.name }])) {
    const v = newest(store, s);
    if (v === undefined) continue;
    // A counter stored at +Inf (before ingest refused overflowing events) is not resumed: every
    // event after it would be refused as overflowing. It restarts from zero, which rate() reads
    // as a reset.
    if (!Number.isFinite(v)) {
      report.skipped++;
      continue;
    }
    const at = placement(def, s.labels, []);
    const series = at === undefined ? undefined : pm.registry.series(fam, at.key, at.values, at.names);
    if (series === undefined) {
      report.skipped++;
      continue;
    }
    series.value = v;
    // Restored, not received: a source's series then has the usual time to get its next point.
    series.updatedAt = Date.now();
    report.counters++;
  }
}

interface Parts {
  at: Placement;
  buckets: Map<string, number>;
  sum?: number;
  count?: number;
  seen: number;
}

function restoreHistograms(store: Tsdb, pm: ProjectMetrics, fam: Family<HistogramSeries>, report: RestoreReport): void {
  const def = fam.def;
  const les = [...(def.buckets ?? []).map(formatValue), '+Inf'];
  const groups = new Map<string, Parts>();
  const idx = store.index(pm.projectId)!;
  for (const suffix of ['_bucket', '_sum', '_count'] as const) {
    for (const s of idx.select([{ type: '=', name: '__name__', value: def.name + suffix }])) {
      const v = newest(store, s);
      if (v === undefined) continue;
      const at = placement(def, s.labels, suffix === '_bucket' ? ['le'] : []);
      if (at === undefined) {
        report.skipped++;
        continue;
      }
      let g = groups.get(at.key);
      if (g === undefined) groups.set(at.key, (g = { at, buckets: new Map(), seen: 0 }));
      g.seen++;
      if (suffix === '_bucket') g.buckets.set(s.labels.le ?? '', v);
      else if (suffix === '_sum') g.sum = v;
      else g.count = v;
    }
  }
  for (const g of groups.values()) {
    // A changed bucket layout cannot be mapped back to per-bucket counts: that series restarts.
    const complete = g.sum !== undefined && g.count !== undefined && g.buckets.size === les.length && les.every((le) => g.buckets.has(le));
    // A sum at +Inf would make every later observation overflow (see restoreCounters): restarts too.
    const finite = complete && Number.isFinite(g.sum!) && Number.isFinite(g.count!) && [...g.buckets.values()].every(Number.isFinite);
    const series = !finite ? undefined : pm.registry.series(fam, g.at.key, g.at.values, g.at.names);
    if (series === undefined) {
      report.skipped += g.seen;
      continue;
    }
    let prev = 0;
    for (let i = 0; i < les.length; i++) {
      const cum = g.buckets.get(les[i])!;
      series.counts[i] = cum - prev;
      prev = cum;
    }
    series.sum = g.sum!;
    series.count = g.count!;
    series.updatedAt = Date.now();
    report.histograms++;
  }
}
