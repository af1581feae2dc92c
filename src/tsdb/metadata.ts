/**
 * Metric metadata per project (type, help, unit: what /api/v1/metadata serves), in memory and in
 * the `metadata` table, with each metric's origin: `source` for a family a source (OTLP) declared
 * in the aggregation, which restore declares again after a restart; '' for the catalogue's and
 * imported metrics. The origin is never served.
 */
import type SQLite from 'better-sqlite3';
import type { MetricMetadata } from '../core/queryable.js';

export class MetadataStore {
  private readonly byProject = new Map<string, Map<string, MetricMetadata>>();
  private readonly origins = new Map<string, Map<string, string>>();
  private readonly upsert: SQLite.Statement;

  constructor(private readonly db: SQLite.Database) {
    this.upsert = db.prepare(
      'INSERT INTO metadata (project, name, type, help, unit, origin) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, name) DO UPDATE SET type = excluded.type, help = excluded.help, unit = excluded.unit, origin = excluded.origin',
    );
  }

  /** Reads the table (on open). */
  load(): void {
    for (const row of this.db.prepare('SELECT project, name, type, help, unit, origin FROM metadata').iterate() as Iterable<{ project: string; name: string; origin: string } & MetricMetadata>) {
      this.map(row.project).set(row.name, { type: row.type, help: row.help, unit: row.unit });
      if (row.origin !== '') this.originsOf(row.project).set(row.name, row.origin);
    }
  }

  private originsOf(project: string): Map<string, string> {
    let m = this.origins.get(project);
    if (m === undefined) this.origins.set(project, (m = new Map()));
    return m;
  }

  /** Names of the project's metrics whose origin is `origin`. */
  namesOfOrigin(project: string, origin: string): string[] {
    return [...(this.origins.get(project) ?? [])].filter(([, o]) => o === origin).map(([name]) => name);
  }

  private map(project: string): Map<string, MetricMetadata> {
    let m = this.byProject.get(project);
    if (m === undefined) this.byProject.set(project, (m = new Map()));
    return m;
  }

  /**
   * Records a metric's type, help and unit for a project (written only when it changed); an
   * `origin` left out keeps the one recorded.
   */
  set(project: string, name: string, meta: MetricMetadata, origin?: string): void {
    const m = this.map(project);
    const old = m.get(name);
    const oldOrigin = this.origins.get(project)?.get(name) ?? '';
    const newOrigin = origin ?? oldOrigin;
    if (old !== undefined && old.type === meta.type && old.help === meta.help && old.unit === meta.unit && newOrigin === oldOrigin) return;
    m.set(name, { type: meta.type, help: meta.help, unit: meta.unit });
    if (newOrigin !== '') this.originsOf(project).set(name, newOrigin);
    else this.origins.get(project)?.delete(name);
    this.upsert.run(project, name, meta.type, meta.help, meta.unit, newOrigin);
  }

  /** Several metrics' metadata in one transaction (one sync instead of one per metric). */
  setAll(project: string, entries: ReadonlyArray<readonly [name: string, meta: MetricMetadata, origin?: string]>): void {
    this.db.transaction(() => {
      for (const [name, meta, origin] of entries) this.set(project, name, meta, origin);
    })();
  }

  /** Metric metadata of one project. */
  get(project: string): ReadonlyMap<string, MetricMetadata> {
    return this.byProject.get(project) ?? new Map();
  }

  /** Deletes a project's metadata (inside the caller's transaction). */
  drop(project: string): void {
    this.db.prepare('DELETE FROM metadata WHERE project = ?').run(project);
    this.byProject.delete(project);
    this.origins.delete(project);
  }
}
