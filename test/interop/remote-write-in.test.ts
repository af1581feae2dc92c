/**
 * Interop: real remote write senders forward into Meterway. A small HTTP server serves a fixed
 * exposition; a real Prometheus 2.42 scrapes it and remote-writes with a project's ingest token
 * (`authorization: credentials:`), and a real vmagent (VictoriaMetrics 1.79) does the same with a
 * server-wide ingest token and `-remoteWrite.label=project_id=...`. Every request goes through a
 * recording proxy, so the test sees what each sender sent (protobuf and Snappy, as remote write
 * 1.0 says) and what the gateway answered. After forwarding, Meterway's query API returns the
 * scraped values, and a series that leaves the exposition leaves Meterway (staleness markers).
 *
 * Each sender's block is skipped when its binary is missing.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { uncompress } from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { freePort, hasPrometheus, poll, spawnProcess, startPrometheus, type PrometheusPeer, type Spawned } from '../peers.js';

const PROTO_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'wire', 'proto', 'prompb');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('remote.proto');
const WriteRequest = root.lookupType('prometheus.WriteRequest');

const VMAGENT_BIN = '/usr/bin/vmagent';
const hasVmagent = existsSync(VMAGENT_BIN);

/** What the exporter serves: name and labels (without job and instance) to value. */
const SERIES: Record<string, number> = {
  'app_requests_total{code="200",route="/v1/chat"}': 1027,
  'app_requests_total{code="500",route="/v1/chat"}': 3,
  'app_queue_depth': 12.5,
  'app_latency_seconds_bucket{le="0.1"}': 5,
  'app_latency_seconds_bucket{le="1"}': 9,
  'app_latency_seconds_bucket{le="+Inf"}': 10,
  'app_latency_seconds_sum': 4.25,
  'app_latency_seconds_count': 10,
  'app_gc_seconds{quantile="0.5"}': 0.002,
  'app_gc_seconds{quantile="0.99"}': NaN,
  'app_gc_seconds_sum': 0.5,
  'app_gc_seconds_count': 200,
  'app_temp_celsius{sensor="a"}': 21,
};
const LEAVING = 'app_temp_celsius{sensor="b"}';

interface Exporter { port: number; withLeaving: boolean; server: Server }

async function startExporter(): Promise<Exporter> {
  const ex = { port: 0, withLeaving: true } as Exporter;
  ex.server = createServer((_req, res) => {
    const v = (k: string) => (Number.isNaN(SERIES[k]) ? 'NaN' : String(SERIES[k]));
    const lines = [
      '# HELP app_requests_total Requests served.', '# TYPE app_requests_total counter',
      `app_requests_total{code="200",route="/v1/chat"} ${v('app_requests_total{code="200",route="/v1/chat"}')}`,
      `app_requests_total{code="500",route="/v1/chat"} ${v('app_requests_total{code="500",route="/v1/chat"}')}`,
      '# HELP app_queue_depth Items waiting.', '# TYPE app_queue_depth gauge', `app_queue_depth ${v('app_queue_depth')}`,
      '# HELP app_latency_seconds Request latency.', '# TYPE app_latency_seconds histogram',
      ...['0.1', '1', '+Inf'].map((le) => `app_latency_seconds_bucket{le="${le}"} ${v(`app_latency_seconds_bucket{le="${le}"}`)}`),
      `app_latency_seconds_sum ${v('app_latency_seconds_sum')}`, `app_latency_seconds_count ${v('app_latency_seconds_count')}`,
      '# HELP app_gc_seconds GC pauses.', '# TYPE app_gc_seconds summary',
      `app_gc_seconds{quantile="0.5"} ${v('app_gc_seconds{quantile="0.5"}')}`, `app_gc_seconds{quantile="0.99"} ${v('app_gc_seconds{quantile="0.99"}')}`,
      `app_gc_seconds_sum ${v('app_gc_seconds_sum')}`, `app_gc_seconds_count ${v('app_gc_seconds_count')}`,
      '# TYPE app_temp_celsius gauge', `app_temp_celsius{sensor="a"} ${v('app_temp_celsius{sensor="a"}')}`,
      ...(ex.withLeaving ? [`${LEAVING} 22`] : []),
    ];
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
  });
  await new Promise<void>((r) => ex.server.listen(0, '127.0.0.1', r));
  ex.port = (ex.server.address() as AddressInfo).port;
  return ex;
}

interface Seen {
  method: string; path: string; contentType: string; contentEncoding: string; version: string; status: number; answer: string;
  /** The body read with snappyjs and protobufjs (the official schema), not with the gateway's code; undefined when it would not read. */
  decoded?: { series: number; metadata: number };
}

function decodeBody(body: Buffer): Seen['decoded'] {
  try {
    const req = WriteRequest.toObject(WriteRequest.decode(uncompress(body)), { arrays: true }) as { timeseries: unknown[]; metadata: unknown[] };
    return { series: req.timeseries.length, metadata: req.metadata.length };
  } catch {
    return undefined;
  }
}

