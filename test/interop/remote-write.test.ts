/**
 * Interop: the prometheus_remote_write kind pushing to real receivers, Prometheus 2.42 (with
 * --web.enable-remote-write-receiver) and VictoriaMetrics 1.79.5, each started on a loopback
 * port with a temp data directory and stopped by PID. After a push, the values the receiver
 * answers to PromQL at a given time equal what Meterway's own query API answers for the same
 * series at that time: counters, gauges, histogram buckets, sums and counts, label for label.
 *
 * Both receivers speak remote write 1.0 only, so a 2.0 integration shows the fallback for real:
 * they answer a 2.0 body with 204 and no written-count headers, having stored nothing of it, and
 * the data must still arrive (resent as 1.0).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { hasPrometheus, hasVictoriaMetrics, poll, startPrometheus, startVictoriaMetrics, type PrometheusPeer, type VictoriaMetricsPeer } from '../peers.js';

const WEIRD = 'model "x" \\ v2\nnew line ünïcødé 日本語 🚀';

type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;

/** Series → value, keyed by the sorted label set, so two answers compare label for label. */
function byLabels(v: Vector): Map<string, number> {
  return new Map(v.map((s) => [JSON.stringify(Object.entries(s.metric).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), Number(s.value[1])]));
}

function events(): object[] {
  const out: object[] = [];
  for (let i = 0; i < 23; i++) {
    out.push({ type: 'run', app_name: 'chat', region: 'eu-west-1', status: i % 6 === 0 ? 'error' : 'success', execution_time_ms: i < 15 ? 300 : 2_000, queue_time_ms: 12 });
  }
  for (let i = 0; i < 9; i++) {
    out.push({ type: 'inference', app_name: 'llm', region: 'us-east-1', model_name: i < 6 ? 'llama-3.1-8b' : WEIRD, service_tier: 'on_demand', status_code: i === 4 ? 503 : 200, input_tokens: 1_000 + i, output_tokens: 200 + i, ttft_ms: 40 + 30 * i, duration_ms: 900 });
  }
  out.push({ type: 'resource', app_name: 'chat', region: 'eu-west-1', cpu_cores: 2.25, memory_bytes: 6_442_450_944, gpu: 0, gpu_memory_bytes: 40_000_000_000, gpu_compute_utilization_percent: 97.5 });
  return out;
}

interface Receiver {
  readonly name: string;
  readonly writeUrl: string;
  /** Significant digits values are compared to; undefined: exactly (the same double). */
  readonly digits?: number;
  /** Makes what was written searchable now, where the receiver has a way. */
  flush?(): Promise<void>;
  query(expr: string, timeS: number): Promise<Vector>;
}

