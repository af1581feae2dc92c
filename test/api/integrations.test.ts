import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { startOtlpReceiver, type LogsRequest, type Metric, type MetricsRequest, type OtlpReceiver, type ReceivedRequest } from '../otlp-receiver.js';
import type { Sleep } from '../../src/delivery/retry.js';
import { translateMetricName } from '../../src/sources/otlp/names.js';

const SECRET = 'Basic c2VjcmV0LXZhbHVlLTQ4MjkxNw==';
const delays: number[] = [];
const recordingSleep: Sleep = async (ms) => {
  delays.push(ms);
};
let logText = '';
const logStream = new Writable({ write(chunk, _enc, done) { logText += chunk.toString(); done(); } });

let gw: TestGateway;
let rx: OtlpReceiver;
let p: Awaited<ReturnType<TestGateway['project']>>;

beforeAll(async () => {
  gw = await startTestGateway({
    env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' },
    log: pino({ level: 'debug' }, logStream),
    delivery: {
      schedule: false,
      sleep: recordingSleep,
      logForwarding: { maxQueue: 50, batchSize: 10, flushMs: 20, breakerThreshold: 2, breakerCoolDownMs: 3_600_000 },
    },
  });
  rx = await startOtlpReceiver();
  p = await gw.project();
  await ingest([{ type: 'run', project_id: p.id, app_name: 'chat', region: 'eu', status: 'success', execution_time_ms: 300 }]);
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});
afterEach(() => {
  rx.clear();
  rx.setDefault({});
  delays.length = 0;
});

const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, payload?: unknown, token = p.manage) =>
  gw.app.inject({ method, url, headers: gw.auth(token), payload: payload as any });

async function ingest(events: object[]): Promise<void> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(ADMIN_TOKEN), payload: events });
  expect(res.json().rejected).toEqual([]);
}

async function create(config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const res = await api('POST', `/v1/projects/${p.id}/integrations`, { name: 'rx', endpoint: rx.url, auth_headers: { Authorization: SECRET, 'X-Scope': 'tenant-1' }, config, ...extra });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; status: { state: string; consecutive_failures: number; last_error: string | null; last_success_at: string | null } };
}

const metricsOf = (r: ReceivedRequest): Metric[] => (r.body as MetricsRequest).resourceMetrics![0].scopeMetrics![0].metrics!;
const metric = (r: ReceivedRequest, name: string) => metricsOf(r).find((m) => m.name === name)!;
const attrs = (kvs: Array<{ key: string; value: { stringValue?: string } }> = []) => Object.fromEntries(kvs.map((kv) => [kv.key, kv.value.stringValue]));

