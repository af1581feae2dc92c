// The PromQL engine over this store must answer exactly as over the engine's reference in-memory
// storage: every eval of the shared Prometheus corpus (where it is checked out next to the repo)
// runs against both, loaded with the same data, and the results must be identical.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STALE_NAN, type Labels } from '../core/labels.js';
import { MemoryStorage } from '../promql/conformance/memory.js';
import { parseTestFile } from '../promql/conformance/testfile.js';
import { Engine } from '../promql/index.js';
import { Tsdb, type Sample } from './store.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '..', '..', '..', 'shared', 'promql-tests');
const PROJECT = 'conformance';
const totals = { compared: 0, skipped: 0 };

function outcome(run: () => unknown): string {
  try {
    // Numbers as strings (NaN, ±Inf survive), objects with sorted keys (label order is not meaning).
    return JSON.stringify(run(), (_k, v: unknown) => {
      if (typeof v === 'number') return String(v);
      if (ArrayBuffer.isView(v)) return Array.from(v as Float64Array, String);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      return v;
    });
  } catch (err) {
    return `error: ${err instanceof Error ? err.message : String(err)}`;
  }
}

describe.skipIf(!existsSync(corpus))('engine over the store', () => {
  const files = existsSync(corpus) ? readdirSync(corpus).filter((f) => f.endsWith('.test')) : [];
  it.each(files)('%s gives the same results as over the in-memory storage', (file) => {
    const engine = new Engine({ lookbackDeltaMs: 300_000, defaultSubqueryStepMs: 60_000, maxSamples: 10_000 });
    let memory = new MemoryStorage();
    // Tiny chunks, and every other sample appended late (out of order): reads go through chunk
    // decoding and the out-of-order merge, not just the head.
    const open = (): Tsdb => Tsdb.open({ path: ':memory:', chunkSamples: 5 });
    let store = open();
    // Native histograms and start timestamps are not stored by this store: evals after such
    // loads are left out (counted, so a file cannot pass by skipping everything unnoticed).
    let unsupported = false;
    let compared = 0;
    let skipped = 0;
    const mismatches: string[] = [];
    try {
      for (const cmd of parseTestFile(readFileSync(join(corpus, file), 'utf8'))) {
        if (cmd.kind === 'clear') {
          store.close();
          store = open();
          memory = new MemoryStorage();
          unsupported = false;
          continue;
        }
        if (cmd.kind === 'load') {
          if (cmd.withNhcb || cmd.histogramSeries.length > 0) unsupported = true;
          const batch: Sample[] = [];
          const late: Sample[] = [];
          for (const s of cmd.series) {
            if (s.startOffsets?.some((o) => o !== null)) unsupported = true;
            // The store sets project_id on every series; the reference gets the same label set.
            const labels: Labels = { ...s.labels, project_id: PROJECT };
            s.values.forEach((v, k) => {
              if (v === null) return;
              const value = v === 'stale' ? STALE_NAN : v;
              memory.append(labels, k * cmd.stepMs, value);
              (k % 2 === 1 ? late : batch).push({ labels, t: k * cmd.stepMs, v: value });
            });
          }
          store.appendBatch(PROJECT, batch);
          store.appendBatch(PROJECT, late);
          continue;
        }
        if (cmd.skip !== null || unsupported) {
          skipped++;
          continue;
        }
        const run = (q: (p: string, a: number, b: number) => ReturnType<Tsdb['querier']> | ReturnType<MemoryStorage['querier']>) => () =>
          cmd.instant
            ? engine.instantQuerySync(q(PROJECT, 0, 0), cmd.expr, cmd.rangeVector ? cmd.rangeVector.endMs : cmd.startMs)
            : engine.rangeQuerySync(q(PROJECT, 0, 0), cmd.expr, cmd.startMs, cmd.endMs, cmd.stepMs);
        const want = outcome(run((p, a, b) => memory.querier(p, a, b)));
        const got = outcome(run((p, a, b) => store.querier(p, -Infinity, Infinity)));
        compared++;
        if (got !== want) mismatches.push(`line ${cmd.line}: ${cmd.expr}\n  memory: ${want.slice(0, 300)}\n  store:  ${got.slice(0, 300)}`);
      }
    } finally {
      store.close();
    }
    totals.compared += compared;
    totals.skipped += skipped;
    expect(mismatches).toEqual([]);
    expect(compared + skipped).toBeGreaterThan(0);
  });

  // Runs after the files (tests in a file run in order): most evals were really compared.
  it('compared most of the corpus', () => {
    expect(totals.compared).toBeGreaterThan(4 * totals.skipped);
    process.stderr.write(`engine over the store: ${totals.compared} evals identical, ${totals.skipped} skipped (native histograms, start timestamps, out of scope)\n`);
  });
});

describe('isolation through the engine', () => {
  it('answers every attempt to reach another project from inside project A with A\'s data only', () => {
    const store = Tsdb.open({ path: ':memory:' });
    try {
      for (const [project, v] of [
        ['A', 1],
        ['B', 1000],
      ] as const) {
        store.appendBatch(
          project,
          [0, 60_000, 120_000].flatMap((t) => [
            { labels: { __name__: 'up', job: 'api' }, t, v },
            { labels: { __name__: `only_${project}`, job: 'api' }, t, v },
          ]),
        );
      }
      const engine = new Engine({ lookbackDeltaMs: 300_000 });
      const values = (expr: string): string[] => {
        const r = engine.instantQuerySync(store.querier('A', -Infinity, Infinity), expr, 120_000);
        return (r.result as Array<{ labels: Labels; value: number }>).map((s) => `${JSON.stringify(s.labels)} ${s.value}`);
      };
      expect(values('up')).toEqual(['{"__name__":"up","job":"api","project_id":"A"} 1']);
      expect(values('{__name__=~".+"}')).toHaveLength(2);
      expect(values('{__name__=~".+"}').every((l) => l.includes('"project_id":"A"') && l.endsWith(' 1'))).toBe(true);
      expect(values('{project_id=~".+", __name__="up"}')).toHaveLength(1);
      expect(values('{project_id="B"}')).toEqual([]);
      expect(values('only_B')).toEqual([]);
      expect(values('up or only_B{project_id="B"}')).toEqual(['{"__name__":"up","job":"api","project_id":"A"} 1']);
      expect(values('sum(up) + on() group_left sum(only_B)')).toEqual([]);
      // Forging the label changes what A's own series are called, nothing more.
      expect(values('label_replace(up, "project_id", "B", "", "")')).toEqual(['{"__name__":"up","job":"api","project_id":"B"} 1']);
      expect(values('sum(label_replace({__name__=~".+"}, "project_id", "B", "", ""))')).toEqual(['{} 2']);
    } finally {
      store.close();
    }
  });
});
