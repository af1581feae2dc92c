/**
 * The embedded time-series store under a day of data: 10,000 series (4,000 counters, 2,400 gauges
 * with a few significant digits, 300 histograms of 10 buckets plus _sum and _count) sampled every
 * 15 s for 24 h, appended in time order in batches of 10 minutes (every series, 40 steps), as an
 * import or a catch-up would. Timestamps lie on the 15 s grid, as the sampler writes them
 * (TSDB_BENCH_JITTER_MS=N adds 0..N-1 ms of jitter per tick, as unaligned scrapes would have).
 *
 * Reports: append rate (samples/s, durable: one SQLite transaction with fsync per batch), bytes
 * per sample on disk after close, resident bytes per series after reopening (heap plus typed-array
 * memory), and the time to select and decode 1,000 series over 24 h (5,760 samples each), plus a
 * 300-point PromQL range query over them.
 *
 * TSDB_BENCH_HOURS=N shortens the day for a quick run.
 */
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/promql/index.js';
import type { Labels } from '../src/core/labels.js';
import { Tsdb } from '../src/tsdb/index.js';
import { fmtMs, fmtNum, fmtRate, gc, header, median, rng, verdict } from './_util.js';

const SERIES_COUNTERS = 4_000;
const SERIES_GAUGES = 2_400;
const HISTOGRAMS = 300;
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]; // + the +Inf bucket = 10
const STEP_MS = 15_000;
const BATCH_STEPS = 40;
const PROJECT = 'p-bench0001';
const TARGET_BYTES_PER_SAMPLE = 1.5;

interface Gen {
  refs: number[];
  /** Fills `vs` (one value per ref, in ref order) for the next step. */
  step(vs: Float64Array, at: number): void;
}

function build(store: Tsdb): Gen {
  const r = rng(11);
  const sets: Labels[] = [];
  const group = (i: number): string => String(i % 10);
  const counters: Array<{ v: number; rate: number }> = [];
  for (let i = 0; i < SERIES_COUNTERS; i++) {
    sets.push({ __name__: `bench_requests_${i % 8}_total`, project_id: PROJECT, app_name: `app-${i >> 3}`, region: 'eu-west-1', grp: group(i) });
    counters.push({ v: Math.floor(r() * 1e6), rate: Math.floor(r() * 50) });
  }
  const gauges: Array<{ v: number; scale: number }> = [];
  for (let i = 0; i < SERIES_GAUGES; i++) {
    sets.push({ __name__: `bench_gauge_${i % 6}`, project_id: PROJECT, app_name: `app-${i >> 3}`, grp: group(i) });
    // Utilisation percent with one decimal, cores with two, bytes in whole MiB: a few digits each.
    gauges.push({ v: r() * 100, scale: [10, 100, 1 / 1048576][i % 3] });
  }
  const hists: Array<{ counts: number[]; sum: number; count: number }> = [];
  for (let h = 0; h < HISTOGRAMS; h++) {
    const base = { project_id: PROJECT, app_name: `app-${h}`, grp: group(h) };
    for (const le of [...BUCKETS.map(String), '+Inf']) sets.push({ __name__: 'bench_latency_seconds_bucket', ...base, le });
    sets.push({ __name__: 'bench_latency_seconds_sum', ...base });
    sets.push({ __name__: 'bench_latency_seconds_count', ...base });
    hists.push({ counts: new Array(BUCKETS.length + 1).fill(0), sum: 0, count: 0 });
  }
  const refs = store.refs(PROJECT, sets).map((r) => r!);
  return {
    refs,
    step(vs, at) {
      let k = at;
      for (const c of counters) {
        c.v += Math.floor(r() * 2 * c.rate);
        vs[k++] = c.v;
      }
      for (const g of gauges) {
        g.v = Math.max(0, g.v + (r() - 0.5) * 2);
        vs[k++] = g.scale < 1 ? Math.round(g.v * 1e7 * g.scale) / g.scale : Math.round(g.v * g.scale) / g.scale;
      }
      for (const h of hists) {
        const n = Math.floor(r() * 20);
        for (let j = 0; j < n; j++) {
          const x = -Math.log(1 - r()) * 0.3;
          let b = 0;
          while (b < BUCKETS.length && x > BUCKETS[b]) b++;
          h.counts[b]++;
          h.sum += x;
          h.count++;
        }
        let cum = 0;
        for (const c of h.counts) vs[k++] = cum += c;
        vs[k++] = h.sum;
        vs[k++] = h.count;
      }
    },
  };
}

/** Chunk bytes per kind of series and the SQLite overhead around them. */
function breakdown(store: Tsdb): void {
  const rows = store.db
    .prepare(
      `SELECT CASE WHEN s.labels LIKE '%_total"%' THEN 'counter' WHEN s.labels LIKE '%bench_gauge%' THEN 'gauge' WHEN s.labels LIKE '%_sum"%' THEN 'hist_sum' ELSE 'hist_bucket_count' END AS kind,
        COUNT(*) AS chunks, SUM(LENGTH(c.data)) AS bytes FROM chunks c JOIN series s ON s.id = c.series_id GROUP BY kind`,
    )
    .all() as Array<{ kind: string; chunks: number; bytes: number }>;
  for (const x of rows) console.log(`   chunks ${x.kind}: ${fmtNum(x.chunks)} chunks, ${(x.bytes / x.chunks / 120).toFixed(3)} bytes/sample in the blobs`);
  const pages = store.db.pragma('page_count', { simple: true }) as number;
  const free = store.db.pragma('freelist_count', { simple: true }) as number;
  console.log(`   pages ${pages}, free ${free}`);
}

function residentBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export async function main(): Promise<void> {
  const hours = Number(process.env.TSDB_BENCH_HOURS ?? 24);
  const steps = Math.round((hours * 3_600_000) / STEP_MS);
  const jitter = Number(process.env.TSDB_BENCH_JITTER_MS ?? 0);
  header(`tsdb: 10,000 series x ${hours} h at 15 s (${fmtNum(steps)} steps), batches of ${BATCH_STEPS} steps`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-tsdb-'));
  try {
    let store: Tsdb | undefined = Tsdb.open({ dir });
    let gen: Gen | undefined = build(store);
    const n = gen.refs.length;
    const end = Math.floor(Date.now() / STEP_MS) * STEP_MS;
    const start = end - steps * STEP_MS;
    const r = rng(5);
    const batchN = n * BATCH_STEPS;
    const refs = new Uint32Array(batchN);
    const ts = new Float64Array(batchN);
    const vs = new Float64Array(batchN);
    for (let i = 0; i < batchN; i++) refs[i] = gen.refs[i % n];
    let appendMs = 0;
    let samples = 0;
    for (let s0 = 0; s0 < steps; s0 += BATCH_STEPS) {
      const k = Math.min(BATCH_STEPS, steps - s0);
      for (let j = 0; j < k; j++) {
        const t = start + (s0 + j + 1) * STEP_MS + Math.floor(r() * jitter);
        ts.fill(t, j * n, (j + 1) * n);
        gen.step(vs, j * n);
      }
      const t0 = performance.now();
      const res = store.appendRefs(PROJECT, refs.subarray(0, k * n), ts.subarray(0, k * n), vs.subarray(0, k * n));
      appendMs += performance.now() - t0;
      samples += res.appended;
      if (res.rejected > 0) throw new Error(`${res.rejected} samples rejected`);
    }
    if (process.env.TSDB_BENCH_BREAKDOWN === '1') breakdown(store);
    const t0 = performance.now();
    store.close();
    const closeMs = performance.now() - t0;
    const file = join(dir, 'tsdb.db');
    const bytes = statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    const bps = bytes / samples;
    // Dropped before the resident baseline, so their collection does not offset the figure.
    store = undefined;
    gen = undefined;
    console.log(`   append: ${fmtNum(samples)} samples in ${(appendMs / 1000).toFixed(1)} s = ${fmtRate(samples / (appendMs / 1000))} (durable batches of ${fmtNum(batchN)}); close ${fmtMs(closeMs)}`);
    console.log(`   disk: ${(bytes / 1048576).toFixed(1)} MiB = ${bps.toFixed(3)} bytes/sample (goal <= ${TARGET_BYTES_PER_SAMPLE}: ${verdict(bps <= TARGET_BYTES_PER_SAMPLE)})`);

    gc();
    const before = residentBytes();
    const rssBefore = process.memoryUsage().rss;
    const o0 = performance.now();
    const reopened = Tsdb.open({ dir });
    const openMs = performance.now() - o0;
    gc();
    const perSeries = (residentBytes() - before) / n;
    const rssPerSeries = (process.memoryUsage().rss - rssBefore) / n;
    console.log(`   reopen: ${fmtMs(openMs)}; resident ${fmtNum(perSeries)} bytes/series (JS heap + typed arrays, open heads included; RSS grew ${fmtNum(rssPerSeries)} bytes/series, SQLite's page cache included)`);

    const matchers = [{ type: '=' as const, name: 'grp', value: '3' }];
    const runs: number[] = [];
    let got = 0;
    let decoded = 0;
    for (let i = 0; i < 5; i++) {
      const q0 = performance.now();
      const q = reopened.querier(PROJECT, start, end);
      got = 0;
      decoded = 0;
      let check = 0;
      for (const s of q.select(matchers, start, end)) {
        got++;
        decoded += s.timestamps.length;
        check += s.values[s.values.length - 1];
      }
      runs.push(performance.now() - q0);
      if (!Number.isFinite(check)) throw new Error('bad values');
    }
    console.log(`   select+decode ${got} series over ${hours} h (${fmtNum(decoded)} samples): median ${fmtMs(median(runs))}, first ${fmtMs(runs[0])} (${fmtRate(decoded / (median(runs) / 1000))})`);

    const engine = new Engine({ maxSamples: 50_000_000, timeoutMs: 120_000 });
    const stepMs = Math.max(STEP_MS, Math.round((end - start) / 300 / 1000) * 1000);
    for (const query of ['sum by (app_name) (rate(bench_requests_0_total{grp="0"}[5m]))', 'histogram_quantile(0.9, sum by (le) (rate(bench_latency_seconds_bucket[5m])))', 'avg_over_time({__name__=~"bench_gauge_.*", grp="3"}[5m])']) {
      const times: number[] = [];
      let points = 0;
      for (let i = 0; i < 3; i++) {
        const q0 = performance.now();
        const res = engine.rangeQuerySync(reopened.querier(PROJECT, start - 300_000, end), query, start, end, stepMs);
        times.push(performance.now() - q0);
        points = (res.result as Array<{ values: unknown[] }>).reduce((a, s) => a + s.values.length, 0);
      }
      console.log(`   range query ${query} (step ${stepMs / 1000} s, ${fmtNum(points)} points out): median ${fmtMs(median(times))}`);
    }
    reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
