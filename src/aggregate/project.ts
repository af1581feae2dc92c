/**
 * A project's (tenant's) metrics: one registry whose families follow the catalogue, plus the apps
 * seen so far (the per-app scrape endpoint answers 404 for an app that never reported).
 */
import { BASE_LABELS, CATALOG, DEFAULT_BUCKETS, type BucketFamily } from '../catalog/catalog.js';
import { MetricRegistry, type Family, type FamilyDef, type SeriesRow } from './registry.js';
import { metricNameProblem } from '../core/labels.js';
import { AccrualBook, ENTITY_KEEP_MS } from './accrual.js';
import { ActiveDevices } from './devices.js';

export interface CatalogOptions {
  readonly prefix: string;
  readonly buckets: Readonly<Record<BucketFamily, readonly number[]>>;
}

export const DEFAULT_CATALOG_OPTIONS: CatalogOptions = { prefix: 'meterway', buckets: DEFAULT_BUCKETS };

/** `metrics.gauge_stale_after`'s default. */
export const DEFAULT_STALE_AFTER_MS = 300_000;

/** The catalogue resolved into family definitions (full names, label names, bucket bounds). */
export function resolveCatalog(opts: CatalogOptions): FamilyDef[] {
  return CATALOG.map((def) => ({
    name: `${opts.prefix}_${def.suffix}`,
    type: def.type,
    help: def.help,
    unit: def.unit,
    otlpUnit: def.otlpUnit,
    catalogKey: def.key,
    labelNames: [...BASE_LABELS, ...def.extraLabels],
    buckets: def.buckets === undefined ? undefined : typeof def.buckets === 'string' ? opts.buckets[def.buckets] : def.buckets,
  }));
}

/** A family a source declares: what a source knows of a metric before its first sample. */
export interface SourceFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  /** Prometheus base unit (`seconds`), or ''. */
  readonly unit: string;
  /** The UCUM unit pushes send (OTLP's own unit, as the source had it). */
  readonly otlpUnit: string;
  /** Upper bounds of a histogram's buckets, without +Inf. */
  readonly buckets?: readonly number[];
}

/** Why a source's family cannot be declared (nothing was changed). */
export class DeclareError {
  constructor(readonly message: string) {}
}

export class ProjectMetrics {
  readonly registry: MetricRegistry;
  /** The catalogue's families in CATALOG order (the first declared), then sources' in the order declared. */
  readonly families: Family[];
  readonly apps = new Set<string>();
  /** Per event type, the series each event key feeds (see src/ingest/events.ts). */
  readonly rows = { run: new Map<string, SeriesRow>(), inference: new Map<string, SeriesRow>(), device: new Map<string, SeriesRow>() };
  /** Instances' and jobs' states and the exact sums of their running time and cost (src/aggregate/accrual.ts). */
  readonly accrual: AccrualBook;
  /** Devices seen within the staleness time, for `devices_active` (src/aggregate/devices.ts). */
  readonly devices = new ActiveDevices();
  /** When counting began: the start time of every cumulative series pushed out. */
  readonly startedMs = Date.now();
  /**
   * Whether the sampler has stored a sample of this project yet. Until it has, queries read the
   * project's live series as they are now (src/tsdb/head.ts), so the query API answers the first
   * data at once instead of after the first tick.
   */
  sampled = false;

  constructor(
    readonly projectId: string,
    defs: readonly FamilyDef[],
    maxSeries: number,
    /**
     * `metrics.gauge_stale_after`: how long a gauge stays exposed without an update, how long a
     * device counts as active after it was seen, and the longest interval between two events
     * of an instance or job that running time and cost accrue over.
     */
    readonly staleAfterMs = DEFAULT_STALE_AFTER_MS,
    onAccrualChange?: () => void,
  ) {
    this.registry = new MetricRegistry({ maxSeries });
    this.families = this.registry.families;
    for (const d of defs) this.registry.family(d);
    this.accrual = new AccrualBook(this.registry, this.families, onAccrualChange);
  }

  /**
   * The family a source's samples go to: the one already under that name when it is the same
   * kind of metric (an OTLP counter named like an event counter adds to the same name), else a new
   * one. Refused when the name is not valid, when it is taken by another type or by other bucket
   * bounds, and when the project is at its series limit (an empty family would hold nothing).
   */
  declare(f: SourceFamily): Family | DeclareError {
    const existing = this.registry.getFamily(f.name);
    if (existing !== undefined) {
      const def = existing.def;
      if (def.type !== f.type) return new DeclareError(`${f.name} is already a ${def.type} in this project; a ${f.type} cannot have the same name`);
      if (f.type === 'histogram' && !sameBounds(def.buckets ?? [], f.buckets ?? [])) {
        return new DeclareError(`${f.name} already has the bucket bounds [${(def.buckets ?? []).join(', ')}]; points with the bounds [${(f.buckets ?? []).join(', ')}] cannot join it`);
      }
      return existing;
    }
    // Checked once, when the family is made: a name already there passed this before.
    const problem = metricNameProblem(f.name);
    if (problem !== undefined) return new DeclareError(problem);
    if (this.registry.full()) return new DeclareError(`project ${this.projectId} has reached its limit of ${this.registry.limits.maxSeries} series`);
    return this.registry.family({ ...f, labelNames: [], perSeriesLabels: true });
  }
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** All projects' metrics, created when a project is and dropped when it is deleted. */
export class Aggregator {
  private readonly projects = new Map<string, ProjectMetrics>();
  readonly defs: readonly FamilyDef[];
  /**
   * Called when a project's accrual book has something new to persist (src/store/accrual.ts
   * sets it); called again only once the book's changes were taken.
   */
  onAccrualChange: (() => void) | undefined;

  constructor(
    catalog: CatalogOptions,
    private readonly maxSeriesPerProject: number,
    /** `metrics.gauge_stale_after` (see ProjectMetrics.staleAfterMs). */
    readonly staleAfterMs = DEFAULT_STALE_AFTER_MS,
  ) {
    this.defs = resolveCatalog(catalog);
  }

  get(projectId: string): ProjectMetrics | undefined {
    return this.projects.get(projectId);
  }

  ensure(projectId: string): ProjectMetrics {
    let pm = this.projects.get(projectId);
    if (pm === undefined) {
      pm = new ProjectMetrics(projectId, this.defs, this.maxSeriesPerProject, this.staleAfterMs, () => this.onAccrualChange?.());
      this.projects.set(projectId, pm);
    }
    return pm;
  }

  delete(projectId: string): void {
    this.projects.delete(projectId);
  }

  all(): IterableIterator<ProjectMetrics> {
    return this.projects.values();
  }

  /**
   * Removes gauges not updated since `cutoffMs` (and sources' series, see MetricRegistry); first
   * counts out the devices last seen before it, and forgets instances and jobs not heard from
   * for ENTITY_KEEP_MS (or the staleness time, when longer) before it.
   */
  sweepStale(cutoffMs: number): number {
    let removed = 0;
    const entityCutoff = cutoffMs + this.staleAfterMs - Math.max(ENTITY_KEEP_MS, this.staleAfterMs);
    for (const pm of this.projects.values()) {
      pm.devices.prune(cutoffMs);
      pm.accrual.prune(entityCutoff);
      removed += pm.registry.sweepStale(cutoffMs);
    }
    return removed;
  }
}
