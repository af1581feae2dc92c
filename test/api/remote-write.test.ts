/**
 * The prometheus_remote_write kind through the front door: integrations made with the REST API,
 * events ingested, pushes driven by hand, what arrives at a local receiver decoded with the
 * vendored official schemas (snappyjs, protobufjs; not our own code), and what status says.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { uncompress } from 'snappyjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import type { Sleep } from '../../src/delivery/retry.js';

const PROMPB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'wire', 'proto', 'prompb');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROMPB, target);
root.loadSync(['remote.proto', 'io/prometheus/write/v2/types.proto']);
const WriteRequest = root.lookupType('prometheus.WriteRequest');
const RequestV2 = root.lookupType('io.prometheus.write.v2.Request');
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: false };

const SECRET = 'Bearer rw-secret-token-5f1c9e27';
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';

interface Series {
  labels: Record<string, string>;
  /** Label names in the order sent. */
  order: string[];
  value: number;
  timestamp: number;
  metadata?: { type?: number; help: string; unit: string };
  createdTimestamp?: number;
}

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  version: '1.0' | '2.0';
  series: Series[];
  symbols?: string[];
  metadata?: Array<{ type?: number; metricFamilyName?: string; help?: string; unit?: string }>;
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer with the written-count headers of a 2.0 receiver: all written, or this many samples. */
  written?: 'all' | number;
}

function decode(path: string, headers: IncomingHttpHeaders, raw: Buffer): Received {
  const bytes = uncompress(raw) as Uint8Array;
  const v2 = headers['content-type'] === V2_TYPE;
  if (!v2) {
    const req = WriteRequest.toObject(WriteRequest.decode(bytes), TO_OBJECT) as {
      timeseries?: Array<{ labels?: Array<{ name: string; value: string }>; samples?: Array<{ value?: number; timestamp?: number }> }>;
      metadata?: Received['metadata'];
    };
    const series = (req.timeseries ?? []).map((ts) => {
      expect(ts.samples).toHaveLength(1);
      return {
        labels: Object.fromEntries((ts.labels ?? []).map((l) => [l.name, l.value])),
        order: (ts.labels ?? []).map((l) => l.name),
        value: ts.samples![0].value ?? 0,
        timestamp: ts.samples![0].timestamp ?? 0,
      };
    });
    return { path, headers, raw, version: '1.0', series, metadata: req.metadata };
  }
  const req = RequestV2.toObject(RequestV2.decode(bytes), TO_OBJECT) as {
    symbols?: string[];
    timeseries?: Array<{ labelsRefs?: number[]; samples?: Array<{ value?: number; timestamp?: number }>; metadata?: { type?: number; helpRef?: number; unitRef?: number }; createdTimestamp?: number }>;
  };
  const sym = req.symbols ?? [];
  const series = (req.timeseries ?? []).map((ts) => {
    const refs = ts.labelsRefs ?? [];
    const order: string[] = [];
    const labels: Record<string, string> = {};
    for (let i = 0; i < refs.length; i += 2) {
      order.push(sym[refs[i]]);
      labels[sym[refs[i]]] = sym[refs[i + 1]];
    }
    expect(ts.samples).toHaveLength(1);
    const m = ts.metadata;
    return {
      labels, order, value: ts.samples![0].value ?? 0, timestamp: ts.samples![0].timestamp ?? 0,
      ...(m === undefined ? {} : { metadata: { type: m.type, help: sym[m.helpRef ?? 0], unit: sym[m.unitRef ?? 0] } }),
      ...(ts.createdTimestamp === undefined ? {} : { createdTimestamp: ts.createdTimestamp }),
    };
  });
  return { path, headers, raw, version: '2.0', series, symbols: sym };
}

