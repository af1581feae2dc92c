import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { loadConfig } from '../../src/config/load.js';
import { createGateway } from '../../src/server/gateway.js';
import { startOtlpReceiver, type MetricsRequest } from '../otlp-receiver.js';

let gw: TestGateway;
let p: Awaited<ReturnType<TestGateway['project']>>;
const T0 = 1_700_000_000_000;

beforeAll(async () => {
  gw = await startTestGateway({ flags: { retention: '0' }, env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false } });
  p = await gw.project();
  const lines = [
    '# TYPE http_requests_total counter',
    '# HELP http_requests_total Requests handled.',
    ...Array.from({ length: 21 }, (_, i) => `http_requests_total{job="api",code="200"} ${i * 60} ${T0 + i * 15_000}`),
    ...Array.from({ length: 21 }, (_, i) => `http_requests_total{job="api",code="500"} ${i * 6} ${T0 + i * 15_000}`),
    `temperature{room="lab"} 21.5 ${T0}`,
  ];
  const res = await importText(lines.join('\n'));
  expect(res.json()).toEqual({ imported: 43, errors: [] });
});
afterAll(async () => gw.close());

function importText(text: string, token = p.manage, pid = p.id, headers: Record<string, string> = {}) {
  return gw.app.inject({ method: 'POST', url: `/v1/projects/${pid}/import`, headers: { ...gw.auth(token), 'content-type': 'text/plain', ...headers }, payload: text });
}

