/**
 * The endpoints real Prometheus clients call beyond queries (issue 15): status/buildinfo, flags,
 * config, runtimeinfo, tsdb; format_query and parse_query; the empty targets, alertmanagers,
 * rules, alerts and exemplars; /federate; and Prometheus' error shape for every other path under
 * the prefix. Each is confined to the project: another project's series, names and values never
 * show, whatever a match[] names.
 *
 * The npm client `prometheus-query` is not installed here, so the client test below makes the
 * requests it makes (same paths, parameters and parsing) with fetch; where a Prometheus 2.42 is
 * installed, the same calls against it must give answers of the same shape.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';
import { hasPrometheus, poll, startPrometheus, type PrometheusPeer } from '../peers.js';

type Project = Awaited<ReturnType<TestGateway['project']>>;

let gw: TestGateway;
let base: string;
let p: Project;
let q: Project;
const T = Date.now() - 20_000;
const OLD = Date.now() - 10 * 60_000;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function importText(project: Project, lines: string[]) {
  return gw.app.inject({ method: 'POST', url: `/v1/projects/${project.id}/import`, headers: { ...gw.auth(project.manage), 'content-type': 'text/plain' }, payload: lines.join('\n') });
}

beforeAll(async () => {
  gw = await startTestGateway({ flags: { retention: '0' } });
  await gw.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  p = await gw.project('clients');
  q = await gw.project('neighbour');
  const mine = await importText(p, [
    `http_requests_total{job="api",code="200"} 5 ${T}`,
    `http_requests_total{job="api",code="500"} 1 ${T}`,
    `temperature{room="lab"} 21.5 ${T}`,
    `weird{v="a\\"b\\\\c\\nd"} 1000000 ${T}`,
    `old_metric 1 ${OLD}`,
  ]);
  expect(mine.json()).toEqual({ imported: 5, errors: [] });
  const theirs = await importText(q, [`secret_metric{tenant_secret="q-only"} 42 ${T}`, `http_requests_total{job="api",code="200"} 99 ${T}`]);
  expect(theirs.json()).toEqual({ imported: 2, errors: [] });
});
afterAll(async () => gw.close());

const get = (path: string, token = p.monitoring, pid = p.id) =>
  gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/${path}`, headers: gw.auth(token) });
const api = (path: string, token = p.monitoring, pid = p.id) => get(`api/v1/${path}`, token, pid);

describe('status endpoints', () => {
  it('buildinfo: the Prometheus API version implemented, and Meterway\'s own', async () => {
    const res = await api('status/buildinfo');
    expect(res.statusCode).toBe(200);
    const { status, data } = res.json();
    expect(status).toBe('success');
    expect(Object.keys(data).sort()).toEqual(['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version']);
    expect(data.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(data.revision).toBe(`meterway-${VERSION}`);
    expect(data.goVersion).toContain(`Meterway ${VERSION}`);
  });

  it('flags: the query and storage settings under Prometheus\' flag names', async () => {
    const { data } = (await api('status/flags')).json();
    expect(data).toMatchObject({
      'query.lookback-delta': '5m',
      'query.timeout': '2m',
      'query.max-samples': '10000000',
      'storage.tsdb.retention.time': '0s',
      'web.route-prefix': `/v1/projects/${p.id}/prometheus`,
    });
    for (const v of Object.values(data)) expect(typeof v).toBe('string');
  });

  it('config: the project\'s view, intervals from storage.interval, nothing secret', async () => {
    const res = await api('status/config');
    const { data } = res.json();
    expect(Object.keys(data)).toEqual(['yaml']);
    expect(data.yaml).toBe('global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\n  evaluation_interval: 15s\n');
    expect(res.body).not.toContain(gw.dataDir);
    expect(res.body).not.toContain(p.monitoring);
  });

  it('runtimeinfo: Prometheus\' fields, no working directory', async () => {
    const { data } = (await api('status/runtimeinfo')).json();
    expect(Object.keys(data).sort()).toEqual(['GODEBUG', 'GOGC', 'GOMAXPROCS', 'corruptionCount', 'goroutineCount', 'lastConfigTime', 'reloadConfigSuccess', 'startTime', 'storageRetention']);
    expect(data).toMatchObject({ reloadConfigSuccess: true, corruptionCount: 0, goroutineCount: 0, storageRetention: 'unlimited' });
    expect(Number.isNaN(Date.parse(data.startTime))).toBe(false);
    expect(JSON.stringify(data)).not.toContain(process.cwd());
  });

  it('walreplay, -/healthy and -/ready: nothing to wait for', async () => {
    expect((await api('status/walreplay')).json()).toEqual({ status: 'success', data: { min: 0, max: 0, current: 0 } });
    const ready = await get('-/ready');
    expect([ready.statusCode, ready.body]).toEqual([200, 'Prometheus Server is Ready.\n']);
    expect((await get('-/healthy')).body).toBe('Prometheus Server is Healthy.\n');
    expect((await get('-/ready', q.monitoring)).statusCode).toBe(404);
  });

  it('tsdb: the cardinality of the project\'s own series only', async () => {
    const res = await api('status/tsdb');
    const { data } = res.json();
    expect(data.headStats).toEqual({ numSeries: 5, numLabelPairs: 10, chunkCount: 5, minTime: OLD, maxTime: T });
    expect(data.seriesCountByMetricName).toEqual([
      { name: 'http_requests_total', value: 2 }, { name: 'old_metric', value: 1 }, { name: 'temperature', value: 1 }, { name: 'weird', value: 1 },
    ]);
    expect(data.labelValueCountByLabelName[0]).toEqual({ name: '__name__', value: 4 });
    expect(data.seriesCountByLabelValuePair[0]).toEqual({ name: `project_id=${p.id}`, value: 5 });
    expect(data.memoryInBytesByLabelName.find((s: { name: string }) => s.name === 'room')).toEqual({ name: 'room', value: 3 });
    expect(res.body).not.toContain(q.id);
    expect(res.body).not.toContain('secret');
    expect((await api('status/tsdb?limit=1')).json().data.seriesCountByMetricName).toEqual([{ name: 'http_requests_total', value: 2 }]);
    expect((await api('status/tsdb?limit=0')).json()).toMatchObject({ status: 'error', errorType: 'bad_data' });
  });

  it('tsdb of an empty project: Prometheus\' int64 bounds, exactly', async () => {
    const empty = await gw.project('empty');
    const res = await api('status/tsdb', empty.monitoring, empty.id);
    expect(res.body).toContain('"minTime":9223372036854775807,"maxTime":-9223372036854775808');
    expect(res.json().data.seriesCountByMetricName).toEqual([]);
  });
});

describe('format_query and parse_query', () => {
  it('formats as Prometheus does, by GET and form POST', async () => {
    const res = await api(`format_query?query=${encodeURIComponent('sum by(job)(rate(x[5m]))')}`);
    expect(res.json()).toEqual({ status: 'success', data: 'sum by (job) (rate(x[5m]))' });
    const post = await gw.app.inject({
      method: 'POST', url: `/v1/projects/${p.id}/prometheus/api/v1/format_query`,
      headers: { ...gw.auth(p.monitoring), 'content-type': 'application/x-www-form-urlencoded' },
      payload: `query=${encodeURIComponent('x{b="1",a="2"} offset 5m @ 100')}`,
    });
    expect(post.json()).toEqual({ status: 'success', data: 'x{a="2",b="1"} @ 100.000 offset 5m' });
  });

  it('answers a query it cannot parse with bad_data, in Prometheus\' words', async () => {
    const bad = await api('format_query?query=sum(');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis' });
    expect((await api('format_query')).json()).toEqual({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:1: parse error: no expression found in input' });
    expect((await api('parse_query?query=sum(')).json().errorType).toBe('bad_data');
  });

  it('parse_query: the syntax tree as Prometheus 3 answers it', async () => {
    const res = await api(`parse_query?query=${encodeURIComponent('sum by (job) (rate(x{a="b"}[5m] offset 1m)) > bool 2')}`);
    expect(res.json()).toEqual({
      status: 'success',
      data: {
        type: 'binaryExpr', op: '>', bool: true, matching: null,
        lhs: {
          type: 'aggregation', op: 'sum', grouping: ['job'], without: false, param: null,
          expr: {
            type: 'call',
            func: { name: 'rate', argTypes: ['matrix'], variadic: 0, returnType: 'vector' },
            args: [{
              type: 'matrixSelector', name: 'x', range: 300_000, offset: 60_000, timestamp: null, startOrEnd: null, anchored: false, smoothed: false,
              matchers: [{ name: '__name__', type: '=', value: 'x' }, { name: 'a', type: '=', value: 'b' }],
            }],
          },
        },
        rhs: { type: 'numberLiteral', val: '2' },
      },
    });
    const matching = (await api(`parse_query?query=${encodeURIComponent('a * on (x) group_left (y) b')}`)).json().data.matching;
    expect(matching).toEqual({ card: 'many-to-one', labels: ['x'], on: true, include: ['y'], fillValues: { lhs: null, rhs: null } });
  });
});

describe('what a gateway has none of', () => {
  it('answers targets, alertmanagers, rules, alerts and exemplars well-formed and empty', async () => {
    expect((await api('targets')).json()).toEqual({ status: 'success', data: { activeTargets: [], droppedTargets: [] } });
    expect((await api('targets?state=active')).json()).toEqual({ status: 'success', data: { activeTargets: [], droppedTargets: [] } });
    expect((await api('targets/metadata?metric=up')).json()).toEqual({ status: 'success', data: [] });
    expect((await api('alertmanagers')).json()).toEqual({ status: 'success', data: { activeAlertmanagers: [], droppedAlertmanagers: [] } });
    expect((await api('rules')).json()).toEqual({ status: 'success', data: { groups: [] } });
    expect((await api('rules?type=alert')).json()).toEqual({ status: 'success', data: { groups: [] } });
    expect((await api('rules?type=bogus')).json()).toEqual({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "type": not supported value "bogus"' });
    expect((await api('alerts')).json()).toEqual({ status: 'success', data: { alerts: [] } });
    expect((await api(`query_exemplars?query=http_requests_total&start=${T / 1000 - 60}&end=${T / 1000 + 60}`)).json()).toEqual({ status: 'success', data: [] });
    expect((await api('query_exemplars?query=sum(')).json()).toEqual({ status: 'error', errorType: 'bad_data', error: '1:5: parse error: unclosed left parenthesis' });
  });
});

describe('federate', () => {
  const federate = (match: string[], token = p.monitoring, pid = p.id) =>
    get(`federate?${match.map((m) => `match[]=${encodeURIComponent(m)}`).join('&')}`, token, pid);

  it('answers the latest samples within the lookback, as Prometheus\' /federate writes them', async () => {
    const res = await federate(['{__name__=~".+"}']);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toBe([
      '# TYPE http_requests_total untyped',
      `http_requests_total{code="200",job="api",project_id="${p.id}",instance=""} 5 ${T}`,
      `http_requests_total{code="500",job="api",project_id="${p.id}",instance=""} 1 ${T}`,
      '# TYPE temperature untyped',
      `temperature{project_id="${p.id}",room="lab",instance=""} 21.5 ${T}`,
      '# TYPE weird untyped',
      `weird{project_id="${p.id}",v="a\\"b\\\\c\\nd",instance=""} 1e+06 ${T}`,
      '',
    ].join('\n'));
  });

  it('takes several match[], each series once, and nothing without one', async () => {
    const res = await federate(['temperature', '{room="lab"}', 'http_requests_total{code="500"}']);
    expect(res.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([
      `http_requests_total{code="500",job="api",project_id="${p.id}",instance=""} 1 ${T}`,
      `temperature{project_id="${p.id}",room="lab",instance=""} 21.5 ${T}`,
    ]);
    const none = await get('federate');
    expect(none.statusCode).toBe(200);
    expect(none.body).toBe('');
  });

  it('never answers another project\'s series, whatever match[] names (isolation probe)', async () => {
    for (const probe of [
      [`{project_id="${q.id}"}`],
      ['secret_metric'],
      ['{tenant_secret="q-only"}'],
      [`http_requests_total{project_id="${q.id}"}`],
      [`{__name__=~".+",project_id=~"${q.id}|${p.id}"}`],
    ]) {
      const res = await federate(probe);
      expect(res.statusCode, probe[0]).toBe(200);
      expect(res.body, probe[0]).not.toContain(q.id);
      expect(res.body, probe[0]).not.toContain('secret');
      expect(res.body, probe[0]).not.toContain(' 99 ');
    }
    // The neighbour sees its own, and only its own.
    const theirs = await federate(['{__name__=~".+"}'], q.monitoring, q.id);
    expect(theirs.body).toContain(`secret_metric{project_id="${q.id}",tenant_secret="q-only",instance=""} 42 ${T}`);
    expect(theirs.body).not.toContain(p.id);
  });

  it('checks match[] and the token as the query API does', async () => {
    const bad = await federate(['up{']);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ status: 'error', errorType: 'bad_data' });
    expect((await federate(['1 + 1'])).json().errorType).toBe('bad_data');
    const cross = await federate(['{__name__=~".+"}'], q.monitoring, p.id);
    expect(cross.statusCode).toBe(404);
    expect(cross.json()).toMatchObject({ status: 'error', errorType: 'not_found' });
    const anonymous = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/federate?match[]=up` });
    expect(anonymous.statusCode).toBe(401);
    expect((await federate(['up'], p.ingest)).statusCode).toBe(403);
  });
});

describe('paths that do not exist under the prefix', () => {
  it('answer 404 in Prometheus\' error shape', async () => {
    for (const path of ['api/v1/nope', 'api/v1/status/nope', 'api/v2/query', 'nope', 'api/v1/admin/tsdb/snapshot', 'api/v1/label/a/values/extra']) {
      const res = await get(path);
      expect(res.statusCode, path).toBe(404);
      expect(res.json(), path).toEqual({ status: 'error', errorType: 'not_found', error: expect.stringContaining(`/v1/projects/${p.id}/prometheus/${path}`) });
    }
    const post = await gw.app.inject({ method: 'POST', url: `/v1/projects/${p.id}/prometheus/api/v1/admin/tsdb/snapshot`, headers: gw.auth(p.monitoring) });
    expect(post.statusCode).toBe(404);
    expect(post.json().errorType).toBe('not_found');
  });

  it('check the token first: another project\'s token gets that project\'s 404, none a 401', async () => {
    const cross = await api('nope', q.monitoring);
    expect(cross.statusCode).toBe(404);
    expect(cross.json()).toEqual({ status: 'error', errorType: 'not_found', error: `no project "${p.id}" is visible to this token` });
    expect(cross.json()).toEqual((await api('query?query=1', q.monitoring)).json());
    const anonymous = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/nope` });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ status: 'error', errorType: 'unauthorized' });
    expect((await api('nope', p.ingest)).statusCode).toBe(403);
    const missing = await api('nope', p.monitoring, 'p-doesnotx');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().errorType).toBe('not_found');
  });

  it('answer a method an endpoint does not take with 405 and Allow', async () => {
    const res = await gw.app.inject({ method: 'POST', url: `/v1/projects/${p.id}/prometheus/api/v1/status/config`, headers: gw.auth(p.monitoring) });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, OPTIONS');
    expect(res.json()).toMatchObject({ status: 'error', errorType: 'bad_data' });
    const del = await gw.app.inject({ method: 'DELETE', url: `/v1/projects/${p.id}/prometheus/api/v1/query`, headers: gw.auth(p.monitoring) });
    expect(del.statusCode).toBe(405);
    expect(del.headers.allow).toBe('GET, POST, OPTIONS');
  });

  it('leave the rest of the API\'s errors as they were', async () => {
    const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/nope`, headers: gw.auth(p.monitoring) });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

/**
 * The requests the npm package `prometheus-query` (PrometheusDriver) makes, with its parsing: GET
 * `${endpoint}/api/v1/${path}` with the options' headers, arrays as repeated `match[]`, times in
 * Unix seconds; `status: "success"` gives `data`, anything else throws `errorType: error`.
 */
