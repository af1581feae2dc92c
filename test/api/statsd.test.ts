/**
 * The statsd kind through the front door: integrations made with the REST API, events posted,
 * pushes run with pushNow, and what arrives read by a UDP socket in the test with a strict
 * DogStatsD parser written from Datadog's datagram format, not from the sink's code.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import type { Sleep } from '../../src/delivery/retry.js';

// ---- DogStatsD, as Datadog documents the datagram --------------------------------------------
// metric:        <NAME>:<VALUE>|<TYPE>|@<SAMPLE_RATE>|#<TAG>,<TAG>|c:<CONTAINER>|T<UNIX_TIME>
// service check: _sc|<NAME>|<STATUS>|d:<TIMESTAMP>|h:<HOSTNAME>|#<TAGS>|m:<MESSAGE>

interface DsdMetric {
  readonly kind: 'metric';
  readonly name: string;
  readonly value: number;
  readonly type: 'c' | 'g' | 'ms' | 'h' | 's' | 'd';
  readonly tags: Record<string, string>;
}
interface DsdServiceCheck {
  readonly kind: 'service_check';
  readonly name: string;
  readonly status: number;
  readonly message?: string;
}

const NAME = /^[A-Za-z][A-Za-z0-9_.]{0,199}$/;
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
const TYPES = new Set(['c', 'g', 'ms', 'h', 's', 'd']);

/** Tags as key:value pairs; throws on an empty tag, a duplicate key or a character the format reserves. */
function parseTags(field: string, line: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of field.split(',')) {
    if (tag === '' || /[|#\n]/.test(tag)) throw new Error(`bad tag ${JSON.stringify(tag)} in ${JSON.stringify(line)}`);
    const colon = tag.indexOf(':');
    if (colon <= 0) throw new Error(`tag without key:value ${JSON.stringify(tag)} in ${JSON.stringify(line)}`);
    const key = tag.slice(0, colon);
    if (key in tags) throw new Error(`tag key ${key} twice in ${JSON.stringify(line)}`);
    tags[key] = tag.slice(colon + 1);
  }
  return tags;
}

function parseDogStatsd(line: string): DsdMetric | DsdServiceCheck {
  if (line === '' || line.includes('\n')) throw new Error(`empty or multi-line ${JSON.stringify(line)}`);
  if (line.startsWith('_sc|')) {
    const fields = line.split('|');
    if (!NAME.test(fields[1] ?? '') || !/^[0-3]$/.test(fields[2] ?? '')) throw new Error(`bad service check ${JSON.stringify(line)}`);
    let message: string | undefined;
    for (const f of fields.slice(3)) {
      if (message !== undefined) throw new Error(`m: must be the last field: ${JSON.stringify(line)}`);
      if (f.startsWith('m:')) message = f.slice(2);
      else if (!/^(d:\d+|h:.+|#.+)$/.test(f)) throw new Error(`bad service check field ${JSON.stringify(f)}`);
    }
    return { kind: 'service_check', name: fields[1], status: Number(fields[2]), message };
  }
  const colon = line.indexOf(':');
  const name = line.slice(0, colon);
  if (colon < 0 || !NAME.test(name)) throw new Error(`bad metric name in ${JSON.stringify(line)}`);
  const [value, type, ...rest] = line.slice(colon + 1).split('|');
  if (!NUMBER.test(value)) throw new Error(`bad value ${JSON.stringify(value)} in ${JSON.stringify(line)}`);
  if (!TYPES.has(type)) throw new Error(`bad type ${JSON.stringify(type)} in ${JSON.stringify(line)}`);
  let tags: Record<string, string> = {};
  const seen = new Set<string>();
  for (const f of rest) {
    const field = f.startsWith('#') ? '#' : f.startsWith('@') ? '@' : f.startsWith('c:') ? 'c:' : f.startsWith('T') ? 'T' : '?';
    if (field === '?' || seen.has(field)) throw new Error(`bad or repeated field ${JSON.stringify(f)} in ${JSON.stringify(line)}`);
    seen.add(field);
    if (field === '#') tags = parseTags(f.slice(1), line);
    if (field === '@' && !(Number(f.slice(1)) > 0 && Number(f.slice(1)) <= 1)) throw new Error(`bad sample rate in ${JSON.stringify(line)}`);
  }
  return { kind: 'metric', name, value: Number(value), type: type as DsdMetric['type'], tags };
}

class Receiver {
  readonly datagrams: Buffer[] = [];
  private constructor(readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (msg) => this.datagrams.push(msg));
  }
  static async start(port = 0): Promise<Receiver> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => resolve());
    });
    return new Receiver(socket, socket.address().port);
  }
  get url(): string {
    return `udp://127.0.0.1:${this.port}`;
  }
  /** Every line received since the last take, parsed strictly; the datagrams are checked against `max`. */
  async take(max = 1432): Promise<Array<DsdMetric | DsdServiceCheck>> {
    await new Promise((r) => setTimeout(r, 30)); // loopback delivery is immediate; this is slack for the event loop
    const got = this.datagrams.splice(0);
    for (const d of got) expect(d.length, d.toString()).toBeLessThanOrEqual(max);
    return got.flatMap((d) => d.toString('utf8').split('\n').map(parseDogStatsd));
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/** A port on 127.0.0.1 where nothing listens (bound once, then closed). */
async function closedPort(): Promise<number> {
  const r = await Receiver.start();
  await r.close();
  return r.port;
}

// ---- the gateway -------------------------------------------------------------------------------

const sleep: Sleep = async () => {};
let gw: TestGateway;
let rx: Receiver;

beforeAll(async () => {
  gw = await startTestGateway({
    env: { METERWAY_ALLOW_PRIVATE_EGRESS: '1' },
    delivery: { schedule: false, sleep, logForwarding: { maxQueue: 100, batchSize: 10, flushMs: 20, breakerThreshold: 3, breakerCoolDownMs: 3_600_000 } },
  });
  rx = await Receiver.start();
});
afterAll(async () => {
  await gw.close();
  await rx.close();
});

type Project = Awaited<ReturnType<TestGateway['project']>>;

const api = (p: Project, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, payload?: unknown) =>
  gw.app.inject({ method, url: `/v1/projects/${p.id}/integrations${path}`, headers: gw.auth(p.manage), payload: payload as never });

async function create(p: Project, endpoint: string, config: Record<string, unknown> = {}): Promise<{ id: string; config: Record<string, unknown> }> {
  const res = await api(p, 'POST', '', { kind: 'statsd', endpoint, config });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function ingest(p: Project, events: object[]): Promise<void> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: gw.auth(p.ingest), payload: events });
  expect(res.json().rejected).toEqual([]);
}

