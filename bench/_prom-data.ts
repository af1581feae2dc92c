/**
 * The data of bench/query-vs-prometheus.ts: 10,000 series of an inference platform's project,
 * deterministic (the same values for ours and for Prometheus), one group of series at a time so
 * that nothing needs all 57.6 M samples in memory.
 *
 * - counters (4,000): `requests_total{app_name, model_name, region}` (125 apps x 4 models x 4
 *   regions), `tokens_total{app_name, model_name, kind}` (125 x 4 x input/output),
 *   `errors_total{app_name, region, code}` (125 x 4 x 429/500); integer increments per 15 s step
 *   around a per-series rate (noisy, as request counts are), starting anywhere up to 1e6;
 * - gauges (2,400), random walks with a few significant digits: `gpu_utilization` (percent, one
 *   decimal), `gpu_memory_used_bytes` (whole MiB), `queue_depth` (integer), `cpu_cores_used`
 *   (two decimals), each by `{app_name, region}` (125 x 4), and `replicas{app_name, model_name}`
 *   (100 x 4, integer);
 * - histograms (300 x 12 series): `latency_seconds{app_name, model_name, region}` (75 apps x 4
 *   models, the app's region), 10 buckets (`le` 0.05 ... 10, +Inf), `_sum` (full-precision
 *   floats) and `_count`; 0 to 40 observations per step, log-spread latencies.
 *
 * Every series carries `project_id`. Samples lie on the 15 s grid; the last one is at `endMs`.
 */
import { rng } from './_util.js';

export const STEP_MS = 15_000;
export const MODELS = ['llama-3-70b', 'llama-3-8b', 'mistral-7b', 'qwen-2-72b'] as const;
export const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1'] as const;
export const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10]; // + the +Inf bucket = 10
const APPS = 125;

export const app = (i: number): string => `app-${String(i).padStart(3, '0')}`;

/** One group of series generated together (one series, or the 12 of a histogram). */
export interface Group {
  readonly kind: 'counter' | 'gauge' | 'histogram';
  /** Label sets in exposition order, `__name__` first (without project_id). */
  readonly series: ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
  readonly seed: number;
  readonly param: number;
}

export function groups(): Group[] {
  const out: Group[] = [];
  let seed = 1;
  const add = (kind: Group['kind'], series: Array<Array<readonly [string, string]>>, param: number) => out.push({ kind, series, seed: seed++, param });
  for (let a = 0; a < APPS; a++)
    for (const m of MODELS)
      for (const r of REGIONS) add('counter', [[['__name__', 'requests_total'], ['app_name', app(a)], ['model_name', m], ['region', r]]], 0);
  for (let a = 0; a < APPS; a++)
    for (const m of MODELS)
      for (const k of ['input', 'output']) add('counter', [[['__name__', 'tokens_total'], ['app_name', app(a)], ['model_name', m], ['kind', k]]], 1);
  for (let a = 0; a < APPS; a++)
    for (const r of REGIONS)
      for (const c of ['429', '500']) add('counter', [[['__name__', 'errors_total'], ['app_name', app(a)], ['region', r], ['code', c]]], 2);
  const gauges = ['gpu_utilization', 'gpu_memory_used_bytes', 'queue_depth', 'cpu_cores_used'];
  for (let g = 0; g < gauges.length; g++)
    for (let a = 0; a < APPS; a++)
      for (const r of REGIONS) add('gauge', [[['__name__', gauges[g]], ['app_name', app(a)], ['region', r]]], g);
  for (let a = 0; a < 100; a++) for (const m of MODELS) add('gauge', [[['__name__', 'replicas'], ['app_name', app(a)], ['model_name', m]]], 4);
  for (let a = 0; a < 75; a++)
    for (const m of MODELS) {
      const base: Array<readonly [string, string]> = [['app_name', app(a)], ['model_name', m], ['region', REGIONS[a % REGIONS.length]]];
      const series: Array<Array<readonly [string, string]>> = [];
      for (const le of [...BUCKETS.map(String), '+Inf']) series.push([['__name__', 'latency_seconds_bucket'], ...base, ['le', le]]);
      series.push([['__name__', 'latency_seconds_sum'], ...base]);
      series.push([['__name__', 'latency_seconds_count'], ...base]);
      add('histogram', series, 0);
    }
  return out;
}

export function seriesCount(gs: readonly Group[]): number {
  let n = 0;
  for (const g of gs) n += g.series.length;
  return n;
}

/** `name{project_id="...",k="v",...}` for one label set. */
export function seriesText(labels: ReadonlyArray<readonly [string, string]>, project: string): string {
  const parts = [`project_id="${project}"`];
  for (let i = 1; i < labels.length; i++) parts.push(`${labels[i][0]}="${labels[i][1]}"`);
  return `${labels[0][1]}{${parts.join(',')}}`;
}

/**
 * The values of every series of `g`, `k` steps at a time (`next(k)`), so that a load can go in
 * time order without holding all 57.6 M values; the same sequence however it is cut.
 */
export class GroupValues {
  private readonly r: () => number;
  private step = 0;
  // counter / gauge state
  private x = 0;
  private rate = 0;
  // histogram state
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  private scale = 0;

  constructor(readonly g: Group) {
    this.r = rng(g.seed * 7919 + 17);
    this.counts = new Float64Array(BUCKETS.length + 1);
    if (g.kind === 'counter') {
      this.x = Math.floor(this.r() * 1e6);
      // requests: 0..50 per step; tokens: hundreds to thousands; errors: rare.
      this.rate = g.param === 0 ? this.r() * 50 : g.param === 1 ? this.r() * 5000 : this.r() * 0.5;
    } else if (g.kind === 'gauge') this.x = this.r();
    else this.scale = 0.05 + this.r() * 0.5; // this series' typical latency
  }

  next(k: number): Float64Array[] {
    const { g, r } = this;
    const out: Float64Array[] = [];
    for (let j = 0; j < g.series.length; j++) out.push(new Float64Array(k));
    for (let i = 0; i < k; i++, this.step++) {
      if (g.kind === 'counter') {
        // A daily swing in the rate, and noise.
        const day = 1 + 0.5 * Math.sin((this.step / 5760) * 2 * Math.PI + g.seed);
        this.x += Math.floor(r() * 2 * this.rate * day);
        out[0][i] = this.x;
      } else if (g.kind === 'gauge') {
        const x = (this.x = Math.min(1, Math.max(0, this.x + (r() - 0.5) * 0.02)));
        let v: number;
        switch (g.param) {
          case 0: v = Math.round(x * 1000) / 10; break; // percent, one decimal
          case 1: v = Math.round(x * 80 * 1024) * 1048576; break; // bytes in whole MiB, up to 80 GiB
          case 2: v = Math.round(x * 200); break; // queue depth
          case 3: v = Math.round(x * 6400) / 100; break; // cores, two decimals
          default: v = 1 + Math.round(x * 15); break; // replicas
        }
        out[0][i] = v;
      } else {
        const nb = BUCKETS.length + 1;
        const n = Math.floor(r() * 40);
        for (let j = 0; j < n; j++) {
          const x = this.scale * Math.exp((r() - 0.3) * 3);
          let b = 0;
          while (b < BUCKETS.length && x > BUCKETS[b]) b++;
          this.counts[b]++;
          this.sum += x;
          this.count++;
        }
        let cum = 0;
        for (let b = 0; b < nb; b++) out[b][i] = cum += this.counts[b];
        out[nb][i] = this.sum;
        out[nb + 1][i] = this.count;
      }
    }
    return out;
  }
}
