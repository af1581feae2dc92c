/**
 * Isolation probes through the HTTP API (CONTRACT section 8, issue 5): with project A's monitoring
 * token, while project B holds a metric name, a label name, label values, metadata and sample
 * values that A does not have, no query, `match[]`, label or metadata call may return any of them.
 * Every probe goes over loopback HTTP, by GET and, where the API takes it, by form POST.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers.js';

/** What only B has. A probe's whole response body must contain none of these. */
const B_NAME = 'bravo_secret_jobs_total';
const B_LABEL = 'bravo_only_label';
const B_VALUES = ['bravo-secret-value', 'bravo-secret-app', 'bravo-secret-model'];
const B_HELP = 'Bravo secret help text';
const B_SAMPLE = '424242.5';
const A_NAME = 'alpha_jobs_total';
/** What only B sent over OTLP (as names, labels, values, help and a resource attribute). */
const B_OTLP = ['bravo_otlp_secret', 'bravo_otlp_label', 'bravo-otlp-value', 'Bravo OTLP help', 'bravo-otlp-service', 'bravo-otlp-region'];

type Project = Awaited<ReturnType<TestGateway['project']>>;

describe('a project never sees another project over the query API', () => {
  let gw: TestGateway;
  let base: string;
  let a: Project;
  let b: Project;
  let secrets: string[];
  /** Evaluation time of the probes (s), so that GET and POST answers can be compared. */
  let nowS: number;

  const post = async (path: string, token: string, contentType: string, body: string) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return res.json();
  };

  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
    a = await gw.project('isolation A');
    b = await gw.project('isolation B');
    secrets = [B_NAME, B_LABEL, ...B_VALUES, B_HELP, B_SAMPLE, b.id, ...B_OTLP];
    const now = Date.now();
    nowS = now / 1000;
    const t0 = now - 120_000;
    // Imported series (with metadata), one of them claiming the other project in its labels.
    const importLines = (name: string, labels: string, value: string, help: string) => [
      `# HELP ${name} ${help}`, `# TYPE ${name} counter`,
      ...[0, 30_000, 60_000, 90_000].map((d) => `${name}{${labels}} ${value} ${t0 + d}`),
    ].join('\n');
    expect(await post(`/v1/projects/${a.id}/import`, a.manage, 'text/plain', importLines(A_NAME, 'job="alpha", instance="a1"', '7', 'Alpha jobs'))).toMatchObject({ imported: 4, errors: [] });
    const bBody = [
      importLines(B_NAME, `job="alpha", ${B_LABEL}="${B_VALUES[0]}"`, B_SAMPLE, B_HELP),
      // B also has A's metric name with B-only label values and a forged project_id.
      ...[0, 30_000, 60_000, 90_000].map((d) => `${A_NAME}{job="${B_VALUES[0]}",project_id="${a.id}"} ${B_SAMPLE} ${t0 + d}`),
    ].join('\n');
    expect(await post(`/v1/projects/${b.id}/import`, b.manage, 'text/plain', bBody)).toMatchObject({ imported: 8, errors: [] });
    // Events, sampled into the store: the same metric names in both projects, different label values.
    const events = (pid: string, app: string, model: string) => [
      { type: 'run', project_id: pid, app_name: app, region: 'us-east-1', status: 'success', execution_time_ms: 300 },
      { type: 'inference', project_id: pid, model_name: model, input_tokens: 10, output_tokens: 5, status_code: 200, ttft_ms: 120 },
    ];
    expect(await post('/v1/events', a.ingest, 'application/json', JSON.stringify(events(a.id, 'alpha-app', 'alpha-model')))).toMatchObject({ accepted: 2 });
    expect(await post('/v1/events', b.ingest, 'application/json', JSON.stringify(events(b.id, B_VALUES[1], B_VALUES[2])))).toMatchObject({ accepted: 2 });
    // OTLP metrics of B, one point claiming A's project in its attributes.
    const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
    const otlp = {
      resourceMetrics: [{
        resource: { attributes: [str('service.name', B_OTLP[4]), str('cloud.region', B_OTLP[5])] },
        scopeMetrics: [{ metrics: [{
          name: 'bravo.otlp.secret', unit: '1', description: B_OTLP[3],
          gauge: { dataPoints: [{ asDouble: Number(B_SAMPLE), timeUnixNano: String(now * 1e6), attributes: [str('bravo.otlp.label', B_OTLP[2]), str('project_id', a.id)] }] },
        }] }],
      }],
    };
    expect(await post('/v1/otlp/v1/metrics', b.ingest, 'application/json', JSON.stringify(otlp))).toEqual({});
    gw.sampler.sampleOnce(now);
  });
  afterAll(async () => gw?.close());

  /** GET (and form POST where allowed) with A's token; the JSON body, after checking it is clean. */
  async function probe(path: string, params: Array<[string, string]>, opts: { post?: boolean; allow?: string[] } = {}): Promise<any> {
    const url = `${base}/v1/projects/${a.id}/prometheus/api/v1/${path}`;
    const qs = new URLSearchParams(params).toString();
    const bodies: string[] = [];
    const get = await fetch(`${url}?${qs}`, { headers: { authorization: `Bearer ${a.monitoring}` } });
    bodies.push(await get.text());
    expect(get.status, `${path}?${qs}: ${bodies[0]}`).toBe(200);
    if (opts.post !== false) {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${a.monitoring}`, 'content-type': 'application/x-www-form-urlencoded' }, body: qs });
      bodies.push(await res.text());
      expect(res.status, `POST ${path} ${qs}: ${bodies[1]}`).toBe(200);
      expect(JSON.parse(bodies[1])).toEqual(JSON.parse(bodies[0]));
    }
    for (const s of secrets) {
      if (opts.allow?.includes(s)) continue;
      expect(bodies[0].includes(s), `${path}?${decodeURIComponent(qs)} leaks ${JSON.stringify(s)}: ${bodies[0]}`).toBe(false);
    }
    return JSON.parse(bodies[0]);
  }

  const instant = (query: string, allow?: string[]) => probe('query', [['query', query], ['time', String(nowS)]], { allow }).then((r) => r.data);
  const range = (query: string, allow?: string[]) =>
    probe('query_range', [['query', query], ['start', String(nowS - 300)], ['end', String(nowS)], ['step', '15']], { allow }).then((r) => r.data);
  const asRows = (data: { result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }> }) =>
    data.result.map((s) => `${JSON.stringify(s.metric)} ${s.value ? s.value[1] : s.values!.map((v) => v[1]).join(',')}`).sort();

  it('makes the check meaningful: B really has the data, seen with its own token', async () => {
    const res = await fetch(`${base}/v1/projects/${b.id}/prometheus/api/v1/query?query=${encodeURIComponent(`${B_NAME} or ${A_NAME}`)}`, { headers: { authorization: `Bearer ${b.monitoring}` } });
    const body = await res.text();
    for (const s of [B_NAME, B_LABEL, B_VALUES[0], B_SAMPLE]) expect(body).toContain(s);
    const labels = await fetch(`${base}/v1/projects/${b.id}/prometheus/api/v1/label/app_name/values`, { headers: { authorization: `Bearer ${b.monitoring}` } });
    expect(await labels.text()).toContain(B_VALUES[1]);
    const otlp = await fetch(`${base}/v1/projects/${b.id}/prometheus/api/v1/query?query=${encodeURIComponent('{__name__=~"bravo_otlp_secret_ratio|target_info"}')}`, { headers: { authorization: `Bearer ${b.monitoring}` } });
    const otlpBody = await otlp.text();
    for (const s of [B_OTLP[0], B_OTLP[1], B_OTLP[2], B_OTLP[4], B_OTLP[5]]) expect(otlpBody).toContain(s);
    // and A's data is there for A, under A's project_id, without B's imported look-alike
    expect(asRows(await instant(A_NAME))).toEqual([`{"__name__":"${A_NAME}","instance":"a1","job":"alpha","project_id":"${a.id}"} 7`]);
    expect(asRows(await instant('meterway_runs_total'))).toEqual([expect.stringContaining('"app_name":"alpha-app"')]);
  });

  it("refuses A's token on B's paths", async () => {
    for (const path of ['query?query=up', 'series?match[]=up', 'labels', 'label/__name__/values', 'metadata']) {
      const res = await fetch(`${base}/v1/projects/${b.id}/prometheus/api/v1/${path}`, { headers: { authorization: `Bearer ${a.monitoring}` } });
      // 404 for a project the token cannot see (its existence is not confirmed), as for a missing one
      expect([403, 404], path).toContain(res.status);
      const body = await res.text();
      for (const s of [B_NAME, B_LABEL, ...B_VALUES, B_SAMPLE]) expect(body).not.toContain(s);
    }
  });

  it('regex and negative matchers on project_id, and {__name__=~".+"}, see only A', async () => {
    for (const q of [
      `{project_id="${b.id}"}`, `{project_id=~".+"}`, `{project_id=~"${b.id}|${a.id}"}`, `{project_id!="${a.id}", __name__=~".+"}`, `{project_id=~"p-.*", __name__=~".+"}`,
      `{__name__=~".+"}`, `{__name__=~"bravo.*"}`, `{__name__!=""}`, `{job=~".+"}`, `${B_NAME}`, `${B_NAME}{project_id="${b.id}"}`,
      `count by (__name__, project_id) ({__name__=~".+"})`, `count by (app_name, model_name, job) ({__name__=~".+"})`, `sum(${B_NAME})`, `rate(${B_NAME}[5m])`,
      `last_over_time({project_id!="${a.id}", job=~".+"}[1h])`, `{project_id!~"${a.id}", __name__!=""}`, `max_over_time(${B_NAME}[1h:1m])`, `count_values("v", {__name__=~".+"})`,
    ]) {
      const allow = q.includes(b.id) ? [b.id] : [];
      for (const data of [await instant(q, allow), await range(q, allow)]) {
        for (const s of data.result as Array<{ metric: Record<string, string> }>) {
          if (s.metric.project_id !== undefined) expect(s.metric.project_id, q).toBe(a.id);
        }
      }
    }
    expect((await instant(`{project_id="${b.id}"}`, [b.id])).result).toEqual([]);
    expect((await instant(B_NAME)).result).toEqual([]);
    expect((await instant(`count({project_id=~".+"})`)).result[0].value[1]).toBe((await instant('count({__name__=~".+"})')).result[0].value[1]);
  });

  it('label_replace forging project_id renames only A\u2019s own series', async () => {
    const forged = await instant(`label_replace(${A_NAME}, "project_id", "${b.id}", "", "")`, [b.id]);
    expect(asRows(forged)).toEqual([`{"__name__":"${A_NAME}","instance":"a1","job":"alpha","project_id":"${b.id}"} 7`]);
    expect((await instant(`label_replace({__name__=~".+"}, "project_id", "${b.id}", "", "") and on(project_id) ${B_NAME}`, [b.id])).result).toEqual([]);
    expect((await instant(`sum(label_replace(${A_NAME}, "project_id", "${b.id}", "", "")) + sum(${B_NAME})`, [b.id])).result).toEqual([]);
    expect((await instant(`label_replace(${A_NAME}, "project_id", "$1", "job", "(.*)")`)).result).toHaveLength(1);
    expect(asRows(await range(`label_replace(${A_NAME}, "project_id", "${b.id}", "", "")`, [b.id]))[0]).toMatch(/^\{.*\} 7(,7)*$/);
  });

  it('or, unless, and, on() and group_left with selectors naming B bring nothing of B', async () => {
    const aRow = `{"__name__":"${A_NAME}","instance":"a1","job":"alpha","project_id":"${a.id}"} 7`;
    expect(asRows(await instant(`${A_NAME} or ${B_NAME}`))).toEqual([aRow]);
    expect(asRows(await instant(`${A_NAME} or {project_id="${b.id}"}`, [b.id]))).toEqual([aRow]);
    expect(asRows(await instant(`${A_NAME} or on() {project_id=~".+", __name__="${B_NAME}"}`))).toEqual([aRow]);
    expect(asRows(await instant(`${A_NAME} unless on() ${B_NAME}`))).toEqual([aRow]);
    expect(asRows(await instant(`${A_NAME} unless on() {project_id="${b.id}"}`, [b.id]))).toEqual([aRow]);
    expect((await instant(`${A_NAME} and on() ${B_NAME}`)).result).toEqual([]);
    expect((await instant(`vector(1) and on() {project_id="${b.id}"}`, [b.id])).result).toEqual([]);
    expect((await instant(`sum(${A_NAME}) + on() group_left sum(${B_NAME})`)).result).toEqual([]);
    expect((await instant(`${A_NAME} * on() group_left(${B_LABEL}) ${B_NAME}`)).result).toEqual([]);
    expect((await instant(`${A_NAME} + ignoring(project_id) ${A_NAME}{project_id="${b.id}"}`, [b.id])).result).toEqual([]);
    expect(asRows(await instant(`absent(${B_NAME})`))).toEqual(['{} 1']);
    expect(asRows(await instant(`absent({project_id="${b.id}"})`, [b.id]))).toEqual([`{"project_id":"${b.id}"} 1`]);
    expect(asRows(await range(`${A_NAME} or ${B_NAME}`))[0]).toMatch(/ 7(,7)*$/);
  });

  it('/series with match[] naming B returns nothing of B', async () => {
    for (const m of [`{project_id="${b.id}"}`, `{project_id=~".+"}`, `{__name__=~".+"}`, B_NAME, `{${B_LABEL}=~".+"}`, `{app_name="${B_VALUES[1]}"}`, `{job="${B_VALUES[0]}"}`]) {
      const allow = m.includes(b.id) ? [b.id] : [];
      const r = await probe('series', [['match[]', m]], { allow });
      for (const s of r.data as Array<Record<string, string>>) expect(s.project_id).toBe(a.id);
    }
    const both = await probe('series', [['match[]', B_NAME], ['match[]', A_NAME], ['start', '0']]);
    expect(both.data).toEqual([{ __name__: A_NAME, instance: 'a1', job: 'alpha', project_id: a.id }]);
  });

  it('/labels and /label/x/values, with and without match[] naming B, return nothing of B', async () => {
    const names = await probe('labels', []);
    expect(names.data).toContain('app_name');
    expect(names.data).not.toContain(B_LABEL);
    for (const m of [`{project_id="${b.id}"}`, B_NAME, `{${B_LABEL}=~".+"}`, `{__name__=~".+"}`]) {
      const allow = m.includes(b.id) ? [b.id] : [];
      await probe('labels', [['match[]', m]], { allow });
      for (const label of ['__name__', 'project_id', 'app_name', 'job', 'model_name', B_LABEL]) {
        await probe(`label/${label}/values`, [['match[]', m]], { post: false, allow });
      }
    }
    expect((await probe(`label/${B_LABEL}/values`, [], { post: false })).data).toEqual([]);
    expect((await probe('label/project_id/values', [], { post: false })).data).toEqual([a.id]);
    expect((await probe('label/app_name/values', [], { post: false })).data).toEqual(['alpha-app']);
    expect((await probe('label/job/values', [], { post: false })).data).toEqual(['alpha']);
  });

  it('/label/__name__/values lists A\u2019s names only', async () => {
    const r = await probe('label/__name__/values', [], { post: false });
    expect(r.data).toContain(A_NAME);
    expect(r.data).toContain('meterway_runs_total');
    expect(r.data).not.toContain(B_NAME);
  });

  it('/metadata holds A\u2019s families only, also when asked for B\u2019s name', async () => {
    const all = await probe('metadata', [], { post: false });
    expect(Object.keys(all.data)).toContain(A_NAME);
    expect(all.data[A_NAME]).toEqual([{ type: 'counter', help: 'Alpha jobs', unit: '' }]);
    expect(Object.keys(all.data)).not.toContain(B_NAME);
    expect((await probe('metadata', [['metric', B_NAME]], { post: false })).data).toEqual({});
    await probe('metadata', [['limit', '1000'], ['limit_per_metric', '5']], { post: false });
  });
});
