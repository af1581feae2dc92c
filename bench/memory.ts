/**
 * Heap bytes per active series: N series of one type created in a project's registry the way
 * ingest creates them (key string and label values built per series), heapUsed measured after a
 * full GC before and after, delta / N. The same for prom-client 15 with label objects. Label
 * value strings that the input carries (app names, regions) exist before the baseline on both
 * sides: they belong to the events, not to the series.
 */
import client from 'prom-client';
import { Aggregator } from '../src/aggregate/project.js';
import { DEFAULT_BUCKETS, BASE_LABELS, CATALOG_INDEX } from '../src/catalog/catalog.js';
import type { Family } from '../src/aggregate/registry.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../src/aggregate/series.js';
import { BENCH_PROJECT, gc, header, REGIONS, verdict } from './_util.js';

const N = 20_000;
const TARGET_COUNTER_BYTES = 1024;

type Kind = 'counter' | 'gauge' | 'histogram';

/** Input strings as they would arrive in events: distinct app names, a few regions. */
function inputs(): { apps: string[]; regions: string[] } {
  const apps: string[] = [];
  const regions: string[] = [];
  for (let i = 0; i < N; i++) {
    // Built then flattened, as JSON.parse hands them over.
    apps.push(`app-${i.toString().padStart(6, '0')}`.normalize());
    regions.push(REGIONS[i % REGIONS.length]);
  }
  return { apps, regions };
}

function heapDelta(make: () => unknown): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep = make();
  gc();
  const after = process.memoryUsage().heapUsed;
  // Read after the measurement so the structure cannot be collected before it.
  if (keep === undefined) throw new Error('unreachable');
  return (after - before) / N;
}

function ours(kind: Kind, apps: string[], regions: string[]): number {
  return heapDelta(() => {
    const agg = new Aggregator({ prefix: 'meterway', buckets: DEFAULT_BUCKETS }, 0);
    const pm = agg.ensure(BENCH_PROJECT);
    const idx = kind === 'counter' ? CATALOG_INDEX.runs : kind === 'gauge' ? CATALOG_INDEX.memory_usage : CATALOG_INDEX.run_execution_time;
    const fam = pm.families[idx] as Family<CounterSeries | GaugeSeries | HistogramSeries>;
    const now = Date.now();
    for (let i = 0; i < N; i++) {
      const app = apps[i];
      const region = regions[i];
      const key = `${app}\u0000${region}`;
      const s = pm.registry.series(fam, key, [pm.projectId, `${pm.projectId}-${app}`, app, region])!;
      if (kind === 'counter') (s as CounterSeries).inc(1);
      else if (kind === 'gauge') (s as GaugeSeries).set(1, now, now);
      else (s as HistogramSeries).observe(0.2);
    }
    return agg;
  });
}

function peer(kind: Kind, apps: string[], regions: string[]): number {
  return heapDelta(() => {
    const reg = new client.Registry();
    const labelNames = [...BASE_LABELS];
    const metric =
      kind === 'counter' ? new client.Counter({ name: 'bench_runs_total', help: 'h', labelNames, registers: [reg] })
      : kind === 'gauge' ? new client.Gauge({ name: 'bench_memory_bytes', help: 'h', labelNames, registers: [reg] })
      : new client.Histogram({ name: 'bench_latency_seconds', help: 'h', labelNames, buckets: [...DEFAULT_BUCKETS.latency], registers: [reg] });
    for (let i = 0; i < N; i++) {
      const app = apps[i];
      const labels = { project_id: BENCH_PROJECT, app_id: `${BENCH_PROJECT}-${app}`, app_name: app, region: regions[i] };
      if (metric instanceof client.Counter) metric.inc(labels, 1);
      else if (metric instanceof client.Gauge) metric.set(labels, 1);
      else metric.observe(labels, 0.2);
    }
    return reg;
  });
}

export async function main(): Promise<void> {
  header(`memory: heap bytes per active series, ${N} series of each type, labels ${BASE_LABELS.join('/')}`);
  const { apps, regions } = inputs();
  console.log(`   ${'series type'.padEnd(34)} ${'ours'.padStart(8)} ${'prom-client'.padStart(12)} ${'ratio'.padStart(7)}`);
  for (const kind of ['counter', 'gauge', 'histogram'] as const) {
    // Each measured twice, the lower kept: a GC that finishes late only ever inflates a delta.
    const o = Math.min(ours(kind, apps, regions), ours(kind, apps, regions));
    const p = Math.min(peer(kind, apps, regions), peer(kind, apps, regions));
    const buckets = kind === 'histogram' ? ` (${DEFAULT_BUCKETS.latency.length} buckets)` : '';
    const mark = kind === 'counter' ? `  target <= ${TARGET_COUNTER_BYTES} B: ${verdict(o <= TARGET_COUNTER_BYTES)}` : '';
    console.log(`   ${(kind + buckets).padEnd(34)} ${`${o.toFixed(0)} B`.padStart(8)} ${`${p.toFixed(0)} B`.padStart(12)} ${`${(o / p).toFixed(2)}x`.padStart(7)}${mark}`);
  }
  if (apps.length !== N || regions.length !== N) throw new Error('unreachable: keeps the inputs alive across the measurements');
}