describe('integrations API', () => {
  it('creates, reads, lists, updates and deletes, and never returns a header value', async () => {
    const created = await create({ interval_s: 30 });
    expect(created).toMatchObject({
      project_id: p.id, name: 'rx', kind: 'otlp', endpoint: rx.url, auth_header_names: ['Authorization', 'X-Scope'], enabled: true,
      config: { interval_s: 30, protocol: 'http/protobuf', temporality: 'cumulative', timeout_s: 10, gzip: true, logs: false },
      status: { state: 'active', last_success_at: null, last_attempt_at: null, last_error: null, consecutive_failures: 0, paused_reason: null },
    });
    expect(created.id).toMatch(/^i-[a-z0-9]{12}$/);
    const read = await api('GET', `/v1/projects/${p.id}/integrations/${created.id}`);
    expect(read.json()).toEqual(created);
    const list = await api('GET', `/v1/projects/${p.id}/integrations`);
    expect(list.json().items.map((i: { id: string }) => i.id)).toContain(created.id);
    const patched = await api('PATCH', `/v1/projects/${p.id}/integrations/${created.id}`, { name: 'renamed', config: { protocol: 'http/json' } });
    expect(patched.json()).toMatchObject({ name: 'renamed', config: { interval_s: 30, protocol: 'http/json' }, auth_header_names: ['Authorization', 'X-Scope'] });
    for (const body of [created, read.json(), list.json(), patched.json()]) expect(JSON.stringify(body)).not.toContain('c2VjcmV0');
    expect((await api('DELETE', `/v1/projects/${p.id}/integrations/${created.id}`)).statusCode).toBe(204);
    expect((await api('GET', `/v1/projects/${p.id}/integrations/${created.id}`)).statusCode).toBe(404);
  });

  it('names the bad field', async () => {
    const bad = async (body: object, message: string | RegExp) => {
      const res = await api('POST', `/v1/projects/${p.id}/integrations`, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(message);
    };
    await bad({ endpoint: 'ftp://x' }, 'endpoint: must use http:// or https://, got ftp:');
    await bad({ endpoint: 'not a url' }, /^endpoint: must be an absolute http/);
    await bad({ endpoint: 'https://user:pw@example.com' }, /^endpoint: must not carry credentials/);
    await bad({ endpoint: rx.url, config: { interval_s: 0 } }, /^config\.interval_s: expected integer to be greater or equal to 1/);
    await bad({ endpoint: rx.url, config: { temporality: 'weekly' } }, /^config\.temporality: .*: one of cumulative, delta/);
    await bad({ endpoint: rx.url, kind: 'carrier-pigeon' }, /^kind: must be one of otlp/);
    await bad({ endpoint: rx.url, auth_headers: { 'Bad Header': 'x' } }, /^auth_headers: "Bad Header" is not a valid header name/);
    await bad({ endpoint: rx.url, auth_headers: { 'X-Key': 'line\nbreak' } }, /^auth_headers\.X-Key: the value must be one line/);
    await bad({ preset: 'datadog' }, 'preset_options: the datadog preset needs api_key');
  });

  it('keeps integrations inside their project and away from monitoring tokens', async () => {
    const created = await create();
    const other = await gw.project('other');
    expect((await api('GET', `/v1/projects/${p.id}/integrations/${created.id}`, undefined, other.manage)).statusCode).toBe(404);
    expect((await api('GET', `/v1/projects/${other.id}/integrations/${created.id}`, undefined, other.manage)).statusCode).toBe(404);
    expect((await api('GET', `/v1/projects/${p.id}/integrations`, undefined, p.monitoring)).statusCode).toBe(403);
    expect((await api('POST', `/v1/projects/${p.id}/integrations`, { endpoint: rx.url }, p.ingest)).statusCode).toBe(403);
  });

  it('fills endpoint, headers and temporality from a preset', async () => {
    const res = await api('POST', `/v1/projects/${p.id}/integrations`, { preset: 'datadog', preset_options: { api_key: 'dd-secret-key-123', site: 'datadoghq.eu' }, enabled: false });
    // datadoghq.eu resolves nowhere here, but private egress is allowed in this gateway
    expect(res.statusCode === 201 || res.json().error.code === 'egress_forbidden').toBe(true);
    if (res.statusCode === 201) {
      expect(res.json()).toMatchObject({ endpoint: 'https://otlp.datadoghq.eu', auth_header_names: ['dd-api-key'], config: { temporality: 'delta' } });
      expect(res.body).not.toContain('dd-secret-key-123');
    }
    const grafana = await api('POST', `/v1/projects/${p.id}/integrations`, { preset: 'grafana-cloud', endpoint: rx.url, preset_options: { instance_id: '123456', api_token: 'glc_tok' } });
    expect(grafana.json().auth_header_names).toEqual(['Authorization']);
    rx.clear();
    await gw.exporter.pushNow(grafana.json().id);
    const [req] = await rx.waitForRequests(1);
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('123456:glc_tok').toString('base64')}`);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${grafana.json().id}`);
  });
});

