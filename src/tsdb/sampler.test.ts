import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator, DEFAULT_CATALOG_OPTIONS, type ProjectMetrics } from '../aggregate/project.js';
import type { CounterSeries, HistogramSeries } from '../aggregate/series.js';
import { isStaleNaN } from '../core/labels.js';
import { renderFamilies } from '../exposition/render.js';
import { EVENT_TYPES } from '../ingest/events.js';
import { restoreInto } from './restore.js';
import { Sampler } from './sampler.js';
import { Tsdb } from './store.js';

const dirs: string[] = [];
const stores: Tsdb[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(dir?: string): { agg: Aggregator; store: Tsdb; dir: string } {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'tsdb-sampler-'));
  if (dir === undefined) dirs.push(d);
  const store = Tsdb.open({ dir: d });
  stores.push(store);
  return { agg: new Aggregator(DEFAULT_CATALOG_OPTIONS, 0), store, dir: d };
}

const T0 = 1_700_000_000_000;

function feed(pm: ProjectMetrics, nowMs: number): void {
  const run = EVENT_TYPES.run;
  const inf = EVENT_TYPES.inference;
  const res = EVENT_TYPES.resource;
  run.apply({ app_name: 'chat', status: 'success', region: 'eu', queue_time_ms: 12, execution_time_ms: 340, response_time_ms: 400 }, pm, nowMs, nowMs);
  run.apply({ app_name: 'chat', status: 'error', region: 'eu', execution_time_ms: 1200 }, pm, nowMs, nowMs);
  run.apply({ app_name: 'batch', status: 'success', coldstart_time_ms: 4100 }, pm, nowMs, nowMs);
  inf.apply({ model_name: 'llama-3', input_tokens: 120, output_tokens: 300, app_name: 'chat', status_code: 200, ttft_ms: 80, tpot_ms: 12, duration_ms: 3700 }, pm, nowMs, nowMs);
  inf.apply({ model_name: 'llama-3', input_tokens: 10, output_tokens: 0, service_tier: 'batch', status_code: 503 }, pm, nowMs, nowMs);
  inf.apply({ model_name: 'mistral', input_tokens: 7, output_tokens: 9, region: 'us' }, pm, nowMs, nowMs);
  res.apply({ app_name: 'chat', region: 'eu', cpu_cores: 1.25, memory_bytes: 2_000_000_000, containers_running: 3 }, pm, nowMs, nowMs);
  res.apply({ app_name: 'chat', region: 'eu', gpu: 0, gpu_memory_bytes: 8e9, gpu_compute_utilization_percent: 71.5 }, pm, nowMs, nowMs);
}