/** A remote write receiver on 127.0.0.1: records and decodes every request, answers as scripted. */
async function startReceiver() {
  const requests: Received[] = [];
  const scripted: Reply[] = [];
  let fallback: Reply = {};
  const server: Server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = decode(req.url ?? '/', req.headers, Buffer.concat(chunks));
      requests.push(rec);
      const reply = scripted.shift() ?? fallback;
      res.statusCode = reply.status ?? 204;
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
      if (reply.written !== undefined) {
        const n = reply.written === 'all' ? rec.series.length : reply.written;
        res.setHeader('X-Prometheus-Remote-Write-Samples-Written', String(n));
        res.setHeader('X-Prometheus-Remote-Write-Histograms-Written', '0');
        res.setHeader('X-Prometheus-Remote-Write-Exemplars-Written', '0');
      }
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reply: (...r: Reply[]) => void scripted.push(...r),
    setDefault: (r: Reply) => void (fallback = r),
    clear: () => {
      requests.length = 0;
      scripted.length = 0;
      fallback = {};
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const delays: number[] = [];
const recordingSleep: Sleep = async (ms) => void delays.push(ms);

let gw: TestGateway;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let p: Awaited<ReturnType<TestGateway['project']>>;

beforeAll(async () => {
  gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false, sleep: recordingSleep } });
  rx = await startReceiver();
  p = await gw.project('remote write');
  const res = await gw.app.inject({
    method: 'POST', url: '/v1/events', headers: gw.auth(ADMIN_TOKEN),
    payload: [
      { type: 'run', project_id: p.id, app_name: 'chat', region: 'eu', status: 'success', execution_time_ms: 300 },
      { type: 'run', project_id: p.id, app_name: 'chat', region: 'eu', status: 'error', execution_time_ms: 2000 },
      { type: 'resource', project_id: p.id, app_name: 'chat', region: 'eu', memory_bytes: 6_442_450_944 },
    ],
  });
  expect(res.json().rejected).toEqual([]);
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});
afterEach(() => {
  rx.clear();
  delays.length = 0;
});

const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, token = p.manage) =>
  gw.app.inject({ method, url, headers: gw.auth(token), payload: payload as any });

async function create(config: Record<string, unknown> = {}, endpoint = `${rx.url}/api/v1/write`) {
  const res = await api('POST', `/v1/projects/${p.id}/integrations`, { kind: 'prometheus_remote_write', name: 'rw', endpoint, auth_headers: { Authorization: SECRET }, config });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; config: Record<string, unknown> };
}
const status = async (id: string) => (await api('GET', `/v1/projects/${p.id}/integrations/${id}`)).json().status;
const remove = (id: string) => api('DELETE', `/v1/projects/${p.id}/integrations/${id}`);
const find = (r: Received, name: string, extra: Record<string, string> = {}) =>
  r.series.filter((s) => s.labels.__name__ === name && Object.entries(extra).every(([k, v]) => s.labels[k] === v));