describe('pushing metrics', () => {
  it('delivers OTLP protobuf with the auth headers, gzip, names, units and labels', async () => {
    const i = await create();
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 1 });
    const [req] = await rx.waitForRequests(1);
    expect(req.path).toBe('/v1/metrics');
    expect(req.headers.authorization).toBe(SECRET);
    expect(req.headers['x-scope']).toBe('tenant-1');
    expect(req.contentType).toBe('application/x-protobuf');
    expect(req.gzip).toBe(true);
    const rm = (req.body as MetricsRequest).resourceMetrics![0];
    expect(attrs(rm.resource!.attributes as any)).toEqual({ 'service.name': 'meterway' });
    const runs = metric(req, 'meterway_runs_total');
    expect(runs.unit).toBe('{run}');
    expect(runs.sum!.isMonotonic).toBe(true);
    expect(runs.sum!.aggregationTemporality).toBe(2);
    expect(runs.sum!.dataPoints![0].asDouble).toBe(1);
    expect(attrs(runs.sum!.dataPoints![0].attributes as any)).toEqual({ project_id: p.id, app_id: `${p.id}-chat`, app_name: 'chat', region: 'eu' });
    const exec = metric(req, 'meterway_run_execution_time_seconds');
    expect(exec.unit).toBe('s');
    expect(exec.histogram!.dataPoints![0]).toMatchObject({ count: '1', sum: 0.3 });
    const status = (await api('GET', `/v1/projects/${p.id}/integrations/${i.id}`)).json().status;
    expect(status).toMatchObject({ state: 'active', consecutive_failures: 0, last_error: null });
    expect(status.last_success_at).toEqual(status.last_attempt_at);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('sends OTLP/JSON uncompressed when asked', async () => {
    const i = await create({ protocol: 'http/json', gzip: false });
    await gw.exporter.pushNow(i.id);
    const [req] = await rx.waitForRequests(1);
    expect(req.contentType).toBe('application/json');
    expect(req.gzip).toBe(false);
    expect(JSON.parse(req.bytes.toString()).resourceMetrics[0].scopeMetrics[0].metrics.length).toBeGreaterThan(0);
    expect(metric(req, 'meterway_runs_total').sum!.dataPoints![0].asDouble).toBe(1);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('retries 503 twice and delivers on the third attempt, resending the same request', async () => {
    const i = await create();
    rx.reply({ status: 503 }, { status: 503 });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 3 });
    const reqs = await rx.waitForRequests(3);
    expect(reqs[1].bytes.equals(reqs[0].bytes)).toBe(true);
    expect(reqs[2].bytes.equals(reqs[0].bytes)).toBe(true);
    expect(delays).toHaveLength(2);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('honours Retry-After', async () => {
    const i = await create();
    rx.reply({ status: 429, headers: { 'retry-after': '3' } });
    expect((await gw.exporter.pushNow(i.id)).attempts).toBe(2);
    expect(delays).toEqual([3000]);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('does not retry 400 or 401, and says what to check', async () => {
    const i = await create();
    rx.reply({ status: 400, body: 'bad data' });
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 1 });
    rx.reply({ status: 401 });
    const second = await gw.exporter.pushNow(i.id);
    expect(second.attempts).toBe(1);
    expect(second.error).toContain('check the auth headers');
    expect(rx.requests).toHaveLength(2);
    const status = (await api('GET', `/v1/projects/${p.id}/integrations/${i.id}`)).json().status;
    expect(status).toMatchObject({ state: 'active', consecutive_failures: 2 });
    expect(status.last_error).toMatch(/^HTTP 401 from http:\/\/127\.0\.0\.1:\d+\/v1\/metrics/);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('pauses after 10 failed pushes, sends nothing more, and resumes when enabled', async () => {
    const i = await create();
    rx.setDefault({ status: 500 });
    for (let n = 1; n <= 10; n++) expect((await gw.exporter.pushNow(i.id)).attempts).toBe(4);
    expect(rx.requests).toHaveLength(40);
    const paused = (await api('GET', `/v1/projects/${p.id}/integrations/${i.id}`)).json();
    expect(paused.status).toMatchObject({ state: 'paused', consecutive_failures: 10 });
    expect(paused.status.paused_reason).toMatch(/^paused after 10 consecutive failed pushes; last error: HTTP 500/);
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 0 });
    expect(rx.requests).toHaveLength(40);

    rx.setDefault({});
    const enabled = await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/enable`);
    expect(enabled.json().status).toMatchObject({ state: 'active', consecutive_failures: 0, paused_reason: null });
    expect((await gw.exporter.pushNow(i.id)).pushed).toBe(true);
    expect(rx.requests).toHaveLength(41);
    const disabled = await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/disable`);
    expect(disabled.json()).toMatchObject({ enabled: false, status: { state: 'disabled' } });
    expect((await gw.exporter.pushNow(i.id)).pushed).toBe(false);
    expect(rx.requests).toHaveLength(41);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('gives up on a destination that does not answer in time', async () => {
    const i = await create({ timeout_s: 1 });
    rx.reply({ hang: true }, { hang: true }, { hang: true }, { hang: true });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: false, attempts: 4 });
    expect(report.error).toMatch(/within 1000 ms \(timeout\)$/);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('records a refused connection', async () => {
    const closed = await startOtlpReceiver();
    const url = closed.url;
    await closed.close();
    const res = await api('POST', `/v1/projects/${p.id}/integrations`, { endpoint: url });
    const report = await gw.exporter.pushNow(res.json().id);
    expect(report.error).toMatch(/refused: nothing is listening there$/);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${res.json().id}`);
  });

  it('records a partial success in the status without retrying', async () => {
    const i = await create();
    rx.reply({ partialSuccess: { rejected: 2, message: 'two points too old' } });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 1 });
    expect(rx.requests).toHaveLength(1);
    const status = (await api('GET', `/v1/projects/${p.id}/integrations/${i.id}`)).json().status;
    expect(status.last_error).toMatch(/^partial success: the destination rejected 2 of \d+ data points: two points too old$/);
    expect(status.consecutive_failures).toBe(0);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
  });

  it('sends deltas over several intervals, rolling failed pushes into the next, and cumulative values otherwise', async () => {
    const q = await gw.project('delta');
    const post = (n: number) => gw.app.inject({
      method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest),
      payload: Array.from({ length: n }, () => ({ type: 'inference', model_name: 'm', input_tokens: 10, output_tokens: 1, ttft_ms: 100 })),
    });
    const mk = async (temporality: string) =>
      (await api('POST', `/v1/projects/${q.id}/integrations`, { endpoint: rx.url, config: { temporality } }, q.manage)).json().id as string;
    const delta = await mk('delta');
    const cumulative = await mk('cumulative');
    const tokens = (r: ReceivedRequest) => metric(r, 'meterway_inference_input_tokens_total').sum!;
    // proto3 leaves a zero count out of the wire, so it decodes as absent
    const ttftCount = (r: ReceivedRequest) => metric(r, 'meterway_inference_time_to_first_token_seconds').histogram!.dataPoints![0].count ?? '0';
    const seen: Array<[number, number, string | undefined, string | undefined]> = [];
    for (const [n, fail] of [[3, false], [2, true], [4, false], [0, false]] as const) {
      await post(n);
      if (fail) rx.setDefault({ status: 400 });
      for (const id of [delta, cumulative]) {
        rx.clear();
        await gw.exporter.pushNow(id);
        const r = rx.requests[rx.requests.length - 1];
        const s = tokens(r);
        seen.push([s.aggregationTemporality!, s.dataPoints![0].asDouble!, ttftCount(r), s.dataPoints![0].startTimeUnixNano]);
      }
      rx.setDefault({});
    }
    expect(seen.map(([t, v, c]) => [t, v, c])).toEqual([
      [1, 30, '3'], [2, 30, '3'],
      [1, 20, '2'], [2, 50, '5'], // failed: not committed
      [1, 60, '6'], [2, 90, '9'], // the failed interval rolls in
      [1, 0, '0'], [2, 90, '9'],
    ]);
    // Delta start times move forward only after a success; cumulative start stays.
    expect(seen[2][3]).toBe(seen[4][3]);
    expect(BigInt(seen[6][3]!)).toBeGreaterThan(BigInt(seen[4][3]!));
    expect(seen[1][3]).toBe(seen[7][3]);
  });
});

describe('OTLP naming: otel', () => {
  it('sends inference and GPU metrics under the semantic conventions, tokens as one metric by gen_ai.token.type, the rest as before', async () => {
    const q = await gw.project('otel naming');
    const res = await gw.app.inject({
      method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: [
        { type: 'inference', app_name: 'chat', region: 'eu', model_name: 'llama-3-8b', input_tokens: 100, output_tokens: 7, status_code: 200, ttft_ms: 120, tpot_ms: 20, duration_ms: 900 },
        { type: 'inference', app_name: 'chat', region: 'eu', model_name: 'llama-3-8b', input_tokens: 50, output_tokens: 0, status_code: 503 },
        { type: 'resource', app_name: 'chat', gpu: '0', gpu_compute_utilization_percent: 85, gpu_memory_bytes: 2 ** 30, cpu_cores: 1.5 },
        { type: 'run', app_name: 'chat', status: 'success', execution_time_ms: 40 },
      ],
    });
    expect(res.json().rejected).toEqual([]);
    const otlp = await gw.app.inject({
      method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...gw.auth(q.ingest), 'content-type': 'application/json' },
      payload: { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'queue.depth', gauge: { dataPoints: [{ asDouble: 3, timeUnixNano: String(Date.now() * 1e6) }] } }] }] }] },
    });
    expect(otlp.statusCode, otlp.body).toBe(200);
    const id = (await api('POST', `/v1/projects/${q.id}/integrations`, { endpoint: rx.url, config: { naming: 'otel', temporality: 'delta' } }, q.manage)).json().id as string;
    rx.clear();
    expect(await gw.exporter.pushNow(id)).toMatchObject({ pushed: true });
    const [req] = await rx.waitForRequests(1, { path: '/v1/metrics' });
    const names = metricsOf(req).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining([
      'gen_ai.server.request.duration', 'gen_ai.server.time_to_first_token', 'gen_ai.server.time_per_output_token', 'gen_ai.client.token.usage',
      'hw.gpu.utilization', 'hw.gpu.memory.usage', 'meterway_inference_requests_total', 'meterway_run_execution_time_seconds', 'meterway_cpu_utilization_cores',
      'queue_depth', // a source's own metric keeps the name it has everywhere else
    ]));
    expect(names.filter((n) => n.includes('tokens_total'))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);

    const ttft = metric(req, 'gen_ai.server.time_to_first_token');
    expect(ttft.unit).toBe('s');
    expect(ttft.histogram!.dataPoints![0]).toMatchObject({ count: '1', sum: 0.12 });
    expect(attrs(ttft.histogram!.dataPoints![0].attributes as any)).toEqual({
      project_id: q.id, app_id: `${q.id}-chat`, app_name: 'chat', 'cloud.region': 'eu', 'gen_ai.request.model': 'llama-3-8b', service_tier: 'on_demand',
    });
    const usage = metric(req, 'gen_ai.client.token.usage');
    expect(usage.unit).toBe('{token}');
    expect(usage.sum!.isMonotonic).toBe(true);
    expect(usage.sum!.aggregationTemporality).toBe(1);
    const byType = Object.fromEntries(usage.sum!.dataPoints!.map((dp) => [attrs(dp.attributes as any)['gen_ai.token.type'], dp.asDouble]));
    expect(byType).toEqual({ input: 150, output: 7 });

    const requests = metric(req, 'meterway_inference_requests_total').sum!.dataPoints!.map((dp) => attrs(dp.attributes as any));
    expect(requests.map((a) => a['error.type'] ?? null).sort()).toEqual(['5xx', null]);
    expect(requests.every((a) => a.code_class === undefined && a['gen_ai.request.model'] === 'llama-3-8b')).toBe(true);

    const gpu = metric(req, 'hw.gpu.utilization');
    expect(gpu.unit).toBe('1');
    expect(gpu.gauge!.dataPoints![0].asDouble).toBeCloseTo(0.85, 12);
    expect(attrs(gpu.gauge!.dataPoints![0].attributes as any)).toMatchObject({ 'hw.id': '0', 'hw.type': 'gpu' });
    expect(metric(req, 'hw.gpu.memory.usage').gauge!.dataPoints![0].asDouble).toBe(2 ** 30);
    expect(metric(req, 'hw.gpu.memory.usage').unit).toBe('By');

    // What Prometheus' OTLP translation then names them (the README's table).
    const promName = (m: Metric) => translateMetricName(m.name, m.unit ?? '', m.sum?.isMonotonic ? 'monotonic_counter' : m.histogram ? 'histogram' : 'gauge');
    expect(promName(ttft)).toBe('gen_ai_server_time_to_first_token_seconds');
    expect(promName(usage)).toBe('gen_ai_client_token_usage_total');
    expect(promName(gpu)).toBe('hw_gpu_utilization_ratio');
    expect(promName(metric(req, 'meterway_inference_requests_total'))).toBe('meterway_inference_requests_total');
  });
});

describe('test connection', () => {
  const test = async (endpoint: string, reply?: Parameters<OtlpReceiver['reply']>[0]) => {
    const i = (await api('POST', `/v1/projects/${p.id}/integrations`, { endpoint, config: { timeout_s: 1 } })).json();
    if (reply) rx.reply(reply);
    const res = await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/test`);
    await api('DELETE', `/v1/projects/${p.id}/integrations/${i.id}`);
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it('answers in plain words', async () => {
    expect(await test(rx.url)).toMatchObject({ ok: true, status_code: 200, message: `works: ${rx.url}/v1/metrics accepted an OTLP export request` });
    expect(await test(rx.url, { status: 401 })).toMatchObject({ ok: false, status_code: 401, message: expect.stringContaining('check the credentials') });
    expect(await test(rx.url, { status: 403 })).toMatchObject({ ok: false, status_code: 403 });
    expect(await test(`${rx.url}/wrong`, { status: 404 })).toMatchObject({ ok: false, status_code: 404, message: `HTTP 404: check the path; tried ${rx.url}/wrong/v1/metrics` });
    expect((await test(rx.url, { hang: true })).message).toMatch(/^timeout: /);
    const closed = await startOtlpReceiver();
    await closed.close();
    expect((await test(closed.url)).message).toMatch(/^connection refused by 127\.0\.0\.1:\d+/);
    // A TLS handshake against a plain-HTTP server fails: the words say it is TLS.
    const tls = await test(rx.url.replace('http://', 'https://'));
    expect(tls).toMatchObject({ ok: false });
    expect(tls.message).toMatch(/^TLS problem: /);
    const dns = await test('http://no-such-host.invalid');
    expect(dns).toMatchObject({ ok: false, message: 'DNS failure: no-such-host.invalid does not resolve; check the host name' });
    // The request is a real export with the resource and no data points.
    const r = rx.requests.find((q) => q.path === '/v1/metrics');
    const scopes = (r!.body as MetricsRequest).resourceMetrics![0].scopeMetrics ?? [];
    expect(scopes.flatMap((sm) => sm.metrics ?? [])).toEqual([]);
  });
});

describe('raw events as OTLP logs', () => {
  it('forwards every accepted event while the metrics receiver is down, and opens the breaker on a dead collector', async () => {
    const q = await gw.project('logs');
    rx.setDefault((req) => (req.path === '/v1/metrics' ? { status: 503 } : {}));
    const i = (await api('POST', `/v1/projects/${q.id}/integrations`, { endpoint: rx.url, auth_headers: { 'x-key': 'k' }, config: { logs: true } }, q.manage)).json();
    const events = Array.from({ length: 25 }, (_, n) => ({ type: 'run', app_name: 'a', status: n % 5 === 0 ? 'error' : 'success', run_id: `r${n}`, queue_time_ms: n, timestamp: 1_700_000_000_000 + n }));
    const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: events });
    expect(res.json().accepted).toBe(25);
    expect((await gw.exporter.pushNow(i.id)).pushed).toBe(false);
    const logReqs = await rx.waitForRequests(3, { path: '/v1/logs' });
    const records = logReqs.flatMap((r) => (r.body as LogsRequest).resourceLogs![0].scopeLogs![0].logRecords!);
    expect(records).toHaveLength(25);
    expect(logReqs[0].headers['x-key']).toBe('k');
    const first = records.find((r) => attrs(r.attributes as any).run_id === 'r7')!;
    expect(first.timeUnixNano).toBe(String(1_700_000_000_007n * 1_000_000n));
    expect(first.attributes!.find((a) => a.key === 'queue_time_ms')!.value).toEqual({ intValue: '7' });
    expect(attrs(first.attributes as any)).toMatchObject({ type: 'run', project_id: q.id, app_name: 'a', status: 'success' });

    // A dead collector: after 2 failed batches the breaker opens and no more requests go out.
    rx.clear();
    rx.setDefault({ status: 500 });
    for (let round = 0; round < 4; round++) {
      await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: events.slice(0, 10) });
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(rx.requests.filter((r) => r.path === '/v1/logs')).toHaveLength(2);
    // While the breaker is open the queue holds at most 50 records: the rest are dropped, not buffered.
    await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: [...events, ...events, ...events] });
    const self = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(self).toMatch(/meterway_export_log_records_total\{kind="otlp",outcome="sent"\} 25/);
    expect(self).toMatch(/meterway_export_log_records_total\{kind="otlp",outcome="failed"\} 20/);
    expect(self).toMatch(/meterway_export_log_records_total\{kind="otlp",outcome="dropped"\} 45\n/);
    expect(self).toMatch(/meterway_export_pushes_total\{kind="otlp",outcome="failure"\} [1-9]/);
  });
});