/** What the query API says now: one number per series, by its labels (without __name__). */
async function query(p: Project, q: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  gw.sampler.sampleOnce(Date.now());
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(p.monitoring) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.result.map((r: { metric: Record<string, string>; value: [number, string] }) => {
    const { __name__: _, ...labels } = r.metric;
    return { labels, value: Number(r.value[1]) };
  });
}

/** The escaping the README documents for DogStatsD tag values. */
const ddEscape = (v: string) => v.replace(/[|,#\u0000-\u001f\u007f]/g, '_');
const escapedLabels = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, ddEscape(v)]));
const metrics = (lines: Array<DsdMetric | DsdServiceCheck>) => lines.filter((l): l is DsdMetric => l.kind === 'metric');

/** Sums of counter lines by name and tags. */
function counterSums(lines: DsdMetric[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of lines) {
    if (l.type !== 'c') continue;
    const key = `${l.name} ${JSON.stringify(Object.entries(l.tags).sort())}`;
    out.set(key, (out.get(key) ?? 0) + l.value);
  }
  return out;
}
const seriesKey = (name: string, labels: Record<string, string>) => `${name} ${JSON.stringify(Object.entries(labels).sort())}`;

const udpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
async function settledUdpHandles(expected: number): Promise<number> {
  for (let i = 0; i < 40 && udpHandles() !== expected; i++) await new Promise((r) => setTimeout(r, 10));
  return udpHandles();
}

// ---- the tests ---------------------------------------------------------------------------------