/** A loopback proxy to the gateway that records each request's headers and the gateway's answer. */
async function startRecorder(gatewayPort: number): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const sent: Buffer[] = [];
    req.on('data', (c: Buffer) => sent.push(c));
    const up = httpRequest({ host: '127.0.0.1', port: gatewayPort, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${gatewayPort}` } }, (gres) => {
      const chunks: Buffer[] = [];
      gres.on('data', (c: Buffer) => chunks.push(c));
      gres.on('end', () => {
        const answer = Buffer.concat(chunks);
        seen.push({
          method: req.method ?? '', path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''),
          contentEncoding: String(req.headers['content-encoding'] ?? ''), version: String(req.headers['x-prometheus-remote-write-version'] ?? ''),
          status: gres.statusCode ?? 0, answer: answer.toString('utf8'), decoded: decodeBody(Buffer.concat(sent)),
        });
        res.writeHead(gres.statusCode ?? 502, gres.headers).end(answer);
      });
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, seen, server };
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/** Name and labels as SERIES writes them, from a query result's metric (job, instance and project_id left out). */
function seriesKey(metric: Record<string, string>): string {
  const { __name__: name, job: _job, instance: _instance, project_id: _project, ...rest } = metric;
  const labels = Object.keys(rest).sort().map((k) => `${k}="${rest[k]}"`).join(',');
  return labels === '' ? name : `${name}{${labels}}`;
}

let gw: TestGateway;
let exporter: Exporter;
let recorder: Awaited<ReturnType<typeof startRecorder>>;

beforeAll(async () => {
  gw = await startTestGateway();
  await gw.app.listen({ host: '127.0.0.1', port: 0 });
  exporter = await startExporter();
  recorder = await startRecorder((gw.app.server.address() as AddressInfo).port);
});

afterAll(async () => {
  await closeServer(recorder?.server);
  await closeServer(exporter?.server);
  await gw?.close();
});

/** The project's series of the app, as the query API returns them now, by seriesKey. */
async function forwarded(pid: string, token: string, job: string): Promise<Record<string, number>> {
  gw.sampler.sampleOnce(Date.now());
  const q = encodeURIComponent(`{__name__=~"app_.+",job="${job}"}`);
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${pid}/prometheus/api/v1/query?query=${q}`, headers: gw.auth(token) });
  expect(res.statusCode, res.body).toBe(200);
  const out: Record<string, number> = {};
  for (const s of res.json().data.result as Array<{ metric: Record<string, string>; value: [number, string] }>) {
    expect(s.metric.project_id).toBe(pid);
    out[seriesKey(s.metric)] = Number(s.value[1]);
  }
  return out;
}

/** Until the project holds every served series (the leaving one too, or not), at its served value. */
async function waitForAll(pid: string, token: string, job: string, withLeaving: boolean): Promise<Record<string, number>> {
  return poll(`the ${job} series in project ${pid}`, async () => {
    const got = await forwarded(pid, token, job);
    if (withLeaving !== LEAVING in got) return undefined;
    for (const k of Object.keys(SERIES)) if (!(k in got)) return undefined;
    return got;
  }, 45_000, 250);
}

function expectServed(got: Record<string, number>): void {
  const want = { ...SERIES };
  const { [LEAVING]: leaving, ...rest } = got;
  expect(leaving === undefined || leaving === 22).toBe(true);
  // NaN is not equal to itself: compared as text.
  const text = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
  expect(text(rest)).toEqual(text(want));
}

function expectRemoteWrite1(seen: readonly Seen[]): void {
  expect(seen.length).toBeGreaterThan(0);
  for (const s of seen) {
    expect({ method: s.method, path: s.path, type: s.contentType, encoding: s.contentEncoding }).toEqual({ method: 'POST', path: '/v1/prom/write', type: 'application/x-protobuf', encoding: 'snappy' });
    expect(s.decoded).toBeDefined();
    // Everything the sender sent was taken.
    expect({ status: s.status, answer: s.answer }).toEqual({ status: 204, answer: '' });
  }
}