describe('the prometheus_remote_write kind', () => {
  it('is made with its defaults and refuses a config it does not have, naming the field', async () => {
    const i = await create();
    expect(i.config).toEqual({ interval_s: 60, timeout_s: 10, protocol_version: '1.0' });
    const bad = async (config: Record<string, unknown>, message: RegExp) => {
      const res = await api('POST', `/v1/projects/${p.id}/integrations`, { kind: 'prometheus_remote_write', endpoint: `${rx.url}/api/v1/write`, config });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(message);
    };
    await bad({ protocol_version: '3.0' }, /^config\.protocol_version: .*: one of 1\.0, 2\.0 \(got "3\.0"\)$/);
    await bad({ protocol_version: 2 }, /^config\.protocol_version: .*one of 1\.0, 2\.0 \(got 2\)$/);
    await bad({ gzip: true }, /^config\.gzip: /);
    await bad({ interval_s: 0 }, /^config\.interval_s: expected integer to be greater or equal to 1/);
    await remove(i.id);
  });

  it('pushes a snappy 1.0 WriteRequest to the URL as given, with the spec headers and the auth headers', async () => {
    const i = await create();
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: true, attempts: 1 });
    const [r] = rx.requests;
    expect(r.path).toBe('/api/v1/write');
    expect(r.headers).toMatchObject({
      'content-encoding': 'snappy', 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': 'meterway/0.1.0', authorization: SECRET,
    });
    expect(r.version).toBe('1.0');
    const labels = { project_id: p.id, app_id: `${p.id}-chat`, app_name: 'chat', region: 'eu' };
    expect(find(r, 'meterway_runs_total')).toEqual([expect.objectContaining({ labels: { __name__: 'meterway_runs_total', ...labels }, value: 2 })]);
    expect(find(r, 'meterway_run_errors_total')[0].value).toBe(1);
    expect(find(r, 'meterway_memory_usage_bytes')[0].value).toBe(6_442_450_944);
    const bucket = (le: string) => find(r, 'meterway_run_execution_time_seconds_bucket', { le })[0].value;
    expect([bucket('0.25'), bucket('0.5'), bucket('1'), bucket('2.5'), bucket('+Inf')]).toEqual([0, 1, 1, 2, 2]);
    expect(find(r, 'meterway_run_execution_time_seconds_sum')[0].value).toBeCloseTo(2.3, 10);
    expect(find(r, 'meterway_run_execution_time_seconds_count')[0].value).toBe(2);
    // One instant for the whole push; labels sorted, __name__ first.
    expect(new Set(r.series.map((s) => s.timestamp)).size).toBe(1);
    expect(Math.abs(r.series[0].timestamp - Date.now())).toBeLessThan(10_000);
    for (const s of r.series) expect(s.order).toEqual([...s.order].sort());
    expect(r.metadata).toContainEqual({ type: 3, metricFamilyName: 'meterway_run_execution_time_seconds', help: 'Time a run spent executing, in seconds.', unit: 'seconds' });
    expect(await status(i.id)).toMatchObject({ state: 'active', consecutive_failures: 0, last_error: null });
    await remove(i.id);
  });

  it('speaks 2.0: symbols, sorted label refs, metadata, created timestamps; all written is a clean success', async () => {
    const i = await create({ protocol_version: '2.0' });
    rx.setDefault({ written: 'all' });
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: true, attempts: 1 });
    expect(rx.requests).toHaveLength(1);
    const [r] = rx.requests;
    expect(r.headers).toMatchObject({ 'content-encoding': 'snappy', 'content-type': V2_TYPE, 'x-prometheus-remote-write-version': '2.0.0', authorization: SECRET });
    expect(r.version).toBe('2.0');
    expect(r.symbols![0]).toBe('');
    expect(new Set(r.symbols).size).toBe(r.symbols!.length);
    for (const s of r.series) expect(s.order).toEqual([...s.order].sort());
    const started = gw.aggregator.get(p.id)!.startedMs;
    const runs = find(r, 'meterway_runs_total')[0];
    expect(runs).toMatchObject({ value: 2, metadata: { type: 1, help: 'Runs completed, successful or not.', unit: '' }, createdTimestamp: started });
    const mem = find(r, 'meterway_memory_usage_bytes')[0];
    expect(mem.metadata).toEqual({ type: 2, help: 'Memory in use by the app, in bytes.', unit: 'bytes' });
    expect(mem.createdTimestamp).toBeUndefined();
    for (const s of ['_bucket', '_sum', '_count']) {
      for (const ts of find(r, `meterway_run_execution_time_seconds${s}`)) {
        expect(ts.metadata).toEqual({ type: 3, help: 'Time a run spent executing, in seconds.', unit: 'seconds' });
        expect(ts.createdTimestamp).toBe(started);
      }
    }
    expect(find(r, 'meterway_run_execution_time_seconds_bucket', { le: '2.5' })[0].value).toBe(2);
    expect(await status(i.id)).toMatchObject({ consecutive_failures: 0, last_error: null });
    await remove(i.id);
  });

  it('records a 2.0 receiver that wrote fewer samples than sent, without retrying', async () => {
    const i = await create({ protocol_version: '2.0' });
    rx.reply({ written: 3 });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 1 });
    expect(rx.requests).toHaveLength(1);
    const sent = rx.requests[0].series.length;
    const s = await status(i.id);
    expect(s.consecutive_failures).toBe(0);
    expect(s.last_error).toMatch(new RegExp(`^partial success: the destination rejected \\d+ of ${report.points} data points: the receiver wrote 3 of the ${sent} samples sent \\(X-Prometheus-Remote-Write-Samples-Written`));
    // The next push, fully written, clears it.
    rx.reply({ written: 'all' });
    await gw.exporter.pushNow(i.id);
    expect((await status(i.id)).last_error).toBeNull();
    expect(rx.requests[1].version).toBe('2.0');
    await remove(i.id);
  });

  it('falls back to 1.0 when a 2xx comes without the written headers: resends the data as 1.0 and says so', async () => {
    const i = await create({ protocol_version: '2.0' });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 1 });
    expect(rx.requests.map((r) => r.version)).toEqual(['2.0', '1.0']);
    const [v2, v1] = rx.requests;
    expect(v1.headers).toMatchObject({ 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0', authorization: SECRET });
    const digest = (r: Received) => r.series.map((s) => `${JSON.stringify(Object.entries(s.labels).sort())} ${s.value} ${s.timestamp}`).sort();
    expect(digest(v1)).toEqual(digest(v2));
    expect(report.partial).toBeUndefined();
    expect(report.notice).toMatch(/answered a remote write 2\.0 request without the X-Prometheus-Remote-Write-\*-Written headers, so it is taken for a 1\.0 receiver.*; sent as remote write 1\.0, which this integration uses from now on/);
    expect(await status(i.id)).toMatchObject({ last_error: null, last_notice: report.notice });
    // From then on, 1.0 only.
    rx.clear();
    await gw.exporter.pushNow(i.id);
    expect(rx.requests.map((r) => r.version)).toEqual(['1.0']);
    expect(await status(i.id)).toMatchObject({ last_error: null, last_notice: null });
    await remove(i.id);
  });

  it('resends at once as 1.0 after a 415', async () => {
    const i = await create({ protocol_version: '2.0' });
    rx.reply({ status: 415, body: 'unsupported proto' });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 1 });
    expect(rx.requests.map((r) => r.version)).toEqual(['2.0', '1.0']);
    expect(delays).toEqual([]);
    expect((await status(i.id)).last_notice).toMatch(/refused remote write 2\.0 with HTTP 415 \(Unsupported Media Type\); sent as remote write 1\.0/);
    await remove(i.id);
  });
});