describe('egress guard', () => {
  it('refuses loopback, private, link-local and unresolvable endpoints unless allowed', async () => {
    const strict = await startTestGateway({ delivery: { schedule: false } });
    try {
      const q = await strict.project();
      for (const endpoint of ['http://127.0.0.1:4318', 'http://localhost:4318', 'http://10.0.0.8', 'http://169.254.169.254', 'http://[::1]:4318', 'http://[::ffff:127.0.0.1]', 'http://192.168.1.10', 'http://no-such-host.invalid']) {
        const res = await strict.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: strict.auth(q.manage), payload: { endpoint } });
        expect(res.statusCode, endpoint).toBe(400);
        expect(res.json().error.code, endpoint).toBe('egress_forbidden');
        expect(res.json().error.message, endpoint).toMatch(/^endpoint: /);
      }
    } finally {
      await strict.close();
    }
  });
});

describe('compatibility API /v2/metrics-export', () => {
  it('reads and writes the project first OTLP integration, camelCase', async () => {
    const q = await gw.project('v2');
    const url = `/v2/metrics-export/${q.id}/config`;
    expect((await api('GET', url, undefined, q.manage)).json()).toEqual({ enabled: false, endpoint: null, authHeaderNames: [], intervalSeconds: 60, status: null });
    expect((await api('PUT', url, { enabled: true }, q.manage)).json().error.message).toMatch(/^endpoint: is required/);
    const put = await api('PUT', url, { enabled: true, endpoint: rx.url, authHeaders: { Authorization: SECRET } }, q.manage);
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ enabled: true, endpoint: rx.url, authHeaderNames: ['Authorization'], intervalSeconds: 60, status: { state: 'active', consecutiveFailures: 0 } });
    const v1 = (await api('GET', `/v1/projects/${q.id}/integrations`, undefined, q.manage)).json().items;
    expect(v1).toHaveLength(1);
    expect(v1[0].name).toBe('metrics-export');
    const off = await api('PUT', url, { enabled: false }, q.manage);
    expect(off.json()).toMatchObject({ enabled: false, authHeaderNames: ['Authorization'], status: { state: 'disabled' } });
    const test = await api('POST', `/v2/metrics-export/${q.id}/test`, undefined, q.manage);
    expect(test.json()).toMatchObject({ ok: true, status_code: 200 });
    expect(JSON.stringify([put.json(), off.json()])).not.toContain('c2VjcmV0');
    const other = await gw.project();
    expect((await api('GET', url, undefined, other.manage)).statusCode).toBe(404);
  });
});

