/**
 * The first data of a project is queryable at once. Until the sampler has stored a sample of a
 * project (its first tick after the data came, up to `storage.interval` later), the query side
 * reads the project's live series as they are now: one sample each, at the time of the query's
 * read, under the names and labels the sampler will store. Nothing is written: what the store
 * holds stays exactly what a Prometheus scraping the gateway would hold.
 */
import type { Aggregator } from '../aggregate/project.js';
import type { Labels } from '../core/labels.js';
import type { LabelMatcher, Querier, Queryable, SeriesSamples } from '../core/queryable.js';
import { matchesAll } from '../promql/matchers.js';
import type { Sampler } from './sampler.js';

export class HeadQueryable implements Queryable {
  constructor(
    private readonly store: Queryable,
    private readonly aggregator: Aggregator,
    private readonly sampler: Sampler,
  ) {}

  querier(project: string, minMs: number, maxMs: number): Querier {
    const stored = this.store.querier(project, minMs, maxMs);
    const pm = this.aggregator.get(project);
    // A query "now" reaches the store a little after its evaluation time: the live values count
    // as of the query's end, if that end is recent (within the first tick's reach).
    const nowMs = Math.min(Date.now(), maxMs);
    if (pm === undefined || pm.sampled || nowMs < minMs || Date.now() - maxMs > this.sampler.intervalMs) return stored;
    const head: SeriesSamples[] = this.sampler.currentSamples(pm, nowMs).map((s) => ({ labels: s.labels, timestamps: [s.t], values: Float64Array.of(s.v) }));
    return head.length === 0 ? stored : new HeadQuerier(stored, head);
  }
}

/** The store's querier, with the live series beside what it holds (a stored one wins on equal labels). */
class HeadQuerier implements Querier {
  constructor(
    private readonly stored: Querier,
    private readonly head: readonly SeriesSamples[],
  ) {}

  *select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples> {
    const seen = new Set<string>();
    for (const s of this.stored.select(matchers, minMs, maxMs)) {
      seen.add(keyOf(s.labels));
      yield s;
    }
    for (const s of this.head) {
      if (s.timestamps[0] < minMs || s.timestamps[0] > maxMs || !matchesAll(s.labels, matchers) || seen.has(keyOf(s.labels))) continue;
      yield s;
    }
  }

  labelNames(matchers: readonly LabelMatcher[]): string[] {
    const names = new Set(this.stored.labelNames(matchers));
    for (const l of this.matching(matchers)) for (const n of Object.keys(l)) names.add(n);
    return [...names].sort();
  }

  labelValues(name: string, matchers: readonly LabelMatcher[]): string[] {
    const values = new Set(this.stored.labelValues(name, matchers));
    for (const l of this.matching(matchers)) if (l[name] !== undefined) values.add(l[name]);
    return [...values].sort();
  }

  seriesLabels(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Labels[] {
    const out = this.stored.seriesLabels?.(matchers, minMs, maxMs) ?? [];
    const seen = new Set(out.map(keyOf));
    for (const l of this.matching(matchers)) if (!seen.has(keyOf(l))) out.push(l);
    return out;
  }

  metricMetadata(metric?: string) {
    return this.stored.metricMetadata?.(metric) ?? new Map();
  }

  private matching(matchers: readonly LabelMatcher[]): Labels[] {
    return this.head.filter((s) => matchers.length === 0 || matchesAll(s.labels, matchers)).map((s) => s.labels);
  }
}

/** A label set's identity whatever the order of its keys. */
function keyOf(l: Labels): string {
  return JSON.stringify(Object.keys(l).sort().map((k) => [k, l[k]]));
}