const api = (path: string, token = p.monitoring, pid = p.id) =>
  gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/api/v1/${path}`, headers: gw.auth(token) });

const secs = (ms: number) => ms / 1000;

describe('query API', () => {
  it('answers 1+1, the health check Grafana sends', async () => {
    const res = await api(`query?query=1%2B1&time=${secs(T0)}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'success', data: { resultType: 'scalar', result: [secs(T0), '2'] } });
  });

  it('evaluates an instant query, with the project label on results', async () => {
    const res = await api(`query?query=${encodeURIComponent('sum by (code) (rate(http_requests_total[5m]))')}&time=${secs(T0 + 300_000)}`);
    const data = res.json().data;
    expect(data.resultType).toBe('vector');
    const byCode = Object.fromEntries(data.result.map((r: { metric: { code: string }; value: [number, string] }) => [r.metric.code, r.value]));
    expect(byCode['200'][0]).toBe(secs(T0 + 300_000));
    expect(Number(byCode['200'][1])).toBeCloseTo(4, 12);
    expect(Number(byCode['500'][1])).toBeCloseTo(0.4, 12);
    const plain = (await api(`query?query=temperature&time=${new Date(T0 + 60_000).toISOString()}`)).json().data.result;
    expect(plain).toEqual([{ metric: { __name__: 'temperature', room: 'lab', project_id: p.id }, value: [secs(T0 + 60_000), '21.5'] }]);
  });

  it('evaluates a range query into a matrix on the step grid', async () => {
    const q = encodeURIComponent('http_requests_total{code="500"}');
    const res = await api(`query_range?query=${q}&start=${secs(T0)}&end=${secs(T0 + 60_000)}&step=30s`);
    expect(res.json().data).toEqual({
      resultType: 'matrix',
      result: [{ metric: { __name__: 'http_requests_total', code: '500', job: 'api', project_id: p.id }, values: [[secs(T0), '0'], [secs(T0 + 30_000), '12'], [secs(T0 + 60_000), '24']] }],
    });
    const seconds = await api(`query_range?query=${q}&start=${secs(T0)}&end=${secs(T0 + 60_000)}&step=30`);
    expect(seconds.json().data).toEqual(res.json().data);
  });

  it('takes form POSTs, with repeated match[]', async () => {
    const post = (path: string, body: string) =>
      gw.app.inject({ method: 'POST', url: `/v1/projects/${p.id}/prometheus/api/v1/${path}`, headers: { ...gw.auth(p.monitoring), 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
    const q = await post('query', `query=${encodeURIComponent('count(http_requests_total)')}&time=${secs(T0)}`);
    expect(q.json().data.result[0].value[1]).toBe('2');
    const series = await post('series', `match[]=temperature&match[]=${encodeURIComponent('http_requests_total{code="500"}')}&start=${secs(T0 - 1000)}&end=${secs(T0 + 1000)}`);
    expect(series.json()).toEqual({
      status: 'success',
      data: [
        { __name__: 'http_requests_total', code: '500', job: 'api', project_id: p.id },
        { __name__: 'temperature', project_id: p.id, room: 'lab' },
      ],
    });
  });

  it('lists label names, label values and metadata of the project', async () => {
    expect((await api('labels')).json().data).toEqual(['__name__', 'code', 'job', 'project_id', 'room']);
    expect((await api('label/code/values')).json().data).toEqual(['200', '500']);
    expect((await api('label/__name__/values')).json().data).toEqual(['http_requests_total', 'temperature']);
    expect((await api(`label/job/values?match[]=temperature`)).json().data).toEqual([]);
    const meta = (await api('metadata?metric=http_requests_total')).json();
    expect(meta).toEqual({ status: 'success', data: { http_requests_total: [{ type: 'counter', help: 'Requests handled.', unit: '' }] } });
    const limited = (await api('label/code/values?limit=1')).json();
    expect(limited).toEqual({ status: 'success', data: ['200'], warnings: ['results truncated due to limit'] });
    const info = (await api('status/buildinfo')).json();
    expect(info.status).toBe('success');
    expect(info.data.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("answers errors as Prometheus does: errorType, status and wording", async () => {
    const cases: Array<[string, number, string, string | RegExp]> = [
      ['query?query=sum(', 400, 'bad_data', 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'],
      ['query', 400, 'bad_data', 'invalid parameter "query": missing query'],
      [`query?query=1&time=yesterday`, 400, 'bad_data', 'invalid parameter "time": cannot parse "yesterday" to a valid timestamp'],
      [`query_range?query=1&start=10&end=5&step=1`, 400, 'bad_data', 'end timestamp must not be before start time'],
      [`query_range?query=1&start=0&end=10&step=0`, 400, 'bad_data', 'zero or negative query resolution step widths are not accepted. Try a positive integer'],
      [`query_range?query=1&start=0&end=100000&step=1`, 400, 'bad_data', 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)'],
      [`query?query=${encodeURIComponent('http_requests_total + on(job) http_requests_total')}&time=${secs(T0)}`, 422, 'execution', /many-to-many matching not allowed/],
      ['series', 400, 'bad_data', 'no match[] parameter provided'],
    ];
    for (const [path, status, errorType, message] of cases) {
      const res = await api(path);
      expect(res.statusCode, path).toBe(status);
      expect(res.json().status).toBe('error');
      expect(res.json().errorType, path).toBe(errorType);
      expect(res.json().error, path).toMatch(typeof message === 'string' ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : message);
    }
  });

  it('needs a read token of the project', async () => {
    const noToken = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=1` });
    expect(noToken.statusCode).toBe(401);
    expect(noToken.json()).toMatchObject({ status: 'error', errorType: 'unauthorized' });
    expect((await api('query?query=1', p.ingest)).statusCode).toBe(403);
    expect((await api('query?query=1', p.manage)).statusCode).toBe(200);
    const other = await gw.project();
    const cross = await api('query?query=temperature', other.monitoring);
    expect(cross.statusCode).toBe(404);
    expect(cross.json().errorType).toBe('not_found');
  });
});

describe('import', () => {
  it('forces project_id, reports bad lines by number and keeps the good ones', async () => {
    const q = await gw.project();
    const res = await importText([`imported{project_id="${p.id}",x="1"} 7 ${T0}`, 'oops', `imported{x="2"} 8 ${T0}`, `imported{x="3"} abc ${T0}`].join('\n'), q.manage, q.id);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ imported: 2, errors: [{ line: 2, error: 'missing the sample value after the labels' }, { line: 4, error: 'the value "abc" is not a number' }] });
    const got = (await api(`query?query=imported&time=${secs(T0)}`, q.monitoring, q.id)).json().data.result;
    expect(got.map((r: { metric: Record<string, string> }) => r.metric.project_id)).toEqual([q.id, q.id]);
    expect((await api(`query?query=imported&time=${secs(T0)}`)).json().data.result).toEqual([]);
  });

  it('refuses what it cannot take, with the reason', async () => {
    expect((await importText('')).json().error.code).toBe('invalid_body');
    const none = await importText('garbage line here and more');
    expect(none.statusCode).toBe(400);
    expect(none.json().imported).toBe(0);
    expect((await importText('x 1 1', p.monitoring)).statusCode).toBe(403);
    expect((await importText('x 1 1', p.manage, p.id, { 'content-type': 'application/json' })).statusCode).toBe(415);
    const limited = await startTestGateway({ flags: { retention: '1d' } });
    try {
      const q = await limited.project();
      const res = await limited.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/import`, headers: { ...limited.auth(q.manage), 'content-type': 'text/plain' }, payload: `old 1 ${Date.now() - 3 * 86_400_000}\nnew 1 ${Date.now() - 1000}` });
      expect(res.json().imported).toBe(1);
      expect(res.json().errors[0]).toMatchObject({ line: 1, error: expect.stringContaining('older than the retention (1d)') });
    } finally {
      await limited.close();
    }
  });

  it('takes 1970 data with retention 0', async () => {
    const res = await importText('ancient{a="b"} 3 0\nancient{a="b"} 4 15000');
    expect(res.json()).toEqual({ imported: 2, errors: [] });
    expect((await api('query?query=ancient&time=15')).json().data.result[0].value).toEqual([15, '4']);
  });
});

describe('one source of truth', () => {
  it('scrape endpoint, instant query and OTLP push carry the same names and values', async () => {
    const q = await gw.project();
    const rx = await startOtlpReceiver();
    try {
      const events = [
        ...Array.from({ length: 7 }, (_, i) => ({ type: 'run', app_name: 'chat', status: i < 2 ? 'error' : 'success', execution_time_ms: 100 * i })),
        { type: 'inference', model_name: 'llama', input_tokens: 120, output_tokens: 30, ttft_ms: 80 },
        { type: 'resource', app_name: 'chat', gpu: 0, gpu_compute_utilization_percent: 55 },
      ];
      await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest), payload: events });
      const now = Date.now();
      gw.sampler.sampleOnce(now);
      const scrape = (await gw.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: gw.auth(q.monitoring) })).body;
      const scraped = new Map<string, number>();
      for (const line of scrape.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const i = line.lastIndexOf(' ');
        scraped.set(canonical(line.slice(0, i)), Number(line.slice(i + 1)));
      }
      const result = (await api(`query?query=${encodeURIComponent('{__name__=~"meterway_.+"}')}&time=${now / 1000}`, q.monitoring, q.id)).json().data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
      const queried = new Map(result.map((r) => {
        const { __name__, ...labels } = r.metric;
        return [canonical(`${__name__}${braces(labels)}`), Number(r.value[1])] as const;
      }));
      expect(queried).toEqual(scraped);

      const integ = await gw.app.inject({ method: 'POST', url: `/v1/projects/${q.id}/integrations`, headers: gw.auth(q.manage), payload: { endpoint: rx.url } });
      await gw.exporter.pushNow(integ.json().id);
      const [req] = await rx.waitForRequests(1);
      const pushed = new Map<string, number>();
      for (const m of (req.body as MetricsRequest).resourceMetrics![0].scopeMetrics![0].metrics!) {
        const attrs = (kvs: Array<{ key: string; value: { stringValue?: string } }> = []) => Object.fromEntries(kvs.map((kv) => [kv.key, kv.value.stringValue!]));
        for (const dp of m.sum?.dataPoints ?? m.gauge?.dataPoints ?? []) pushed.set(canonical(`${m.name}${braces(attrs(dp.attributes as any))}`), dp.asDouble!);
        for (const dp of m.histogram?.dataPoints ?? []) {
          const a = attrs(dp.attributes as any);
          pushed.set(canonical(`${m.name}_count${braces(a)}`), Number(dp.count ?? 0));
          pushed.set(canonical(`${m.name}_sum${braces(a)}`), dp.sum ?? 0);
          let cum = 0;
          dp.bucketCounts!.forEach((c, i) => {
            cum += Number(c);
            const le = i < dp.explicitBounds!.length ? String(dp.explicitBounds![i]) : '+Inf';
            pushed.set(canonical(`${m.name}_bucket${braces({ ...a, le })}`), cum);
          });
        }
      }
      expect(pushed).toEqual(scraped);
      expect(scraped.get(canonical(`meterway_run_errors_total{project_id="${q.id}",app_id="${q.id}-chat",app_name="chat"}`))).toBe(2);
    } finally {
      await rx.close();
    }
  });
});

