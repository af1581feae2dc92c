/**
 * The OTLP receiver driven by the OpenTelemetry JS SDK's own exporters (protobuf and JSON), then
 * read back every way a tenant reads: the scrape endpoint, the query API (with its metadata) and
 * an OTLP push to a test receiver. Names are the ones Prometheus' own OTLP receiver gives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { AggregationTemporalityPreference, OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { otlpSchema, startOtlpReceiver, type HistogramDataPoint, type MetricsRequest, type NumberDataPoint, type OtlpReceiver } from '../otlp-receiver.js';
import { decodePartialSuccess } from '../../src/sinks/otlp-http/response.js';

let gw: TestGateway;
let base: string;
let rx: OtlpReceiver;
let p: Awaited<ReturnType<TestGateway['project']>>;

beforeAll(async () => {
  gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false } });
  await gw.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  rx = await startOtlpReceiver();
  p = await gw.project('otlp');
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});

interface Sdk {
  provider: MeterProvider;
  reader: PeriodicExportingMetricReader;
  flush(): Promise<void>;
}

/** An SDK as an application sets one up, exporting to the gateway with `token`. */
function sdk(token: string, opts: { json?: boolean; delta?: boolean; resource?: Record<string, string> } = {}): Sdk {
  const config = {
    url: `${base}/v1/otlp/v1/metrics`,
    headers: { Authorization: `Bearer ${token}` },
    temporalityPreference: opts.delta === true ? AggregationTemporalityPreference.DELTA : AggregationTemporalityPreference.CUMULATIVE,
  };
  const exporter: PushMetricExporter = opts.json === true ? new JsonExporter(config) : new ProtoExporter(config);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes(opts.resource ?? { 'service.name': 'llm-api', 'service.instance.id': 'pod-1', 'deployment.environment': 'prod' }),
    readers: [reader],
  });
  return { provider, reader, flush: () => reader.forceFlush() };
}

