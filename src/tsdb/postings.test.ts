import { describe, expect, it } from 'vitest';
import { ProjectIndex, comparePairs } from './postings.js';
import { MemSeries } from './series.js';

function series(id: number, app: string, n: number): MemSeries {
  // Names already in sorted order, as the store keeps them.
  const pairs = ['__name__', 'x', 'app', app, 'n', String(n)];
  return new MemSeries(id, 'p', JSON.stringify(pairs), pairs, { __name__: 'x', app, n: String(n) });
}

describe('ProjectIndex order', () => {
  it('keeps label-set order and ranks through any mix of additions, removals and re-additions', () => {
    let seed = 3;
    const rand = (k: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % k);
    const idx = new ProjectIndex('p');
    const live = new Map<string, MemSeries>();
    let id = 0;
    for (let step = 0; step < 300; step++) {
      // Bursts of additions (some large, as an import's), single removals, occasional reads.
      const adds = rand(10) === 0 ? 40 + rand(60) : rand(3);
      for (let i = 0; i < adds; i++) {
        const s = series(id++, `app-${rand(50)}`, rand(20));
        if (live.has(s.key)) continue;
        idx.add(s);
        live.set(s.key, s);
      }
      if (live.size > 0 && rand(2) === 0) {
        const victim = [...live.values()][rand(live.size)];
        idx.remove(victim);
        live.delete(victim.key);
      }
      if (rand(3) === 0) {
        const got = idx.ordered();
        const want = [...live.values()].sort((a, b) => comparePairs(a.pairs, b.pairs));
        expect(got.map((s) => s.key)).toEqual(want.map((s) => s.key));
        got.forEach((s, i) => expect(s.rank).toBe(i));
      }
    }
    expect(idx.ordered()).toHaveLength(live.size);
  });
});