describe('statsd integrations through the API', () => {
  it('shows the defaults and names the bad field', async () => {
    const p = await gw.project('config');
    const made = await create(p, rx.url);
    expect(made).toMatchObject({ kind: 'statsd', endpoint: rx.url, config: { interval_s: 60, timeout_s: 10, flavor: 'dogstatsd', prefix: '', max_datagram_bytes: 1432, logs: false } });
    const bad = async (body: object, message: RegExp) => {
      const res = await api(p, 'POST', '', { kind: 'statsd', endpoint: rx.url, ...body });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.message).toMatch(message);
    };
    await bad({ config: { flavor: 'graphite' } }, /^config\.flavor: .*: one of dogstatsd, statsd/);
    await bad({ config: { max_datagram_bytes: 100 } }, /^config\.max_datagram_bytes: expected integer to be greater or equal to 512/);
    await bad({ config: { max_datagram_bytes: 70000 } }, /^config\.max_datagram_bytes: expected integer to be less or equal to 65507/);
    await bad({ config: { prefix: 'my app' } }, /^config\.prefix: expected string to match/);
    await bad({ config: { temporality: 'cumulative' } }, /^config: .*unexpected property|^config\.temporality/i);
    await bad({ endpoint: 'http://127.0.0.1:8125' }, /^endpoint: must use udp:\/\/, got http:/);
  });

  it('pushes counters as deltas, gauges and histograms, with labels as DogStatsD tags, packed into datagrams of at most max_datagram_bytes', async () => {
    const p = await gw.project('dogstatsd');
    const app = 'chat|bot,v2#1';
    const model = 'meta-llama/Llama-3.1 8B:instruct';
    const runs = (n: number, ms: number) => Array.from({ length: n }, (_, i) => ({ type: 'run', app_name: app, region: `eu-${i % 3}`, status: i % 4 === 0 ? 'error' : 'success', execution_time_ms: ms + i }));
    const inference = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'inference', app_name: app, model_name: model, input_tokens: 100 + i, output_tokens: 7, status_code: i % 5 === 0 ? 503 : 200, ttft_ms: 50 }));
    await ingest(p, [...runs(12, 100), ...inference(10), { type: 'resource', app_name: app, cpu_cores: 1.5, containers_running: 3 }]);
    const i = await create(p, rx.url, { max_datagram_bytes: 512 });

    const first = await gw.exporter.pushNow(i.id);
    expect(first).toMatchObject({ pushed: true, attempts: 1 });
    const got1 = metrics(await rx.take(512));
    expect(got1.length).toBeGreaterThan(20);

    // Counters: the first delta is everything so far.
    const sums1 = counterSums(got1);
    for (const name of ['meterway_runs_total', 'meterway_run_errors_total', 'meterway_inference_requests_total', 'meterway_inference_input_tokens_total']) {
      const series = await query(p, name);
      expect(series.length, name).toBeGreaterThan(0);
      for (const s of series) expect(sums1.get(seriesKey(name, escapedLabels(s.labels))), `${name} ${JSON.stringify(s.labels)}`).toBe(s.value);
    }
    // The labels went through the documented escaping, and nothing else was changed.
    const req = got1.find((l) => l.name === 'meterway_inference_requests_total')!;
    expect(req.tags).toMatchObject({ project_id: p.id, app_id: `${p.id}-chat_bot_v2_1`, app_name: 'chat_bot_v2_1', model_name: 'meta-llama/Llama-3.1 8B:instruct', service_tier: 'on_demand' });
    // Gauges, as they are.
    const cpu = got1.filter((l) => l.name === 'meterway_cpu_utilization_cores');
    expect(cpu).toEqual([{ kind: 'metric', name: 'meterway_cpu_utilization_cores', value: 1.5, type: 'g', tags: { project_id: p.id, app_id: `${p.id}-chat_bot_v2_1`, app_name: 'chat_bot_v2_1' } }]);
    // Histograms: _count and _sum as counters, cumulative le buckets, in seconds.
    const counts = await query(p, 'meterway_run_execution_time_seconds_count');
    for (const s of counts) expect(sums1.get(seriesKey('meterway_run_execution_time_seconds_count', escapedLabels(s.labels)))).toBe(s.value);
    const eu0 = got1.filter((l) => l.name.startsWith('meterway_run_execution_time_seconds') && l.tags.region === 'eu-0');
    // eu-0 got runs 0, 3, 6, 9: 100, 103, 106, 109 ms
    expect(eu0.find((l) => l.name.endsWith('_count'))!.value).toBe(4);
    expect(eu0.find((l) => l.name.endsWith('_sum'))!.value).toBeCloseTo(0.418, 9);
    expect(eu0.filter((l) => l.name.endsWith('_bucket')).map((l) => [l.tags.le, l.value])).toEqual([['0.1', 1], ['0.25', 4], ['0.5', 4], ['1', 4], ['2.5', 4], ['5', 4], ['10', 4], ['30', 4], ['60', 4], ['120', 4], ['300', 4]]);

    // The second push carries only what changed since the first.
    await ingest(p, [...runs(3, 200), ...inference(2)]);
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: true });
    const sums2 = counterSums(metrics(await rx.take(512)));
    for (const name of ['meterway_runs_total', 'meterway_inference_input_tokens_total', 'meterway_run_execution_time_seconds_count']) {
      for (const s of await query(p, name)) {
        const key = seriesKey(name, escapedLabels(s.labels));
        expect((sums1.get(key) ?? 0) + (sums2.get(key) ?? 0), key).toBe(s.value);
      }
    }
    const status = (await api(p, 'GET', `/${i.id}`)).json().status;
    expect(status).toMatchObject({ state: 'active', consecutive_failures: 0, last_error: null });
    await api(p, 'DELETE', `/${i.id}`);
  });

  it('fills datagrams up to the limit, splitting only between lines', async () => {
    const p = await gw.project('packing');
    await ingest(p, Array.from({ length: 150 }, (_, n) => ({ type: 'inference', app_name: `app-${n}`, model_name: 'm', input_tokens: n + 1, output_tokens: 1 })));
    for (const max of [512, 1432]) {
      const i = await create(p, rx.url, { max_datagram_bytes: max });
      await gw.exporter.pushNow(i.id);
      await new Promise((r) => setTimeout(r, 30));
      const datagrams = rx.datagrams.splice(0);
      expect(datagrams.length).toBeGreaterThan(3);
      const lines = datagrams.map((d) => d.toString().split('\n'));
      for (let k = 0; k < datagrams.length; k++) {
        expect(datagrams[k].length).toBeLessThanOrEqual(max);
        for (const l of lines[k]) parseDogStatsd(l);
        // Full: the next datagram's first line would not have fitted.
        if (k + 1 < datagrams.length) expect(datagrams[k].length + 1 + Buffer.byteLength(lines[k + 1][0])).toBeGreaterThan(max);
      }
      const tokens = lines.flat().filter((l) => l.startsWith('meterway_inference_input_tokens_total:'));
      expect(tokens).toHaveLength(150);
      await api(p, 'DELETE', `/${i.id}`);
    }
  });

  it('puts the prefix in front of every name', async () => {
    const p = await gw.project('prefix');
    await ingest(p, [{ type: 'run', app_name: 'a', status: 'success' }]);
    const i = await create(p, rx.url, { prefix: 'prod.eu' });
    await gw.exporter.pushNow(i.id);
    const names = metrics(await rx.take()).map((l) => l.name);
    expect(names).toContain('prod.eu.meterway_runs_total');
    expect(names.every((n) => n.startsWith('prod.eu.meterway_'))).toBe(true);
    await api(p, 'DELETE', `/${i.id}`);
  });

  it('shows dropped lines in the status as a partial success, in data points', async () => {
    const p = await gw.project('oversize');
    await ingest(p, [{ type: 'run', app_name: 'short', status: 'success' }, { type: 'run', app_name: 'x'.repeat(600), status: 'success' }]);
    const i = await create(p, rx.url, { max_datagram_bytes: 512 });
    const report = await gw.exporter.pushNow(i.id);
    expect(report.pushed).toBe(true);
    const got = metrics(await rx.take(512));
    expect(got.some((l) => l.tags.app_name === 'short')).toBe(true);
    expect(got.some((l) => l.tags.app_name?.startsWith('xxx'))).toBe(false);
    const status = (await api(p, 'GET', `/${i.id}`)).json().status;
    expect(status.consecutive_failures).toBe(0);
    expect(status.last_error).toMatch(/^partial success: the destination rejected 2 of 4 data points: 2 lines were longer than max_datagram_bytes \(512\) on their own and were dropped; raise max_datagram_bytes/);
    await api(p, 'DELETE', `/${i.id}`);
  });

  it('forwards the duration fields of raw events as distributions when logs is on', async () => {
    const p = await gw.project('events');
    const i = await create(p, rx.url, { logs: true });
    await ingest(p, [
      { type: 'run', app_name: 'chat', region: 'eu', status: 'success', run_id: 'r-1', execution_time_ms: 300, queue_time_ms: 12 },
      { type: 'inference', model_name: 'llama', input_tokens: 3, output_tokens: 4, ttft_ms: 80.5, duration_ms: 900 },
      { type: 'resource', app_name: 'chat', cpu_cores: 1 },
    ]);
    let got: DsdMetric[] = [];
    for (let n = 0; n < 50 && got.length < 4; n++) got = got.concat(metrics(await rx.take()));
    const lines = got.map((l) => [l.name, l.value, l.type, l.tags]);
    expect(lines).toEqual([
      ['meterway_run_execution_time_ms', 300, 'd', { project_id: p.id, app_id: `${p.id}-chat`, app_name: 'chat', region: 'eu', status: 'success' }],
      ['meterway_run_queue_time_ms', 12, 'd', { project_id: p.id, app_id: `${p.id}-chat`, app_name: 'chat', region: 'eu', status: 'success' }],
      ['meterway_inference_ttft_ms', 80.5, 'd', { project_id: p.id, model_name: 'llama' }],
      ['meterway_inference_duration_ms', 900, 'd', { project_id: p.id, model_name: 'llama' }],
    ]);
    await api(p, 'DELETE', `/${i.id}`);
  });
});

