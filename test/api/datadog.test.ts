/**
 * The `datadog` kind through the front door: integrations made with the REST API, events in
 * through /v1/events, pushes by `pushNow` to a local Datadog-like receiver. Every payload that
 * arrives is checked against the official @datadog/datadog-api-client models.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';
import { Writable } from 'node:stream';
import pino from 'pino';
import { v1, v2 } from '@datadog/datadog-api-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';
import type { Sleep } from '../../src/delivery/retry.js';
import { LIMITS } from '../../src/sinks/datadog/encode.js';

const KEY = 'dd0123456789abcdef0123456789abcd';

// ---------------------------------------------------------------------------------------------
// A Datadog-like receiver: records every request (the body inflated and parsed), answers 202 to
// posts and {"valid":true} to the key validation unless told otherwise.

interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  /** The body as it arrived. */
  readonly raw: Buffer;
  readonly json: any;
}

interface Reply {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
}

interface Receiver {
  readonly url: string;
  readonly requests: Received[];
  /** Replies for the next requests, in order; then `respond`. */
  reply(...replies: Reply[]): void;
  respond: (r: Received, index: number) => Reply;
  clear(): void;
  close(): Promise<void>;
}

const accept = (r: Received): Reply => (r.method === 'GET' ? { status: 200, body: '{"valid":true}' } : { status: 202, body: '{"errors":[]}' });

async function startReceiver(): Promise<Receiver> {
  const queue: Reply[] = [];
  const requests: Received[] = [];
  let server: Server;
  const rx: Receiver = {
    url: '',
    requests,
    reply: (...r) => queue.push(...r),
    respond: accept,
    clear: () => {
      requests.length = 0;
      queue.length = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let json: unknown;
      if (raw.length > 0) {
        const text = req.headers['content-encoding'] === 'deflate' ? inflateSync(raw).toString('utf8') : raw.toString('utf8');
        json = JSON.parse(text);
      }
      const rec: Received = { method: req.method ?? '', path: (req.url ?? '/').split('?')[0], headers: req.headers, raw, json };
      requests.push(rec);
      const r = queue.shift() ?? rx.respond(rec, requests.length - 1);
      res.writeHead(r.status ?? 202, { 'content-type': 'application/json', ...r.headers });
      res.end(r.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  (rx as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return rx;
}

/** Deserializes with the official models and fails on fields they do not know or values they do not take. */
function official(namespace: 'v1' | 'v2', type: string, doc: unknown): any {
  const serializer = namespace === 'v2' ? v2.ObjectSerializer : v1.ObjectSerializer;
  const instance = serializer.deserialize(doc, type, '');
  const walk = (o: unknown, path: string): void => {
    if (o === null || typeof o !== 'object') return;
    const rec = o as Record<string, unknown>;
    expect(rec.additionalProperties, `${path}: fields the ${type} model does not know`).toBeUndefined();
    expect(rec._unparsed, `${path}: a value the ${type} model does not accept`).toBeUndefined();
    for (const [k, v] of Object.entries(rec)) walk(v, `${path}.${k}`);
  };
  walk(instance, type);
  return instance;
}

/** Checks each request against its model; answers its series. */
function seriesOf(reqs: readonly Received[]): any[] {
  const out: any[] = [];
  for (const r of reqs) {
    if (r.path.endsWith('/api/v2/series')) official('v2', 'MetricPayload', r.json);
    else if (r.path.endsWith('/api/v1/series')) official('v1', 'MetricsPayload', r.json);
    else if (r.path.endsWith('/api/v1/distribution_points')) official('v1', 'DistributionPointsPayload', r.json);
    else continue;
    out.push(...r.json.series);
  }
  return out;
}

const valueOf = (s: any): number => (Array.isArray(s.points[0]) ? s.points[0][1] : s.points[0].value);
const sumOf = (series: any[], metric: string, tag?: string) =>
  series.filter((s) => s.metric === metric && (tag === undefined || s.tags.includes(tag))).reduce((a, s) => a + valueOf(s), 0);

// ---------------------------------------------------------------------------------------------

const delays: number[] = [];
const recordingSleep: Sleep = async (ms) => {
  delays.push(ms);
};
let logText = '';
const logStream = new Writable({ write(chunk, _enc, done) { logText += chunk.toString(); done(); } });

let gw: TestGateway;
let rx: Receiver;

beforeAll(async () => {
  gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, log: pino({ level: 'debug' }, logStream), delivery: { schedule: false, sleep: recordingSleep } });
  rx = await startReceiver();
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});
afterEach(() => {
  rx.clear();
  rx.respond = accept;
  delays.length = 0;
});

type Project = Awaited<ReturnType<TestGateway['project']>>;

const api = (p: Project, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
  gw.app.inject({ method, url: `/v1/projects/${p.id}${url}`, headers: gw.auth(p.manage), payload: payload as any });

async function ingest(p: Project, events: object[]): Promise<void> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest), payload: events });
  expect(res.json().rejected).toEqual([]);
}

