/**
 * Running time and cost of instances and jobs, accrued between their events (CONTRACT section 4),
 * and what of it must outlive a restart.
 *
 * Each instance or job (an *entity*: a fleet's instance, a run's job) keeps the time, state,
 * price and labels of its newest event (a price or label left out of an event holds). An event newer than that adds the interval since it to the running
 * time, and the interval times the price per hour to the cost, when the entity was running over
 * it; an event older than that (out of order, or resent) changes nothing, so nothing is counted
 * twice and no counter goes back. An interval longer than the gauge staleness time counts only
 * that long: a heartbeat missed for longer says nothing of whether the entity still ran.
 *
 * The counters are kept as exact sums in small units (milliseconds; milliseconds times dollars
 * per hour) and each value is one division of its sum: 90 one-minute intervals at 2 $/h add
 * 0.0333... ninety times, which in doubles comes to 2.9999999999999996, while 90 × 60,000 × 2 is
 * an exact 10,800,000 and one division gives 3.
 *
 * Restarts. The counters of other events continue from the time-series store (src/tsdb/restore.ts),
 * whose newest sample can be up to one `storage.interval` old (and a close takes no last sample).
 * That is not enough here: an entity's newest event time must match the counters exactly, or the
 * interval between the last sample and the last event is lost (state newer than the counters) or
 * counted twice (counters newer than the state). So the entities' states and these counters' sums
 * are written together, in one transaction of the control database (src/store/accrual.ts, tables
 * `accrual_entities` and `accrual_sums`), right after the events that changed them, and are read
 * back at start-up over what the store restored. Deriving the state from the store instead was
 * not safe: it holds neither event times nor the last price, only samples taken on its own clock.
 *
 * Memory: at most `maxEntities` entities per kind and project (least recently heard from go
 * first); an entity not heard from for ENTITY_KEEP_MS is forgotten (and its row deleted).
 */
import { CATALOG, CATALOG_INDEX as I, seriesKey } from '../catalog/catalog.js';
import type { Family, MetricRegistry } from './registry.js';
import type { CounterSeries, GaugeSeries, LabelValues } from './series.js';

export type AccrualKind = 'instance' | 'job';
export const ACCRUAL_KINDS: readonly AccrualKind[] = ['instance', 'job'];

/** Entities tracked per kind and project before the least recently heard from is forgotten. */
export const MAX_TRACKED_ENTITIES = 50_000;
/** An entity not heard from for this long (wall clock) is forgotten, unless the staleness time is longer. */
export const ENTITY_KEEP_MS = 24 * 3_600_000;

/**
 * The unit each accrued counter's exact sum is kept in, as a divisor of its value: running time
 * in milliseconds, cost in milliseconds times dollars per hour, jobs in jobs.
 */
const SCALE: ReadonlyMap<number, number> = new Map([
  [I.instance_running_seconds, 1000],
  [I.job_running_seconds, 1000],
  [I.instance_cost, 3_600_000],
  [I.job_cost, 3_600_000],
  [I.jobs, 1],
]);

export function accrualScale(idx: number): number {
  const s = SCALE.get(idx);
  if (s === undefined) throw new Error(`${CATALOG[idx].key} is not an accrued counter`);
  return s;
}

/** Whether the catalogue entry at `idx` is one of the accrued counters (kept by this book). */
export function isAccrued(idx: number): boolean {
  return SCALE.has(idx);
}

export interface Entity {
  /** Event time of the newest event applied. */
  lastMs: number;
  /** Its `state` (instances) or `status` (jobs). */
  state: string;
  /** The newest price given, in dollars per hour; it holds until another is given. */
  price: number | undefined;
  /** Its label fields (backend, gpu_name, ...) as last given; each holds until another is given. */
  labels: Readonly<Record<string, string>>;
  /** Wall-clock time of the newest event applied: what ageing out goes by. */
  touchedAt: number;
  /** The newest GPU count given (memory only: it is a gauge, sent again). */
  gpuCount?: number;
  /** The gauges the newest event set, hidden once the entity ends (memory only). */
  gauges?: GaugeSeries[];
}

interface Sum {
  readonly idx: number;
  readonly key: string;
  readonly series: CounterSeries;
  /** Exact sum in the family's scale units. */
  total: number;
}

/** An entity's row as persisted: its identity is its key's parts. */
export interface EntityRow {
  readonly kind: AccrualKind;
  readonly entity: readonly string[];
  readonly lastMs: number;
  readonly state: string;
  readonly price: number | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly touchedAt: number;
}

/** A counter's exact sum as persisted: the family's catalogue key and label values after project_id and app_id. */
export interface SumRow {
  readonly family: string;
  readonly labels: ReadonlyArray<string | null>;
  readonly total: number;
}

export interface AccrualChanges {
  readonly entities: EntityRow[];
  readonly removed: Array<{ kind: AccrualKind; entity: string[] }>;
  readonly sums: SumRow[];
}

const sumId = (idx: number, key: string): string => `${idx}\u0000${key}`;

export class AccrualBook {
  private readonly entities: Record<AccrualKind, Map<string, Entity>> = { instance: new Map(), job: new Map() };
  private readonly sums = new Map<string, Sum>();
  private readonly dirty: Record<AccrualKind, Set<string>> = { instance: new Set(), job: new Set() };
  private readonly removed: Record<AccrualKind, Set<string>> = { instance: new Set(), job: new Set() };
  private readonly dirtySums = new Set<Sum>();
  private pending = false;

  constructor(
    private readonly registry: MetricRegistry,
    private readonly families: readonly Family[],
    /** Called when the book goes from nothing to write to something to write. */
    private readonly changed: () => void = () => {},
    readonly maxEntities = MAX_TRACKED_ENTITIES,
  ) {}