describe.skipIf(!hasPrometheus)('a real Prometheus 2.42 remote-writing into a project', () => {
  let prom: PrometheusPeer | undefined;
  let p: Awaited<ReturnType<TestGateway['project']>>;
  const start = () => recorder.seen.length;
  let from = 0;

  beforeAll(async () => {
    p = await gw.project('prometheus remote write');
    from = start();
    exporter.withLeaving = true;
    prom = await startPrometheus([
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: fixed',
      '    static_configs:',
      `      - targets: ["127.0.0.1:${exporter.port}"]`,
      'remote_write:',
      `  - url: http://127.0.0.1:${recorder.port}/v1/prom/write`,
      '    authorization:',
      `      credentials: ${JSON.stringify(p.ingest)}`,
      '    queue_config:',
      '      batch_send_deadline: 1s',
      '      retry_on_http_429: true',
      '    metadata_config:',
      '      send_interval: 1s',
      '',
    ].join('\n'), { readyTimeoutMs: 30_000 });
  }, 60_000);

  afterAll(async () => {
    if (prom !== undefined) {
      if (prom.proc.stderr.trim().length > 0) console.log(`prometheus stderr:\n${prom.proc.stderr}`);
      await prom.stop();
    }
  });

  it('forwards every scraped series, and the query API returns the scraped values', async () => {
    const got = await waitForAll(p.id, p.monitoring, 'fixed', true);
    expectServed(got);
    // Prometheus' own series of the scrape come along too.
    gw.sampler.sampleOnce(Date.now());
    const up = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/query?query=${encodeURIComponent('up{job="fixed"}')}`, headers: gw.auth(p.monitoring) });
    expect(up.json().data.result.map((s: { value: [number, string] }) => s.value[1])).toEqual(['1']);
    // And the values Prometheus itself holds are the same.
    const inProm = await prom!.query('{__name__=~"app_.+",job="fixed"}');
    expect(Object.fromEntries(inProm.map((s) => [seriesKey(s.metric), String(s.value)]))).toEqual(Object.fromEntries(Object.entries(got).map(([k, v]) => [k, String(v)])));
  }, 60_000);

  it('shows the series under their types in the scrape endpoint', async () => {
    const text = (await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/metrics`, headers: gw.auth(p.monitoring) })).body;
    expect(text).toContain('# TYPE app_requests_total counter');
    expect(text).toContain('# TYPE app_queue_depth gauge');
    expect(text).toMatch(new RegExp(`app_requests_total\\{code="200",instance="127\\.0\\.0\\.1:${exporter.port}",job="fixed",project_id="${p.id}",route="/v1/chat"\\} 1027\\n`));
  });

  it('ends a series that leaves the exposition: Prometheus writes its staleness marker, and the series leaves Meterway', async () => {
    exporter.withLeaving = false;
    await waitForAll(p.id, p.monitoring, 'fixed', false);
    const text = (await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/metrics`, headers: gw.auth(p.monitoring) })).body;
    expect(text).not.toContain('sensor="b"');
    exporter.withLeaving = true;
  }, 60_000);

  it('sent remote write 1.0 (protobuf, Snappy), metadata included, and every request was taken', () => {
    const seen = recorder.seen.slice(from);
    expectRemoteWrite1(seen);
    for (const s of seen) expect(s.version).toBe('0.1.0');
    // Prometheus sends metadata in requests of its own, beside the samples.
    expect(seen.some((s) => s.decoded!.metadata > 0 && s.decoded!.series === 0)).toBe(true);
    expect(seen.some((s) => s.decoded!.series > 0)).toBe(true);
  });
});

describe.skipIf(!hasVmagent)('a real vmagent remote-writing with a server-wide token', () => {
  let vm: Spawned | undefined;
  let dir: string;
  let p: Awaited<ReturnType<TestGateway['project']>>;
  let from = 0;

  beforeAll(async () => {
    p = await gw.project('vmagent remote write');
    const tok = await gw.app.inject({ method: 'POST', url: '/v1/tokens', headers: gw.auth(ADMIN_TOKEN), payload: { scope: 'ingest', name: 'vmagent' } });
    expect(tok.statusCode).toBe(201);
    dir = mkdtempSync(join(tmpdir(), 'meterway-vmagent-'));
    const scrapeFile = join(dir, 'scrape.yml');
    writeFileSync(scrapeFile, [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: fixed-vm',
      '    static_configs:',
      `      - targets: ["127.0.0.1:${exporter.port}"]`,
      '',
    ].join('\n'));
    from = recorder.seen.length;
    exporter.withLeaving = true;
    const httpPort = await freePort();
    vm = spawnProcess(VMAGENT_BIN, [
      `-promscrape.config=${scrapeFile}`,
      `-remoteWrite.url=http://127.0.0.1:${recorder.port}/v1/prom/write`,
      `-remoteWrite.bearerToken=${tok.json().token as string}`,
      // A server-wide token: the project is the label every series carries.
      `-remoteWrite.label=project_id=${p.id}`,
      '-remoteWrite.flushInterval=1s',
      `-remoteWrite.tmpDataPath=${join(dir, 'remote-write')}`,
      `-httpListenAddr=127.0.0.1:${httpPort}`,
      '-loggerLevel=ERROR',
    ], { cwd: dir });
  }, 30_000);

  afterAll(async () => {
    if (vm !== undefined) {
      if (vm.stderr.trim().length > 0) console.log(`vmagent stderr:\n${vm.stderr}`);
      await vm.stop();
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('forwards every scraped series into the project its label names, at the scraped values', async () => {
    const got = await waitForAll(p.id, p.monitoring, 'fixed-vm', true);
    expectServed(got);
    expect(vm!.exited).toBe(false);
  }, 60_000);

  it('sent Prometheus remote write 1.0 (protobuf, Snappy), not its own protocol, and every request was taken', () => {
    expectRemoteWrite1(recorder.seen.slice(from).filter((s) => s.path.startsWith('/v1/prom/write')));
    // vmagent 1.79 probes nothing: every request was a remote write.
    expect(recorder.seen.slice(from).every((s) => s.path === '/v1/prom/write')).toBe(true);
  });
});
