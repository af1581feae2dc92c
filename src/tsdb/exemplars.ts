/**
 * Exemplars per project, for /api/v1/query_exemplars: the newest exemplar of each histogram bucket
 * as the sampler finds it at a tick, kept in a ring of bounded size per project. In memory only,
 * as Prometheus keeps its exemplars (its WAL replay aside): after a restart the ring starts empty,
 * and the next observations fill it again.
 */
import type { Labels } from '../core/labels.js';
import type { LabelMatcher } from '../core/queryable.js';
import { matchesAll } from '../promql/matchers.js';
import type { StoredExemplar } from '../core/storage.js';


export interface SeriesExemplars {
  readonly seriesLabels: Labels;
  readonly exemplars: Array<{ labels: Readonly<Record<string, string>>; value: number; timeMs: number }>;
}

interface Ring {
  readonly items: StoredExemplar[];
  next: number;
}

export class ExemplarStore {
  private readonly rings = new Map<string, Ring>();

  /** `perProject`: how many a project keeps; the oldest go first (Prometheus' max_exemplars idea, per tenant). */
  constructor(readonly perProject = 10_000) {}

  append(project: string, exemplars: readonly StoredExemplar[]): void {
    if (this.perProject <= 0 || exemplars.length === 0) return;
    let ring = this.rings.get(project);
    if (ring === undefined) this.rings.set(project, (ring = { items: [], next: 0 }));
    for (const e of exemplars) {
      if (ring.items.length < this.perProject) ring.items.push(e);
      else {
        ring.items[ring.next] = e;
        ring.next = (ring.next + 1) % this.perProject;
      }
    }
  }

  /**
   * The project's exemplars in [minMs, maxMs] of series that match one of the matcher sets (the
   * selectors of a query), grouped by series, each series' exemplars in time order.
   */
  select(project: string, matcherSets: ReadonlyArray<readonly LabelMatcher[]>, minMs: number, maxMs: number): SeriesExemplars[] {
    const ring = this.rings.get(project);
    if (ring === undefined) return [];
    const bySeries = new Map<Labels, SeriesExemplars>();
    for (const e of ring.items) {
      if (e.timeMs < minMs || e.timeMs > maxMs) continue;
      if (!matcherSets.some((ms) => matchesAll(e.seriesLabels, ms))) continue;
      let s = bySeries.get(e.seriesLabels);
      if (s === undefined) bySeries.set(e.seriesLabels, (s = { seriesLabels: e.seriesLabels, exemplars: [] }));
      s.exemplars.push({ labels: e.labels, value: e.value, timeMs: e.timeMs });
    }
    for (const s of bySeries.values()) s.exemplars.sort((a, b) => a.timeMs - b.timeMs);
    return [...bySeries.values()];
  }

  drop(project: string): void {
    this.rings.delete(project);
  }
}