async function create(p: Project, body: Record<string, unknown>): Promise<any> {
  const res = await api(p, 'POST', '/integrations', { kind: 'datadog', endpoint: rx.url, auth_headers: { 'DD-API-KEY': KEY }, ...body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** Meterway's own answer for a PromQL expression over the project (one sample expected). */
async function meterway(p: Project, expr: string): Promise<number> {
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=${encodeURIComponent(expr)}`, headers: gw.auth(p.monitoring) });
  const result = res.json().data.result;
  expect(result, expr).toHaveLength(1);
  return Number(result[0].value[1]);
}

const runs = (n: number, extra: object = {}) =>
  Array.from({ length: n }, (_, i) => ({ type: 'run', app_name: 'Chat', region: 'eu', status: 'success', execution_time_ms: 40 + 100 * i, ...extra }));

describe('creating a datadog integration', () => {
  it('needs no endpoint: config.site picks the intake, and an endpoint made from it follows the site', async () => {
    const p = await gw.project('dd-create');
    const res = await api(p, 'POST', '/integrations', { kind: 'datadog', auth_headers: { 'DD-API-KEY': KEY }, config: { site: 'datadoghq.eu', tags: ['env:prod'] } });
    expect(res.statusCode, res.body).toBe(201);
    const i = res.json();
    expect(i).toMatchObject({
      kind: 'datadog', name: 'datadog api.datadoghq.eu', endpoint: 'https://api.datadoghq.eu', auth_header_names: ['DD-API-KEY'],
      config: { interval_s: 60, timeout_s: 10, site: 'datadoghq.eu', series_api: 'v2', histograms: 'distributions', tags: ['env:prod'] },
    });
    expect(res.body).not.toContain(KEY);
    const patch = (body: object) => api(p, 'PATCH', `/integrations/${i.id}`, body);
    expect((await patch({ config: { site: 'us3.datadoghq.com' } })).json().endpoint).toBe('https://api.us3.datadoghq.com');
    // An endpoint given by hand (an agent, a proxy) overrides the site and stays when the site changes.
    expect((await patch({ endpoint: rx.url })).json().endpoint).toBe(rx.url);
    expect((await patch({ config: { site: 'datadoghq.com' } })).json().endpoint).toBe(rx.url);
    // "" goes back to the site's intake.
    expect((await patch({ endpoint: '' })).json().endpoint).toBe('https://api.datadoghq.com');
    const defaults = await api(p, 'POST', '/integrations', { kind: 'datadog' });
    expect(defaults.json()).toMatchObject({ endpoint: 'https://api.datadoghq.com', config: { site: 'datadoghq.com' } });
  });

  it('names config.site when the site is wrong, and leaves the other kinds as they were', async () => {
    const p = await gw.project('dd-bad');
    const bad = async (body: object, message: string | RegExp) => {
      const res = await api(p, 'POST', '/integrations', { kind: 'datadog', ...body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.message).toMatch(message);
    };
    await bad({ config: { site: 'https://datadoghq.com' } }, /^config\.site: must be the site's name alone, without https:\/\/ or a path \(e\.g\. "datadoghq\.eu"\), got "https:\/\/datadoghq\.com"$/);
    await bad({ config: { site: 'app.datadoghq.eu' } }, 'config.site: "app.datadoghq.eu" is the address of Datadog\'s web app, not the site; use "datadoghq.eu"');
    await bad({ config: { site: 'api.datadoghq.com' } }, /^config\.site: .* not the site; use "datadoghq\.com"$/);
    await bad({ config: { site: 'datadoghq' } }, /^config\.site: must be a host name, one of datadoghq\.com, us3\.datadoghq\.com, .* or another Datadog site, got "datadoghq"$/);
    await bad({ config: { site: '' } }, /^config\.site: must name a Datadog site/);
    // Checked with an endpoint too, so no stored config names a wrong site.
    await bad({ endpoint: rx.url, config: { site: 'datadoghq.com:443' } }, /^config\.site: must be a host name/);
    await bad({ endpoint: rx.url, config: { histograms: 'sketches' } }, /^config\.histograms: .*: one of distributions, counters/);
    await bad({ endpoint: rx.url, config: { series_api: 'v3' } }, /^config\.series_api: .*: one of v2, v1/);
    await bad({ endpoint: rx.url, config: { tags: ['9lives:x'] } }, /^config\.tags\.0: /);
    await bad({ endpoint: rx.url, config: { tags: ['env:'] } }, /^config\.tags\.0: /);
    await bad({ endpoint: rx.url, config: { logs: true } }, /^config\.logs: /);
    await bad({ endpoint: 'ftp://x' }, 'endpoint: must use http:// or https://, got ftp:');
    // A kind without a default endpoint still requires one, with the same words.
    const otlp = await api(p, 'POST', '/integrations', { kind: 'otlp' });
    expect(otlp.json().error.message).toBe('endpoint: is required, e.g. "https://otlp.example.com"');
    const i = await create(p, {});
    const patched = await api(p, 'PATCH', `/integrations/${i.id}`, { endpoint: '', config: { site: 'https://x' } });
    expect(patched.json().error.message).toMatch(/^config\.site: must be the site's name alone/);
  });
});

describe('pushing to Datadog', () => {
  it('sends v2 series and distribution points, deflated, with DD-API-KEY, tags from labels and config', async () => {
    const p = await gw.project('dd-push');
    const i = await create(p, { config: { tags: ['Env:Prod', 'team:ml'] } });
    await ingest(p, runs(3));
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 1 });
    expect(rx.requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual(['POST /api/v1/distribution_points', 'POST /api/v2/series']);
    for (const r of rx.requests) {
      expect(r.headers['dd-api-key']).toBe(KEY);
      expect(r.headers['content-encoding']).toBe('deflate');
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.raw.length).toBeLessThanOrEqual(LIMITS.v2.compressed);
    }
    const series = seriesOf(rx.requests);
    const count = series.find((s) => s.metric === 'meterway_runs_total');
    expect(count).toMatchObject({ type: 1, interval: 60, points: [{ value: 3 }] });
    expect(Math.abs(count.points[0].timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(count.tags).toEqual([`project_id:${p.id}`, `app_id:${p.id}-chat`, 'app_name:chat', 'region:eu', 'env:prod', 'team:ml']);
    expect(count.resources).toBeUndefined();
    const exec = 'meterway_run_execution_time_seconds';
    expect(sumOf(series, `${exec}.count`)).toBe(3);
    expect(sumOf(series, `${exec}.sum`)).toBeCloseTo(0.04 + 0.14 + 0.24, 10);
    const dist = series.find((s) => s.metric === exec && s.type === 'distribution');
    expect(dist.points[0][1]).toHaveLength(3);
    expect(dist.tags).toEqual(count.tags);
    // Meterway says the same.
    expect(await meterway(p, 'sum(meterway_runs_total)')).toBe(sumOf(series, 'meterway_runs_total'));
  });

  it('sends histograms as counters when asked, and v1 series for receivers that only take v1', async () => {
    const p = await gw.project('dd-counters');
    const i = await create(p, { config: { histograms: 'counters', series_api: 'v1' } });
    await ingest(p, runs(4));
    await gw.exporter.pushNow(i.id);
    expect(rx.requests.map((r) => r.path)).toEqual(['/api/v1/series']);
    const series = seriesOf(rx.requests);
    const exec = 'meterway_run_execution_time_seconds';
    expect(sumOf(series, `${exec}.count`)).toBe(4);
    const buckets = series.filter((s) => s.metric === `${exec}.bucket`);
    expect(buckets.every((s) => s.type === 'count' && s.interval === 60)).toBe(true);
    // Cumulative, as Prometheus' le: 40, 140, 240, 340 ms.
    for (const [le, n] of [['0.05', 1], ['0.25', 3], ['0.5', 4]] as const) {
      expect(await meterway(p, `sum(${exec}_bucket{le="${le}"})`)).toBe(n);
      expect(sumOf(buckets, `${exec}.bucket`, `upper_bound:${le}`)).toBe(n);
    }
    expect(buckets.some((s) => s.tags.some((t: string) => t.includes('inf')))).toBe(false);
  });

  it('sends deltas: a failed push rolls its increments into the next, nothing lost or doubled', async () => {
    const p = await gw.project('dd-delta');
    const i = await create(p, { config: { histograms: 'counters' } });
    const delivered: any[] = [];
    const push = async (fail: boolean) => {
      rx.clear();
      if (fail) rx.respond = () => ({ status: 400, body: '{"errors":["bad"]}' });
      const report = await gw.exporter.pushNow(i.id);
      rx.respond = accept;
      if (!fail) delivered.push(...seriesOf(rx.requests));
      return report;
    };
    await ingest(p, runs(3));
    expect((await push(false)).pushed).toBe(true);
    await ingest(p, runs(2));
    expect(await push(true)).toMatchObject({ pushed: false, attempts: 1 }); // 400: not retried
    await ingest(p, runs(4));
    expect((await push(false)).pushed).toBe(true);
    const counts = delivered.filter((s) => s.metric === 'meterway_runs_total').map(valueOf);
    expect(counts).toEqual([3, 6]);
    expect(await push(false)).toMatchObject({ pushed: true });
    expect(delivered.filter((s) => s.metric === 'meterway_runs_total').map(valueOf)).toEqual([3, 6, 0]);
    expect(sumOf(delivered, 'meterway_runs_total')).toBe(await meterway(p, 'sum(meterway_runs_total)'));
    expect(sumOf(delivered, 'meterway_run_execution_time_seconds.count')).toBe(await meterway(p, 'sum(meterway_run_execution_time_seconds_count)'));
  });

  it('retries 5xx and 429 resending the same bytes, not 400, and pauses after 10 failed pushes', async () => {
    const p = await gw.project('dd-retry');
    const i = await create(p, {});
    await ingest(p, runs(1));
    rx.reply({ status: 503 }, { status: 429, headers: { 'retry-after': '2' } });
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 3 });
    expect(delays[1]).toBe(2000);
    const firstPath = rx.requests[0].path;
    const same = rx.requests.filter((r) => r.path === firstPath);
    expect(same).toHaveLength(3);
    expect(same[1].raw.equals(same[0].raw) && same[2].raw.equals(same[0].raw)).toBe(true);
    // The other request of the push went once: what was accepted is not sent again.
    expect(rx.requests).toHaveLength(4);

    rx.clear();
    rx.reply({ status: 400, body: 'no' });
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 1 });
    expect(rx.requests).toHaveLength(1);

    rx.respond = () => ({ status: 500 });
    for (let n = 2; n <= 10; n++) expect((await gw.exporter.pushNow(i.id)).attempts).toBe(4);
    const status = (await api(p, 'GET', `/integrations/${i.id}`)).json().status;
    expect(status).toMatchObject({ state: 'paused', consecutive_failures: 10 });
    expect(status.paused_reason).toMatch(/^paused after 10 consecutive failed pushes; last error: HTTP 500 from http:\/\/127\.0\.0\.1:\d+\/api\/v\d\//);
    const before = rx.requests.length;
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 0 });
    expect(rx.requests).toHaveLength(before);
    rx.respond = accept;
    await api(p, 'POST', `/integrations/${i.id}/enable`);
    expect((await gw.exporter.pushNow(i.id)).pushed).toBe(true);
  });

  it('never shows the DD-API-KEY: not in responses, status, test results or logs, even when the receiver echoes it', async () => {
    const p = await gw.project('dd-secret');
    const i = await create(p, {});
    await ingest(p, runs(1));
    const echo = (r: Received): Reply => ({ status: r.method === 'GET' ? 403 : 500, body: JSON.stringify({ errors: [`bad key ${r.headers['dd-api-key']}`], headers: r.headers }) });
    rx.respond = echo;
    const report = await gw.exporter.pushNow(i.id);
    expect(report.pushed).toBe(false);
    expect(report.error).toContain('[REDACTED]');
    const test = await api(p, 'POST', `/integrations/${i.id}/test`);
    const bodies = [report.error, (await api(p, 'GET', `/integrations/${i.id}`)).body, (await api(p, 'GET', '/integrations')).body, test.body];
    await gw.integrations.flushStatus(true);
    expect(logText).toContain('push failed');
    for (const text of [...bodies, logText]) expect(text).not.toContain(KEY);
    expect(rx.requests.every((r) => r.headers['dd-api-key'] === KEY)).toBe(true);
  });
});

describe('splitting a large push', () => {
  it('goes as several requests, each under the limits, whose points add up to the whole; a failed part is resent alone and never counted twice', async () => {
    const p = await gw.project('dd-split');
    const i = await create(p, { config: { histograms: 'counters' } });
    const apps = 420;
    const events = (round: number) => Array.from({ length: apps }, (_, a) => ({
      type: 'run', app_name: `app-${a}`, region: `region-${a % 5}`, status: 'success',
      execution_time_ms: 10 + a + round, queue_time_ms: 5 + a, response_time_ms: 20 + a, coldstart_time_ms: 300 + a,
    }));
    await ingest(p, events(0));
    // The second series request fails once: it alone is sent again.
    rx.respond = (r, n) => (r.path === '/api/v2/series' && rx.requests.filter((q) => q.path === '/api/v2/series').length === 2 && n < 3 ? { status: 503 } : accept(r));
    const report = await gw.exporter.pushNow(i.id);
    expect(report).toMatchObject({ pushed: true, attempts: 2 });
    const posts = rx.requests.filter((r) => r.path === '/api/v2/series');
    expect(posts.length).toBeGreaterThanOrEqual(3);
    expect(posts[2].raw.equals(posts[1].raw)).toBe(true);
    const accepted = posts.filter((_, n) => n !== 1);
    for (const r of accepted) {
      expect(r.raw.length).toBeLessThanOrEqual(LIMITS.v2.compressed);
      expect(inflateSync(r.raw).length).toBeLessThan(LIMITS.v2.uncompressed);
    }
    const series = seriesOf(accepted);
    expect(sumOf(series, 'meterway_runs_total')).toBe(apps);
    expect(sumOf(series, 'meterway_run_queue_time_seconds.count')).toBe(apps);
    expect(new Set(series.filter((s) => s.metric === 'meterway_runs_total').map((s) => s.tags.join()))).toHaveProperty('size', apps);

    // A push whose later part fails every attempt: the parts that went out are not sent again by the next push.
    rx.clear();
    await ingest(p, events(1));
    let seriesPosts = 0;
    rx.respond = (r) => (r.path === '/api/v2/series' && ++seriesPosts >= 2 ? { status: 500 } : accept(r));
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 4 });
    const partial = seriesOf(rx.requests.filter((r) => r.path === '/api/v2/series').slice(0, 1));
    expect(partial.length).toBeGreaterThan(0);
    rx.clear();
    rx.respond = accept;
    await ingest(p, events(2));
    expect((await gw.exporter.pushNow(i.id)).pushed).toBe(true);
    const after = [...partial, ...seriesOf(rx.requests)];
    // Over both pushes, each counter was delivered exactly once: the two rounds of events.
    expect(sumOf(after, 'meterway_runs_total')).toBe(2 * apps);
    expect(sumOf(after, 'meterway_run_execution_time_seconds.count')).toBe(2 * apps);
    expect(sumOf([...series, ...after], 'meterway_runs_total')).toBe(await meterway(p, 'sum(meterway_runs_total)'));
  });
});

describe('test connection', () => {
  const test = async (p: Project, id: string) => {
    const res = await api(p, 'POST', `/integrations/${id}/test`);
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it('validates the key and says in plain words whether the key or the site is wrong', async () => {
    const p = await gw.project('dd-test');
    const i = await create(p, { config: { timeout_s: 1 } });
    expect(await test(p, i.id)).toMatchObject({ ok: true, status_code: 200, message: `works: ${new URL(rx.url).host} accepted the API key (GET /api/v1/validate)` });
    expect(rx.requests[0]).toMatchObject({ method: 'GET', path: '/api/v1/validate' });
    expect(rx.requests[0].headers['dd-api-key']).toBe(KEY);
    rx.reply({ status: 403, body: '{"errors":["Forbidden"]}' });
    expect(await test(p, i.id)).toMatchObject({ ok: false, status_code: 403, message: 'HTTP 403: the API key was refused; check the DD-API-KEY auth header' });
    rx.reply({ status: 200, body: '{"valid":false}' });
    expect(await test(p, i.id)).toMatchObject({ ok: false, message: 'HTTP 200 {"valid":false}: the API key was refused; check the DD-API-KEY auth header' });
    rx.reply({ status: 404 });
    expect((await test(p, i.id)).message).toBe(`HTTP 404: no Datadog API at ${rx.url}/api/v1/validate; check the endpoint: it is the base the /api/... paths go under (e.g. http://victoria-metrics:8428/datadog), or leave it out to use config.site`);
    const keyless = (await api(p, 'POST', '/integrations', { kind: 'datadog', endpoint: rx.url })).json();
    rx.reply({ status: 403 });
    expect((await test(p, keyless.id)).message).toBe('HTTP 403: the request has no API key; add auth_headers {"DD-API-KEY": "<your API key>"}');

    // A site that does not exist: its intake does not resolve.
    const wrongSite = (await api(p, 'POST', '/integrations', { kind: 'datadog', auth_headers: { 'DD-API-KEY': KEY }, config: { site: 'no-such-site.invalid', timeout_s: 2 } })).json();
    expect(wrongSite.endpoint).toBe('https://api.no-such-site.invalid');
    const dns = await test(p, wrongSite.id);
    expect(dns).toMatchObject({ ok: false });
    expect(dns.message).toBe('DNS failure: api.no-such-site.invalid does not resolve, so "no-such-site.invalid" is not a Datadog site; check config.site (datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com, uk1.datadoghq.com, ddog-gov.com, us2.ddog-gov.com)');
    const closed = await startReceiver();
    await closed.close();
    const refused = (await api(p, 'POST', '/integrations', { kind: 'datadog', endpoint: closed.url })).json();
    expect((await test(p, refused.id)).message).toMatch(/^connection refused by 127\.0\.0\.1:\d+: nothing is listening there/);
  });
});

describe('egress guard', () => {
  it('refuses an endpoint on loopback, and a site whose intake does not resolve, unless private egress is allowed', async () => {
    const strict = await startTestGateway({ delivery: { schedule: false } });
    try {
      const q = await strict.project();
      const post = (payload: object) => strict.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: strict.auth(q.manage), payload: { kind: 'datadog', ...payload } });
      const loop = await post({ endpoint: rx.url });
      expect(loop.statusCode).toBe(400);
      expect(loop.json().error).toMatchObject({ code: 'egress_forbidden', message: expect.stringMatching(/^endpoint: /) });
      const site = await post({ config: { site: 'no-such-site.invalid' } });
      expect(site.statusCode).toBe(400);
      expect(site.json().error.code).toBe('egress_forbidden');
      expect(site.json().error.message).toMatch(/^config\.site: api\.no-such-site\.invalid does not resolve .*\(the endpoint https:\/\/api\.no-such-site\.invalid is made from config\.site\)$/);
    } finally {
      await strict.close();
    }
  });
});
