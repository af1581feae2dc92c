/**
 * Persists the accrual books (src/aggregate/accrual.ts) in the control database: instances' and
 * jobs' states (`accrual_entities`) and the exact sums of their running-time, cost and jobs
 * counters (`accrual_sums`), both in one transaction, so what a restart reads back always belongs
 * together. Written right after the events that changed them (on the next turn of the event
 * loop, every change since the last write in one transaction), and once more at close: a
 * graceful restart loses nothing, a crash at most the events of that last moment, state and
 * counters alike (the next event then accrues the lost interval again, up to the staleness time).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { Aggregator } from '../aggregate/project.js';
import { ACCRUAL_KINDS, ENTITY_KEEP_MS, type AccrualChanges, type AccrualKind } from '../aggregate/accrual.js';

/** Rows per statement: well under SQLite's and PostgreSQL's limits on bound parameters. */
const ROWS_PER_STATEMENT = 200;
const RETRY_MS = 1000;

export interface AccrualLoadReport {
  entities: number;
  sums: number;
  /** Rows of projects that are gone or of entities not heard from for a day, deleted. */
  dropped: number;
}

export class AccrualStore {
  private writing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly aggregator: Aggregator,
    private readonly onError: (err: unknown) => void,
  ) {}

  /**
   * Reads the books back into the aggregator's projects (after the time-series store restored
   * its counters: the sums here replace what it had for the accrued ones), then writes every
   * later change. Call before any event is ingested.
   */
  static async open(db: Kysely<Database>, aggregator: Aggregator, onError: (err: unknown) => void = () => {}): Promise<{ store: AccrualStore; report: AccrualLoadReport }> {
    const store = new AccrualStore(db, aggregator, onError);
    const report = await store.load();
    aggregator.onAccrualChange = () => store.schedule();
    return { store, report };
  }

  private async load(): Promise<AccrualLoadReport> {
    const report: AccrualLoadReport = { entities: 0, sums: 0, dropped: 0 };
    const keepSince = new Date(Date.now() - Math.max(ENTITY_KEEP_MS, this.aggregator.staleAfterMs)).toISOString();
    const old = await this.db.deleteFrom('accrual_entities').where('updated_at', '<', keepSince).executeTakeFirst();
    report.dropped += Number(old.numDeletedRows);
    // Oldest first, the order the books keep entities in.
    const entities = await this.db.selectFrom('accrual_entities').selectAll().orderBy('updated_at').execute();
    for (const r of entities) {
      const pm = this.aggregator.get(r.project_id);
      if (pm === undefined || !(ACCRUAL_KINDS as readonly string[]).includes(r.kind)) continue;
      pm.accrual.restoreEntity({
        kind: r.kind as AccrualKind, entity: JSON.parse(r.entity) as string[], lastMs: r.last_ms, state: r.state,
        price: r.price_per_hour, labels: JSON.parse(r.labels) as Record<string, string>, touchedAt: Date.parse(r.updated_at),
      });
      report.entities++;
    }
    const sums = await this.db.selectFrom('accrual_sums').selectAll().execute();
    for (const r of sums) {
      const pm = this.aggregator.get(r.project_id);
      if (pm === undefined) continue;
      if (pm.accrual.restoreSum(pm.projectId, { family: r.family, labels: JSON.parse(r.labels) as Array<string | null>, total: r.total })) report.sums++;
    }
    return report;
  }

  /** Writes the books' changes on the next turn of the event loop (coalescing every change until then). */
  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.writing = this.writing.then(() => this.write());
    });
  }

  /** Waits for the writes under way, then writes what is left; nothing is written after. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    await this.writing;
    await this.write();
  }

  private async write(): Promise<void> {
    const taken: Array<{ projectId: string; changes: AccrualChanges }> = [];
    for (const pm of this.aggregator.all()) {
      const changes = pm.accrual.takeChanges();
      if (changes !== undefined) taken.push({ projectId: pm.projectId, changes });
    }
    if (taken.length === 0) return;
    try {
      await this.db.transaction().execute(async (trx) => {
        // A project deleted since its changes were taken: its rows went with it (ON DELETE CASCADE).
        for (const t of taken) if (this.aggregator.get(t.projectId) !== undefined) await writeProject(trx, t.projectId, t.changes);
      });
    } catch (err) {
      this.onError(err);
      // Written again with whatever changed since; a project deleted meanwhile has no book to take it.
      for (const t of taken) this.aggregator.get(t.projectId)?.accrual.requeue(t.changes);
      if (!this.closed && this.retry === undefined) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.schedule();
        }, RETRY_MS);
        this.retry.unref();
      }
    }
  }
}

async function writeProject(trx: Transaction<Database>, projectId: string, c: AccrualChanges): Promise<void> {
  for (let i = 0; i < c.entities.length; i += ROWS_PER_STATEMENT) {
    const rows = c.entities.slice(i, i + ROWS_PER_STATEMENT).map((e) => ({
      project_id: projectId, kind: e.kind, entity: JSON.stringify(e.entity), last_ms: e.lastMs, state: e.state,
      price_per_hour: e.price, labels: JSON.stringify(e.labels), updated_at: new Date(e.touchedAt).toISOString(),
    }));
    await trx.insertInto('accrual_entities').values(rows)
      .onConflict((oc) => oc.columns(['project_id', 'kind', 'entity']).doUpdateSet((eb) => ({
        last_ms: eb.ref('excluded.last_ms'), state: eb.ref('excluded.state'), price_per_hour: eb.ref('excluded.price_per_hour'),
        labels: eb.ref('excluded.labels'), updated_at: eb.ref('excluded.updated_at'),
      })))
      .execute();
  }
  for (const r of c.removed) {
    await trx.deleteFrom('accrual_entities').where('project_id', '=', projectId).where('kind', '=', r.kind).where('entity', '=', JSON.stringify(r.entity)).execute();
  }
  for (let i = 0; i < c.sums.length; i += ROWS_PER_STATEMENT) {
    const rows = c.sums.slice(i, i + ROWS_PER_STATEMENT).map((s) => ({ project_id: projectId, family: s.family, labels: JSON.stringify(s.labels), total: s.total }));
    await trx.insertInto('accrual_sums').values(rows)
      .onConflict((oc) => oc.columns(['project_id', 'family', 'labels']).doUpdateSet((eb) => ({ total: eb.ref('excluded.total') })))
      .execute();
  }
}
