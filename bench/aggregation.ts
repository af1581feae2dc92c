/**
 * Observations per second into 10k histogram series and 10k counter series: ours (the registry
 * and series API, looked up by a key string built per observation as the ingest path builds it)
 * against prom-client 15 (`observe(labels, v)` / `inc(labels, v)` with label objects), same labels,
 * same series order, same values.
 */
import client from 'prom-client';
import { MetricRegistry, type Family, type FamilyDef } from '../src/aggregate/registry.js';
import type { CounterSeries, HistogramSeries, LabelValues } from '../src/aggregate/series.js';
import { BASE_LABELS, DEFAULT_BUCKETS } from '../src/catalog/catalog.js';
import { fmtRate, header, latencies, opsPerSecond, rng, seriesLabels, verdict } from './_util.js';

const SERIES = 10_000;
const OPS_PER_ROUND = 1_000_000;
/** Rounds per side in each of two interleaved passes; the best round of all counts. */
const ROUNDS_PER_PASS = 3;
const PASSES = 2;
const TARGET_RATIO = 2;
/** Power of two so the hot loops pick the next series and value with a mask, not a modulo. */
const PICKS = 1 << 16;

export async function main(): Promise<void> {
  header(`aggregation: observations/s into ${SERIES} series (best of ${ROUNDS_PER_PASS * PASSES} rounds of ${OPS_PER_ROUND})`);
  const labels = seriesLabels(SERIES);
  const apps = labels.map((l) => l.app_name);
  const regions = labels.map((l) => l.region);
  const values = (j: number): LabelValues => [labels[j].project_id, labels[j].app_id, labels[j].app_name, labels[j].region];
  const r = rng(1);
  // Series visited in a random order, so neither side gets the cache-friendly sequential case.
  const order = new Int32Array(PICKS);
  for (let i = 0; i < PICKS; i++) order[i] = Math.floor(r() * SERIES);
  const lat = latencies(PICKS);
  const buckets = DEFAULT_BUCKETS.latency;

  // Ours.
  const reg = new MetricRegistry({ maxSeries: 0 });
  const histDef: FamilyDef = { name: 'bench_latency_seconds', type: 'histogram', help: 'h', unit: 'seconds', labelNames: BASE_LABELS, buckets };
  const ctrDef: FamilyDef = { name: 'bench_runs_total', type: 'counter', help: 'c', unit: '', labelNames: BASE_LABELS };
  const hfam: Family<HistogramSeries> = reg.family(histDef);
  const cfam: Family<CounterSeries> = reg.family(ctrDef);
  const oursHist = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const j = order[i & (PICKS - 1)];
      // The ingest path joins label values with NUL into the key (src/ingest/events.ts).
      const key = `${apps[j]}\u0000${regions[j]}`;
      const s = hfam.series.get(key) ?? reg.series(hfam, key, values(j));
      s!.observe(lat[i & (PICKS - 1)]);
    }
  };
  const oursCtr = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const j = order[i & (PICKS - 1)];
      const key = `${apps[j]}\u0000${regions[j]}`;
      const s = cfam.series.get(key) ?? reg.series(cfam, key, values(j));
      s!.inc(1);
    }
  };

  // prom-client.
  const promReg = new client.Registry();
  const labelNames = [...BASE_LABELS];
  const ph = new client.Histogram({ name: 'bench_latency_seconds', help: 'h', labelNames, buckets: [...buckets], registers: [promReg] });
  const pc = new client.Counter({ name: 'bench_runs_total', help: 'c', labelNames, registers: [promReg] });
  const labelObjects = labels.map((l) => ({ ...l }));
  const promHist = (n: number): void => {
    for (let i = 0; i < n; i++) ph.observe(labelObjects[order[i & (PICKS - 1)]], lat[i & (PICKS - 1)]);
  };
  const promCtr = (n: number): void => {
    for (let i = 0; i < n; i++) pc.inc(labelObjects[order[i & (PICKS - 1)]], 1);
  };

  // Every series exists before timing starts: steady state, not creation, is what a gateway lives in.
  for (let j = 0; j < SERIES; j++) {
    const key = `${apps[j]}\u0000${regions[j]}`;
    reg.series(hfam, key, values(j));
    reg.series(cfam, key, values(j));
    ph.observe(labelObjects[j], 0);
    pc.inc(labelObjects[j], 0);
  }

  const rows: Array<[string, number, number]> = [];
  // Interleaved so a burst of load from another tenant of the machine hits both sides alike.
  let oh = 0, ph2 = 0, oc = 0, pc2 = 0;
  for (let k = 0; k < PASSES; k++) {
    oh = Math.max(oh, opsPerSecond(oursHist, OPS_PER_ROUND, ROUNDS_PER_PASS));
    ph2 = Math.max(ph2, opsPerSecond(promHist, OPS_PER_ROUND, ROUNDS_PER_PASS));
    oc = Math.max(oc, opsPerSecond(oursCtr, OPS_PER_ROUND, ROUNDS_PER_PASS));
    pc2 = Math.max(pc2, opsPerSecond(promCtr, OPS_PER_ROUND, ROUNDS_PER_PASS));
  }
  rows.push(['histogram observe', oh, ph2], ['counter inc', oc, pc2]);

  if (hfam.series.size !== SERIES || cfam.series.size !== SERIES) throw new Error('series count drifted');
  console.log(`   ${'operation'.padEnd(20)} ${'ours'.padStart(12)} ${'prom-client'.padStart(12)} ${'ratio'.padStart(7)}  target >= ${TARGET_RATIO}x`);
  for (const [what, ours, peer] of rows) {
    const ratio = ours / peer;
    console.log(`   ${what.padEnd(20)} ${fmtRate(ours).padStart(12)} ${fmtRate(peer).padStart(12)} ${`${ratio.toFixed(2)}x`.padStart(7)}  ${verdict(ratio >= TARGET_RATIO)}`);
  }
}
