import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';

let gw: TestGateway;
let p: Awaited<ReturnType<TestGateway['project']>>;
beforeAll(async () => {
  gw = await startTestGateway({ file: { ingest: { max_body_bytes: 64 * 1024 } } });
  p = await gw.project();
});
afterAll(async () => gw.close());

const post = (payload: string | Buffer | object, headers: Record<string, string> = {}, token = p.ingest) =>
  gw.app.inject({
    method: 'POST', url: '/v1/events', payload: payload as any,
    headers: { authorization: `Bearer ${token}`, 'content-type': typeof payload === 'object' && !Buffer.isBuffer(payload) ? 'application/json' : 'application/x-ndjson', ...headers },
  });

const scrape = async (projectId = p.id, token = p.monitoring) =>
  (await gw.app.inject({ method: 'GET', url: `/v1/projects/${projectId}/metrics`, headers: gw.auth(token) })).body;

/** The value of one exposed sample line, or undefined when absent. */
function sample(text: string, nameAndLabels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
}

const run = (app: string, extra: Record<string, unknown> = {}) => ({ type: 'run', project_id: p.id, app_name: app, status: 'success', ...extra });
const labels = (app: string) => `project_id="${p.id}",app_id="${p.id}-${app}",app_name="${app}"`;

describe('POST /v1/events', () => {
  it('takes one object, an array, and NDJSON', async () => {
    expect((await post(run('one'))).json()).toEqual({ accepted: 1, rejected: [] });
    expect((await post([run('arr'), run('arr', { status: 'error' })])).json()).toEqual({ accepted: 2, rejected: [] });
    const nd = `${JSON.stringify(run('nd'))}\n\n${JSON.stringify(run('nd'))}\n`;
    expect((await post(nd)).json()).toEqual({ accepted: 2, rejected: [] });
    const text = await scrape();
    expect(sample(text, `meterway_runs_total{${labels('one')}}`)).toBe(1);
    expect(sample(text, `meterway_runs_total{${labels('arr')}}`)).toBe(2);
    expect(sample(text, `meterway_run_errors_total{${labels('arr')}}`)).toBe(1);
    expect(sample(text, `meterway_run_successes_total{${labels('arr')}}`)).toBe(1);
    expect(sample(text, `meterway_runs_total{${labels('nd')}}`)).toBe(2);
  });

  it('turns milliseconds into seconds in histograms', async () => {
    await post(run('hist', { region: 'eu', execution_time_ms: 300, queue_time_ms: 4, coldstart_time_ms: 15_000, response_time_ms: 15_304 }));
    const text = await scrape();
    const l = `${labels('hist')},region="eu"`;
    expect(sample(text, `meterway_run_execution_time_seconds_sum{${l}}`)).toBe(0.3);
    expect(sample(text, `meterway_run_execution_time_seconds_bucket{${l},le="0.25"}`)).toBe(0);
    expect(sample(text, `meterway_run_execution_time_seconds_bucket{${l},le="0.5"}`)).toBe(1);
    expect(sample(text, `meterway_run_execution_time_seconds_bucket{${l},le="+Inf"}`)).toBe(1);
    expect(sample(text, `meterway_run_execution_time_seconds_count{${l}}`)).toBe(1);
    expect(sample(text, `meterway_run_queue_time_seconds_bucket{${l},le="0.005"}`)).toBe(1);
    expect(sample(text, `meterway_run_coldstart_time_seconds_bucket{${l},le="10"}`)).toBe(0);
    expect(sample(text, `meterway_run_coldstart_time_seconds_bucket{${l},le="20"}`)).toBe(1);
    expect(sample(text, `meterway_run_response_time_seconds_sum{${l}}`)).toBe(15.304);
  });

  it('aggregates inference events by model, tier and status class', async () => {
    const inf = (extra: Record<string, unknown>) => ({ type: 'inference', project_id: p.id, model_name: 'llama', input_tokens: 10, output_tokens: 20, ...extra });
    const res = await post([inf({}), inf({ status_code: 429 }), inf({ status_code: 503, service_tier: 'pt', app_name: 'api', region: 'us' }), inf({ ttft_ms: 150, tpot_ms: 20, duration_ms: 550 })]);
    expect(res.json()).toEqual({ accepted: 4, rejected: [] });
    const text = await scrape();
    const base = `project_id="${p.id}",model_name="llama",service_tier="on_demand"`;
    expect(sample(text, `meterway_inference_requests_total{${base},code_class="2xx"}`)).toBe(2);
    expect(sample(text, `meterway_inference_requests_total{${base},code_class="4xx"}`)).toBe(1);
    expect(sample(text, `meterway_inference_requests_total{project_id="${p.id}",app_id="${p.id}-api",app_name="api",region="us",model_name="llama",service_tier="pt",code_class="5xx"}`)).toBe(1);
    expect(sample(text, `meterway_inference_input_tokens_total{${base}}`)).toBe(30);
    expect(sample(text, `meterway_inference_output_tokens_total{${base}}`)).toBe(60);
    expect(sample(text, `meterway_inference_time_to_first_token_seconds_sum{${base}}`)).toBe(0.15);
    expect(sample(text, `meterway_inference_time_per_output_token_seconds_bucket{${base},le="0.02"}`)).toBe(1);
    expect(sample(text, `meterway_inference_request_duration_seconds_count{${base}}`)).toBe(1);
    // No empty labels: an absent optional field gives no label at all.
    expect(text).not.toMatch(/=""/);
  });

  it('keeps the latest gauge value by event time, per GPU where given', async () => {
    const res = (extra: Record<string, unknown>) => ({ type: 'resource', project_id: p.id, app_name: 'gpuapp', ...extra });
    await post([
      res({ timestamp: '2026-01-01T00:00:10Z', cpu_cores: 2, memory_bytes: 1024, containers_running: 3, containers_ready: 2 }),
      res({ timestamp: '2026-01-01T00:00:05Z', cpu_cores: 9 }),
      res({ gpu: 0, gpu_memory_bytes: 5e9, gpu_compute_utilization_percent: 87.5 }),
      res({ gpu: '1', gpu_memory_bytes: 6e9 }),
    ]);
    const text = await scrape();
    const l = labels('gpuapp');
    expect(sample(text, `meterway_cpu_utilization_cores{${l}}`)).toBe(2);
    expect(sample(text, `meterway_memory_usage_bytes{${l}}`)).toBe(1024);
    expect(sample(text, `meterway_containers_running{${l}}`)).toBe(3);
    expect(sample(text, `meterway_containers_ready{${l}}`)).toBe(2);
    expect(sample(text, `meterway_gpu_memory_usage_bytes{${l},gpu="0"}`)).toBe(5e9);
    expect(sample(text, `meterway_gpu_memory_usage_bytes{${l},gpu="1"}`)).toBe(6e9);
    expect(sample(text, `meterway_gpu_compute_utilization_percent{${l},gpu="0"}`)).toBe(87.5);
  });

  it('rejects each bad event by index and field, and keeps the valid ones', async () => {
    const events = [
      run('mixed'), // 0 ok
      { type: 'run', project_id: p.id, status: 'success' }, // 1 missing app_name
      run('mixed', { queue_time_ms: -5 }), // 2 negative
      run('mixed', { execution_time_ms: '12' }), // 3 wrong type
      { type: 'telemetry', project_id: p.id }, // 4 unknown type
      run('mixed', { project_id: 'p-nothere1' }), // 5 unknown project
      run('mixed', { status: 'ok' }), // 6 bad enum
      run('mixed', { timestamp: 'yesterday' }), // 7 bad timestamp
      'just a string', // 8 not an object
      { type: 'inference', project_id: p.id, model_name: 'm', input_tokens: 1.5, output_tokens: 1 }, // 9 fractional tokens
      { type: 'inference', project_id: p.id, model_name: 'm', input_tokens: 1, output_tokens: 1, status_code: 99 }, // 10 bad status
      { type: 'resource', project_id: p.id, app_name: 'r', gpu_compute_utilization_percent: 140 }, // 11 out of range
      run('mixed', { app_name: '' }), // 12 empty label
      run('mixed', { region: 'eu\ud800' }), // 13 lone surrogate
      run('mixed'), // 14 ok
    ];
    const res = await post(events);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accepted: 2,
      rejected: [
        { index: 1, error: 'app_name: is required' },
        { index: 2, error: 'queue_time_ms: must be a finite, non-negative number (milliseconds), got -5' },
        { index: 3, error: 'execution_time_ms: must be a number (milliseconds), got "12"' },
        { index: 4, error: 'type: unknown event type "telemetry"; use one of run, inference, resource, device, instance, job' },
        { index: 5, error: 'project_id: unknown project "p-nothere1" for this token' },
        { index: 6, error: 'status: must be "success" or "error", got "ok"' },
        { index: 7, error: 'timestamp: must be RFC 3339 (like "2026-01-02T15:04:05Z") or epoch milliseconds, got "yesterday"' },
        { index: 8, error: 'event: must be a JSON object with a "type" field' },
        { index: 9, error: 'input_tokens: must be a whole number, got 1.5' },
        { index: 10, error: 'status_code: must be an HTTP status code, a whole number from 100 to 599, got 99' },
        { index: 11, error: 'gpu_compute_utilization_percent: must be between 0 and 100 (percent), got 140' },
        { index: 12, error: 'app_name: must not be empty; leave the field out instead' },
        { index: 13, error: 'region: must be valid Unicode text; it contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)' },
      ],
    });
    expect(sample(await scrape(), `meterway_runs_total{${labels('mixed')}}`)).toBe(2);
  });

  it('rejects NaN and infinite times written in NDJSON', async () => {
    // JSON has no NaN or Infinity literals; huge exponents parse to Infinity.
    const body = [JSON.stringify(run('inf')), '{"type":"run","project_id":"' + p.id + '","app_name":"inf","status":"success","queue_time_ms":1e999}', '{"type":"run","queue_time_ms":NaN}'].join('\n');
    const res = await post(body);
    expect(res.json()).toEqual({
      accepted: 1,
      rejected: [
        { index: 1, error: 'queue_time_ms: must be a finite, non-negative number (milliseconds), got Infinity' },
        { index: 2, error: expect.stringMatching(/^line 3: not valid JSON \(.+\); each line must be one JSON object$/) },
      ],
    });
  });

  it('reports a malformed NDJSON line and keeps the others', async () => {
    const body = `${JSON.stringify(run('ndbad'))}\n{"type": "run", oops}\n\n${JSON.stringify(run('ndbad'))}`;
    const res = await post(body);
    expect(res.statusCode).toBe(200);
    expect(res.json().accepted).toBe(2);
    expect(res.json().rejected).toEqual([{ index: 1, error: expect.stringMatching(/^line 2: not valid JSON/) }]);
  });

  it('answers 400 with the same shape when nothing was accepted', async () => {
    const res = await post([{ type: 'run', status: 'success' }]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ accepted: 0, rejected: [{ index: 0, error: 'app_name: is required' }] });
    const wide = await gw.app.inject({ method: 'POST', url: '/v1/tokens', headers: gw.auth(ADMIN_TOKEN), payload: { scope: 'ingest', name: 'w' } });
    const noProject = await post([{ type: 'run', app_name: 'x', status: 'success' }], {}, wide.json().token);
    expect(noProject.statusCode).toBe(400);
    expect(noProject.json()).toEqual({ accepted: 0, rejected: [{ index: 0, error: 'project_id: is required' }] });
  });

  it('answers 400 with the error envelope for a body that is not JSON at all', async () => {
    const res = await post('this is not json', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_body');
    const scalar = await post('42', { 'content-type': 'application/json' });
    expect(scalar.statusCode).toBe(400);
    expect(scalar.json().error.code).toBe('invalid_body');
  });

  it('takes gzip and refuses bad gzip', async () => {
    const gz = gzipSync(JSON.stringify([run('gz'), run('gz')]));
    const ok = await post(gz, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(ok.json()).toEqual({ accepted: 2, rejected: [] });
    const bad = await post(Buffer.from('not gzip at all'), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_gzip');
    const br = await post(Buffer.from('{}'), { 'content-type': 'application/json', 'content-encoding': 'br' });
    expect(br.statusCode).toBe(415);
    expect(br.json().error.code).toBe('unsupported_content_encoding');
  });

  it('answers 413 for an oversized body, compressed or not', async () => {
    const big = JSON.stringify(Array.from({ length: 2000 }, () => run('big')));
    expect(big.length).toBeGreaterThan(64 * 1024);
    const res = await post(big, { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
    const bomb = await post(gzipSync(big), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(bomb.statusCode).toBe(413);
    expect(bomb.json().error.message).toContain('after decompression');
  });

  it('answers 415 for an unsupported content type', async () => {
    const res = await post('a,b,c', { 'content-type': 'text/csv' });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
    expect(res.json().error.message).toContain('application/x-ndjson');
  });

  it('escapes label values with quotes, backslashes, newlines and non-ASCII text', async () => {
    const app = 'we"ird\\app\nname ✓ 日本';
    expect((await post(run(app))).json()).toEqual({ accepted: 1, rejected: [] });
    const text = await scrape();
    expect(text).toContain(`app_name="we\\"ird\\\\app\\nname ✓ 日本"`);
    const perApp = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/apps/${encodeURIComponent(app)}/metrics`, headers: gw.auth(p.monitoring) });
    expect(perApp.statusCode).toBe(200);
    expect(perApp.body).toContain('meterway_runs_total{');
  });

  it('binds a project ingest token to its project, and lets a server-wide one post anywhere', async () => {
    const other = await gw.project('other');
    const res = await post([run('bound'), run('bound', { project_id: other.id })]);
    expect(res.json()).toEqual({ accepted: 1, rejected: [{ index: 1, error: `project_id: unknown project "${other.id}" for this token` }] });
    expect(await scrape(other.id, other.monitoring)).not.toContain('bound');
    // A project-bound token may leave project_id out.
    const implicit = await post({ type: 'run', app_name: 'implicit', status: 'success' });
    expect(implicit.json()).toEqual({ accepted: 1, rejected: [] });

    const wide = await gw.app.inject({ method: 'POST', url: '/v1/tokens', headers: gw.auth(ADMIN_TOKEN), payload: { scope: 'ingest', name: 'wide' } });
    const both = await post([run('wide'), run('wide', { project_id: other.id })], {}, wide.json().token);
    expect(both.json()).toEqual({ accepted: 2, rejected: [] });
  });

  it('reads its own writes: accepted events show on the next scrape', async () => {
    for (let i = 1; i <= 5; i++) {
      await post(run('ryw'));
      expect(sample(await scrape(), `meterway_runs_total{${labels('ryw')}}`)).toBe(i);
    }
  });
});

describe('series limit', () => {
  it('drops new series past the limit, says so, and keeps counting existing ones', async () => {
    const limited = await startTestGateway({ file: { metrics: { max_series_per_project: 3 } } });
    try {
      const q = await limited.project();
      const send = (app: string) =>
        limited.app.inject({ method: 'POST', url: '/v1/events', headers: limited.auth(q.ingest), payload: { type: 'run', project_id: q.id, app_name: app, status: 'success' } });
      // One successful run makes two series (runs_total, run_successes_total).
      expect((await send('a')).json()).toEqual({ accepted: 1, rejected: [] });
      const over = (await send('b')).json();
      expect(over.accepted).toBe(1);
      expect(over.series_limit).toEqual([
        { project_id: q.id, limit: 3, dropped_samples: 1, message: expect.stringContaining('raise metrics.max_series_per_project') },
      ]);
      expect((await send('a')).json()).toEqual({ accepted: 1, rejected: [] });
      const text = (await limited.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: limited.auth(q.monitoring) })).body;
      expect(sample(text, `meterway_runs_total{project_id="${q.id}",app_id="${q.id}-a",app_name="a"}`)).toBe(2);
      expect(sample(text, `meterway_runs_total{project_id="${q.id}",app_id="${q.id}-b",app_name="b"}`)).toBe(1);
      expect(text).not.toContain(`meterway_run_successes_total{project_id="${q.id}",app_id="${q.id}-b"`);
      const self = (await limited.app.inject({ method: 'GET', url: '/metrics', headers: limited.auth(ADMIN_TOKEN) })).body;
      expect(self).toContain(`meterway_project_series_limit_dropped_total{project_id="${q.id}"} 1\n`);
      expect(self).toContain(`meterway_project_series{project_id="${q.id}"} 3\n`);
    } finally {
      await limited.close();
    }
  });
});