async function scrape(project = p): Promise<string> {
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${project.id}/metrics`, headers: gw.auth(project.monitoring) });
  expect(res.statusCode).toBe(200);
  return res.body;
}

function line(text: string, prefix: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(prefix));
}

async function query(q: string, project = p): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  gw.sampler.sampleOnce(Date.now());
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${project.id}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(project.monitoring) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.result;
}

describe('the OpenTelemetry SDK into the receiver', () => {
  it('takes cumulative counters, up-down counters, gauges and histograms over protobuf under Prometheus names', async () => {
    const s = sdk(p.ingest);
    const meter = s.provider.getMeter('chat-service', '1.2.3');
    const requests = meter.createCounter('http.server.requests', { unit: '{request}', description: 'Requests served.' });
    const inflight = meter.createUpDownCounter('http.server.active_requests', { unit: '{request}' });
    const util = meter.createGauge('gpu.utilization', { unit: '1' });
    const ttft = meter.createHistogram('gen_ai.server.time_to_first_token', {
      unit: 's',
      description: 'Time to generate the first token.',
      advice: { explicitBucketBoundaries: [0.01, 0.1, 1, 10] },
    });
    requests.add(3, { 'http.route': '/v1/chat', 'http.response.status_code': 200 });
    requests.add(1, { 'http.route': '/v1/chat', 'http.response.status_code': 500 });
    inflight.add(5);
    inflight.add(-2);
    util.record(0.75, { gpu: '0' });
    for (const v of [0.05, 0.2, 0.3, 4]) ttft.record(v, { 'gen_ai.request.model': 'llama-3-8b' });
    await s.flush();

    const text = await scrape();
    const id = `instance="pod-1",job="llm-api"`;
    expect(line(text, 'http_server_requests_total{')).toBe(`http_server_requests_total{http_response_status_code="200",http_route="/v1/chat",${id},project_id="${p.id}"} 3`);
    expect(text).toContain(`http_server_requests_total{http_response_status_code="500",http_route="/v1/chat",${id},project_id="${p.id}"} 1`);
    expect(text).toContain('# TYPE http_server_requests_total counter');
    expect(text).toContain('# HELP http_server_requests_total Requests served.');
    expect(text).toContain(`http_server_active_requests{${id},project_id="${p.id}"} 3`);
    expect(text).toContain('# TYPE http_server_active_requests gauge');
    expect(text).toContain(`gpu_utilization_ratio{gpu="0",${id},project_id="${p.id}"} 0.75`);
    const h = `gen_ai_request_model="llama-3-8b",${id},project_id="${p.id}"`;
    expect(text).toContain('# TYPE gen_ai_server_time_to_first_token_seconds histogram');
    expect(text).toContain(`gen_ai_server_time_to_first_token_seconds_bucket{${h},le="0.1"} 1`);
    expect(text).toContain(`gen_ai_server_time_to_first_token_seconds_bucket{${h},le="1"} 3`);
    expect(text).toContain(`gen_ai_server_time_to_first_token_seconds_bucket{${h},le="+Inf"} 4`);
    expect(text).toContain(`gen_ai_server_time_to_first_token_seconds_count{${h}} 4`);
    expect(line(text, `gen_ai_server_time_to_first_token_seconds_sum{${h}}`)).toMatch(/ 4\.55\d*$/);
    // Resource attributes other than job and instance sit on target_info, as in Prometheus.
    expect(text).toContain(`target_info{deployment_environment="prod",${id},project_id="${p.id}"} 1`);

    // A second export of the same cumulative stream replaces, it does not add.
    requests.add(2, { 'http.route': '/v1/chat', 'http.response.status_code': 200 });
    await s.flush();
    expect(await scrape()).toContain(`http_server_requests_total{http_response_status_code="200",http_route="/v1/chat",${id},project_id="${p.id}"} 5`);
    await s.provider.shutdown();

    const [series] = await query('sum(http_server_requests_total)');
    expect(series.value[1]).toBe('6');
    const q = await query('histogram_quantile(0.5, sum by (le) (gen_ai_server_time_to_first_token_seconds_bucket))');
    expect(Number(q[0].value[1])).toBeGreaterThan(0.1);
    expect(Number(q[0].value[1])).toBeLessThanOrEqual(1);
    const meta = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/metadata?metric=gen_ai_server_time_to_first_token_seconds`, headers: gw.auth(p.monitoring) });
    expect(meta.json().data).toEqual({ gen_ai_server_time_to_first_token_seconds: [{ type: 'histogram', help: 'Time to generate the first token.', unit: 'seconds' }] });
  });

  it('accumulates delta sums and histograms sent as OTLP/JSON into cumulative series', async () => {
    const q = await gw.project('delta');
    const s = sdk(q.ingest, { json: true, delta: true, resource: { 'service.name': 'worker' } });
    const meter = s.provider.getMeter('jobs');
    const done = meter.createCounter('jobs.completed');
    const wait = meter.createHistogram('job.queue.wait', { unit: 'ms', advice: { explicitBucketBoundaries: [10, 100] } });
    done.add(2);
    wait.record(5);
    await s.flush();
    done.add(3);
    wait.record(50);
    wait.record(500);
    await s.flush();
    await s.provider.shutdown();
    const text = await scrape(q);
    expect(text).toContain(`jobs_completed_total{job="worker",project_id="${q.id}"} 5`);
    expect(text).toContain(`job_queue_wait_milliseconds_bucket{job="worker",project_id="${q.id}",le="10"} 1`);
    expect(text).toContain(`job_queue_wait_milliseconds_bucket{job="worker",project_id="${q.id}",le="100"} 2`);
    expect(text).toContain(`job_queue_wait_milliseconds_count{job="worker",project_id="${q.id}"} 3`);
    expect(text).toContain(`job_queue_wait_milliseconds_sum{job="worker",project_id="${q.id}"} 555`);
    // No target_info: the resource had nothing beyond job.
    expect(text).not.toContain('target_info');
  });

  it('pushes source metrics out over OTLP under the same names and values', async () => {
    const res = await gw.app.inject({
      method: 'POST', url: `/v1/projects/${p.id}/integrations`, headers: gw.auth(p.manage),
      payload: { name: 'rx', endpoint: rx.url, config: {} },
    });
    expect(res.statusCode, res.body).toBe(201);
    rx.clear();
    expect(await gw.exporter.pushNow(res.json().id)).toMatchObject({ pushed: true });
    const [req] = await rx.waitForRequests(1, { path: '/v1/metrics' });
    const metrics = (req.body as MetricsRequest).resourceMetrics!.flatMap((r) => r.scopeMetrics!.flatMap((s) => s.metrics!));
    const byName = new Map(metrics.map((m) => [m.name, m]));
    const requests = byName.get('http_server_requests_total')!;
    expect(requests.sum!.isMonotonic).toBe(true);
    const attrs = (dp: NumberDataPoint | HistogramDataPoint) => Object.fromEntries((dp.attributes ?? []).map((a) => [a.key, a.value.stringValue]));
    const ok = requests.sum!.dataPoints!.find((dp) => attrs(dp).http_response_status_code === '200')!;
    expect(Number(ok.asDouble ?? ok.asInt)).toBe(5);
    expect(attrs(ok)).toMatchObject({ job: 'llm-api', instance: 'pod-1', http_route: '/v1/chat' });
    const hist = byName.get('gen_ai_server_time_to_first_token_seconds')!;
    expect(hist.unit).toBe('s');
    expect(hist.histogram!.dataPoints![0]).toMatchObject({ count: '4', explicitBounds: [0.01, 0.1, 1, 10] });
    expect(byName.get('gpu_utilization_ratio')!.gauge!.dataPoints![0].asDouble).toBe(0.75);
  });
});

