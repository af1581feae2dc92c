/**
 * A project's (tenant's) metrics: one registry whose families follow the catalogue, plus the apps
 * seen so far (the per-app scrape endpoint answers 404 for an app that never reported).
 */
import { BASE_LABELS, CATALOG, DEFAULT_BUCKETS, type BucketFamily } from '../catalog/catalog.js';
import { MetricRegistry, type Family, type FamilyDef, type SeriesRow } from './registry.js';
import { metricNameProblem } from '../core/labels.js';

export interface CatalogOptions {
  readonly prefix: string;
  readonly buckets: Readonly<Record<BucketFamily, readonly number[]>>;
}

export const DEFAULT_CATALOG_OPTIONS: CatalogOptions = { prefix: 'meterway', buckets: DEFAULT_BUCKETS };

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
    buckets: def.buckets === undefined ? undefined : opts.buckets[def.buckets],
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
  readonly rows = { run: new Map<string, SeriesRow>(), inference: new Map<string, SeriesRow>() };
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
  ) {
    this.registry = new MetricRegistry({ maxSeries });
    this.families = this.registry.families;
    for (const d of defs) this.registry.family(d);
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

  constructor(
    catalog: CatalogOptions,
    private readonly maxSeriesPerProject: number,
  ) {
    this.defs = resolveCatalog(catalog);
  }

  get(projectId: string): ProjectMetrics | undefined {
    return this.projects.get(projectId);
  }

  ensure(projectId: string): ProjectMetrics {
    let pm = this.projects.get(projectId);
    if (pm === undefined) {
      pm = new ProjectMetrics(projectId, this.defs, this.maxSeriesPerProject);
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

  sweepStale(cutoffMs: number): number {
    let removed = 0;
    for (const pm of this.projects.values()) removed += pm.registry.sweepStale(cutoffMs);
    return removed;
  }
}
