/**
 * The `datadog` kind against a real receiver: VictoriaMetrics 1.79.5's Datadog endpoint, which
 * only takes v1 series (`series_api: 'v1'`) and has no distribution points API (`histograms:
 * 'counters'`). After pushes spread over several seconds, what VictoriaMetrics answers to PromQL
 * must be what Meterway's own query API says: the pushed deltas of each counter summed equal the
 * counter, each gauge's last value equals the gauge, and the bucket counters equal the buckets.
 *
 * VictoriaMetrics keeps the names as sent, dots included (`meterway_run_execution_time_seconds.count`),
 * and splits each tag at its first colon into a label: those names are queried with `{__name__="..."}`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { hasVictoriaMetrics, poll, startVictoriaMetrics, type VictoriaMetricsPeer } from '../peers.js';

/** Instant query at `time` (seconds); each sample's labels and value. */
async function query(vm: VictoriaMetricsPeer, expr: string, time: number): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const data = await vm.api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>('/api/v1/query', { query: expr, time: String(time) });
  return data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
}

describe.skipIf(!hasVictoriaMetrics)('VictoriaMetrics 1.79.5 receiving the datadog kind', () => {
  let gw: TestGateway;
  let vm: VictoriaMetricsPeer;
  beforeAll(async () => {
    vm = await startVictoriaMetrics();
    gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false } });
  });
  afterAll(async () => {
    await gw?.close();
    await vm?.stop();
  });

  it('stores what the pushes carry: counter deltas sum to the counters, gauges and buckets match', async () => {
    const p = await gw.project('dd-vm');
    const created = await gw.app.inject({
      method: 'POST', url: `/v1/projects/${p.id}/integrations`, headers: gw.auth(p.manage),
      payload: { kind: 'datadog', endpoint: `${vm.url}/datadog`, auth_headers: { 'DD-API-KEY': 'not-checked-by-vm-0123' }, config: { series_api: 'v1', histograms: 'counters', tags: ['env:test'] } },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    const test = await gw.app.inject({ method: 'POST', url: `/v1/projects/${p.id}/integrations/${id}/test`, headers: gw.auth(p.manage) });
    expect(test.json()).toMatchObject({ ok: true, status_code: 200 });

    const ingest = async (events: object[]) => {
      const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest), payload: events });
      expect(res.json().rejected).toEqual([]);
    };
    const round = (n: number, cpu: number) => [
      ...Array.from({ length: n }, (_, i) => ({ type: 'run', app_name: i % 2 === 0 ? 'chat' : 'embed', region: 'eu', status: i % 3 === 0 ? 'error' : 'success', execution_time_ms: 30 + 170 * i })),
      { type: 'inference', app_name: 'chat', model_name: 'llama-3.1-8b', input_tokens: 100 * n, output_tokens: 7 * n, ttft_ms: 120, status_code: 200 },
      { type: 'resource', app_name: 'chat', region: 'eu', cpu_cores: cpu, memory_bytes: 1_000_000 * n },
    ];
    // Datadog timestamps are whole seconds: each push in its own second, so no two points of a series share one.
    for (const [n, cpu] of [[3, 0.5], [5, 1.25], [2, 0.75]] as const) {
      await ingest(round(n, cpu));
      const report = await gw.exporter.pushNow(id);
      expect(report, report.error).toMatchObject({ pushed: true });
      await new Promise((r) => setTimeout(r, 1100));
    }

    const meterway = async (expr: string) => {
      const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=${encodeURIComponent(expr)}`, headers: gw.auth(p.monitoring) });
      return (res.json().data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    };
    const at = Math.ceil(Date.now() / 1000) + 1;
    const sel = (name: string, matchers = '') => `{__name__="${name}",project_id="${p.id.toLowerCase()}"${matchers}}`;
    const byApp = (rows: Array<{ metric: Record<string, string>; value: number }>) =>
      Object.fromEntries(rows.map((r) => [r.metric.app_name, r.value]));

    // Counters: each push carried a delta; their sum is the counter.
    const vmRuns = await poll('the pushed counters in VictoriaMetrics', async () => {
      const rows = await query(vm, `sum by (app_name) (sum_over_time(${sel('meterway_runs_total')}[1h]))`, at);
      return rows.length >= 2 ? rows : undefined;
    }, 15_000, 200);
    expect(byApp(vmRuns)).toEqual(byApp(await meterway('sum by (app_name) (meterway_runs_total)')));
    expect(byApp(vmRuns)).toEqual({ chat: 6, embed: 4 });
    const vmErrors = await query(vm, `sum by (app_name) (sum_over_time(${sel('meterway_run_errors_total')}[1h]))`, at);
    expect(byApp(vmErrors)).toEqual(byApp(await meterway('sum by (app_name) (meterway_run_errors_total)')));
    const tokensVm = await query(vm, `sum(sum_over_time(${sel('meterway_inference_input_tokens_total', ',env="test"')}[1h]))`, at);
    expect(tokensVm[0].value).toBe((await meterway('sum(meterway_inference_input_tokens_total)'))[0].value);
    expect(tokensVm[0].value).toBe(1000);

    // Gauges: the last value pushed is the gauge now.
    const cpu = await query(vm, `last_over_time(${sel('meterway_cpu_utilization_cores')}[1h])`, at);
    expect(cpu).toHaveLength(1);
    expect(cpu[0].value).toBe((await meterway('meterway_cpu_utilization_cores'))[0].value);
    expect(cpu[0].value).toBe(0.75);
    expect(cpu[0].metric).toMatchObject({ app_name: 'chat', region: 'eu', env: 'test', app_id: `${p.id}-chat`.toLowerCase() });

    // Histograms as counters: .count, .sum and cumulative .bucket with upper_bound, as the Datadog agent names them.
    const exec = 'meterway_run_execution_time_seconds';
    const total = async (name: string, matchers = '') => (await query(vm, `sum(sum_over_time(${sel(name, matchers)}[1h]))`, at))[0]?.value;
    expect(await total(`${exec}.count`)).toBe((await meterway(`sum(${exec}_count)`))[0].value);
    expect(await total(`${exec}.sum`)).toBeCloseTo((await meterway(`sum(${exec}_sum)`))[0].value, 9);
    for (const le of ['0.05', '0.25', '0.5', '1']) {
      const vmLe = le.includes('.') ? le : `${le}.0`;
      expect(await total(`${exec}.bucket`, `,upper_bound="${vmLe}"`), `le=${le}`).toBe((await meterway(`sum(${exec}_bucket{le="${le}"})`))[0].value);
    }
  });
});