describe('exemplars', () => {
  it('puts a histogram point\'s exemplars on their buckets with trace_id and span_id, from protobuf and JSON', async () => {
    const q = await gw.project('otlp exemplars');
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const span = '00f067aa0ba902b7';
    const now = Date.now();
    const point = (ex: unknown) => ({
      resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'api' } }] }, scopeMetrics: [{ metrics: [{
        name: 'rpc.duration', unit: 's',
        histogram: { aggregationTemporality: 2, dataPoints: [{ count: '2', sum: 0.7, bucketCounts: ['1', '1', '0'], explicitBounds: [0.1, 1], timeUnixNano: String(now * 1e6), exemplars: [ex] }] },
      }] }] }],
    });
    const type = otlpSchema().ExportMetricsServiceRequest;
    const bytes = type.encode(type.fromObject(point({ asDouble: 0.65, timeUnixNano: String((now - 500) * 1e6), traceId: Buffer.from(trace, 'hex'), spanId: Buffer.from(span, 'hex') }))).finish();
    const proto = await gw.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...gw.auth(q.ingest), 'content-type': 'application/x-protobuf' }, payload: Buffer.from(bytes) });
    expect(proto.statusCode).toBe(200);
    const om = async () => (await gw.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: { ...gw.auth(q.monitoring), accept: 'application/openmetrics-text; version=1.0.0' } })).body;
    expect(await om()).toContain(`rpc_duration_seconds_bucket{job="api",project_id="${q.id}",le="1"} 2 # {trace_id="${trace}",span_id="${span}"} 0.65 ${(now - 500) / 1000}`);
    const json = await gw.app.inject({
      method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...gw.auth(q.ingest), 'content-type': 'application/json' },
      payload: JSON.stringify(point({ asDouble: 0.05, timeUnixNano: String(now * 1e6), traceId: trace.toUpperCase(), spanId: span })),
    });
    expect(json.json()).toEqual({});
    expect(await om()).toContain(`le="0.1"} 1 # {trace_id="${trace}",span_id="${span}"} 0.05 ${now / 1000}`);
  });
});