describe('history', () => {
  it('continues counters from their stored values after a restart, and forgets a deleted project', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'meterway-restart-'));
    const start = () => createGateway(loadConfig({ dataDir, port: 0 }, { METERWAY_ADMIN_TOKEN: ADMIN_TOKEN }), pino({ level: 'silent' }), { delivery: { schedule: false } });
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    try {
      let g = await start();
      await g.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'r', id: 'p-restart1' } });
      const post = (n: number) => g.app.inject({ method: 'POST', url: '/v1/events', headers: auth, payload: Array.from({ length: n }, () => ({ type: 'run', project_id: 'p-restart1', app_name: 'a', status: 'success', execution_time_ms: 20 })) });
      await post(3);
      g.sampler.sampleOnce(Date.now());
      await g.close();
      g = await start();
      await post(2);
      const scrape = (await g.app.inject({ method: 'GET', url: '/v1/projects/p-restart1/metrics', headers: auth })).body;
      expect(scrape).toContain('meterway_runs_total{project_id="p-restart1",app_id="p-restart1-a",app_name="a"} 5\n');
      expect(scrape).toContain('meterway_run_execution_time_seconds_count{project_id="p-restart1",app_id="p-restart1-a",app_name="a"} 5\n');
      expect((await g.app.inject({ method: 'DELETE', url: '/v1/projects/p-restart1', headers: auth })).statusCode).toBe(204);
      await g.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'again', id: 'p-restart1' } });
      const q = await g.app.inject({ method: 'GET', url: `/v1/projects/p-restart1/prometheus/api/v1/query?query=meterway_runs_total`, headers: auth });
      expect(q.json().data.result).toEqual([]);
      await g.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

function braces(labels: Record<string, string>): string {
  const keys = Object.keys(labels);
  return keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}

/** `name{b="2",a="1"}` with its labels sorted, so the three sources compare as sets. */
function canonical(series: string): string {
  const i = series.indexOf('{');
  if (i < 0) return series;
  const pairs = series.slice(i + 1, -1).match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? [];
  return `${series.slice(0, i)}{${pairs.sort().join(',')}}`;
}