function promQueryClient(endpoint: string, headers: Record<string, string>) {
  const request = async (path: string, params: Record<string, string | string[] | number | undefined> = {}) => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) qs.append(k, String(one));
    }
    const res = await fetch(`${endpoint}/api/v1/${path}${qs.size > 0 ? `?${qs}` : ''}`, { headers });
    const body = (await res.json()) as { status: string; data?: unknown; errorType?: string; error?: string };
    if (body.status !== 'success') throw new Error(`${body.errorType}: ${body.error}`);
    return body.data as any;
  };
  const secs = (ms: number) => ms / 1000;
  return {
    instantQuery: (query: string, time: number) => request('query', { query, time: secs(time) }),
    rangeQuery: (query: string, start: number, end: number, step: number) => request('query_range', { query, start: secs(start), end: secs(end), step }),
    series: (match: string[], start: number, end: number) => request('series', { 'match[]': match, start: secs(start), end: secs(end) }),
    labelNames: (match?: string[]) => request('labels', { 'match[]': match }),
    labelValues: (name: string, match?: string[]) => request(`label/${name}/values`, { 'match[]': match }),
    targets: (state?: string) => request('targets', { state }),
    targetsMetadata: (matchTarget?: string, metric?: string, limit?: number) => request('targets/metadata', { match_target: matchTarget, metric, limit }),
    metadata: (metric?: string, limit?: number) => request('metadata', { metric, limit }),
    rules: (type?: string) => request('rules', { type }),
    alerts: () => request('alerts'),
    alertmanagers: () => request('alertmanagers'),
    status: async () => ({
      config: await request('status/config'),
      flags: await request('status/flags'),
      runtimeinfo: await request('status/runtimeinfo'),
      buildinfo: await request('status/buildinfo'),
      tsdb: await request('status/tsdb'),
    }),
    exemplars: (query: string, start: number, end: number) => request('query_exemplars', { query, start: secs(start), end: secs(end) }),
    snapshot: () => request('admin/tsdb/snapshot'),
  };
}