describe('restart', () => {
  it('continues the counters and histograms of OTLP metrics from the store, as event series do', async () => {
    const g1 = await startTestGateway();
    const q = await g1.project('restart');
    const delta = (v: number, tMs: number) => ({
      resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'batch' } }] }, scopeMetrics: [{ metrics: [
        { name: 'jobs.done', description: 'Jobs done.', sum: { isMonotonic: true, aggregationTemporality: 1, dataPoints: [{ asInt: String(v), timeUnixNano: String(tMs * 1e6), attributes: [{ key: 'queue', value: { stringValue: 'q1' } }] }] } },
        { name: 'job.time', unit: 's', histogram: { aggregationTemporality: 1, dataPoints: [{ count: String(v), sum: v * 2, bucketCounts: [String(v), '0'], explicitBounds: [10], timeUnixNano: String(tMs * 1e6) }] } },
        { name: 'workers', gauge: { dataPoints: [{ asDouble: 3, timeUnixNano: String(tMs * 1e6) }] } },
      ] }] }],
    });
    const send = (g: TestGateway, body: unknown) => g.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...g.auth(q.ingest), 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    expect((await send(g1, delta(5, Date.now() - 2000))).json()).toEqual({});
    g1.sampler.sampleOnce(Date.now());
    await g1.closeKeepingData();

    const g2 = await startTestGateway({ dataDir: g1.dataDir });
    try {
      const scrape2 = async () => (await g2.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: g2.auth(q.monitoring) })).body;
      const before = await scrape2();
      expect(before).toContain(`jobs_done_total{job="batch",project_id="${q.id}",queue="q1"} 5`);
      expect(before).toContain('# HELP jobs_done_total Jobs done.');
      expect((await send(g2, delta(2, Date.now()))).json()).toEqual({});
      const after = await scrape2();
      expect(after).toContain(`jobs_done_total{job="batch",project_id="${q.id}",queue="q1"} 7`);
      expect(after).toContain(`job_time_seconds_count{job="batch",project_id="${q.id}"} 7`);
      expect(after).toContain(`job_time_seconds_bucket{job="batch",project_id="${q.id}",le="10"} 7`);
      expect(after).toContain(`workers{job="batch",project_id="${q.id}"} 3`);
      const meta = await g2.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/prometheus/api/v1/metadata?metric=jobs_done_total`, headers: g2.auth(q.monitoring) });
      expect(meta.json().data).toEqual({ jobs_done_total: [{ type: 'counter', help: 'Jobs done.', unit: '' }] });
    } finally {
      await g2.close();
    }
  });
});

describe('staleness', () => {
  it('drops the series of a service that stopped sending, as gauges are dropped, and keeps event counters', async () => {
    const q = await gw.project('stale');
    const ev = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: { type: 'run', app_name: 'chat', status: 'success' } });
    expect(ev.json().accepted).toBe(1);
    const s = sdk(q.ingest, { resource: { 'service.name': 'gone' } });
    s.provider.getMeter('m').createCounter('gone.requests').add(1);
    s.provider.getMeter('m').createHistogram('gone.latency', { unit: 's' }).record(0.2);
    await s.flush();
    await s.provider.shutdown();
    expect(await scrape(q)).toContain('gone_requests_total{job="gone"');
    const before = gw.aggregator.get(q.id)!.registry.seriesCount;
    // As the gateway's sweep does once metrics.gauge_stale_after has passed without a point.
    expect(gw.aggregator.sweepStale(Date.now() + 1)).toBeGreaterThanOrEqual(2);
    const text = await scrape(q);
    expect(text).not.toContain('gone_requests_total');
    expect(text).not.toContain('gone_latency_seconds');
    expect(text).toContain('meterway_runs_total{');
    expect(gw.aggregator.get(q.id)!.registry.seriesCount).toBeLessThan(before);
  });
});

describe('isolation', () => {
  const body = (project: string | undefined, name: string) =>
    JSON.stringify({
      resourceMetrics: [{
        resource: { attributes: project === undefined ? [] : [{ key: 'meterway.project_id', value: { stringValue: project } }] },
        scopeMetrics: [{ metrics: [{ name, gauge: { dataPoints: [{ asDouble: 1, timeUnixNano: String(Date.now() * 1e6), attributes: [{ key: 'project_id', value: { stringValue: project ?? 'x' } }] }] } }] }],
      }],
    });
  const post = (token: string, payload: string) =>
    gw.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...gw.auth(token), 'content-type': 'application/json' }, payload });

  it('a project-bound token never writes into another project, whatever the attributes say', async () => {
    const victim = await gw.project('victim');
    const res = await post(p.ingest, body(victim.id, 'spoofed_metric'));
    expect(res.statusCode).toBe(200);
    expect(res.json().partialSuccess.rejectedDataPoints).toBe('1');
    expect(res.json().partialSuccess.errorMessage).toContain("a project other than this token's");
    expect(await scrape(victim)).not.toContain('spoofed_metric');
    expect(await scrape()).not.toContain('spoofed_metric');
  });

  it('a server-wide token writes only where meterway.project_id points, and a point cannot relabel its project', async () => {
    const target = await gw.project('target');
    const res = await post(ADMIN_TOKEN, body(target.id, 'routed_metric'));
    expect(res.json()).toEqual({});
    const text = await scrape(target);
    expect(text).toContain(`routed_metric{exported_project_id="${target.id}",project_id="${target.id}"} 1`);
    expect(await scrape()).not.toContain('routed_metric');
    const missing = await post(ADMIN_TOKEN, body(undefined, 'nowhere_metric'));
    expect(missing.json().partialSuccess.errorMessage).toContain('meterway.project_id is required with a server-wide ingest token');
    const unknown = await post(ADMIN_TOKEN, body('p-doesnotexist', 'nowhere_metric'));
    expect(unknown.json().partialSuccess.errorMessage).toContain('unknown project "p-doesnotexist"');
    // The other project's read paths do not see it either.
    expect((await query('routed_metric')).length).toBe(0);
    expect((await query('routed_metric', target)).length).toBe(1);
  });

  it('a monitoring token cannot write', async () => {
    const res = await post(p.monitoring, body(undefined, 'x'));
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 7, error: { code: 'insufficient_scope' } });
  });
});

describe('bad input', () => {
  let g: TestGateway;
  let t: Awaited<ReturnType<TestGateway['project']>>;
  const LIMIT = 20;
  beforeAll(async () => {
    g = await startTestGateway({ file: { metrics: { max_series_per_project: LIMIT }, ingest: { max_body_bytes: 64 * 1024 } } });
    t = await g.project('bad input');
  });
  afterAll(() => g.close());

  const now = () => String(Date.now() * 1e6);
  const gauge = (name: string, value: unknown, attrs: Record<string, string> = {}) => ({
    name,
    gauge: { dataPoints: [{ asDouble: value, timeUnixNano: now(), attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })) }] },
  });
  const request = (metrics: unknown[]) => ({ resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeMetrics: [{ metrics }] }] });
  const postJson = (payload: unknown, headers: Record<string, string> = {}) =>
    g.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...g.auth(t.ingest), 'content-type': 'application/json', ...headers }, payload: JSON.stringify(payload) });
  const postProto = (bytes: Uint8Array, headers: Record<string, string> = {}) =>
    g.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...g.auth(t.ingest), 'content-type': 'application/x-protobuf', ...headers }, payload: Buffer.from(bytes) });
  const encode = (obj: unknown) => {
    const type = otlpSchema().ExportMetricsServiceRequest;
    return type.encode(type.fromObject(obj as Record<string, unknown>)).finish();
  };
  const scrapeText = async () => (await g.app.inject({ method: 'GET', url: `/v1/projects/${t.id}/metrics`, headers: g.auth(t.monitoring) })).body;

  it('answers a body that is not OTLP with 400 and a Status in its encoding', async () => {
    const notProto = await postProto(Buffer.from('hello, this is not protobuf'));
    expect(notProto.statusCode).toBe(400);
    expect(notProto.headers['content-type']).toBe('application/x-protobuf');
    const good = encode(request([gauge('ok_metric', 1)]));
    const truncated = await postProto(good.subarray(0, good.length - 3));
    expect(truncated.statusCode).toBe(400);
    expect(truncated.rawPayload.toString('latin1')).toContain('truncated');
    const json = await postJson({ resourceMetrics: 'nope' });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toMatchObject({ code: 3, message: 'resourceMetrics: must be a JSON array', error: { code: 'invalid_body' } });
    const notJson = await g.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...g.auth(t.ingest), 'content-type': 'application/json' }, payload: '{"resourceMetrics": [' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().message).toContain('not valid JSON');
  });

  it('refuses a wrong content type (415), bad gzip (400) and an oversized body (413)', async () => {
    const wrong = await g.app.inject({ method: 'POST', url: '/v1/otlp/v1/metrics', headers: { ...g.auth(t.ingest), 'content-type': 'text/plain' }, payload: 'x' });
    expect(wrong.statusCode).toBe(415);
    expect(wrong.json().message).toContain('send application/x-protobuf or application/json');
    const gz = await postJson({}, { 'content-encoding': 'gzip' });
    expect(gz.statusCode).toBe(400);
    const big = await postJson(request([gauge('big', 1, { pad: 'x'.repeat(70 * 1024) })]));
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toContain('ingest.max_body_bytes');
    const { gzipSync } = await import('node:zlib');
    const bomb = await postProto(gzipSync(Buffer.alloc(1024 * 1024)), { 'content-encoding': 'gzip' });
    expect(bomb.statusCode).toBe(413);
    const ok = await postProto(gzipSync(encode(request([gauge('gzipped_metric', 2)]))), { 'content-encoding': 'gzip' });
    expect(ok.statusCode).toBe(200);
    expect(await scrapeText()).toContain('gzipped_metric{job="svc"');
  });

  it('rejects bad points one by one and keeps the valid ones beside them', async () => {
    const t0 = Date.now() * 1e6;
    const res = await postJson(request([
      gauge('kept_gauge', 1.5),
      gauge('nan_gauge', 'NaN'),
      gauge('inf_gauge', 'Infinity'),
      gauge('', 1),
      gauge('x'.repeat(300), 1),
      gauge('bad_attr', 1, { ['k'.repeat(300)]: 'v' }),
      gauge('long_value', 1, { a: 'v'.repeat(2000) }),
      { name: 'no_temporality', sum: { isMonotonic: true, dataPoints: [{ asInt: '1', timeUnixNano: now() }] } },
      { name: 'negative', sum: { isMonotonic: true, aggregationTemporality: 1, dataPoints: [{ asDouble: -1, timeUnixNano: now() }] } },
      { name: 'bad_buckets', histogram: { aggregationTemporality: 2, dataPoints: [{ count: '3', sum: 1, bucketCounts: ['1', '2'], explicitBounds: [1, 2], timeUnixNano: now() }] } },
      { name: 'bad_count', histogram: { aggregationTemporality: 2, dataPoints: [{ count: '9', sum: 1, bucketCounts: ['1', '2'], explicitBounds: [1], timeUnixNano: now() }] } },
      { name: 'kept_counter', sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ asInt: '10', startTimeUnixNano: String(t0 - 1e9), timeUnixNano: String(t0) }] } },
    ]));
    expect(res.statusCode).toBe(200);
    const ps = res.json().partialSuccess;
    expect(ps.rejectedDataPoints).toBe('10');
    const msg: string = ps.errorMessage;
    for (const want of [
      'metric "nan_gauge" (as nan_gauge): the value NaN is not a finite number',
      'the value Infinity is not a finite number',
      'metric "": normalization for metric "" resulted in empty name',
      'more than the 256 allowed',
      'more than the 1024 a label value may have',
      'aggregation_temporality must be 1 (delta) or 2 (cumulative), got 0',
      'a monotonic sum cannot be negative',
      '2 bucket counts for 2 explicit bounds',
      'the bucket counts add up to 3, but count is 9',
    ]) expect(msg).toContain(want);
    expect(msg).not.toContain('x'.repeat(100));
    const unsupported = await postJson(request([
      { name: 'expo', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ count: '1' }] } },
      { name: 'summ', summary: { dataPoints: [{ count: '1' }, { count: '2' }] } },
    ]));
    expect(unsupported.json().partialSuccess.errorMessage).toContain('exponential histograms are not supported');
    expect(unsupported.json().partialSuccess.errorMessage).toContain('summaries are not supported (their quantiles cannot be aggregated); send a histogram instead (2 points)');
    const text = await scrapeText();
    expect(text).toContain('kept_gauge{job="svc"');
    expect(text).toContain('kept_counter_total{job="svc"');
    expect(text).not.toContain('nan_gauge');

    // A cumulative sum that goes down with the same start time is refused; a new start time is a reset.
    const again = (v: string, start: number, time: number) =>
      postJson(request([{ name: 'kept_counter', sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ asInt: v, startTimeUnixNano: String(start), timeUnixNano: String(time) }] } }]));
    const down = await again('4', t0 - 1e9, t0 + 1e9);
    expect(down.json().partialSuccess.errorMessage).toContain('went down with the same start time');
    expect(await scrapeText()).toContain(`kept_counter_total{job="svc",project_id="${t.id}"} 10`);
    expect((await again('4', t0 + 5e8, t0 + 2e9)).json()).toEqual({});
    expect(await scrapeText()).toContain(`kept_counter_total{job="svc",project_id="${t.id}"} 4`);
  });

  it('does not count a resent delta twice', async () => {
    const t1 = String(Date.now() * 1e6);
    const delta = { name: 'resent_total', sum: { isMonotonic: true, aggregationTemporality: 1, dataPoints: [{ asInt: '7', timeUnixNano: t1 }] } };
    expect((await postJson(request([delta]))).json()).toEqual({});
    const resend = await postJson(request([delta]));
    expect(resend.json().partialSuccess.errorMessage).toContain('was already counted');
    expect(await scrapeText()).toContain(`resent_total{job="svc",project_id="${t.id}"} 7`);
  });

  it('refuses a type that clashes with a name already taken, per point', async () => {
    const res = await postJson(request([{ name: 'kept_gauge', sum: { isMonotonic: false, aggregationTemporality: 2, dataPoints: [{ asDouble: 1, timeUnixNano: now() }] } },
      { name: 'meterway_runs', sum: { isMonotonic: false, aggregationTemporality: 2, dataPoints: [{ asDouble: 1, timeUnixNano: now() }] } }]));
    // An up-down counter is a gauge, as kept_gauge is: the same metric. meterway_runs is not a
    // clash (no _total for a non-monotonic sum); a gauge named meterway_runs_total would be.
    expect(res.json()).toEqual({});
    const clash = await postJson(request([gauge('meterway_runs_total', 1)]));
    expect(clash.json().partialSuccess.errorMessage).toContain('meterway_runs_total is already a counter in this project; a gauge cannot have the same name');
  });

  it('stops at the project series limit, says so per point, and keeps what fits', async () => {
    const points = Array.from({ length: LIMIT + 10 }, (_, i) => ({ asDouble: i, timeUnixNano: now(), attributes: [{ key: 'n', value: { stringValue: String(i) } }] }));
    const res = await postProto(encode(request([{ name: 'many', gauge: { dataPoints: points } }])));
    expect(res.statusCode).toBe(200);
    const ps = decodePartialSuccess(res.rawPayload, 'application/x-protobuf')!;
    expect(ps.rejected).toBeGreaterThan(10);
    expect(ps.message).toContain(`has reached its limit of ${LIMIT} series`);
    const text = await scrapeText();
    expect(text).toContain('many{job="svc",n="0"');
    expect(text).not.toContain(`many{job="svc",n="${LIMIT + 9}"`);
    const self = await g.app.inject({ method: 'GET', url: '/metrics' });
    expect(self.body).toMatch(/meterway_source_samples_dropped_total\{source="otlp",reason="series_limit"\} \d+/);
    expect(self.body).toMatch(/meterway_source_samples_total\{source="otlp"\} \d+/);
  });
});