/** The scrape endpoint's text output as `name{sorted labels}` → value. */
function scraped(pm: ProjectMetrics, freshSince: number): Map<string, string> {
  const out = new Map<string, string>();
  const text = [...renderFamilies(pm.families, { format: 'text', gaugeFreshSinceMs: freshSince })].join('');
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const series = line.slice(0, sp);
    const brace = series.indexOf('{');
    const name = brace < 0 ? series : series.slice(0, brace);
    const pairs = brace < 0 ? [] : [...series.slice(brace + 1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}=${x[2]}`);
    out.set(`${name}{${pairs.sort().join(',')}}`, line.slice(sp + 1));
  }
  return out;
}

function stored(store: Tsdb, project: string, t: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of store.querier(project, t, t).select([{ type: '=~', name: '__name__', value: '.+' }], t, t)) {
    const { __name__, ...rest } = s.labels;
    const pairs = Object.entries(rest)
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    out.set(`${__name__}{${pairs.join(',')}}`, s.values[s.values.length - 1]);
  }
  return out;
}

describe('sampler', () => {
  it('stores every exposed series with the scrape endpoint\'s names, labels and values', () => {
    const { agg, store } = setup();
    const pm = agg.ensure('p1');
    feed(pm, Date.now());
    const sampler = new Sampler(agg, store, { gaugeStaleAfterMs: 300_000 });
    const now = Date.now();
    const tick = sampler.sampleOnce(now);
    const want = scraped(pm, now - 300_000);
    const got = stored(store, 'p1', now);
    expect(tick.samples).toBe(want.size);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k), k).toBe(Number(v === '+Inf' ? Infinity : v));
    expect(got.get('meterway_run_execution_time_seconds_bucket{app_id=p1-chat,app_name=chat,le=0.5,project_id=p1,region=eu}')).toBe(1);
    expect(store.querier('p1', 0, now).metricMetadata('meterway_runs_total').get('meterway_runs_total')?.type).toBe('counter');
  });

  it('writes one staleness marker when a gauge goes stale and when a project goes away', () => {
    const { agg, store } = setup();
    const sampler = new Sampler(agg, store, { intervalMs: 15_000, gaugeStaleAfterMs: 60_000 });
    const pm = agg.ensure('p1');
    let wall = T0;
    EVENT_TYPES.resource.apply({ app_name: 'a', cpu_cores: 2 }, pm, wall, wall);
    EVENT_TYPES.run.apply({ app_name: 'a', status: 'success' }, pm, wall, wall);
    const ticks: number[] = [];
    for (let i = 0; i < 8; i++) {
      sampler.sampleOnce(wall);
      ticks.push(wall);
      wall += 15_000;
    }
    const gauge = [...store.querier('p1', 0, wall).select([{ type: '=', name: '__name__', value: 'meterway_cpu_utilization_cores' }], 0, wall)][0];
    // Fresh for 60 s (ticks at 0..60 s), then one marker at 75 s, then nothing.
    expect(Array.from(gauge.timestamps)).toEqual(ticks.slice(0, 6));
    expect(Array.from(gauge.values).slice(0, 5)).toEqual([2, 2, 2, 2, 2]);
    expect(isStaleNaN(gauge.values[5])).toBe(true);
    // A gauge that comes back is sampled again, without a marker at the same time.
    EVENT_TYPES.resource.apply({ app_name: 'a', cpu_cores: 3 }, pm, wall, wall);
    agg.sweepStale(wall - 60_000);
    sampler.sampleOnce(wall);
    const back = [...store.querier('p1', wall, wall).select([{ type: '=', name: '__name__', value: 'meterway_cpu_utilization_cores' }], wall, wall)][0];
    expect(Array.from(back.values)).toEqual([3]);

    agg.delete('p1');
    const end = wall + 15_000;
    const t = sampler.sampleOnce(end);
    expect(t.staleMarkers).toBe(3); // the gauge, runs_total, run_successes_total
    sampler.sampleOnce(end + 15_000);
    // A forgotten project gets no markers (a dropped project must stay dropped).
    const pm3 = agg.ensure('p3');
    EVENT_TYPES.run.apply({ app_name: 'z', status: 'success' }, pm3, wall, wall);
    sampler.sampleOnce(end + 30_000);
    agg.delete('p3');
    sampler.forget('p3');
    store.dropProject('p3');
    expect(sampler.sampleOnce(end + 45_000).staleMarkers).toBe(0);
    expect(store.projectIds()).not.toContain('p3');
    for (const s of store.querier('p1', end, end + 15_000).select([{ type: '=~', name: '__name__', value: '.+' }], end, end + 15_000)) {
      expect(s.timestamps.length, s.labels.__name__).toBe(1);
      expect(isStaleNaN(s.values[0])).toBe(true);
    }
  });
});

describe('restart continuity', () => {
  it('continues counters and histograms from their stored values under the ingest path\'s keys', () => {
    const first = setup();
    const pm1 = first.agg.ensure('p1');
    feed(pm1, T0);
    feed(pm1, T0);
    new Sampler(first.agg, first.store).sampleOnce(T0);
    first.store.close();
    stores.splice(stores.indexOf(first.store), 1);

    const second = setup(first.dir);
    const pm2 = second.agg.ensure('p2-empty') && second.agg.ensure('p1');
    const report = restoreInto(second.agg, second.store);
    expect(report.skipped).toBe(0);
    for (const fam of pm1.families) {
      if (fam.def.type === 'gauge') continue;
      const fam2 = pm2.registry.getFamily(fam.def.name)!;
      expect([...fam2.series.keys()].sort(), fam.def.name).toEqual([...fam.series.keys()].sort());
      for (const [key, s] of fam.series) {
        const r = fam2.series.get(key)!;
        expect(r.labelText).toBe(s.labelText);
        if (fam.def.type === 'counter') expect((r as CounterSeries).value).toBe((s as CounterSeries).value);
        else {
          expect(Array.from((r as HistogramSeries).counts)).toEqual(Array.from((s as HistogramSeries).counts));
          expect((r as HistogramSeries).sum).toBeCloseTo((s as HistogramSeries).sum, 12);
          expect((r as HistogramSeries).count).toBe((s as HistogramSeries).count);
        }
      }
    }
    // New events land on the restored series (no duplicates): same keys, values carried on.
    feed(pm2, T0 + 60_000);
    feed(pm1, T0 + 60_000);
    expect(pm2.registry.seriesCount).toBe(pm1.registry.seriesCount);
    const freshSince = T0;
    expect(scraped(pm2, freshSince)).toEqual(scraped(pm1, freshSince));
    const runs = [...pm2.registry.getFamily('meterway_runs_total')!.series.values()] as CounterSeries[];
    expect(runs.map((s) => s.value).sort()).toEqual([3, 6]);
  });

  it('does not resume a series whose last sample is a staleness marker', () => {
    const first = setup();
    const pm1 = first.agg.ensure('p1');
    feed(pm1, T0);
    const sampler = new Sampler(first.agg, first.store);
    sampler.sampleOnce(T0);
    first.agg.delete('p1');
    sampler.sampleOnce(T0 + 15_000);
    const second = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0);
    second.ensure('p1');
    const report = restoreInto(second, first.store);
    expect(report).toEqual({ counters: 0, histograms: 0, skipped: 0 });
    expect(second.get('p1')!.registry.seriesCount).toBe(0);
  });

  it('does not resume a counter or histogram stored at +Inf (as before ingest refused overflows): it restarts from zero', () => {
    const first = setup();
    const pm1 = first.agg.ensure('p1');
    EVENT_TYPES.inference.apply({ model_name: 'm', input_tokens: 1, output_tokens: 2, duration_ms: 5 }, pm1, T0, T0);
    // What an earlier version could store: the sums were added to without a bound.
    const input = [...pm1.registry.getFamily('meterway_inference_input_tokens_total')!.series.values()][0] as CounterSeries;
    input.value = Infinity;
    const duration = [...pm1.registry.getFamily('meterway_inference_request_duration_seconds')!.series.values()][0] as HistogramSeries;
    duration.sum = Infinity;
    new Sampler(first.agg, first.store).sampleOnce(T0);

    const second = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0);
    const pm2 = second.ensure('p1');
    const report = restoreInto(second, first.store);
    // Requests and output tokens carry on; the input counter and the duration histogram (its
    // buckets, _sum and _count: 15 stored series) do not.
    expect(report.counters).toBe(2);
    expect(report.histograms).toBe(0);
    expect(report.skipped).toBe(1 + duration.counts.length + 2);
    expect(pm2.registry.getFamily('meterway_inference_input_tokens_total')!.series.size).toBe(0);
    expect(pm2.registry.getFamily('meterway_inference_request_duration_seconds')!.series.size).toBe(0);
    // Events are counted again instead of every one being refused as overflowing.
    expect(EVENT_TYPES.inference.apply({ model_name: 'm', input_tokens: 4, output_tokens: 1, duration_ms: 5 }, pm2, T0, T0)).toBeUndefined();
    const restarted = [...pm2.registry.getFamily('meterway_inference_input_tokens_total')!.series.values()] as CounterSeries[];
    expect(restarted.map((c) => c.value)).toEqual([4]);
    const output = [...pm2.registry.getFamily('meterway_inference_output_tokens_total')!.series.values()] as CounterSeries[];
    expect(output.map((c) => c.value)).toEqual([3]);
  });
});

describe('sampleSliced', () => {
  it('stores the same samples as sampleOnce, in several transactions', async () => {
    const { Aggregator } = await import('../aggregate/project.js');
    const { DEFAULT_CATALOG_OPTIONS } = await import('../aggregate/project.js');
    const { Ingestor } = await import('../ingest/ingest.js');
    const { Tsdb } = await import('./store.js');
    const { Sampler } = await import('./sampler.js');
    const build = () => {
      const agg = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0);
      for (let p = 0; p < 40; p++) agg.ensure(`p-slice${String(p).padStart(3, '0')}`);
      const ing = new Ingestor(agg);
      for (const pm of agg.all()) {
        ing.ingest(Array.from({ length: 30 }, (_, i) => ({ value: { type: 'run', project_id: pm.projectId, app_name: `a${i}`, status: 'success', execution_time_ms: i } })), {}, 1000);
      }
      const store = Tsdb.open({ path: ':memory:' });
      return { agg, store, sampler: new Sampler(agg, store, { sliceMs: 0 }) };
    };
    const one = build();
    const sliced = build();
    const a = one.sampler.sampleOnce(15_000);
    let transactions = 0;
    const append = sliced.store.appendProjects.bind(sliced.store);
    sliced.store.appendProjects = (batches) => {
      transactions++;
      return append(batches);
    };
    const b = await sliced.sampler.sampleSliced(15_000);
    expect(transactions).toBe(40);
    expect(b).toEqual(a);
    for (const pid of one.store.projectIds()) {
      const rows = (store: typeof one.store) =>
        [...store.querier(pid, 0, 20_000).select([], 0, 20_000)].map((s) => `${JSON.stringify(s.labels)} ${Array.from(s.values).join(',')}`).sort();
      expect(rows(sliced.store)).toEqual(rows(one.store));
    }
    one.store.close();
    sliced.store.close();
  });

  it('takes a large project in bounded chunks, the same samples, and stops at a project deleted mid-tick', async () => {
    const { Aggregator, DEFAULT_CATALOG_OPTIONS } = await import('../aggregate/project.js');
    const { Ingestor } = await import('../ingest/ingest.js');
    const { Tsdb } = await import('./store.js');
    const { Sampler } = await import('./sampler.js');
    const build = () => {
      const agg = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0);
      for (const pid of ['p-bigone01', 'p-bigone02']) {
        agg.ensure(pid);
        new Ingestor(agg).ingest(Array.from({ length: 1500 }, (_, i) => ({ value: { type: 'run', project_id: pid, app_name: `a${i}`, status: 'success', execution_time_ms: i } })), {}, 1000);
      }
      const store = Tsdb.open({ path: ':memory:' });
      return { agg, store, sampler: new Sampler(agg, store, { sliceMs: 0 }) };
    };
    const rows = (store: ReturnType<typeof Tsdb.open>, pid: string) =>
      [...store.querier(pid, 0, 20_000).select([], 0, 20_000)].map((s) => `${JSON.stringify(s.labels)} ${Array.from(s.values).join(',')}`).sort();

    const one = build();
    const sliced = build();
    const a = one.sampler.sampleOnce(15_000);
    const sizes: number[] = [];
    const append = sliced.store.appendProjects.bind(sliced.store);
    sliced.store.appendProjects = (batches) => {
      for (const b of batches) sizes.push(b.samples.length);
      return append(batches);
    };
    expect(await sliced.sampler.sampleSliced(15_000)).toEqual(a);
    // Each project more than 4,096 samples: several appends each, none much past the chunk.
    expect(a.samples).toBeGreaterThan(2 * 3 * 4096);
    expect(sizes.length).toBeGreaterThan(6);
    expect(Math.max(...sizes)).toBeLessThan(4096 + 100);
    for (const pid of ['p-bigone01', 'p-bigone02']) expect(rows(sliced.store, pid)).toEqual(rows(one.store, pid));

    // The first project deleted after its first chunk: nothing more of it is stored; the other whole.
    const del = build();
    const appendDel = del.store.appendProjects.bind(del.store);
    let first = true;
    let afterDelete = 0;
    del.store.appendProjects = (batches) => {
      for (const b of batches) if (!first && b.project === 'p-bigone01') afterDelete += b.samples.length;
      const r = appendDel(batches);
      if (first) {
        first = false;
        del.sampler.forget('p-bigone01');
        del.agg.delete('p-bigone01');
      }
      return r;
    };
    await del.sampler.sampleSliced(15_000);
    expect(afterDelete).toBe(0);
    expect(rows(del.store, 'p-bigone02')).toEqual(rows(one.store, 'p-bigone02'));
    for (const x of [one, sliced, del]) x.store.close();
  });
});
