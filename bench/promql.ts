// PromQL engine benchmark: range queries of 300 points over 10,000 series holding 24 h of
// samples at 15 s. The querier generates each series' samples when the engine asks for it, so
// the figures measure the engine (and one series' worth of decoding), not a store.
//   npm run bench -- promql            (BENCH_SERIES=1000 for a quicker run)
import { performance } from 'node:perf_hooks';
import type { Labels } from '../src/core/labels.js';
import type { LabelMatcher, Querier, SeriesSamples } from '../src/core/queryable.js';
import { Engine } from '../src/promql/index.js';
import { matchesAll as matches } from '../src/promql/matchers.js';

const SCRAPE_MS = 15_000;
const DAY_MS = 24 * 3600_000;
const STEPS = 300;
const BUCKETS = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'];

/** Series whose samples are computed on demand: counters growing at a per-series rate. */
class SyntheticQuerier implements Querier {
  private readonly timestamps: Float64Array;

  constructor(
    private readonly series: readonly Labels[],
    private readonly rateOf: (labels: Labels, index: number) => number,
  ) {
    const n = DAY_MS / SCRAPE_MS;
    this.timestamps = new Float64Array(n);
    for (let i = 0; i < n; i++) this.timestamps[i] = i * SCRAPE_MS;
  }

  *select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples> {
    const lo = Math.max(0, Math.ceil(minMs / SCRAPE_MS));
    const hi = Math.min(this.timestamps.length, Math.floor(maxMs / SCRAPE_MS) + 1);
    for (let k = 0; k < this.series.length; k++) {
      const labels = this.series[k];
      if (!matches(labels, matchers)) continue;
      const perSample = this.rateOf(labels, k) * (SCRAPE_MS / 1000);
      const values = new Float64Array(hi - lo);
      for (let i = 0; i < values.length; i++) values[i] = (lo + i) * perSample + ((lo + i) % 7);
      yield { labels, timestamps: this.timestamps.subarray(lo, hi), values };
    }
  }

  labelNames(): string[] {
    return [];
  }

  labelValues(): string[] {
    return [];
  }
}

function counterSeries(n: number): Labels[] {
  const out: Labels[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ __name__: 'requests_total', instance: `host-${i}`, model_name: `model-${i % 10}`, project_id: 'p1' });
  }
  return out;
}

function histogramSeries(n: number): Labels[] {
  const out: Labels[] = [];
  for (let h = 0; h < n / BUCKETS.length; h++) {
    for (const le of BUCKETS) {
      out.push({ __name__: 'latency_seconds_bucket', instance: `host-${h}`, model_name: `model-${h % 10}`, project_id: 'p1', le });
    }
  }
  return out;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

async function measure(name: string, engine: Engine, querier: Querier, query: string): Promise<void> {
  // 300 points spanning the day (after the first 5m, so every window has data).
  const step = Math.floor((DAY_MS - 300_000 - SCRAPE_MS) / (STEPS - 1));
  const start = 300_000;
  const end = start + (STEPS - 1) * step;
  (globalThis as { gc?: () => void }).gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let peakHeap = heapBefore;
  // The query runs synchronously; a GC observer sees the heap at each collection.
  const { PerformanceObserver } = await import('node:perf_hooks');
  const obs = new PerformanceObserver(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  });
  obs.observe({ entryTypes: ['gc'] });
  const t0 = performance.now();
  const r = await engine.rangeQuery(querier, query, start, end, step);
  const ms = performance.now() - t0;
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  obs.disconnect();
  const series = r.resultType === 'matrix' ? r.result.length : 0;
  const points = r.resultType === 'matrix' ? r.result.reduce((a, s) => a + s.values.length, 0) : 0;
  console.log(
    `${name.padEnd(22)} ${ms.toFixed(0).padStart(6)} ms   peak heap ${mb(peakHeap)} (+${mb(peakHeap - heapBefore)})   ${series} series, ${points} points   ${query}`,
  );
}

export async function main(): Promise<void> {
  const n = Number(process.env.BENCH_SERIES ?? 10_000);
  const engine = new Engine();
  console.log(`PromQL range queries: ${n} series x 24h at 15s (${(n * DAY_MS) / SCRAPE_MS} samples), ${STEPS} steps over 24h`);
  const counters = new SyntheticQuerier(counterSeries(n), (_l, k) => 1 + (k % 13));
  const histograms = new SyntheticQuerier(histogramSeries(n), (l) => {
    const le = l.le === '+Inf' ? 10 : Number(l.le);
    return 10 * Math.min(1, le / 2.5 + 0.05);
  });
  // Warm-up on a slice so the JIT has compiled the hot loops before measuring.
  await engine.rangeQuery(new SyntheticQuerier(counterSeries(200), () => 1), 'sum by (model_name) (rate(requests_total[5m]))', 0, DAY_MS, DAY_MS / 50);
  // What generating the samples alone costs, to read the engine's share of the figures below.
  for (const [name, q] of [['counters', counters], ['buckets', histograms]] as const) {
    const t0 = performance.now();
    let samples = 0;
    for (const s of q.select([], 0, DAY_MS)) samples += s.values.length;
    console.log(`${`generate ${name}`.padEnd(22)} ${(performance.now() - t0).toFixed(0).padStart(6)} ms   (${samples} samples, no engine)`);
  }
  await measure('sum by rate', engine, counters, 'sum by (model_name) (rate(requests_total{project_id="p1"}[5m]))');
  await measure('histogram_quantile', engine, histograms, 'histogram_quantile(0.9, sum by (model_name, le) (rate(latency_seconds_bucket{project_id="p1"}[5m])))');
  await measure('histogram_quantile/irate', engine, histograms, 'histogram_quantile(0.5, sum by (model_name, le) (irate(latency_seconds_bucket{project_id="p1"}[300s])))');
  console.log(`max RSS ${mb(process.resourceUsage().maxRSS * 1024)}`);
}