describe('delivery of remote write', () => {
  it('retries 5xx and 429 with the same bytes, honouring Retry-After', async () => {
    const i = await create();
    rx.reply({ status: 503 }, { status: 429, headers: { 'retry-after': '2' } });
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: true, attempts: 3 });
    expect(rx.requests).toHaveLength(3);
    expect(rx.requests[1].raw.equals(rx.requests[0].raw)).toBe(true);
    expect(rx.requests[2].raw.equals(rx.requests[0].raw)).toBe(true);
    expect(delays).toHaveLength(2);
    expect(delays[1]).toBe(2000);
    await remove(i.id);
  });

  it('resends the same 2.0 bytes on a retry, and the same 1.0 bytes after a fallback', async () => {
    const i = await create({ protocol_version: '2.0' });
    rx.reply({ status: 500 }, { written: 'all' });
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: true, attempts: 2 });
    expect(rx.requests[1].raw.equals(rx.requests[0].raw)).toBe(true);
    const j = await create({ protocol_version: '2.0' });
    rx.clear();
    rx.reply({ status: 415 }, { status: 502 }, {});
    expect(await gw.exporter.pushNow(j.id)).toMatchObject({ pushed: true, attempts: 2 });
    expect(rx.requests.map((r) => r.version)).toEqual(['2.0', '1.0', '1.0']);
    expect(rx.requests[2].raw.equals(rx.requests[1].raw)).toBe(true);
    // The failed resend does not lose the note: the success that follows carries it.
    expect((await status(j.id)).last_notice).toMatch(/HTTP 415/);
    await remove(i.id);
    await remove(j.id);
  });

  it('does not retry a 400, says what the receiver said, and never shows the auth header', async () => {
    const i = await create();
    rx.reply({ status: 400, body: `out of order sample; you sent Authorization: ${SECRET}` });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: false, attempts: 1 });
    expect(rx.requests).toHaveLength(1);
    const s = await status(i.id);
    expect(s).toMatchObject({ state: 'active', consecutive_failures: 1 });
    expect(s.last_error).toMatch(/^HTTP 400 from http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write: out of order sample; you sent Authorization: \[REDACTED\]$/);
    const answers = [
      report.error,
      (await api('GET', `/v1/projects/${p.id}/integrations/${i.id}`)).body,
      (await api('GET', `/v1/projects/${p.id}/integrations`)).body,
    ];
    rx.reply({ status: 401, body: SECRET });
    answers.push((await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/test`)).body);
    for (const a of answers) expect(a).not.toContain('rw-secret-token-5f1c9e27');
    await remove(i.id);
  });

  it('pauses after 10 failed pushes and sends nothing more until enabled', async () => {
    const i = await create();
    rx.setDefault({ status: 500 });
    for (let n = 1; n <= 10; n++) expect((await gw.exporter.pushNow(i.id)).attempts).toBe(4);
    expect(rx.requests).toHaveLength(40);
    const s = await status(i.id);
    expect(s).toMatchObject({ state: 'paused', consecutive_failures: 10 });
    expect(s.paused_reason).toMatch(/^paused after 10 consecutive failed pushes; last error: HTTP 500 from http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write/);
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 0 });
    expect(rx.requests).toHaveLength(40);
    rx.setDefault({});
    await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/enable`);
    expect((await gw.exporter.pushNow(i.id)).pushed).toBe(true);
    expect(await status(i.id)).toMatchObject({ state: 'active', consecutive_failures: 0 });
    await remove(i.id);
  });

  it('sends a staleness marker once for a series that went away', async () => {
    const own = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, file: { metrics: { gauge_stale_after: '1s' } }, delivery: { schedule: false } });
    try {
      const q = await own.project();
      const ingest = (e: object) => own.app.inject({ method: 'POST', url: '/v1/events', headers: own.auth(q.ingest), payload: e });
      await ingest({ type: 'run', app_name: 'a', status: 'success' });
      await ingest({ type: 'resource', app_name: 'a', cpu_cores: 1.5 });
      const made = await own.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: own.auth(q.manage), payload: { kind: 'prometheus_remote_write', endpoint: `${rx.url}/api/v1/write` } });
      const id = made.json().id as string;
      await own.exporter.pushNow(id);
      expect(find(rx.requests[0], 'meterway_cpu_utilization_cores')[0].value).toBe(1.5);
      await new Promise((r) => setTimeout(r, 1200)); // the gauge goes stale
      await own.exporter.pushNow(id);
      await own.exporter.pushNow(id);
      const [, second, third] = rx.requests;
      const marker = find(second, 'meterway_cpu_utilization_cores');
      expect(marker).toHaveLength(1);
      expect(Number.isNaN(marker[0].value)).toBe(true);
      expect(marker[0].timestamp).toBe(find(second, 'meterway_runs_total')[0].timestamp);
      // The exact staleness NaN, 0x7ff0000000000002, little-endian after the value's tag.
      expect(Buffer.from(uncompress(second.raw) as Uint8Array).includes(Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]))).toBe(true);
      expect(find(third, 'meterway_cpu_utilization_cores')).toEqual([]);
      expect(find(third, 'meterway_runs_total')[0].value).toBe(1);
    } finally {
      await own.close();
    }
  });
});

