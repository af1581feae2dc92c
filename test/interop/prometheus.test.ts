/**
 * Interop: a real Prometheus 2.42 scrapes a project's endpoint with the project's monitoring token,
 * and PromQL on that Prometheus returns exactly what was posted.
 *
 * Prometheus 2.42 asks for OpenMetrics first, so the job pointed straight at the gateway reads
 * OpenMetrics. Its scrape config cannot choose the format (`scrape_protocols` came in 2.49), so a
 * second job goes through a small reverse proxy that replaces the Accept header with the one of a
 * text-only scraper; both jobs must yield the same numbers.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { hasPrometheus, poll, startPrometheus, type PrometheusPeer } from '../peers.js';

const WEIRD_MODEL = 'model "x" \\ v2\nnew line ünïcødé 日本語 🚀';
const TEXT_ACCEPT = 'text/plain;version=0.0.4;q=1,*/*;q=0.1';

/** Runs: 37, of which 5 errors; 30 take 300 ms (bucket 0.25..0.5 s) and 7 take 2 s (bucket 1..2.5 s). */
function runEvents(pid: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < 37; i++) {
    out.push({
      type: 'run', project_id: pid, app_name: 'chat', region: 'us-east-1',
      status: i % 7 === 3 && out.filter((e) => e.status === 'error').length < 5 ? 'error' : 'success',
      execution_time_ms: i < 30 ? 300 : 2_000,
      queue_time_ms: 15,
    });
  }
  return out;
}

interface InferenceSpec { model: string; tier: string; status: number; input: number; output: number }

/** Inference requests with known token counts and status codes. */
function inferenceSpecs(): InferenceSpec[] {
  const specs: InferenceSpec[] = [];
  for (let i = 0; i < 12; i++) {
    const status = i < 9 ? 200 : i < 11 ? 429 : 503;
    specs.push({ model: 'llama-3.1-8b', tier: 'on_demand', status, input: 1_000 + 17 * i, output: status === 200 ? 250 + i : 0 });
  }
  for (let i = 0; i < 3; i++) specs.push({ model: WEIRD_MODEL, tier: 'pt', status: 200, input: 123_456_789, output: 4_321 });
  return specs;
}

