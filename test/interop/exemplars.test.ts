/**
 * Exemplars: a run's `run_id` and a request's `trace_id` go with the observation into the bucket
 * it fell in; the OpenMetrics scrape carries them (checked by a real Prometheus 2.42 scraping
 * with exemplar storage on, which parses and serves them), and the project's own
 * /api/v1/query_exemplars answers them in Prometheus' shape, confined to the project.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { hasPrometheus, poll, startPrometheus, type PrometheusPeer } from '../peers.js';

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0';

describe('exemplars', () => {
  let gw: TestGateway;
  let port: number;
  let p: Awaited<ReturnType<TestGateway['project']>>;
  let other: Awaited<ReturnType<TestGateway['project']>>;
  const sentAt = Date.now() - 1000;

  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    port = (gw.app.server.address() as AddressInfo).port;
    p = await gw.project('exemplars');
    other = await gw.project('other');
    const events = [
      { type: 'run', app_name: 'chat', status: 'success', run_id: 'run-0042', execution_time_ms: 300, timestamp: sentAt },
      { type: 'run', app_name: 'chat', status: 'success', execution_time_ms: 40 },
      { type: 'inference', model_name: 'llama', input_tokens: 5, output_tokens: 9, ttft_ms: 120, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', timestamp: sentAt },
    ];
    const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest), payload: events });
    expect(res.json()).toEqual({ accepted: 3, rejected: [] });
    const o = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(other.ingest), payload: [{ type: 'run', app_name: 'x', status: 'success', run_id: 'other-secret-run', execution_time_ms: 300 }] });
    expect(o.json().accepted).toBe(1);
  });
  afterAll(() => gw.close());

  it('puts them on the bucket of the observation in OpenMetrics, and only there', async () => {
    const om = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/metrics`, headers: { ...gw.auth(p.monitoring), accept: OPENMETRICS } });
    const ts = (sentAt / 1000).toString();
    expect(om.body).toContain(`meterway_run_execution_time_seconds_bucket{project_id="${p.id}",app_id="${p.id}-chat",app_name="chat",le="0.5"} 2 # {run_id="run-0042"} 0.3 ${ts}\n`);
    expect(om.body).toContain(`le="0.25"} 1\n`);
    expect(om.body).toContain(`# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.12 ${ts}`);
    expect(om.body).not.toContain('other-secret-run');
    // The text format 0.0.4 has no exemplars.
    const text = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/metrics`, headers: gw.auth(p.monitoring) });
    expect(text.body).not.toContain('run-0042');
  });

  it('are answered by the project\'s query_exemplars in Prometheus\' shape, and only the project\'s', async () => {
    gw.sampler.sampleOnce(Date.now());
    const ask = async (pid: string, token: string, query: string) => {
      const qs = new URLSearchParams({ query, start: String(sentAt / 1000 - 60), end: String(Date.now() / 1000 + 60) });
      const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/api/v1/query_exemplars?${qs}`, headers: gw.auth(token) });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const body = await ask(p.id, p.monitoring, 'histogram_quantile(0.9, sum by (le) (rate(meterway_run_execution_time_seconds_bucket[5m])))');
    expect(body.status).toBe('success');
    expect(body.data).toEqual([{
      seriesLabels: { __name__: 'meterway_run_execution_time_seconds_bucket', project_id: p.id, app_id: `${p.id}-chat`, app_name: 'chat', le: '0.5' },
      exemplars: [{ labels: { run_id: 'run-0042' }, value: '0.3', timestamp: sentAt / 1000 }],
    }]);
    const ttft = await ask(p.id, p.monitoring, 'meterway_inference_time_to_first_token_seconds_bucket');
    expect(ttft.data[0].exemplars[0].labels).toEqual({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' });
    // Another project's exemplars never show, whatever the matchers say.
    const spoof = await ask(p.id, p.monitoring, `{__name__=~".+", project_id="${other.id}"}`);
    expect(JSON.stringify(spoof)).not.toContain('other-secret-run');
    expect(JSON.stringify(await ask(p.id, p.monitoring, '{__name__=~".+"}'))).not.toContain('other-secret-run');
    expect(JSON.stringify(await ask(other.id, other.monitoring, '{__name__=~".+"}'))).toContain('other-secret-run');
  });

  it.skipIf(!hasPrometheus)('are parsed and served by Prometheus 2.42 scraping with exemplar storage', async () => {
    let prom: PrometheusPeer | undefined;
    try {
      prom = await startPrometheus([
        'global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: meterway',
        `    metrics_path: /v1/projects/${p.id}/metrics`, '    authorization:', `      credentials: ${JSON.stringify(p.monitoring)}`,
        '    static_configs:', `      - targets: ["127.0.0.1:${port}"]`, '',
      ].join('\n'), { args: ['--enable-feature=exemplar-storage'], readyTimeoutMs: 30_000 });
      const data = await poll('Prometheus to store the exemplars', async () => {
        const d = await prom!.api('/api/v1/query_exemplars', { query: 'meterway_run_execution_time_seconds_bucket', start: String(sentAt / 1000 - 60), end: String(Date.now() / 1000 + 60) });
        return d.length > 0 ? d : undefined;
      }, 30_000, 250);
      expect(data[0].seriesLabels).toMatchObject({ __name__: 'meterway_run_execution_time_seconds_bucket', le: '0.5', app_name: 'chat' });
      expect(data[0].exemplars).toEqual([{ labels: { run_id: 'run-0042' }, value: '0.3', timestamp: sentAt / 1000 }]);
    } finally {
      await prom?.stop();
    }
  }, 60_000);
});
