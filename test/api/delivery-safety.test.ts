/**
 * Issue 14 (tenant safety), through the front door: delta temporality across an automatic pause,
 * secrets never echoed, and status while a push is retried. The egress guard on disguised
 * addresses needs a gateway that refuses private egress: delivery-egress.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { startOtlpReceiver, type Metric, type MetricsRequest, type OtlpReceiver, type ReceivedRequest } from '../otlp-receiver.js';
import type { Sleep } from '../../src/delivery/retry.js';

/** What the gateway's retries do between attempts; a test may hook in (and look at the status). */
let onSleep: (ms: number) => Promise<void> = async () => {};
const sleep: Sleep = (ms) => onSleep(ms);

let gw: TestGateway;
let rx: OtlpReceiver;

beforeAll(async () => {
  gw = await startTestGateway({ env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' }, delivery: { schedule: false, sleep } });
  rx = await startOtlpReceiver();
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});
afterEach(() => {
  rx.clear();
  rx.setDefault({});
  onSleep = async () => {};
});

type Project = Awaited<ReturnType<TestGateway['project']>>;

const api = (q: Project, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
  gw.app.inject({ method, url: `/v1/projects/${q.id}${url}`, headers: gw.auth(q.manage), payload: payload as any });

async function inference(q: Project, n: number): Promise<void> {
  if (n === 0) return;
  const res = await gw.app.inject({
    method: 'POST', url: '/v1/events', headers: gw.auth(q.ingest),
    payload: Array.from({ length: n }, () => ({ type: 'inference', model_name: 'm', input_tokens: 10, output_tokens: 1, ttft_ms: 100 })),
  });
  expect(res.json().accepted).toBe(n);
}

const metric = (r: ReceivedRequest, name: string): Metric =>
  (r.body as MetricsRequest).resourceMetrics![0].scopeMetrics![0].metrics!.find((m) => m.name === name)!;

/** Input tokens (a counter) and TTFT count (a histogram) of one delivered request, with its interval. */
function tokensOf(r: ReceivedRequest) {
  const sum = metric(r, 'meterway_inference_input_tokens_total').sum!;
  const hist = metric(r, 'meterway_inference_time_to_first_token_seconds').histogram!;
  const p = sum.dataPoints![0];
  // proto3 leaves a zero count out of the wire, so it decodes as absent
  return { temporality: sum.aggregationTemporality, tokens: p.asDouble ?? 0, ttft: Number(hist.dataPoints![0].count ?? '0'), start: BigInt(p.startTimeUnixNano!), end: BigInt(p.timeUnixNano!) };
}

describe('delta temporality across a pause', () => {
  it('goes on from the last delivered push after an automatic pause, a disable and an edit: nothing twice, nothing lost', async () => {
    const q = await gw.project('delta-pause');
    const id = (await api(q, 'POST', '/integrations', { endpoint: rx.url, config: { temporality: 'delta' } })).json().id as string;
    const delivered: Array<ReturnType<typeof tokensOf>> = [];
    const push = async () => {
      rx.clear();
      const report = await gw.exporter.pushNow(id);
      if (report.pushed) delivered.push(tokensOf(rx.requests[rx.requests.length - 1]));
      return report;
    };

    await inference(q, 3);
    expect((await push()).pushed).toBe(true);
    await inference(q, 2);
    // The destination fails every attempt: after 10 failed pushes the integration pauses itself.
    rx.setDefault({ status: 500 });
    for (let n = 0; n < 10; n++) expect((await push()).pushed).toBe(false);
    expect((await api(q, 'GET', `/integrations/${id}`)).json().status.state).toBe('paused');
    await inference(q, 4); // while paused
    rx.setDefault({});
    expect((await api(q, 'POST', `/integrations/${id}/enable`)).json().status.state).toBe('active');
    expect((await push()).pushed).toBe(true);
    expect((await push()).pushed).toBe(true); // nothing new
    // A manual disable and enable, then an edit, keep the baseline too.
    await api(q, 'POST', `/integrations/${id}/disable`);
    await inference(q, 1);
    await api(q, 'POST', `/integrations/${id}/enable`);
    expect((await push()).pushed).toBe(true);
    await api(q, 'PATCH', `/integrations/${id}`, { config: { timeout_s: 5 } });
    await inference(q, 5);
    expect((await push()).pushed).toBe(true);

    expect(delivered.map((d) => [d.temporality, d.tokens, d.ttft])).toEqual([
      [1, 30, 3],
      [1, 60, 6], // the 2 events of the failed pushes and the 4 of the pause, once
      [1, 0, 0],
      [1, 10, 1],
      [1, 50, 5],
    ]);
    // Every delta starts where the previous delivered one ended: the intervals tile, no gap, no overlap.
    for (let n = 1; n < delivered.length; n++) expect(delivered[n].start, `push ${n}`).toBe(delivered[n - 1].end);
    // The sum of the deltas is the cumulative total.
    expect(delivered.reduce((s, d) => s + d.tokens, 0)).toBe(150);
    await api(q, 'DELETE', `/integrations/${id}`);
  });

  it('does not start a second push on the same baseline while a replaced job is still retrying', async () => {
    const q = await gw.project('delta-inflight');
    const id = (await api(q, 'POST', '/integrations', { endpoint: rx.url, config: { temporality: 'delta' } })).json().id as string;
    await inference(q, 2);
    let release: () => void = () => {};
    let sleeping: () => void = () => {};
    const asleep = new Promise<void>((r) => (sleeping = r));
    onSleep = () => new Promise<void>((r) => {
      release = r;
      sleeping();
    });
    rx.reply({ status: 503 });
    const first = gw.exporter.pushNow(id);
    await asleep; // the first attempt failed; the push waits to retry
    await api(q, 'POST', `/integrations/${id}/disable`);
    await api(q, 'POST', `/integrations/${id}/enable`);
    const second = gw.exporter.pushNow(id);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(a).toMatchObject({ pushed: true, attempts: 2 });
    expect(b).toEqual(a);
    const ok = rx.requests.filter((r) => r.path === '/v1/metrics');
    expect(ok).toHaveLength(2); // the failed attempt and its retry, no third request
    rx.clear();
    await inference(q, 1);
    await gw.exporter.pushNow(id);
    expect(tokensOf(rx.requests[0]).tokens).toBe(10);
    await api(q, 'DELETE', `/integrations/${id}`);
  });
});

describe('status while a push is retried', () => {
  it('shows the attempt under way, when the next one starts and the error of this push; a success clears it', async () => {
    const q = await gw.project('retrying');
    const id = (await api(q, 'POST', '/integrations', { endpoint: rx.url })).json().id as string;
    const idle = (await api(q, 'GET', `/integrations/${id}`)).json().status;
    expect(idle).toMatchObject({ retrying: false, current_attempt: null, next_retry_at: null, last_error: null });
    await inference(q, 1);

    const during: Array<{ ms: number; at: number; status: Record<string, unknown> }> = [];
    onSleep = async (ms) => {
      const at = Date.now();
      // An edit replaces the integration's job; the push it started goes on, and status still shows it.
      if (during.length === 0) expect((await api(q, 'PATCH', `/integrations/${id}`, { name: 'edited while retrying' })).statusCode).toBe(200);
      during.push({ ms, at, status: (await api(q, 'GET', `/integrations/${id}`)).json().status });
    };
    // The third attempt is answered late, so status can be read while it runs.
    rx.reply({ status: 503, body: 'overloaded' }, { status: 500, body: 'still broken' }, { status: 200, delayMs: 400 });
    const pushing = gw.exporter.pushNow(id);
    await rx.waitForRequests(3, { path: '/v1/metrics' });
    const running = (await api(q, 'GET', `/integrations/${id}`)).json().status;
    expect(running).toMatchObject({ retrying: true, current_attempt: 3, max_attempts: 4, next_retry_at: null });
    expect(running.last_error).toMatch(/^HTTP 500 from .*: still broken$/);
    expect(await pushing).toMatchObject({ pushed: true, attempts: 3 });

    expect(during).toHaveLength(2);
    expect(during.map((d) => d.status)).toMatchObject([
      { state: 'active', retrying: true, current_attempt: 2, max_attempts: 4, consecutive_failures: 0 },
      { state: 'active', retrying: true, current_attempt: 3, max_attempts: 4, consecutive_failures: 0 },
    ]);
    expect(during[0].status.last_error).toMatch(/^HTTP 503 from .*: overloaded$/);
    expect(during[1].status.last_error).toMatch(/^HTTP 500 from .*: still broken$/);
    for (const d of during) {
      // The next attempt starts once the backoff the retry loop chose has passed.
      const next = Date.parse(String(d.status.next_retry_at));
      expect(next).toBeGreaterThanOrEqual(d.at + d.ms - 1000);
      expect(next).toBeLessThanOrEqual(d.at + d.ms + 1000);
    }
    const after = (await api(q, 'GET', `/integrations/${id}`)).json().status;
    expect(after).toMatchObject({ retrying: false, current_attempt: null, next_retry_at: null, last_error: null, consecutive_failures: 0 });
    expect(after.last_success_at).not.toBeNull();

    // A push that runs out of attempts keeps its last error once the retries are over.
    during.length = 0;
    rx.setDefault({ status: 503, body: 'down' });
    expect(await gw.exporter.pushNow(id)).toMatchObject({ pushed: false, attempts: 4 });
    expect(during.map((d) => d.status.current_attempt)).toEqual([2, 3, 4]);
    const failed = (await api(q, 'GET', `/integrations/${id}`)).json().status;
    expect(failed).toMatchObject({ retrying: false, current_attempt: null, next_retry_at: null, consecutive_failures: 1 });
    expect(failed.last_error).toMatch(/^HTTP 503 from .*: down$/);
    await api(q, 'DELETE', `/integrations/${id}`);
  });
});

describe('secrets in what a destination answers', () => {
  const TOKEN = 'tok_S3cr3t/+value=42&more';
  const BEARER = `Bearer ${TOKEN}`;
  const API_KEY = 'key-9f8e7d6c"5b4a';
  const USER = 'svc-user';
  const PASSWORD = 'pa ss/word!42';
  const BASIC_B64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const b64url = (s: string) => Buffer.from(s).toString('base64url');
  const lowerHex = (s: string) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  /** Every form each secret could come back in; none may be stored, returned or logged. */
  const FORBIDDEN = [
    BEARER, TOKEN, API_KEY, BASIC_B64, `${USER}:${PASSWORD}`, USER, PASSWORD,
    b64(BEARER), b64(TOKEN), b64(API_KEY), b64url(TOKEN), b64(PASSWORD), b64(`${USER}:${PASSWORD}`),
    encodeURIComponent(TOKEN), lowerHex(TOKEN), encodeURIComponent(API_KEY), encodeURIComponent(PASSWORD),
    encodeURIComponent(PASSWORD).replace(/%20/g, '+'), JSON.stringify(API_KEY).slice(1, -1),
  ];

  let sgw: TestGateway;
  let echo: Server;
  let echoUrl = '';
  const logLines: string[] = [];

  beforeAll(async () => {
    // A destination that tells the caller what credentials it got, in the forms real ones use:
    // verbatim, JSON, base64, percent-encoded, or the Basic pair decoded.
    echo = createServer((req, res) => {
      req.resume();
      const auth = String(req.headers.authorization ?? '');
      const key = String(req.headers['x-api-key'] ?? '');
      const form = (req.url ?? '').split('/')[1];
      const basic = /^Basic (.+)$/.exec(auth);
      const decoded = basic === null ? '' : Buffer.from(basic[1], 'base64').toString();
      const bodies: Record<string, [number, string]> = {
        raw: [400, `bad request; got authorization=${auth} x-api-key=${key}`],
        json: [500, JSON.stringify({ error: 'upstream', headers: { authorization: auth, 'x-api-key': key } })],
        b64: [500, `debug ${b64(auth)} ${b64(key)} ${b64url(TOKEN)} token=${b64(TOKEN)}`],
        url: [400, `redirect?auth=${encodeURIComponent(auth)}&k=${encodeURIComponent(key)}&t=${lowerHex(TOKEN)}`],
        basic: [500, `no user ${decoded.split(':')[0]} with password '${decoded.split(':')[1]}' (credentials ${basic?.[1]} = ${decoded}, form p=${encodeURIComponent(decoded.split(':')[1] ?? '').replace(/%20/g, '+')})`],
      };
      if (form === 'partial') {
        // A success whose partial-success message quotes the credentials: it becomes last_error too.
        const partialSuccess = { rejectedDataPoints: '1', errorMessage: `point rejected for ${auth} (key ${key})` };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ partialSuccess }));
        return;
      }
      const [status, body] = bodies[form] ?? [404, 'no such form'];
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    const stream = new Writable({
      write(chunk, _enc, done) {
        logLines.push(...String(chunk).split('\n').filter((l) => l !== ''));
        done();
      },
    });
    sgw = await startTestGateway({
      env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' },
      log: pino({ level: 'trace' }, stream),
      delivery: { schedule: false, sleep: async () => {} },
    });
  });
  afterAll(async () => {
    await sgw.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  it('are redacted from test results, status, the database and the logs', async () => {
    const q = await sgw.project('secrets');
    const sapi = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
      sgw.app.inject({ method, url: `/v1/projects/${q.id}${url}`, headers: sgw.auth(q.manage), payload: payload as any });
    const res = await sgw.app.inject({
      method: 'POST', url: '/v1/events', headers: sgw.auth(q.ingest), payload: [{ type: 'inference', model_name: 'm', input_tokens: 10, output_tokens: 1, ttft_ms: 100 }],
    });
    expect(res.json().accepted).toBe(1);
    const seen: string[] = [];
    for (const form of ['raw', 'json', 'b64', 'url', 'basic', 'partial']) {
      const auth_headers = form === 'basic' ? { Authorization: `Basic ${BASIC_B64}` } : { Authorization: BEARER, 'X-Api-Key': API_KEY };
      const created = await sapi('POST', '/integrations', { name: form, endpoint: `${echoUrl}/${form}`, auth_headers });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().id as string;

      const tested = (await sapi('POST', `/integrations/${id}/test`)).json();
      seen.push(tested.message);
      const report = await sgw.exporter.pushNow(id);
      if (form === 'partial') {
        expect(report.pushed).toBe(true);
        expect(report.partial).toContain('point rejected for [REDACTED] (key [REDACTED])');
        seen.push(report.partial ?? '');
      } else {
        expect(tested.ok, form).toBe(false);
        expect(tested.message, form).toContain('[REDACTED]');
        expect(report.pushed, form).toBe(false);
        seen.push(report.error ?? '');
      }
      const status = (await sapi('GET', `/integrations/${id}`)).json().status;
      expect(status.last_error, form).toContain('[REDACTED]');
      seen.push(status.last_error);
    }
    for (const text of seen) for (const secret of FORBIDDEN) expect(text, `${secret} in ${text}`).not.toContain(secret);
    // What the destinations said is still there around the redactions: only the secrets go.
    expect(seen.join('\n')).toContain('bad request; got authorization=[REDACTED] x-api-key=[REDACTED]');
    expect(seen.join('\n')).toContain(`no user [REDACTED] with password '[REDACTED]'`);

    await sgw.integrations.flushStatus(true);
    const files = readdirSync(sgw.dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.map((f) => f.name)).toContain('meterway.db');
    const stored = Buffer.concat(files.map((f) => readFileSync(join(f.parentPath, f.name))));
    expect(stored.includes('[REDACTED]')).toBe(true);
    for (const secret of FORBIDDEN) expect(stored.includes(secret), `${secret} on disk`).toBe(false);

    const logs = logLines.join('\n');
    expect(logs).toContain('[REDACTED]');
    for (const secret of FORBIDDEN) expect(logs, `${secret} in the logs`).not.toContain(secret);
  });
});