describe('delivery for the statsd kind', () => {
  it('delivers nothing when nothing listens, and the next push carries both intervals', async () => {
    const p = await gw.project('rollover');
    const port = await closedPort();
    const i = await create(p, `udp://127.0.0.1:${port}`);
    await ingest(p, Array.from({ length: 3 }, () => ({ type: 'inference', model_name: 'm', input_tokens: 10, output_tokens: 1 })));
    const failed = await gw.exporter.pushNow(i.id);
    expect(failed).toMatchObject({ pushed: false, attempts: 4 });
    expect(failed.error).toMatch(new RegExp(`^nothing is listening on udp://127\\.0\\.0\\.1:${port}: \\d+ ICMP port unreachable answers? \\(ECONNREFUSED\\) came back`));
    const status = (await api(p, 'GET', `/${i.id}`)).json().status;
    expect(status).toMatchObject({ state: 'active', consecutive_failures: 1, last_error: failed.error });

    await ingest(p, Array.from({ length: 2 }, () => ({ type: 'inference', model_name: 'm', input_tokens: 10, output_tokens: 1 })));
    const late = await Receiver.start(port);
    try {
      expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: true });
      const tokens = metrics(await late.take()).filter((l) => l.name === 'meterway_inference_input_tokens_total');
      expect(tokens.map((l) => l.value)).toEqual([50]);
      await ingest(p, [{ type: 'inference', model_name: 'm', input_tokens: 10, output_tokens: 1 }]);
      await gw.exporter.pushNow(i.id);
      expect(metrics(await late.take()).filter((l) => l.name === 'meterway_inference_input_tokens_total').map((l) => l.value)).toEqual([10]);
      expect((await api(p, 'GET', `/${i.id}`)).json().status).toMatchObject({ consecutive_failures: 0, last_error: null });
    } finally {
      await late.close();
    }
    await api(p, 'DELETE', `/${i.id}`);
  });

  it('pauses after 10 failed pushes, with the reason', async () => {
    const p = await gw.project('pause');
    await ingest(p, [{ type: 'run', app_name: 'a', status: 'success' }]);
    const i = await create(p, `udp://127.0.0.1:${await closedPort()}`);
    for (let n = 1; n <= 10; n++) expect((await gw.exporter.pushNow(i.id)).attempts).toBe(4);
    const paused = (await api(p, 'GET', `/${i.id}`)).json().status;
    expect(paused).toMatchObject({ state: 'paused', consecutive_failures: 10 });
    expect(paused.paused_reason).toMatch(/^paused after 10 consecutive failed pushes; last error: nothing is listening on udp:\/\/127\.0\.0\.1:\d+/);
    expect(await gw.exporter.pushNow(i.id)).toMatchObject({ pushed: false, attempts: 0 });
    await api(p, 'DELETE', `/${i.id}`);
  });

  it('tests the connection, and says what UDP can and cannot tell', async () => {
    const p = await gw.project('check');
    const good = await create(p, rx.url);
    const ok = (await api(p, 'POST', `/${good.id}/test`)).json();
    expect(ok).toMatchObject({ ok: true });
    expect(ok.message).toMatch(/^sent a DogStatsD service check meterway_test_connection to udp:\/\/127\.0\.0\.1:\d+: 127\.0\.0\.1 is an IP address \(no DNS lookup\), private egress is allowed on this gateway, so the egress guard did not check it, the datagram was handed to the kernel, and no ICMP port unreachable came back within 500 ms\. UDP has no acknowledgement, so this does not prove that anything listens/);
    expect(await rx.take()).toEqual([{ kind: 'service_check', name: 'meterway_test_connection', status: 0, message: 'test connection from Meterway' }]);

    const plain = await create(p, rx.url, { flavor: 'statsd' });
    expect((await api(p, 'POST', `/${plain.id}/test`)).json().ok).toBe(true);
    expect(rx.datagrams.splice(0).map(String)).toEqual(['meterway_test_connection:1|g']);

    const dead = await create(p, `udp://127.0.0.1:${await closedPort()}`);
    const refused = (await api(p, 'POST', `/${dead.id}/test`)).json();
    expect(refused).toMatchObject({ ok: false });
    expect(refused.message).toMatch(/^nothing is listening on udp:\/\/127\.0\.0\.1:\d+: .* the host answered ICMP port unreachable \(ECONNREFUSED\); check the port/);

    const named = await create(p, `udp://localhost:${rx.port}`);
    const byName = (await api(p, 'POST', `/${named.id}/test`)).json();
    expect(byName.message).toMatch(/: DNS resolved localhost to [^ ]*127\.0\.0\.1/);
    for (const id of [good.id, plain.id, dead.id, named.id]) await api(p, 'DELETE', `/${id}`);
  });

  it('closes the socket when the integration is disabled or deleted, and after a test connection', async () => {
    const p = await gw.project('sockets');
    await ingest(p, [{ type: 'run', app_name: 'a', status: 'success' }]);
    // Sockets of earlier tests' sinks close a moment after those tests end.
    let before = -1;
    for (let n = 0; n < 50 && before !== udpHandles(); n++) {
      before = udpHandles();
      await new Promise((r) => setTimeout(r, 20));
    }
    const i = await create(p, rx.url);
    expect(udpHandles()).toBe(before); // create does no I/O
    await gw.exporter.pushNow(i.id);
    expect(udpHandles()).toBe(before + 1);
    await api(p, 'POST', `/${i.id}/disable`);
    expect(await settledUdpHandles(before)).toBe(before);
    await api(p, 'POST', `/${i.id}/enable`);
    // A push with nothing new has no datagram to send, and opens no socket for it.
    await gw.exporter.pushNow(i.id);
    expect(udpHandles()).toBe(before);
    await ingest(p, [{ type: 'run', app_name: 'a', status: 'success' }]);
    await gw.exporter.pushNow(i.id);
    expect(udpHandles()).toBe(before + 1);
    await api(p, 'POST', `/${i.id}/test`);
    expect(await settledUdpHandles(before + 1)).toBe(before + 1);
    await api(p, 'DELETE', `/${i.id}`);
    expect(await settledUdpHandles(before)).toBe(before);
    await rx.take();
  });
});

describe('the egress guard for udp:// endpoints', () => {
  let guarded: TestGateway;
  beforeAll(async () => {
    guarded = await startTestGateway({ delivery: { schedule: false } });
  });
  afterAll(() => guarded.close());

  it('refuses loopback and private addresses at create, with the address and why', async () => {
    const res = await guarded.app.inject({ method: 'POST', url: '/v1/projects', headers: guarded.auth(ADMIN_TOKEN), payload: { name: 'g' } });
    const pid = res.json().id as string;
    for (const [endpoint, why] of [['udp://127.0.0.1:8125', 'loopback'], ['udp://10.1.2.3:8125', 'private'], ['udp://[::ffff:192.168.1.1]:8125', 'private'], ['udp://localhost:8125', 'loopback']]) {
      const r = await guarded.app.inject({ method: 'POST', url: `/v1/projects/${pid}/integrations`, headers: guarded.auth(ADMIN_TOKEN), payload: { kind: 'statsd', endpoint } });
      expect(r.statusCode, endpoint).toBe(400);
      expect(r.json().error.code).toBe('egress_forbidden');
      expect(r.json().error.message).toMatch(new RegExp(`^endpoint: .*${why}`));
    }
  });
});