describe('test connection for remote write', () => {
  const test = async (endpoint: string, reply?: Reply, config: Record<string, unknown> = {}) => {
    const i = await create({ timeout_s: 1, ...config }, endpoint);
    if (reply) rx.reply(reply);
    const res = await api('POST', `/v1/projects/${p.id}/integrations/${i.id}/test`);
    await remove(i.id);
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it('sends a real empty request and answers in plain words', async () => {
    const url = `${rx.url}/api/v1/write`;
    expect(await test(url)).toMatchObject({ ok: true, status_code: 204, message: `works: ${url} accepted a remote write 1.0 request` });
    const [r] = rx.requests;
    expect(r).toMatchObject({ version: '1.0', series: [] });
    expect(r.headers.authorization).toBe(SECRET);
    expect(await test(url, { status: 401 })).toMatchObject({ ok: false, status_code: 401, message: expect.stringContaining('check the credentials') });
    expect(await test(url, { status: 403 })).toMatchObject({ ok: false, status_code: 403, message: expect.stringContaining('check the credentials') });
    expect(await test(`${rx.url}/wrong`, { status: 404 })).toMatchObject({ ok: false, status_code: 404, message: `HTTP 404: check the path; tried ${rx.url}/wrong` });
    const closed = await startReceiver();
    await closed.close();
    expect((await test(`${closed.url}/api/v1/write`)).message).toMatch(/^connection refused by 127\.0\.0\.1:\d+: nothing is listening there; check the host and port$/);
    expect(await test('http://no-such-host.invalid/api/v1/write')).toMatchObject({ ok: false, message: 'DNS failure: no-such-host.invalid does not resolve; check the host name' });
  });

  it('with 2.0, tells a 2.0 receiver from a 1.0 one', async () => {
    const url = `${rx.url}/api/v1/write`;
    expect(await test(url, { written: 'all' }, { protocol_version: '2.0' })).toMatchObject({ ok: true, message: `works: ${url} accepted a remote write 2.0 request` });
    expect(rx.requests[0]).toMatchObject({ version: '2.0', symbols: [''], series: [] });
    expect((await test(url, {}, { protocol_version: '2.0' })).message).toMatch(/^works, but .* answered without the X-Prometheus-Remote-Write-\*-Written headers .*: it looks like a 1\.0 receiver; pushes will fall back to 1\.0/);
    expect((await test(url, { status: 415 }, { protocol_version: '2.0' })).message).toMatch(/^works with remote write 1\.0 only: .* refused 2\.0 with HTTP 415 and accepted 1\.0/);
  });
});

describe('egress guard for remote write', () => {
  it('refuses a loopback endpoint when private egress is not allowed', async () => {
    const strict = await startTestGateway({ delivery: { schedule: false } });
    try {
      const q = await strict.project();
      for (const endpoint of [`${rx.url}/api/v1/write`, 'http://localhost:9090/api/v1/write', 'http://[::1]:9090/api/v1/write', 'http://10.1.2.3/api/v1/push']) {
        const res = await strict.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: strict.auth(q.manage), payload: { kind: 'prometheus_remote_write', endpoint } });
        expect(res.statusCode, endpoint).toBe(400);
        expect(res.json().error.code, endpoint).toBe('egress_forbidden');
        expect(res.json().error.message, endpoint).toMatch(/^endpoint: /);
      }
    } finally {
      await strict.close();
    }
    expect(rx.requests).toHaveLength(0);
  });
});
