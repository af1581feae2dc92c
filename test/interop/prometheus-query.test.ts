/**
 * The npm `prometheus-query` client (what many JavaScript dashboards use) against a project's
 * query API: every read call it has, answered in shapes it can parse.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusDriver } from 'prometheus-query';
import { startTestGateway, type TestGateway } from '../helpers.js';

describe('prometheus-query against a project', () => {
  let gw: TestGateway;
  let prom: PrometheusDriver;
  let pid: string;

  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    const p = await gw.project('pq');
    pid = p.id;
    const res = await gw.app.inject({
      method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest),
      payload: [
        { type: 'run', app_name: 'chat', status: 'success', execution_time_ms: 300, run_id: 'r-1' },
        { type: 'run', app_name: 'embed', status: 'error', execution_time_ms: 30 },
      ],
    });
    expect(res.json().accepted).toBe(2);
    gw.sampler.sampleOnce(Date.now());
    prom = new PrometheusDriver({
      endpoint: `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}/v1/projects/${pid}/prometheus`,
      baseURL: '/api/v1',
      headers: { Authorization: `Bearer ${p.monitoring}` },
    });
  });
  afterAll(() => gw.close());

  it('queries, instant and range', async () => {
    const instant = await prom.instantQuery('sum by (app_name) (meterway_runs_total)');
    expect(instant.resultType).toBe('vector');
    expect(instant.result.map((r: any) => [r.metric.labels.app_name, r.value.value]).sort()).toEqual([['chat', 1], ['embed', 1]]);
    const range = await prom.rangeQuery('meterway_runs_total{app_name="chat"}', new Date(Date.now() - 60_000), new Date(), 15);
    expect(range.resultType).toBe('matrix');
    expect(range.result[0].values.at(-1).value).toBe(1);
  });

  it('lists series, label names and values, metadata', async () => {
    const series = await prom.series('meterway_runs_total', new Date(Date.now() - 300_000), new Date());
    expect(series.map((s: any) => s.labels.app_name).sort()).toEqual(['chat', 'embed']);
    expect(await prom.labelNames()).toContain('app_name');
    expect(await prom.labelValues('app_name')).toEqual(['chat', 'embed']);
    expect((await prom.metadata('meterway_runs_total')).meterway_runs_total[0].type).toBe('counter');
  });

  it('reads every status page and the empty targets, rules, alerts and alertmanagers', async () => {
    expect(await prom.status()).toHaveProperty('yaml');
    expect(await prom.statusFlags()).toHaveProperty(['query.lookback-delta']);
    expect(await prom.statusRuntimeInfo()).toHaveProperty('storageRetention');
    expect((await prom.statusBuildinfo()).revision).toMatch(/^meterway-/);
    const tsdb = await prom.statusTSDB();
    expect(tsdb.seriesCountByMetricName.map((x: any) => x.name)).toContain('meterway_runs_total');
    expect(await prom.targets()).toEqual({ activeTargets: [], droppedTargets: [] });
    expect(await prom.rules()).toEqual([]);
    expect(await prom.alerts()).toEqual([]);
    expect(await prom.alertmanagers()).toEqual({ activeAlertmanagers: [], droppedAlertmanagers: [] });
  });

  it('gets Prometheus-shaped errors it can read', async () => {
    // The client wraps a non-2xx answer and keeps Prometheus' own body, which it then shows.
    await expect(prom.instantQuery('sum(')).rejects.toMatchObject({
      httpStatus: 400,
      error: expect.stringContaining('parse error'),
      prometheus: { status: 'error', errorType: 'bad_data' },
    });
  });
});
