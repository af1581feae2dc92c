/**
 * The storage seam of the write side: what the sampler, the import route and project deletion
 * need from the store. The embedded store (`Tsdb`, src/tsdb) implements it; a remote store
 * (remote write to Prometheus, Mimir or VictoriaMetrics) is to implement the same, so that
 * those callers do not change when the store does. The read side is `Queryable`
 * (queryable.ts).
 *
 * Appends are synchronous and report what was refused, as the embedded store does within its
 * transaction; a remote store would queue what it accepts (as Prometheus' remote write sends
 * from its log) and refuse only what it can judge locally (timestamp, retention, no metric name).
 */
import type { Labels } from './labels.js';
import type { MetricMetadata } from './queryable.js';

export interface Sample {
  readonly labels: Labels;
  readonly t: number;
  readonly v: number;
}

export interface AppendResult {
  /** Samples stored (in order or out of order). */
  appended: number;
  /** Of those, samples at or before their series' newest timestamp. */
  outOfOrder: number;
  /** Samples refused: bad timestamp, older than retention, or a label set without a name. */
  rejected: number;
  /** Positions (in the input) of the refused samples, so an importer can name their lines. */
  rejectedAt: number[];
}

/** One project's samples in a multi-project append. */
export interface ProjectSamples {
  readonly project: string;
  readonly samples: readonly Sample[];
}

export interface Storage {
  /** How long samples are kept (ms); samples older than now - retentionMs are refused. 0 keeps everything. */
  readonly retentionMs: number;
  /** The oldest timestamp an append accepts now (-Infinity with retention 0). */
  oldestAcceptedMs(): number;
  /**
   * Appends one project's samples; when this returns, they are stored (durably, for the
   * embedded store). The project's `project_id` label is forced on every series.
   */
  appendBatch(project: string, samples: readonly Sample[]): AppendResult;
  /** Several projects' samples at once (the sampler's tick); one result per batch, in order. */
  appendProjects(batches: readonly ProjectSamples[]): AppendResult[];
  /** Records a metric's type, help and unit for a project. */
  setMetadata(project: string, name: string, meta: MetricMetadata): void;
  /**
   * Several metrics' metadata for a project at once. `origin` 'source' marks a family a source
   * declared in the aggregation, so that it is declared again after a restart; left out, the
   * recorded origin stays.
   */
  setMetadataAll(project: string, entries: ReadonlyArray<readonly [name: string, meta: MetricMetadata, origin?: string]>): void;
  /** Exemplars the sampler found new at a tick (kept in memory, bounded per project). */
  appendExemplars(project: string, exemplars: readonly StoredExemplar[]): void;
  /** Deletes everything stored for a project deleted for good (series, samples, metadata). */
  dropProject(project: string): void;
}

/** The metadata origin of a family a source declared in the aggregation (see setMetadataAll). */
export const SOURCE_ORIGIN = 'source';

/** An exemplar with the bucket series it belongs to (`…_bucket` with `le`). */
export interface StoredExemplar {
  readonly seriesLabels: Labels;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timeMs: number;
}
