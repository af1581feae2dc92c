/**
 * Metric metadata per project (type, help, unit: what /api/v1/metadata serves), in memory and in
 * the `metadata` table.
 */
import type SQLite from 'better-sqlite3';
import type { MetricMetadata } from '../core/queryable.js';

export class MetadataStore {
  private readonly byProject = new Map<string, Map<string, MetricMetadata>>();
  private readonly upsert: SQLite.Statement;

  constructor(private readonly db: SQLite.Database) {
    this.upsert = db.prepare(
      'INSERT INTO metadata (project, name, type, help, unit) VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, name) DO UPDATE SET type = excluded.type, help = excluded.help, unit = excluded.unit',
    );
  }

  /** Reads the table (on open). */
  load(): void {
    for (const row of this.db.prepare('SELECT project, name, type, help, unit FROM metadata').iterate() as Iterable<{ project: string; name: string } & MetricMetadata>) {
      this.map(row.project).set(row.name, { type: row.type, help: row.help, unit: row.unit });
    }
  }

  private map(project: string): Map<string, MetricMetadata> {
    let m = this.byProject.get(project);
    if (m === undefined) this.byProject.set(project, (m = new Map()));
    return m;
  }

  /** Records a metric's type, help and unit for a project (written only when it changed). */
  set(project: string, name: string, meta: MetricMetadata): void {
    const m = this.map(project);
    const old = m.get(name);
    if (old !== undefined && old.type === meta.type && old.help === meta.help && old.unit === meta.unit) return;
    m.set(name, { type: meta.type, help: meta.help, unit: meta.unit });
    this.upsert.run(project, name, meta.type, meta.help, meta.unit);
  }

  /** Several metrics' metadata in one transaction (one sync instead of one per metric). */
  setAll(project: string, entries: ReadonlyArray<readonly [name: string, meta: MetricMetadata]>): void {
    this.db.transaction(() => {
      for (const [name, meta] of entries) this.set(project, name, meta);
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
  }
}