type Client = ReturnType<typeof promQueryClient>;

/** Every call of the client against one server, with the answers it got. */
async function callEverything(c: Client, metric: string, name: string, at: number) {
  return {
    instant: await c.instantQuery(metric, at),
    range: await c.rangeQuery(metric, at - 60_000, at, 30),
    series: await c.series([metric], at - 600_000, at),
    labelNames: await c.labelNames(),
    labelValues: await c.labelValues(name),
    targets: await c.targets(),
    targetsMetadata: await c.targetsMetadata(undefined, 'nope'),
    metadata: await c.metadata(),
    rules: await c.rules(),
    alerts: await c.alerts(),
    alertmanagers: await c.alertmanagers(),
    status: await c.status(),
    exemplars: await c.exemplars(metric, at - 60_000, at),
  };
}

/** A value's shape: object keys (sorted) with their shapes, an array's first element, or typeof. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? [] : [shape(v[0])];
  if (v === null) return 'null';
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return typeof v;
}

/** A list element's shape, a label map's values all strings whatever their names. */
function elementShape(v: unknown): unknown {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return 'label map';
  return shape(v);
}

describe('a prometheus-query client', () => {
  it('reads every answer it asks for', async () => {
    const c = promQueryClient(`${base}/v1/projects/${p.id}/prometheus`, { Authorization: `Bearer ${p.monitoring}` });
    const got = await callEverything(c, 'temperature', 'room', T);
    expect(got.instant).toEqual({ resultType: 'vector', result: [{ metric: { __name__: 'temperature', project_id: p.id, room: 'lab' }, value: [T / 1000, '21.5'] }] });
    expect(got.range.resultType).toBe('matrix');
    expect(got.series).toEqual([{ __name__: 'temperature', project_id: p.id, room: 'lab' }]);
    expect(got.labelNames).toEqual(['__name__', 'code', 'job', 'project_id', 'room', 'v']);
    expect(got.labelValues).toEqual(['lab']);
    expect(got.targets).toEqual({ activeTargets: [], droppedTargets: [] });
    expect(got.status.buildinfo.revision).toBe(`meterway-${VERSION}`);
    expect(got.status.tsdb.headStats.numSeries).toBe(5);
    await expect(c.snapshot()).rejects.toThrow(/^not_found: /);
    const stranger = promQueryClient(`${base}/v1/projects/${p.id}/prometheus`, { Authorization: `Bearer ${q.monitoring}` });
    await expect(stranger.status()).rejects.toThrow(`not_found: no project "${p.id}" is visible to this token`);
  });

  describe.skipIf(!hasPrometheus)('and the same calls against a real Prometheus 2.42', () => {
    let prom: PrometheusPeer;
    beforeAll(async () => {
      // It scrapes itself (so its head has series) and federates the project from the gateway.
      prom = await startPrometheus([
        'global:', '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: self', '    static_configs:', '      - targets: ["PLACEHOLDER"]',
        '  - job_name: meterway-federate', '    honor_labels: true',
        `    metrics_path: /v1/projects/${p.id}/prometheus/federate`,
        '    params:', "      'match[]': ['{__name__=~\"temperature|weird\"}', 'secret_metric']",
        '    authorization:', `      credentials: ${JSON.stringify(p.monitoring)}`,
        '    static_configs:', `      - targets: ["${base.replace('http://', '')}"]`, '',
      ].join('\n').replace('PLACEHOLDER', '127.0.0.1:1'), { readyTimeoutMs: 30_000 });
    }, 40_000);
    afterAll(async () => prom?.stop());

    it('gives answers of the same keys and types', async () => {
      await poll('Prometheus to scrape', async () => ((await prom.query('up')).length > 0 ? true : undefined), 20_000, 200);
      const now = Date.now();
      const theirs = await callEverything(promQueryClient(prom.url, {}), 'up', 'job', now);
      const ours = await callEverything(promQueryClient(`${base}/v1/projects/${p.id}/prometheus`, { Authorization: `Bearer ${p.monitoring}` }), 'temperature', 'room', T);
      // Same shapes where both have something to show (label maps differ in their names).
      for (const k of ['instant', 'range'] as const) {
        expect(shape({ ...ours[k], result: ours[k].result.map((r: any) => ({ ...r, metric: {} })) }), k)
          .toEqual(shape({ ...theirs[k], result: theirs[k].result.map((r: any) => ({ ...r, metric: {} })) }));
      }
      for (const k of ['series', 'labelNames', 'labelValues', 'targetsMetadata', 'exemplars'] as const) {
        expect(Array.isArray(ours[k]) && Array.isArray(theirs[k]), k).toBe(true);
        if (ours[k].length > 0 && theirs[k].length > 0) expect(elementShape(ours[k][0]), k).toEqual(elementShape(theirs[k][0]));
      }
      expect(shape(ours.metadata) !== null && !Array.isArray(ours.metadata) && !Array.isArray(theirs.metadata)).toBe(true);
      for (const k of ['targets', 'rules', 'alerts', 'alertmanagers'] as const) {
        expect(Object.keys(ours[k]).sort(), k).toEqual(Object.keys(theirs[k]).sort());
        for (const key of Object.keys(ours[k])) expect(Array.isArray(theirs[k][key]), `${k}.${key}`).toBe(true);
      }
      const [mine, real] = [ours.status, theirs.status];
      expect(shape(mine.buildinfo)).toEqual(shape(real.buildinfo));
      expect(shape(mine.config)).toEqual(shape(real.config));
      for (const [flag, value] of Object.entries(mine.flags)) {
        expect(Object.keys(real.flags), flag).toContain(flag);
        expect(typeof value).toBe('string');
      }
      const { CWD, ...realRuntime } = real.runtimeinfo;
      expect(typeof CWD).toBe('string');
      expect(shape(mine.runtimeinfo)).toEqual(shape(realRuntime));
      expect(shape(mine.tsdb)).toEqual(shape(real.tsdb));
      const walreplay = async (url: string, headers: Record<string, string>) => (await (await fetch(`${url}/api/v1/status/walreplay`, { headers })).json()) as unknown;
      expect(shape(await walreplay(`${base}/v1/projects/${p.id}/prometheus`, { Authorization: `Bearer ${p.monitoring}` }))).toEqual(shape(await walreplay(prom.url, {})));
      for (const path of ['-/healthy', '-/ready']) {
        const [a, b] = [await fetch(`${base}/v1/projects/${p.id}/prometheus/${path}`, { headers: { Authorization: `Bearer ${p.monitoring}` } }), await fetch(`${prom.url}/${path}`)];
        expect([a.status, a.headers.get('content-type'), await a.text()], path).toEqual([b.status, b.headers.get('content-type'), await b.text()]);
      }
    }, 40_000);

    it('federates the project from /federate, and nothing of the neighbour', async () => {
      const fed = await poll('Prometheus to federate the project', async () => {
        const r = await prom.query('temperature');
        return r.length > 0 ? r : undefined;
      }, 20_000, 200);
      expect(fed).toEqual([{ metric: { __name__: 'temperature', job: 'meterway-federate', project_id: p.id, room: 'lab' }, value: 21.5 }]);
      expect((await prom.query('weird'))[0]).toMatchObject({ metric: { v: 'a"b\\c\nd' }, value: 1e6 });
      expect(await prom.query('secret_metric')).toEqual([]);
      expect(await prom.query(`{project_id="${q.id}"}`)).toEqual([]);
      const targets = await prom.api('/api/v1/targets');
      const job = targets.activeTargets.find((t: { scrapePool: string }) => t.scrapePool === 'meterway-federate');
      expect(job).toMatchObject({ health: 'up', lastError: '' });
    }, 40_000);
  });
});
