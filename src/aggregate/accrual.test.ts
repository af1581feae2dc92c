/**
 * The accrual book and the instance and job event types on it (src/ingest/events.ts), without a
 * gateway: exact sums, the staleness cut-off, late events, bounds, and the rows a restart reads.
 */
import { describe, expect, it } from 'vitest';
import { Aggregator, DEFAULT_CATALOG_OPTIONS, type ProjectMetrics } from './project.js';
import { EVENT_TYPES } from '../ingest/events.js';
import { checkFields } from '../ingest/fields.js';
import { CATALOG, CATALOG_INDEX as I, LABEL_KEYED_SOURCES, seriesKey } from '../catalog/catalog.js';
import { AccrualBook, ENTITY_KEEP_MS } from './accrual.js';
import type { CounterSeries } from './series.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

function project(staleMs = 300_000): { agg: Aggregator; pm: ProjectMetrics } {
  const agg = new Aggregator(DEFAULT_CATALOG_OPTIONS, 0, staleMs);
  return { agg, pm: agg.ensure('p1') };
}

function apply(pm: ProjectMetrics, ev: Record<string, unknown>, eventMs: number, nowMs = eventMs) {
  const type = EVENT_TYPES[ev.type as string];
  expect(checkFields(ev, type.rules)).toBeUndefined();
  return type.apply(ev, pm, eventMs, nowMs);
}

