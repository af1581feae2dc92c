import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
let a: Awaited<ReturnType<TestGateway['project']>>;
let b: Awaited<ReturnType<TestGateway['project']>>;

beforeAll(async () => {
  gw = await startTestGateway();
  a = await gw.project('A');
  b = await gw.project('B');
  const events = (pid: string) => [
    { type: 'run', project_id: pid, app_name: 'chat', status: 'success', execution_time_ms: 20 },
    { type: 'run', project_id: pid, app_name: 'images', status: 'error' },
    { type: 'resource', project_id: pid, app_name: 'chat', cpu_cores: 1.5 },
  ];
  for (const [p, token] of [[a.id, a.ingest], [b.id, b.ingest]]) {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(token), payload: events(p) });
    expect(res.json().accepted).toBe(3);
  }
});
afterAll(async () => gw.close());

const get = (url: string, headers: Record<string, string> = {}) => gw.app.inject({ method: 'GET', url, headers });

describe('project scrape endpoint', () => {
  it('serves Prometheus text 0.0.4 with HELP and TYPE', async () => {
    const res = await get(`/v1/projects/${a.id}/metrics`, gw.auth(a.monitoring));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('# HELP meterway_runs_total Runs completed, successful or not.\n# TYPE meterway_runs_total counter\n');
    expect(res.body).toContain('# TYPE meterway_run_execution_time_seconds histogram\n');
    expect(res.body).toContain(`meterway_cpu_utilization_cores{project_id="${a.id}",app_id="${a.id}-chat",app_name="chat"} 1.5\n`);
    expect(res.body).not.toContain('# EOF');
    // Families without series are left out rather than shown empty.
    expect(res.body).not.toContain('meterway_inference_requests_total');
  });

  it('serves OpenMetrics 1.0 when Accept asks for it', async () => {
    const res = await get(`/v1/projects/${a.id}/metrics`, { ...gw.auth(a.monitoring), accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
    expect(res.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(res.body.endsWith('# EOF\n')).toBe(true);
    expect(res.body).toContain('# TYPE meterway_run_execution_time_seconds histogram\n# UNIT meterway_run_execution_time_seconds seconds\n');
  });

  it('compresses with gzip when asked', async () => {
    const res = await get(`/v1/projects/${a.id}/metrics`, { ...gw.auth(a.monitoring), 'accept-encoding': 'gzip, deflate' });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = gunzipSync(res.rawPayload).toString('utf8');
    expect(text).toContain('meterway_runs_total{');
  });

  it('shows only its own project', async () => {
    const res = await get(`/v1/projects/${a.id}/metrics`, gw.auth(a.monitoring));
    expect(res.body).toContain(a.id);
    expect(res.body).not.toContain(b.id);
  });

  it("answers 404 for another project's endpoint, whatever the token's scope", async () => {
    for (const token of [a.monitoring, a.manage, a.ingest]) {
      const res = await get(`/v1/projects/${b.id}/metrics`, gw.auth(token));
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('project_not_found');
      const perApp = await get(`/v1/projects/${b.id}/apps/chat/metrics`, gw.auth(token));
      expect(perApp.statusCode).toBe(404);
    }
    expect((await get('/v1/projects/p-nonexist/metrics', gw.auth(ADMIN_TOKEN))).statusCode).toBe(404);
  });

  it('lets manage and admin tokens read, not ingest ones', async () => {
    expect((await get(`/v1/projects/${a.id}/metrics`, gw.auth(a.manage))).statusCode).toBe(200);
    expect((await get(`/v1/projects/${a.id}/metrics`, gw.auth(ADMIN_TOKEN))).statusCode).toBe(200);
    const ingest = await get(`/v1/projects/${a.id}/metrics`, gw.auth(a.ingest));
    expect(ingest.statusCode).toBe(403);
    expect(ingest.json().error.code).toBe('insufficient_scope');
    expect((await get(`/v1/projects/${a.id}/metrics`)).statusCode).toBe(401);
  });
});

describe('per-app scrape endpoint', () => {
  it("shows only the app's series", async () => {
    const res = await get(`/v1/projects/${a.id}/apps/chat/metrics`, gw.auth(a.monitoring));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('app_name="chat"');
    expect(res.body).not.toContain('app_name="images"');
    expect(res.body).toContain('meterway_cpu_utilization_cores');
    const images = await get(`/v1/projects/${a.id}/apps/images/metrics`, gw.auth(a.monitoring));
    expect(images.body).toContain('meterway_run_errors_total');
    expect(images.body).not.toContain('meterway_cpu_utilization_cores');
  });

  it('answers 404 for an app that never reported', async () => {
    const res = await get(`/v1/projects/${a.id}/apps/never/metrics`, gw.auth(a.monitoring));
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toEqual({ code: 'not_found', message: 'app "never" has not reported any metrics in this project' });
  });
});

describe('GET /metrics', () => {
  it("shows the gateway's own metrics without project ids to anyone", async () => {
    const res = await get('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toMatch(/meterway_events_accepted_total\{type="run"\} \d+/);
    expect(res.body).toContain('process_resident_memory_bytes ');
    expect(res.body).toContain('meterway_scrape_duration_seconds_bucket{endpoint="project",le="0.001"}');
    expect(res.body).not.toContain(a.id);
  });

  it('adds per-project self-metrics and, with ?projects=all, every series for the admin', async () => {
    const withAdmin = await get('/metrics', gw.auth(ADMIN_TOKEN));
    expect(withAdmin.body).toContain(`meterway_project_series{project_id="${a.id}"}`);
    expect(withAdmin.body).not.toContain('meterway_runs_total{');
    const all = await get('/metrics?projects=all', gw.auth(ADMIN_TOKEN));
    expect(all.body).toContain(`meterway_runs_total{project_id="${a.id}"`);
    expect(all.body).toContain(`meterway_runs_total{project_id="${b.id}"`);
    expect(all.body.match(/# TYPE meterway_runs_total counter/g)).toHaveLength(1);
  });

  it('keeps the operator view to the admin', async () => {
    expect((await get('/metrics?projects=all')).statusCode).toBe(401);
    expect((await get('/metrics?projects=all', gw.auth(a.manage))).statusCode).toBe(403);
    expect((await get('/metrics', gw.auth(a.monitoring))).statusCode).toBe(403);
  });

  it('counts rejected events by reason', async () => {
    await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(a.ingest), payload: [{ type: 'nope', project_id: a.id }] });
    const res = await get('/metrics');
    expect(res.body).toMatch(/meterway_events_rejected_total\{reason="unknown_type"\} [1-9]/);
  });
});