/** The whole comparison, the same for each receiver. */
function compareWith(receiver: () => Receiver) {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, file: { metrics: { gauge_stale_after: '2s' } }, delivery: { schedule: false } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  async function projectWithData(name: string) {
    const q = await gw.project(name);
    const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: events() });
    expect(res.json()).toMatchObject({ rejected: [] });
    return q;
  }

  async function integration(q: { id: string; manage: string }, config: Record<string, unknown> = {}): Promise<string> {
    const res = await gw.app.inject({
      method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: gw.auth(q.manage),
      payload: { kind: 'prometheus_remote_write', endpoint: receiver().writeUrl, auth_headers: { 'X-Scope-OrgID': 'tenant-1' }, config },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id as string;
  }

  async function meterway(q: { id: string; monitoring: string }, expr: string, timeS: number): Promise<Vector> {
    const res = await gw.app.inject({
      method: 'GET', url: `/v1/projects/${q.id}/prometheus/api/v1/query?query=${encodeURIComponent(expr)}&time=${timeS}`, headers: gw.auth(q.monitoring),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data.result as Vector;
  }

  /** Pushes, then checks the receiver answers what Meterway answers, series for series. */
  async function pushAndCompare(q: { id: string; monitoring: string }, id: string): Promise<Map<string, number>> {
    const report = await gw.exporter.pushNow(id);
    expect(report, JSON.stringify(report)).toMatchObject({ pushed: true, attempts: 1 });
    // The push and Meterway's own sample are of the same values: nothing is ingested in between.
    gw.sampler.sampleOnce(Date.now());
    const timeS = (Date.now() + 1) / 1000;
    const expr = `{__name__=~"meterway_.+",project_id="${q.id}"}`;
    const ours = byLabels(await meterway(q, expr, timeS));
    expect(ours.size).toBeGreaterThan(100);
    await receiver().flush?.();
    // A receiver may take a moment to make what it took searchable: bounded wait for every series.
    const theirs = await poll(`${receiver().name} to answer every series`, async () => {
      const got = byLabels(await receiver().query(expr, timeS));
      return got.size >= ours.size ? got : undefined;
    }, 15_000, 200);
    expect([...theirs.keys()].sort()).toEqual([...ours.keys()].sort());
    const digits = receiver().digits;
    for (const [k, v] of ours) {
      if (digits === undefined) expect(theirs.get(k), k).toBe(v);
      else expect(theirs.get(k)!.toPrecision(digits), k).toBe(v.toPrecision(digits));
    }
    return theirs;
  }

  const has = (m: Map<string, number>, name: string, labels: Record<string, string> = {}) =>
    [...m.entries()].filter(([k]) => {
      const l = Object.fromEntries(JSON.parse(k) as Array<[string, string]>);
      return l.__name__ === name && Object.entries(labels).every(([a, b]) => l[a] === b);
    }).map(([, v]) => v);

  it('stores exactly what Meterway answers: counters, gauges, histogram buckets, sums and counts (1.0)', async () => {
    const q = await projectWithData(`${receiver().name} 1.0`);
    const got = await pushAndCompare(q, await integration(q));
    expect(has(got, 'meterway_runs_total')).toEqual([23]);
    expect(has(got, 'meterway_run_errors_total')).toEqual([4]);
    expect(has(got, 'meterway_memory_usage_bytes')).toEqual([6_442_450_944]);
    expect(has(got, 'meterway_gpu_compute_utilization_percent')).toEqual([97.5]);
    expect(has(got, 'meterway_run_execution_time_seconds_bucket', { le: '0.5' })).toEqual([15]);
    expect(has(got, 'meterway_run_execution_time_seconds_bucket', { le: '+Inf' })).toEqual([23]);
    expect(has(got, 'meterway_run_execution_time_seconds_count')).toEqual([23]);
    expect(has(got, 'meterway_run_execution_time_seconds_sum')[0]).toBeCloseTo(15 * 0.3 + 8 * 2, 9);
    expect(has(got, 'meterway_inference_input_tokens_total', { model_name: WEIRD })).toEqual([1_006 + 1_007 + 1_008]);
  });

  it('a 2.0 integration falls back to 1.0 on this 1.0 receiver, and the data still arrives', async () => {
    const q = await projectWithData(`${receiver().name} 2.0`);
    const id = await integration(q, { protocol_version: '2.0' });
    const got = await pushAndCompare(q, id);
    expect(has(got, 'meterway_runs_total')).toEqual([23]);
    const status = (await gw.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/integrations/${id}`, headers: gw.auth(q.manage) })).json().status;
    expect(status.last_notice).toMatch(/without the X-Prometheus-Remote-Write-\*-Written headers.*; sent as remote write 1\.0, which this integration uses from now on/);
    const test = await gw.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations/${id}/test`, headers: gw.auth(q.manage) });
    expect(test.json()).toMatchObject({ ok: true, message: expect.stringMatching(/it looks like a 1\.0 receiver/) });
  });

  return {
    gateway: () => gw,
    projectWithData,
    integration,
    meterway,
    has,
  };
}

describe.skipIf(!hasPrometheus)('a real Prometheus 2.42 receiving remote write', () => {
  let prom: PrometheusPeer | undefined;
  beforeAll(async () => {
    prom = await startPrometheus('global:\n  scrape_interval: 1m\n', { args: ['--web.enable-remote-write-receiver'], readyTimeoutMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    if (prom !== undefined && prom.proc.stderr.length > 0) console.log(`prometheus stderr:\n${prom.proc.stderr}`);
    await prom?.stop();
  });

  const ctx = compareWith(() => ({
    name: 'Prometheus',
    writeUrl: `${prom!.url}/api/v1/write`,
    query: (expr, timeS) => prom!.api('/api/v1/query', { query: expr, time: String(timeS) }).then((d) => d.result as Vector),
  }));

  it('takes the staleness marker: a gauge that went stale is gone from Prometheus after the next push', async () => {
    const gw = ctx.gateway();
    const q = await gw.project('staleness');
    const ingest = (e: object) => gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: e });
    await ingest({ type: 'run', app_name: 'a', status: 'success' });
    await ingest({ type: 'resource', app_name: 'a', cpu_cores: 1.5 });
    const id = await ctx.integration(q);
    expect((await gw.exporter.pushNow(id)).pushed).toBe(true);
    const before = (Date.now() + 1) / 1000;
    const gauge = `meterway_cpu_utilization_cores{project_id="${q.id}"}`;
    const counter = `meterway_runs_total{project_id="${q.id}"}`;
    const at = async (expr: string, t: number) => (await prom!.api('/api/v1/query', { query: expr, time: String(t) })).result as Vector;
    expect((await at(gauge, before)).map((s) => s.value[1])).toEqual(['1.5']);
    await new Promise((r) => setTimeout(r, 2_300)); // past gauge_stale_after: the next snapshot leaves the gauge out
    expect((await gw.exporter.pushNow(id)).pushed).toBe(true);
    const after = (Date.now() + 1) / 1000;
    // Without the marker Prometheus would answer 1.5 for five more minutes.
    expect(await at(gauge, after)).toEqual([]);
    expect((await at(counter, after)).map((s) => s.value[1])).toEqual(['1']);
    // The history before the marker stays.
    expect((await at(gauge, before)).map((s) => s.value[1])).toEqual(['1.5']);
    // Meterway agrees: the gauge is gone from its own answer too.
    gw.sampler.sampleOnce(Date.now());
    expect(await ctx.meterway(q, gauge, (Date.now() + 1) / 1000)).toEqual([]);
  });
});

describe.skipIf(!hasVictoriaMetrics)('a real VictoriaMetrics 1.79.5 receiving remote write', () => {
  let vm: VictoriaMetricsPeer | undefined;
  beforeAll(async () => {
    vm = await startVictoriaMetrics({ readyTimeoutMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    if (vm !== undefined && vm.proc.stderr.length > 0) console.log(`victoria-metrics stderr:\n${vm.proc.stderr}`);
    await vm?.stop();
  });

  compareWith(() => ({
    name: 'VictoriaMetrics',
    writeUrl: `${vm!.url}/api/v1/write`,
    // VictoriaMetrics keeps a float as a decimal mantissa and exponent, which rounds the last
    // digit of a sum like 0.2760000000000001 (it answers 0.276); Prometheus keeps the double.
    digits: 12,
    // Rows wait in memory for a few seconds before they are searchable; this endpoint ends the wait.
    flush: async () => {
      const res = await fetch(`${vm!.url}/internal/force_flush`);
      expect(res.ok).toBe(true);
    },
    query: (expr, timeS) => vm!.api('/api/v1/query', { query: expr, time: String(timeS) }).then((d) => d.result as Vector),
  }));
});