describe.skipIf(!hasPrometheus)('a real Prometheus scraping a project', () => {
  let gw: TestGateway;
  let prom: PrometheusPeer | undefined;
  let proxy: Server | undefined;
  let pid: string;
  const servedTypes: string[] = [];
  const specs = inferenceSpecs();
  const JOBS = ['meterway-om', 'meterway-text', 'meterway-app', 'meterway-self', 'meterway-operator', 'meterway-badtoken'] as const;

  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    const gwPort = (gw.app.server.address() as AddressInfo).port;
    const p = await gw.project('prometheus interop');
    pid = p.id;

    const events = [
      ...runEvents(pid),
      ...specs.map((s) => ({
        type: 'inference', project_id: pid, model_name: s.model, service_tier: s.tier, status_code: s.status,
        input_tokens: s.input, output_tokens: s.output, duration_ms: 800,
      })),
    ];
    const res = await fetch(`http://127.0.0.1:${gwPort}/v1/events`, {
      method: 'POST', headers: { authorization: `Bearer ${p.ingest}`, 'content-type': 'application/x-ndjson' },
      body: events.map((e) => JSON.stringify(e)).join('\n'),
    });
    expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });

    // The text-format path: a reverse proxy that asks the gateway for text only.
    proxy = createServer((req, res) => {
      const up = httpRequest({
        host: '127.0.0.1', port: gwPort, method: req.method, path: req.url,
        headers: { ...req.headers, host: `127.0.0.1:${gwPort}`, accept: TEXT_ACCEPT },
      }, (gres) => {
        servedTypes.push(String(gres.headers['content-type']));
        res.writeHead(gres.statusCode ?? 502, gres.headers);
        gres.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as AddressInfo).port;

    const job = (name: string, target: number, path: string, token?: string, extra: string[] = []) => [
      `  - job_name: ${name}`,
      `    metrics_path: ${JSON.stringify(path)}`,
      ...extra,
      ...(token === undefined ? [] : ['    authorization:', `      credentials: ${JSON.stringify(token)}`]),
      '    static_configs:',
      `      - targets: ["127.0.0.1:${target}"]`,
    ].join('\n');
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      job('meterway-om', gwPort, `/v1/projects/${pid}/metrics`, p.monitoring),
      job('meterway-text', proxyPort, `/v1/projects/${pid}/metrics`, p.monitoring),
      job('meterway-app', gwPort, `/v1/projects/${pid}/apps/chat/metrics`, p.monitoring),
      job('meterway-self', gwPort, '/metrics'),
      job('meterway-operator', gwPort, '/metrics', ADMIN_TOKEN, ['    params:', '      projects: ["all"]']),
      job('meterway-badtoken', gwPort, `/v1/projects/${pid}/metrics`, 'mw_mon_not-a-real-token-0123456789abcdef'),
      '',
    ].join('\n');
    prom = await startPrometheus(config, { readyTimeoutMs: 30_000 });

    // Bounded wait until every job has been scraped at least once and the counters are in.
    await poll('Prometheus to scrape every job', async () => {
      const up = await prom!.query('up');
      if (up.length < JOBS.length) return undefined;
      const runs = await prom!.query('meterway_runs_total');
      return runs.length >= 4 ? true : undefined;
    }, 30_000, 250);
  }, 90_000);

  afterAll(async () => {
    if (prom !== undefined) {
      if (prom.proc.stderr.length > 0) console.log(`prometheus stderr:\n${prom.proc.stderr}`);
      await prom.stop();
    }
    // close() alone waits for every open connection, and a keep-alive one left by a scrape cut
    // short by Prometheus' stop would hold it past the hook's timeout.
    proxy?.closeAllConnections();
    await new Promise((r) => (proxy === undefined ? r(undefined) : proxy.close(r)));
    await gw?.close();
  });

  const byJob = async (expr: string): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const s of await prom!.query(expr)) out[s.metric.job ?? ''] = s.value;
    return out;
  };

  it('sees the project targets up, and the target with a wrong token down with 401', async () => {
    expect(await byJob('up')).toEqual({
      'meterway-om': 1, 'meterway-text': 1, 'meterway-app': 1, 'meterway-self': 1, 'meterway-operator': 1, 'meterway-badtoken': 0,
    });
    const targets = await prom!.api('/api/v1/targets', { state: 'active' });
    const bad = targets.activeTargets.find((t: any) => t.labels.job === 'meterway-badtoken');
    expect(bad.health).toBe('down');
    expect(bad.lastError).toMatch(/401/);
    for (const t of targets.activeTargets.filter((x: any) => x.labels.job !== 'meterway-badtoken')) {
      expect({ job: t.labels.job, health: t.health, lastError: t.lastError }).toEqual({ job: t.labels.job, health: 'up', lastError: '' });
    }
  });

  it('scraped OpenMetrics on the direct job and the text format through the proxy', async () => {
    expect(servedTypes.length).toBeGreaterThan(0);
    for (const t of servedTypes) expect(t).toMatch(/^text\/plain; version=0\.0\.4/);
    // UNIT metadata exists only in OpenMetrics, so the direct job's unit shows which parser ran.
    const meta = await prom!.api('/api/v1/targets/metadata', { metric: 'meterway_run_execution_time_seconds' });
    const unitOf = (job: string) => meta.find((m: any) => m.target.job === job);
    expect(unitOf('meterway-om')).toMatchObject({ type: 'histogram', unit: 'seconds' });
    expect(unitOf('meterway-text')).toMatchObject({ type: 'histogram', unit: '' });
  });

  it('returns the exact run counts posted, in both formats and on the per-app endpoint', async () => {
    const all = { 'meterway-om': 37, 'meterway-text': 37, 'meterway-app': 37, 'meterway-operator': 37 };
    const each = (n: number) => Object.fromEntries(Object.keys(all).map((job) => [job, n]));
    expect(await byJob('sum by (job) (meterway_runs_total)')).toEqual(all);
    expect(await byJob('sum by (job) (meterway_run_errors_total)')).toEqual(each(5));
    expect(await byJob('sum by (job) (meterway_run_successes_total)')).toEqual(each(32));
    expect(await byJob('sum by (job) (meterway_run_execution_time_seconds_count)')).toEqual(all);
    const sums = await byJob('sum by (job) (meterway_run_execution_time_seconds_sum)');
    for (const job of Object.keys(all)) expect(sums[job]).toBeCloseTo(30 * 0.3 + 7 * 2, 9);
    const runs = await prom!.query(`meterway_runs_total{job="meterway-om"}`);
    expect(runs).toHaveLength(1);
    expect(runs[0].metric).toEqual({
      __name__: 'meterway_runs_total', job: 'meterway-om', instance: expect.any(String),
      project_id: pid, app_id: `${pid}-chat`, app_name: 'chat', region: 'us-east-1',
    });
  });

  it('returns the exact inference and token counts posted', async () => {
    const sum = (f: (s: InferenceSpec) => boolean, v: (s: InferenceSpec) => number) => specs.filter(f).reduce((a, s) => a + v(s), 0);
    for (const job of ['meterway-om', 'meterway-text']) {
      const reqs = await prom!.query(`sum by (model_name, service_tier, code_class) (meterway_inference_requests_total{job="${job}"})`);
      const got = Object.fromEntries(reqs.map((s) => [`${s.metric.model_name}|${s.metric.service_tier}|${s.metric.code_class}`, s.value]));
      expect(got).toEqual({
        'llama-3.1-8b|on_demand|2xx': 9,
        'llama-3.1-8b|on_demand|4xx': 2,
        'llama-3.1-8b|on_demand|5xx': 1,
        [`${WEIRD_MODEL}|pt|2xx`]: 3,
      });
      const input = await prom!.query(`sum by (model_name) (meterway_inference_input_tokens_total{job="${job}"})`);
      const output = await prom!.query(`sum by (model_name) (meterway_inference_output_tokens_total{job="${job}"})`);
      const byModel = (v: Array<{ metric: Record<string, string>; value: number }>) => Object.fromEntries(v.map((s) => [s.metric.model_name, s.value]));
      expect(byModel(input)).toEqual({
        'llama-3.1-8b': sum((s) => s.model === 'llama-3.1-8b', (s) => s.input),
        [WEIRD_MODEL]: 3 * 123_456_789,
      });
      expect(byModel(output)).toEqual({
        'llama-3.1-8b': sum((s) => s.model === 'llama-3.1-8b', (s) => s.output),
        [WEIRD_MODEL]: 3 * 4_321,
      });
    }
  });

  it('keeps a label value with quotes, backslashes, a newline and non-ASCII text intact', async () => {
    for (const job of ['meterway-om', 'meterway-text']) {
      const values: string[] = await prom!.api('/api/v1/label/model_name/values', { 'match[]': `{job="${job}"}` });
      expect(values.sort()).toEqual(['llama-3.1-8b', WEIRD_MODEL].sort());
      // and PromQL can select it by the exact value
      const sel = await prom!.query(`meterway_inference_requests_total{job="${job}",model_name=${JSON.stringify(WEIRD_MODEL)}}`);
      expect(sel.map((s) => s.value)).toEqual([3]);
    }
  });

  it('puts histogram_quantile inside the right bucket', async () => {
    for (const job of ['meterway-om', 'meterway-text', 'meterway-app']) {
      const median = await prom!.query(`histogram_quantile(0.5, sum by (le) (meterway_run_execution_time_seconds_bucket{job="${job}"}))`);
      expect(median).toHaveLength(1);
      // 30 of 37 observations lie in (0.25, 0.5]: rank 18.5 interpolates to 0.25 + 0.25 * 18.5 / 30.
      expect(median[0].value).toBeGreaterThan(0.25);
      expect(median[0].value).toBeLessThanOrEqual(0.5);
      expect(median[0].value).toBeCloseTo(0.25 + (0.25 * 18.5) / 30, 9);
      // the 0.9 quantile (rank 33.3) is in (1, 2.5], where the 7 slow runs are
      const p90 = await prom!.query(`histogram_quantile(0.9, sum by (le) (meterway_run_execution_time_seconds_bucket{job="${job}"}))`);
      expect(p90[0].value).toBeGreaterThan(1);
      expect(p90[0].value).toBeLessThanOrEqual(2.5);
      expect(p90[0].value).toBeCloseTo(1 + (1.5 * (0.9 * 37 - 30)) / 7, 9);
    }
  });

  it("scrapes the gateway's own /metrics without a token, and the operator view with the admin token", async () => {
    const accepted = await byJob('sum by (job) (meterway_events_accepted_total)');
    expect(accepted).toEqual({ 'meterway-self': 37 + specs.length, 'meterway-operator': 37 + specs.length });
    const tokens = await byJob('sum by (job) (meterway_inference_input_tokens_total)');
    expect(tokens['meterway-operator']).toBe(tokens['meterway-om']);
    expect(tokens['meterway-self']).toBeUndefined();
  });
});