describe('secrets', () => {
  it('never appear in responses, log output or any file of the data directory', async () => {
    const i = await create();
    rx.reply({ status: 401 });
    await gw.exporter.pushNow(i.id);
    await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/test`);
    await gw.integrations.flushStatus(true);
    expect(logText).toContain('push failed');
    expect(logText).not.toContain('c2VjcmV0');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const path = join(dir, f);
        if (statSync(path).isDirectory()) walk(path);
        else files.push(path);
      }
    };
    walk(gw.dataDir);
    expect(files.some((f) => f.endsWith('meterway.db'))).toBe(true);
    for (const f of files) {
      const bytes = readFileSync(f);
      expect(bytes.includes('c2VjcmV0LXZhbHVlLTQ4MjkxNw'), f).toBe(false);
      expect(bytes.includes('secret-value-482917'), f).toBe(false);
    }
  });
});

describe('schedule', () => {
  it('pushes by itself every interval_s', async () => {
    const own = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' } });
    const rx2 = await startOtlpReceiver();
    try {
      const q = await own.project();
      await own.app.inject({ method: 'POST', url: '/v1/events', headers: own.auth(q.ingest), payload: { type: 'run', app_name: 'a', status: 'success' } });
      const res = await own.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: own.auth(q.manage), payload: { endpoint: rx2.url, config: { interval_s: 1 } } });
      expect(res.statusCode).toBe(201);
      const reqs = await rx2.waitForRequests(2, { timeoutMs: 10_000 });
      expect(reqs.every((r) => r.path === '/v1/metrics')).toBe(true);
      const status = (await own.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/integrations/${res.json().id}`, headers: own.auth(q.manage) })).json().status;
      expect(status.last_success_at).not.toBeNull();
      // A project without series gets no pushes at all.
      const empty = await own.project('empty');
      await own.app.inject({ method: 'POST', url: `/v1/projects/${empty.id}/integrations`, headers: own.auth(empty.manage), payload: { endpoint: `${rx2.url}/empty`, config: { interval_s: 1 } } });
      await rx2.waitForRequests(reqs.length + 2, { timeoutMs: 10_000 });
      expect(rx2.requests.some((r) => r.path.startsWith('/empty'))).toBe(false);
    } finally {
      await own.close();
      await rx2.close();
    }
  });
});
