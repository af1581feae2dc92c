/**
 * A project's (tenant's) metrics: one registry whose families follow the catalogue, plus the apps
 * seen so far (the per-app scrape endpoint answers 404 for an app that never reported).
 */
import { BASE_LABELS, CATALOG, DEFAULT_BUCKETS, type BucketFamily } from '../catalog/catalog.js';
import { MetricRegistry, type Family, type FamilyDef, type SeriesRow } from './registry.js';

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
    labelNames: [...BASE_LABELS, ...def.extraLabels],
    buckets: def.buckets === undefined ? undefined : opts.buckets[def.buckets],
  }));
}

export class ProjectMetrics {
  readonly registry: MetricRegistry;
  /** Families in CATALOG order. */
  readonly families: Family[];
  readonly apps = new Set<string>();
  /** Per event type, the series each event key feeds (see src/ingest/events.ts). */
  readonly rows = { run: new Map<string, SeriesRow>(), inference: new Map<string, SeriesRow>() };
  /** When counting began: the start time of every cumulative series pushed out. */
  readonly startedMs = Date.now();

  constructor(
    readonly projectId: string,
    defs: readonly FamilyDef[],
    maxSeries: number,
  ) {
    this.registry = new MetricRegistry({ maxSeries });
    this.families = defs.map((d) => this.registry.family(d));
  }
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

  sweepStaleGauges(cutoffMs: number): number {
    let removed = 0;
    for (const pm of this.projects.values()) removed += pm.registry.sweepStaleGauges(cutoffMs);
    return removed;
  }
}
