/**
 * One project's inverted index: postings per label pair, so a selector looks at the series its
 * matchers name instead of every series. The project is the key under which this index is found
 * (see store.ts): a selector can never reach another project's series, whatever its matchers.
 */
import type { LabelMatcher } from '../core/queryable.js';
import { matchValue, matchesAll } from '../promql/matchers.js';

import type { MemSeries } from './series.js';

/** Label sets compared as Prometheus sorts them: pairwise by sorted name, then value. */
export function comparePairs(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

function upperBound(sorted: readonly MemSeries[], s: MemSeries): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (comparePairs(sorted[mid].pairs, s.pairs) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function mergeOrdered(a: readonly MemSeries[], b: readonly MemSeries[]): MemSeries[] {
  const out: MemSeries[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = comparePairs(b[j].pairs, a[i].pairs) < 0 ? b[j++] : a[i++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

export class ProjectIndex {
  /** Canonical label key to series. */
  readonly byKey = new Map<string, MemSeries>();
  /** Label name → value → series, each list in creation order. */
  private readonly postings = new Map<string, Map<string, MemSeries[]>>();
  /** Series in label-set order as of the last `ordered()`, and those added or removed since. */
  private sorted: MemSeries[] = [];
  private added: MemSeries[] = [];
  private removedSince = false;

  constructor(readonly project: string) {}

  add(s: MemSeries): void {
    this.byKey.set(s.key, s);
    const p = s.pairs;
    for (let i = 0; i < p.length; i += 2) {
      let values = this.postings.get(p[i]);
      if (values === undefined) this.postings.set(p[i], (values = new Map()));
      const list = values.get(p[i + 1]);
      if (list === undefined) values.set(p[i + 1], [s]);
      else list.push(s);
    }
    this.added.push(s);
  }

  remove(s: MemSeries): void {
    if (this.byKey.get(s.key) !== s) return;
    this.byKey.delete(s.key);
    const p = s.pairs;
    for (let i = 0; i < p.length; i += 2) {
      const values = this.postings.get(p[i]);
      const list = values?.get(p[i + 1]);
      if (values === undefined || list === undefined) continue;
      const kept = list.filter((x) => x !== s);
      if (kept.length === 0) values.delete(p[i + 1]);
      else values.set(p[i + 1], kept);
      if (values.size === 0) this.postings.delete(p[i]);
    }
    this.removedSince = true;
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * All series in label-set order, ranks assigned. Series added since the last call are merged
   * in rather than everything sorted again: a project that gains one series per sampler tick
   * would otherwise pay a full sort of all its series in the next query.
   */
  ordered(): MemSeries[] {
    if (this.added.length === 0 && !this.removedSince) return this.sorted;
    const live = (s: MemSeries): boolean => this.byKey.get(s.key) === s;
    let sorted = this.removedSince ? this.sorted.filter(live) : this.sorted;
    const added = this.added.filter(live);
    if (added.length > 32) {
      sorted = mergeOrdered(sorted, added.sort((a, b) => comparePairs(a.pairs, b.pairs)));
    } else {
      if (sorted === this.sorted) sorted = sorted.slice();
      for (const s of added) sorted.splice(upperBound(sorted, s), 0, s);
    }
    sorted.forEach((s, i) => (s.rank = i));
    this.sorted = sorted;
    this.added = [];
    this.removedSince = false;
    return sorted;
  }

  /** Series matching every matcher, in label-set order. */
  select(matchers: readonly LabelMatcher[]): MemSeries[] {
    const all = this.ordered();
    // The smallest postings list among matchers that cannot match an absent label narrows the
    // search; the others (`!=`, `!~`, regexes matching "") are checked on those candidates only.
    let best: MemSeries[] | undefined;
    for (const m of matchers) {
      if (matchValue(m, '')) continue;
      const list = this.postingsFor(m);
      if (best === undefined || list.length < best.length) best = list;
      if (best.length === 0) return [];
    }
    if (best === undefined) return all.filter((s) => matchesAll(s.labels, matchers));
    const out = best.filter((s) => matchesAll(s.labels, matchers));
    out.sort((a, b) => a.rank - b.rank);
    return out;
  }

  /** Series carrying a value of `m.name` that `m` accepts (m must not accept ""). */
  private postingsFor(m: LabelMatcher): MemSeries[] {
    const values = this.postings.get(m.name);
    if (values === undefined) return [];
    if (m.type === '=') return values.get(m.value) ?? [];
    const out: MemSeries[] = [];
    for (const [v, list] of values) if (matchValue(m, v)) for (const s of list) out.push(s);
    return out;
  }

  /** Values present for a label name (unfiltered), for label value listings without matchers. */
  valuesOf(name: string): string[] {
    return [...(this.postings.get(name)?.keys() ?? [])];
  }

  names(): string[] {
    return [...this.postings.keys()];
  }
}
