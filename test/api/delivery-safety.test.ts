/**
 * Issue 14 (tenant safety), through the front door: delta temporality across an automatic pause,
 * secrets never echoed, status while a push is retried, and the egress guard on disguised
 * addresses.
 */
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