const beat = (minute: number, extra: Record<string, unknown> = {}) =>
  [{ type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running', price_per_hour: 2, ...extra }, T0 + minute * MIN] as const;

function value(pm: ProjectMetrics, idx: number): number[] {
  return [...(pm.families[idx].series.values() as Iterable<CounterSeries>)].map((s) => s.value);
}

describe('instance accrual', () => {
  it('keeps exact sums: 90 one-minute intervals at 2 $/h are 3 dollars, not 2.9999999999999996', () => {
    const { pm } = project();
    for (let m = 0; m <= 90; m++) apply(pm, ...beat(m));
    expect(value(pm, I.instance_cost)).toEqual([3]);
    expect(value(pm, I.instance_running_seconds)).toEqual([5400]);
    let naive = 0;
    for (let m = 0; m < 90; m++) naive += (60 * 2) / 3600;
    expect(naive).not.toBe(3);
  });

  it('cuts an interval at the staleness time and ignores events older than the newest', () => {
    const { pm } = project(120_000);
    apply(pm, ...beat(0));
    apply(pm, ...beat(10));
    expect(value(pm, I.instance_running_seconds)).toEqual([120]);
    apply(pm, ...beat(5));
    apply(pm, ...beat(11));
    expect(value(pm, I.instance_running_seconds)).toEqual([180]);
    expect(pm.accrual.entity('instance', 'f\u0000i')!.lastMs).toBe(T0 + 11 * MIN);
  });

  it('hides the gauges of an instance that terminated, and sets them again if it runs again', () => {
    const { pm } = project();
    apply(pm, ...beat(0, { gpu_count: 4 }));
    const [price] = pm.families[I.instance_price].series.values();
    const [gpus] = pm.families[I.instance_gpus].series.values();
    expect(price.updatedAt).toBe(T0);
    apply(pm, ...beat(1, { state: 'terminated' }));
    expect([price.updatedAt, gpus.updatedAt]).toEqual([0, 0]);
    apply(pm, ...beat(5));
    expect(price.updatedAt).toBe(T0 + 5 * MIN);
    // The GPU count given before holds.
    expect(gpus.updatedAt).toBe(T0 + 5 * MIN);
    expect(value(pm, I.instance_running_seconds)).toEqual([60]);
  });

  it('hides a gauge whose labels the entity no longer has', () => {
    const { pm } = project();
    apply(pm, ...beat(0, { backend: 'aws' }));
    apply(pm, ...beat(1, { backend: 'gcp' }));
    const prices = [...pm.families[I.instance_price].series.values()];
    expect(prices.map((g) => [g.labelValues.includes('gcp'), g.updatedAt > 0])).toEqual([[false, false], [true, true]]);
  });

  it('keeps labels an event leaves out, so a bare heartbeat or termination feeds the same series', () => {
    const { pm } = project();
    apply(pm, ...beat(0, { backend: 'aws', gpu_name: 'A100', region: 'us' }));
    apply(pm, { type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running' }, T0 + MIN);
    apply(pm, { type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'terminated' }, T0 + 2 * MIN);
    const series = [...(pm.families[I.instance_cost].series.values() as Iterable<CounterSeries>)];
    expect(series.map((c) => [c.labelValues, c.value])).toEqual([[['p1', undefined, undefined, 'us', 'f', 'i', 'aws', undefined, 'A100'], 2 * 60 * 2 / 3600]]);
    expect(pm.accrual.entity('instance', 'f\u0000i')!.labels).toEqual({ region: 'us', backend: 'aws', gpu_name: 'A100' });
  });
});

describe('job accrual', () => {
  it('counts a terminal status once, and once more only after the job ran again', () => {
    const { pm } = project();
    const job = (status: string) => ({ type: 'job', run_name: 'r', job_name: 'j', status });
    apply(pm, job('running'), T0);
    apply(pm, job('failed'), T0 + MIN);
    apply(pm, job('failed'), T0 + MIN);
    apply(pm, job('terminated'), T0 + 2 * MIN);
    expect(value(pm, I.jobs)).toEqual([1]);
    apply(pm, job('running'), T0 + 3 * MIN);
    apply(pm, job('done'), T0 + 4 * MIN);
    const jobs = [...(pm.families[I.jobs].series.values() as Iterable<CounterSeries>)].map((s) => [s.labelValues.at(-1), s.value]);
    expect(jobs).toEqual([['failed', 1], ['done', 1]]);
    expect(value(pm, I.job_running_seconds)).toEqual([120]);
    // No price given: no cost.
    expect(value(pm, I.job_cost)).toEqual([]);
  });
});

describe('the book', () => {
  it('hands out what changed once, as rows, and reads them back into a new project exactly', () => {
    const { pm } = project();
    let calls = 0;
    const book = new AccrualBook(pm.registry, pm.families, () => calls++);
    (pm as { accrual: AccrualBook }).accrual = book;
    apply(pm, ...beat(0));
    apply(pm, ...beat(1));
    expect(calls).toBe(1);
    const changes = book.takeChanges()!;
    expect(book.takeChanges()).toBeUndefined();
    expect(changes.entities).toEqual([{ kind: 'instance', entity: ['f', 'i'], lastMs: T0 + MIN, state: 'running', price: 2, labels: {}, touchedAt: T0 + MIN }]);
    expect(changes.sums.map((s) => [s.family, s.total])).toEqual([['instance_running_seconds', 60_000], ['instance_cost', 120_000]]);
    expect(changes.sums[0].labels).toEqual([null, null, 'f', 'i', null, null, null]);
    apply(pm, ...beat(2));
    expect(calls).toBe(2);

    const { pm: other } = project();
    for (const e of changes.entities) other.accrual.restoreEntity(e);
    for (const s of changes.sums) expect(other.accrual.restoreSum('p1', s)).toBe(true);
    apply(other, ...beat(2));
    expect(value(other, I.instance_cost)).toEqual([value(pm, I.instance_cost)[0]]);
    expect(value(other, I.instance_running_seconds)).toEqual([120]);
  });

  it('writes again what a failed write held', () => {
    const { pm } = project();
    apply(pm, ...beat(0));
    const changes = pm.accrual.takeChanges()!;
    pm.accrual.requeue(changes);
    expect(pm.accrual.takeChanges()).toEqual(changes);
  });

  it('forgets entities not heard from for a day, and holds at most its bound', () => {
    const { agg, pm } = project();
    apply(pm, ...beat(0), 1000);
    agg.sweepStale(1000 + ENTITY_KEEP_MS - 300_000 - 1);
    expect(pm.accrual.tracked('instance')).toBe(1);
    agg.sweepStale(1000 + ENTITY_KEEP_MS - 300_000 + 1);
    expect(pm.accrual.tracked('instance')).toBe(0);
    expect(pm.accrual.takeChanges()!.removed).toEqual([{ kind: 'instance', entity: ['f', 'i'] }]);

    const small = new AccrualBook(pm.registry, pm.families, () => {}, 2);
    for (const k of ['a', 'b', 'c']) small.put('job', k, { lastMs: 0, state: 'running', price: undefined, labels: {}, touchedAt: 0 });
    expect(small.tracked('job')).toBe(2);
    expect(small.entity('job', 'a')).toBeUndefined();
  });
});

describe('label-keyed families', () => {
  it('file every series under seriesKey of its label values, the key restore rebuilds', () => {
    const { pm } = project();
    apply(pm, { type: 'device', device_id: 'd', app_name: 'a', model_name: 'm', platform: 'ios', duration_ms: 5, ttft_ms: 1, throughput_tokens_per_second: 3, total_tokens: 4, battery_level_percent: 50, memory_used_bytes: 1 }, T0, T0);
    apply(pm, { type: 'device', device_id: 'e', region: 'eu', battery_level_percent: 50, ttft_ms: 2 }, T0, T0);
    apply(pm, { type: 'instance', fleet_name: 'f', instance_name: 'i', state: 'running', region: 'us', backend: 'aws', instance_type: 't', gpu_name: 'g', gpu_count: 1, price_per_hour: 1 }, T0);
    apply(pm, { type: 'job', run_name: 'r', job_name: 'j', status: 'running', user: 'u', fleet_name: 'f', backend: 'b', gpu_name: 'g', gpu_count: 1, price_per_hour: 1 }, T0);
    apply(pm, { type: 'job', run_name: 'r', job_name: 'j', status: 'done', user: 'u' }, T0 + MIN);
    const families = CATALOG.map((d, i) => [d, i] as const).filter(([d]) => LABEL_KEYED_SOURCES.has(d.source));
    for (const [def, idx] of families) {
      const fam = pm.families[idx];
      expect(fam.series.size, def.key).toBeGreaterThan(0);
      for (const [key, s] of fam.series) expect(key, def.key).toBe(seriesKey(s.labelValues));
    }
  });

  it('take every extra label from a field the event type validates as a label', () => {
    for (const def of CATALOG.filter((d) => LABEL_KEYED_SOURCES.has(d.source))) {
      const rules = new Map(EVENT_TYPES[def.source].rules.map((r) => [r.name, r.kind]));
      for (const label of def.extraLabels) expect(['label', 'enum'], `${def.key}: ${label}`).toContain(rules.get(label));
    }
  });
});