  entity(kind: AccrualKind, key: string): Entity | undefined {
    return this.entities[kind].get(key);
  }

  tracked(kind: AccrualKind): number {
    return this.entities[kind].size;
  }

  /** Records an entity's state after an event: it becomes the most recently heard from. */
  put(kind: AccrualKind, key: string, e: Entity): void {
    const m = this.entities[kind];
    m.delete(key);
    if (m.size >= this.maxEntities) {
      const oldest = m.keys().next().value as string;
      m.delete(oldest);
      this.forget(kind, oldest);
    }
    m.set(key, e);
    this.dirty[kind].add(key);
    this.removed[kind].delete(key);
    this.notify();
  }

  /** The exact sum a counter series holds, in its scale's units. */
  total(idx: number, key: string): number {
    const s = this.sums.get(sumId(idx, key));
    if (s !== undefined) return s.total;
    // A series the store restored but this book has no sum for (written before it kept them).
    const c = this.families[idx].series.get(key) as CounterSeries | undefined;
    return c === undefined ? 0 : c.value * accrualScale(idx);
  }

  /** Adds `by` (scale units) to a counter series, creating it under `values`; nothing when the series limit drops it. */
  add(idx: number, key: string, values: LabelValues, by: number): void {
    const s = this.sumFor(idx, key, values);
    if (s === undefined) return;
    s.total += by;
    s.series.value = s.total / accrualScale(idx);
    this.dirtySums.add(s);
    this.notify();
  }

  private sumFor(idx: number, key: string, values: LabelValues): Sum | undefined {
    const id = sumId(idx, key);
    let s = this.sums.get(id);
    if (s !== undefined) return s;
    const series = this.registry.series(this.families[idx] as Family<CounterSeries>, key, values);
    if (series === undefined) return undefined;
    s = { idx, key, series, total: series.value * accrualScale(idx) };
    this.sums.set(id, s);
    return s;
  }

  /** Forgets entities not heard from since `cutoffMs` (wall clock); returns how many. */
  prune(cutoffMs: number): number {
    let n = 0;
    for (const kind of ACCRUAL_KINDS) {
      const m = this.entities[kind];
      // Oldest first: put() moves an entity to the end.
      for (const [key, e] of m) {
        if (e.touchedAt >= cutoffMs) break;
        m.delete(key);
        this.forget(kind, key);
        n++;
      }
    }
    if (n > 0) this.notify();
    return n;
  }

  private forget(kind: AccrualKind, key: string): void {
    this.dirty[kind].delete(key);
    this.removed[kind].add(key);
  }

  private notify(): void {
    if (this.pending) return;
    this.pending = true;
    this.changed();
  }

  /** What changed since the last call, as rows; undefined when nothing did. */
  takeChanges(): AccrualChanges | undefined {
    if (!this.pending) return undefined;
    this.pending = false;
    const changes: AccrualChanges = { entities: [], removed: [], sums: [] };
    for (const kind of ACCRUAL_KINDS) {
      for (const key of this.dirty[kind]) {
        const e = this.entities[kind].get(key)!;
        changes.entities.push({ kind, entity: key.split('\u0000'), lastMs: e.lastMs, state: e.state, price: e.price ?? null, labels: e.labels, touchedAt: e.touchedAt });
      }
      for (const key of this.removed[kind]) changes.removed.push({ kind, entity: key.split('\u0000') });
      this.dirty[kind].clear();
      this.removed[kind].clear();
    }
    for (const s of this.dirtySums) {
      changes.sums.push({ family: CATALOG[s.idx].key, labels: s.series.labelValues.slice(2).map((v) => v ?? null), total: s.total });
    }
    this.dirtySums.clear();
    return changes;
  }

  /** Marks what `changes` held as still to write (its write failed); what changed since stays newer. */
  requeue(changes: AccrualChanges): void {
    for (const r of changes.entities) {
      const key = r.entity.join('\u0000');
      if (this.entities[r.kind].has(key)) this.dirty[r.kind].add(key);
    }
    for (const r of changes.removed) {
      const key = r.entity.join('\u0000');
      if (!this.entities[r.kind].has(key)) this.removed[r.kind].add(key);
    }
    for (const r of changes.sums) {
      const idx = I[r.family];
      const s = this.sums.get(sumId(idx, seriesKey([undefined, undefined, ...r.labels.map((v) => v ?? undefined)])));
      if (s !== undefined) this.dirtySums.add(s);
    }
    this.notify();
  }

  /** At start-up: an entity as persisted (call in the order they were last heard from). */
  restoreEntity(row: EntityRow): void {
    this.entities[row.kind].set(row.entity.join('\u0000'), { lastMs: row.lastMs, state: row.state, price: row.price ?? undefined, labels: row.labels, touchedAt: row.touchedAt });
  }

  /**
   * At start-up: a counter's exact sum as persisted, which replaces what the time-series store
   * restored for it (that is as of its last sample; this is as of the last event). False when
   * the family is unknown or the series limit leaves no room.
   */
  restoreSum(projectId: string, row: SumRow): boolean {
    const idx = I[row.family];
    if (idx === undefined || !isAccrued(idx)) return false;
    const fam = this.families[idx];
    const rest = row.labels.map((v) => v ?? undefined);
    if (rest.length !== fam.def.labelNames.length - 2) return false;
    const app = rest[0];
    const values = [projectId, app === undefined ? undefined : `${projectId}-${app}`, ...rest];
    const s = this.sumFor(idx, seriesKey(values), values);
    if (s === undefined) return false;
    s.total = row.total;
    s.series.value = row.total / accrualScale(idx);
    return true;
  }
}
