/**
 * Interop: every exposition the gateway serves passes `promtool check metrics` (Prometheus 2.42's
 * linter and 0.0.4 parser), in both formats, with label values that need escaping.
 */
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { hasPromtool, poll, promtoolCheckMetrics } from '../peers.js';
import { startDemo, type Demo } from '../../src/sources/demo/simulator.js';

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0';
/** Quotes, backslashes, a newline, non-ASCII letters, CJK and an emoji, all in one label value. */
const WEIRD = 'say "hi" \\ C:\\path\nnext line — ünïcødé 日本語 🚀';
const WEIRD_APP = 'app "q" \\ n\nl é 🚀';

/** Sample lines that name the same series twice (promtool 2.42 does not look for these). */
function duplicateSeries(body: string): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const series = line.slice(0, line.lastIndexOf(' '));
    if (seen.has(series)) dups.push(series);
    seen.add(series);
  }
  return dups;
}

async function expectPromtoolOk(body: string | Buffer): Promise<void> {
  const r = await promtoolCheckMetrics(body);
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
  expect(duplicateSeries(body.toString())).toEqual([]);
}

/** Raw GET over loopback: status, headers and the undecoded body (fetch would gunzip silently). */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!hasPromtool)('promtool check metrics', () => {
  let gw: TestGateway;
  let base: string;
  let p: Awaited<ReturnType<TestGateway['project']>>;

  const get = async (path: string, token?: string, accept?: string) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (accept !== undefined) headers.accept = accept;
    const res = await fetch(`${base}${path}`, { headers });
    const body = await res.text();
    expect(res.status, body).toBe(200);
    return { body, contentType: res.headers.get('content-type') ?? '' };
  };

  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = gw.app.server.address();
    if (addr === null || typeof addr !== 'object') throw new Error('no address');
    base = `http://127.0.0.1:${addr.port}`;
    p = await gw.project('promtool "interop" ✓');
    const now = Date.now();
    const events = [
      // every run field, plain labels
      { type: 'run', project_id: p.id, app_name: 'chat', region: 'us-east-1', status: 'success', queue_time_ms: 12, coldstart_time_ms: 4_500, execution_time_ms: 830, response_time_ms: 5_342 },
      { type: 'run', project_id: p.id, app_name: 'chat', region: 'us-east-1', status: 'error', execution_time_ms: 0.3 },
      // label values that need escaping, in the region, the app name and the model name
      { type: 'run', project_id: p.id, app_name: 'chat', region: WEIRD, status: 'success', execution_time_ms: 120 },
      { type: 'run', project_id: p.id, app_name: WEIRD_APP, status: 'error', execution_time_ms: 61_000, timestamp: now },
      { type: 'inference', project_id: p.id, model_name: WEIRD, input_tokens: 1200, output_tokens: 345, status_code: 200, ttft_ms: 180, tpot_ms: 21, duration_ms: 7_400 },
      { type: 'inference', project_id: p.id, model_name: 'llama-3.1-8b', service_tier: 'pt', app_name: WEIRD_APP, region: 'eu-west-1', input_tokens: 10, output_tokens: 0, status_code: 429, duration_ms: 3 },
      { type: 'inference', project_id: p.id, model_name: 'llama-3.1-8b', input_tokens: 0, output_tokens: 0, status_code: 503 },
      // gauges, with and without a gpu index
      { type: 'resource', project_id: p.id, app_name: 'chat', region: 'us-east-1', cpu_cores: 2.25, cpu_limit_cores: 8, memory_bytes: 6_442_450_944, memory_limit_bytes: 34_359_738_368, containers_running: 3, containers_ready: 2 },
      { type: 'resource', project_id: p.id, app_name: WEIRD_APP, region: WEIRD, gpu: 0, gpu_memory_bytes: 40_000_000_000, gpu_compute_utilization_percent: 97.5 },
      { type: 'resource', project_id: p.id, app_name: WEIRD_APP, region: WEIRD, gpu: '1', gpu_memory_bytes: 0, gpu_compute_utilization_percent: 0 },
    ];
    const res = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(await res.json()).toEqual({ accepted: events.length, rejected: [] });
  });
  afterAll(async () => gw?.close());

  it('passes on the project endpoint in the Prometheus text format', async () => {
    const { body, contentType } = await get(`/v1/projects/${p.id}/metrics`, p.monitoring);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    // the escaped label values really are in what promtool checked
    expect(body).toContain('region="say \\"hi\\" \\\\ C:\\\\path\\nnext line — ünïcødé 日本語 🚀"');
    expect(body).toContain('app_name="app \\"q\\" \\\\ n\\nl é 🚀"');
    expect(body).toContain('meterway_inference_requests_total{');
    expect(body).toContain('meterway_gpu_compute_utilization_percent{');
    await expectPromtoolOk(body);
  });

  it('passes on the project endpoint in OpenMetrics', async () => {
    const { body, contentType } = await get(`/v1/projects/${p.id}/metrics`, p.monitoring, OPENMETRICS);
    expect(contentType).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(body.endsWith('# EOF\n')).toBe(true);
    expect(body).toContain('model_name="say \\"hi\\" \\\\ C:\\\\path\\nnext line — ünïcødé 日本語 🚀"');
    await expectPromtoolOk(body);
  });

  it('passes on the project endpoint gzip-encoded, once decoded', async () => {
    for (const accept of [undefined, OPENMETRICS]) {
      const res = await rawGet(base, `/v1/projects/${p.id}/metrics`, {
        authorization: `Bearer ${p.monitoring}`, 'accept-encoding': 'gzip', ...(accept === undefined ? {} : { accept }),
      });
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe('gzip');
      await expectPromtoolOk(gunzipSync(res.body));
    }
  });

  it('passes on the per-app endpoint, for a plain and an awkward app name, in both formats', async () => {
    for (const app of ['chat', WEIRD_APP]) {
      for (const accept of [undefined, OPENMETRICS]) {
        const { body } = await get(`/v1/projects/${p.id}/apps/${encodeURIComponent(app)}/metrics`, p.monitoring, accept);
        expect(body).toContain('meterway_runs_total{');
        await expectPromtoolOk(body);
      }
    }
  });

  it("passes on the gateway's own /metrics: anonymous, with the admin token, and with ?projects=all", async () => {
    for (const accept of [undefined, OPENMETRICS]) {
      const anon = await get('/metrics', undefined, accept);
      expect(anon.body).toContain('meterway_events_accepted_total');
      await expectPromtoolOk(anon.body);
      const admin = await get('/metrics', ADMIN_TOKEN, accept);
      await expectPromtoolOk(admin.body);
      const all = await get('/metrics?projects=all', ADMIN_TOKEN, accept);
      expect(all.body).toContain(`meterway_runs_total{project_id="${p.id}"`);
      await expectPromtoolOk(all.body);
    }
  });

  // JSON can carry lone UTF-16 surrogates ("\ud800"); written out they would all become U+FFFD, so
  // two such values would be the same series twice. They are refused at ingest.
  it('never writes the same series twice, even for label values with lone surrogates', async () => {
    const q = await gw.project('surrogates');
    const body = ['\\ud800', '\\udbff'].map((r) => `{"type":"run","project_id":"${q.id}","app_name":"a","region":"x${r}","status":"success"}`);
    const post = await fetch(`${base}/v1/events`, {
      method: 'POST', headers: { authorization: `Bearer ${q.ingest}`, 'content-type': 'application/x-ndjson' }, body: body.join('\n'),
    });
    try {
      expect(post.status).toBe(400);
      expect(((await post.json()) as { rejected: { error: string }[] }).rejected[0].error).toMatch(/^region: must be valid Unicode text/);
      const { body: scraped } = await get(`/v1/projects/${q.id}/metrics`, q.monitoring);
      expect(duplicateSeries(scraped)).toEqual([]);
    } finally {
      // keep the operator view of the tests below free of this project
      await fetch(`${base}/v1/projects/${q.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    }
  });

  describe('with the demo platform running', () => {
    let demo: Demo | undefined;
    const demoProjects = ['p-demoacme', 'p-demoblue'];

    beforeAll(async () => {
      const log = (await import('pino')).default({ level: 'silent' });
      demo = await startDemo(gw, log);
      // The demo ticks once a second; wait (bounded) until every demo project shows runs and GPUs.
      await poll('the demo to post a tick or two', async () => {
        for (const pid of demoProjects) {
          const res = await fetch(`${base}/v1/projects/${pid}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
          const body = await res.text();
          if (!body.includes('meterway_runs_total{') || !body.includes('meterway_gpu_memory_usage_bytes{')) return undefined;
        }
        return true;
      }, 20_000, 200);
    });
    afterAll(() => demo?.stop());

    it("passes on each demo project's output and on the operator view, in both formats", async () => {
      for (const accept of [undefined, OPENMETRICS]) {
        for (const pid of demoProjects) {
          const { body } = await get(`/v1/projects/${pid}/metrics`, ADMIN_TOKEN, accept);
          expect(body).toContain('meterway_inference_output_tokens_total{');
          await expectPromtoolOk(body);
        }
        const all = await get('/metrics?projects=all', ADMIN_TOKEN, accept);
        for (const pid of [...demoProjects, p.id]) expect(all.body).toContain(`project_id="${pid}"`);
        await expectPromtoolOk(all.body);
      }
    });
  });
});
