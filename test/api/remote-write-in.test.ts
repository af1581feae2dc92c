/**
 * Prometheus remote write in (POST /v1/prom/write) through the front door: WriteRequests built
 * with protobufjs from the vendored remote write schema and compressed with snappyjs (not with
 * the gateway's own code), then read back every way a tenant reads: the scrape endpoint and the
 * query API with its metadata. Bad input of every kind, projects and isolation, rate limits and
 * the self-metrics.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { compress } from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers.js';
import { STALE_NAN } from '../../src/core/labels.js';

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'wire', 'proto', 'prompb');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync('remote.proto');
const WriteRequest = root.lookupType('prometheus.WriteRequest');

type Labels = Record<string, string>;
/** Samples as [value, time]; 'stale' for the staleness marker, since an array of doubles may not keep a NaN's bits. */
interface Series { labels: Labels | Array<[string, string]>; samples?: Array<[number | 'stale', number]>; histograms?: object[]; exemplars?: object[] }
interface Meta { type: number; name: string; help?: string; unit?: string }
const COUNTER = 1;
const GAUGE = 2;
const HISTOGRAM = 3;
const SUMMARY = 5;

/** A WriteRequest as protobuf; labels as given (an object sorted by name, pairs as they are). */
function encode(series: Series[], metadata: Meta[] = []): Uint8Array {
  return WriteRequest.encode(WriteRequest.fromObject({
    timeseries: series.map((s) => ({
      labels: (Array.isArray(s.labels) ? s.labels : Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))).map(([name, value]) => ({ name, value })),
      samples: (s.samples ?? []).map(([value, timestamp]) => ({ value: value === 'stale' ? STALE_NAN : value, timestamp })),
      histograms: s.histograms ?? [],
      exemplars: s.exemplars ?? [],
    })),
    metadata: metadata.map((m) => ({ type: m.type, metricFamilyName: m.name, help: m.help ?? '', unit: m.unit ?? '' })),
  })).finish();
}

let gw: TestGateway;
let p: Awaited<ReturnType<TestGateway['project']>>;
const LIMIT = 60;

beforeAll(async () => {
  gw = await startTestGateway({ file: { metrics: { max_series_per_project: LIMIT }, ingest: { max_body_bytes: 64 * 1024 } } });
  p = await gw.project('remote write');
});
afterAll(() => gw.close());

const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' };

function post(token: string, body: Uint8Array | Buffer, extra: Record<string, string> = {}) {
  return gw.app.inject({ method: 'POST', url: '/v1/prom/write', headers: { ...gw.auth(token), ...headers, ...extra }, payload: Buffer.from(body) });
}
const write = (token: string, series: Series[], metadata: Meta[] = []) => post(token, compress(encode(series, metadata)));

async function scrape(project = p): Promise<string> {
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${project.id}/metrics`, headers: gw.auth(project.monitoring) });
  expect(res.statusCode).toBe(200);
  return res.body;
}

async function query(q: string, project = p): Promise<Array<{ metric: Labels; value: [number, string] }>> {
  gw.sampler.sampleOnce(Date.now());
  const res = await gw.app.inject({ method: 'GET', url: `/v1/projects/${project.id}/prometheus/api/v1/query?query=${encodeURIComponent(q)}`, headers: gw.auth(project.monitoring) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.result;
}

async function selfMetrics(): Promise<string> {
  return (await gw.app.inject({ method: 'GET', url: '/metrics' })).body;
}

function selfValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('remote write into a project', () => {
  it('takes counters, gauges, a classic histogram\'s and a summary\'s series, and shows them in scrape and query', async () => {
    const t = Date.now() - 1_000;
    const job = { job: 'api', instance: '10.0.0.1:9100' };
    const res = await write(p.ingest, [
      { labels: { __name__: 'http_requests_total', ...job, code: '200' }, samples: [[41, t - 15_000], [42, t]] },
      { labels: { __name__: 'http_requests_total', ...job, code: '500' }, samples: [[3, t]] },
      { labels: { __name__: 'queue_depth', ...job }, samples: [[7.5, t]] },
      ...[['0.1', 2], ['1', 5], ['+Inf', 6]].map(([le, v]) => ({ labels: { __name__: 'latency_seconds_bucket', ...job, le: le as string }, samples: [[v as number, t]] as Array<[number, number]> })),
      { labels: { __name__: 'latency_seconds_sum', ...job }, samples: [[2.75, t]] },
      { labels: { __name__: 'latency_seconds_count', ...job }, samples: [[6, t]] },
      { labels: { __name__: 'gc_pause_seconds', ...job, quantile: '0.5' }, samples: [[NaN, t]] },
      { labels: { __name__: 'gc_pause_seconds', ...job, quantile: '0.99' }, samples: [[0.02, t]] },
    ], [
      { type: COUNTER, name: 'http_requests', help: 'Requests served.' },
      { type: GAUGE, name: 'queue_depth', help: 'Items waiting.' },
      { type: HISTOGRAM, name: 'latency_seconds', help: 'Request latency.', unit: 'seconds' },
      { type: SUMMARY, name: 'gc_pause_seconds', help: 'GC pauses.' },
    ]);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    const text = await scrape();
    const id = `instance="10.0.0.1:9100",job="api",project_id="${p.id}"`;
    expect(text).toContain('# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n');
    expect(text).toContain(`http_requests_total{code="200",${id}} 42\n`);
    expect(text).toContain(`http_requests_total{code="500",${id}} 3\n`);
    expect(text).toContain('# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\n');
    expect(text).toContain(`queue_depth{${id}} 7.5\n`);
    // A classic histogram's series stay the series they came as: gauges under their own names.
    expect(text).toContain('# HELP latency_seconds_bucket Request latency.\n# TYPE latency_seconds_bucket gauge\n');
    expect(text).toContain(`latency_seconds_bucket{instance="10.0.0.1:9100",job="api",le="0.1",project_id="${p.id}"} 2\n`);
    expect(text).toContain(`latency_seconds_bucket{instance="10.0.0.1:9100",job="api",le="+Inf",project_id="${p.id}"} 6\n`);
    expect(text).toContain(`latency_seconds_sum{${id}} 2.75\n`);
    expect(text).toContain(`latency_seconds_count{${id}} 6\n`);
    expect(text).toContain(`gc_pause_seconds{${id},quantile="0.5"} NaN\n`);
    expect(text).toContain(`gc_pause_seconds{${id},quantile="0.99"} 0.02\n`);

    expect((await query('sum(http_requests_total)'))[0].value[1]).toBe('45');
    const q = await query('histogram_quantile(0.5, sum by (le) (latency_seconds_bucket))');
    expect(Number(q[0].value[1])).toBeGreaterThan(0.1);
    expect(Number(q[0].value[1])).toBeLessThanOrEqual(1);
    const [series] = await query('latency_seconds_sum / latency_seconds_count');
    expect(series.metric).toEqual({ instance: '10.0.0.1:9100', job: 'api', project_id: p.id });
    expect(Number(series.value[1])).toBeCloseTo(2.75 / 6, 10);
    const meta = await gw.app.inject({ method: 'GET', url: `/v1/projects/${p.id}/prometheus/api/v1/metadata`, headers: gw.auth(p.monitoring) });
    expect(meta.json().data.http_requests_total).toEqual([{ type: 'counter', help: 'Requests served.', unit: '' }]);
    expect(meta.json().data.latency_seconds_bucket).toEqual([{ type: 'gauge', help: 'Request latency.', unit: '' }]);
  });

  it('keeps the newest sample of a series: a resend changes nothing, an older sample is dropped without an error', async () => {
    const t = Date.now() - 5_000;
    const series = (v: number, at: number): Series[] => [{ labels: { __name__: 'resend_total', job: 'x' }, samples: [[v, at]] }, { labels: { __name__: 'resend_gauge', job: 'x' }, samples: [[v, at]] }];
    expect((await write(p.ingest, series(10, t))).statusCode).toBe(204);
    const dupsBefore = selfValue(await selfMetrics(), 'meterway_source_samples_dropped_total{source="remote_write",reason="duplicate"}');
    expect((await write(p.ingest, series(10, t))).statusCode).toBe(204);
    expect((await write(p.ingest, series(3, t - 1_000))).statusCode).toBe(204);
    let text = await scrape();
    expect(text).toContain(`resend_total{job="x",project_id="${p.id}"} 10\n`);
    expect(text).toContain(`resend_gauge{job="x",project_id="${p.id}"} 10\n`);
    expect(selfValue(await selfMetrics(), 'meterway_source_samples_dropped_total{source="remote_write",reason="duplicate"}')).toBe(dupsBefore + 2);
    // A counter that went down at a newer time: the sender restarted, a reset rate() reads as one.
    expect((await write(p.ingest, series(2, t + 1_000))).statusCode).toBe(204);
    text = await scrape();
    expect(text).toContain(`resend_total{job="x",project_id="${p.id}"} 2\n`);
    expect(text).toContain(`resend_gauge{job="x",project_id="${p.id}"} 2\n`);
  });

  it('ends a series on a staleness marker, as Prometheus writes one when a target goes away', async () => {
    const t = Date.now() - 5_000;
    const labels = { __name__: 'target_gauge', job: 'gone' };
    expect((await write(p.ingest, [{ labels, samples: [[1, t]] }, { labels: { __name__: 'target_up_total', job: 'gone' }, samples: [[5, t]] }])).statusCode).toBe(204);
    expect(await scrape()).toContain('target_gauge{job="gone"');
    // An older marker than the series' newest sample does not end it.
    expect((await write(p.ingest, [{ labels, samples: [['stale', t - 1]] }])).statusCode).toBe(204);
    expect(await scrape()).toContain('target_gauge{job="gone"');
    const ended = await write(p.ingest, [{ labels, samples: [['stale', t + 1_000]] }, { labels: { __name__: 'target_up_total', job: 'gone' }, samples: [[5, t + 500], ['stale', t + 1_000]] }]);
    expect(ended.statusCode, ended.body).toBe(204);
    const text = await scrape();
    expect(text).not.toContain('target_gauge{job="gone"');
    expect(text).not.toContain('target_up_total{job="gone"');
    // A sample after the marker starts the series again.
    expect((await write(p.ingest, [{ labels, samples: [[4, t + 2_000]] }])).statusCode).toBe(204);
    expect(await scrape()).toContain(`target_gauge{job="gone",project_id="${p.id}"} 4\n`);
  });

  it('types a family by metadata sent before its samples; a later metadata does not retype (or refuse) it', async () => {
    const t = Date.now() - 5_000;
    // Metadata alone, as Prometheus sends it: a text-format counter without _total.
    expect((await write(p.ingest, [], [{ type: COUNTER, name: 'legacy_requests', help: 'Old-style counter.' }])).statusCode).toBe(204);
    expect((await write(p.ingest, [{ labels: { __name__: 'legacy_requests', job: 'old' }, samples: [[9, t]] }])).statusCode).toBe(204);
    // No metadata yet for this one: a gauge by its name; the counter metadata that comes later leaves it so.
    expect((await write(p.ingest, [{ labels: { __name__: 'late_meta', job: 'old' }, samples: [[1, t]] }])).statusCode).toBe(204);
    const later = await write(p.ingest, [{ labels: { __name__: 'late_meta', job: 'old' }, samples: [[2, t + 1_000]] }], [{ type: COUNTER, name: 'late_meta', help: 'Now a counter.' }]);
    expect(later.statusCode, later.body).toBe(204);
    const text = await scrape();
    expect(text).toContain('# HELP legacy_requests Old-style counter.\n# TYPE legacy_requests counter\n');
    expect(text).toContain(`legacy_requests{job="old",project_id="${p.id}"} 9\n`);
    expect(text).toContain('# TYPE late_meta gauge\n');
    expect(text).toContain(`late_meta{job="old",project_id="${p.id}"} 2\n`);
  });

  it('keeps exemplars out without failing the request, and counts them', async () => {
    const before = selfValue(await selfMetrics(), 'meterway_source_samples_dropped_total{source="remote_write",reason="exemplars"}');
    const res = await write(p.ingest, [{ labels: { __name__: 'with_exemplar_bucket', le: '1' }, samples: [[1, Date.now()]], exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 0.5, timestamp: Date.now() }] }]);
    expect(res.statusCode).toBe(204);
    expect(await scrape()).toContain('with_exemplar_bucket{le="1"');
    expect(selfValue(await selfMetrics(), 'meterway_source_samples_dropped_total{source="remote_write",reason="exemplars"}')).toBe(before + 1);
  });
});

const ok = (name: string): Series => ({ labels: { __name__: name, job: 'ok' }, samples: [[1, Date.now()]] });

describe('bad input', () => {
  it('refuses a body that is not Snappy, or not a WriteRequest, with 400 and a plain message', async () => {
    const plain = await post(p.ingest, encode([ok('never_compressed')]));
    expect(plain.statusCode).toBe(400);
    expect(plain.headers['content-type']).toMatch(/^text\/plain/);
    expect(plain.body).toMatch(/^the body is not Snappy block-compressed/);
    const notProto = await post(p.ingest, compress(Buffer.from('{"timeseries": [] and then some}')));
    expect(notProto.statusCode).toBe(400);
    expect(notProto.body).toContain('not a valid protobuf prometheus.WriteRequest');
    const good = encode([ok('cut_short')]);
    const cut = await post(p.ingest, compress(good.subarray(0, good.length - 2)));
    expect(cut.statusCode).toBe(400);
    expect(cut.body).toContain('truncated');
    const empty = await post(p.ingest, Buffer.alloc(0));
    expect(empty.statusCode).toBe(400);
    expect(await scrape()).not.toContain('never_compressed');
  });

  it('refuses another Content-Type, Content-Encoding or protocol with 415, and a body past the limit with 413', async () => {
    const body = compress(encode([ok('x')]));
    const json = await post(p.ingest, body, { 'content-type': 'application/json' });
    expect(json.statusCode).toBe(415);
    expect(json.body).toContain('send application/x-protobuf');
    const gzip = await post(p.ingest, body, { 'content-encoding': 'gzip' });
    expect(gzip.statusCode).toBe(415);
    expect(gzip.body).toContain('Content-Encoding: snappy');
    const v2 = await post(p.ingest, body, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' });
    expect(v2.statusCode).toBe(415);
    expect(v2.body).toContain('remote write 1.0');
    // Without either header, the body is taken as remote write 1.0, as Prometheus' receiver takes it.
    const bare = await gw.app.inject({ method: 'POST', url: '/v1/prom/write', headers: gw.auth(p.ingest), payload: Buffer.from(compress(encode([ok('no_headers')]))) });
    expect(bare.statusCode, bare.body).toBe(204);
    const big = await post(p.ingest, Buffer.alloc(70 * 1024));
    expect(big.statusCode).toBe(413);
    expect(big.body).toContain('ingest.max_body_bytes');
    // A small body that unpacks past the limit: refused from the length it declares.
    const bomb = await post(p.ingest, compress(new Uint8Array(1024 * 1024)));
    expect(bomb.statusCode).toBe(413);
  });

  it('refuses bad series one by one with 400, naming the problems and counts, and keeps the valid ones', async () => {
    const t = Date.now() - 1_000;
    const res = await write(p.ingest, [
      ok('kept_one'),
      { labels: [['__name__', 'unsorted'], ['zone', 'a'], ['job', 'x']], samples: [[1, t]] },
      { labels: [['__name__', 'duplicated'], ['job', 'x'], ['job', 'y']], samples: [[1, t], [2, t + 1]] },
      { labels: [['__name__', ''], ['job', 'x']], samples: [[1, t]] },
      { labels: [['job', 'nameless']], samples: [[1, t]] },
      { labels: { __name__: 'bad-name' }, samples: [[1, t]] },
      { labels: { __name__: 'bad_label', 'bad.label': 'v' }, samples: [[1, t]] },
      { labels: { __name__: 'reserved_label', __meta_x: 'v' }, samples: [[1, t]] },
      { labels: { __name__: 'long_value', a: 'v'.repeat(2_000) }, samples: [[1, t]] },
      { labels: { __name__: 'negative_total' }, samples: [[-1, t]] },
      { labels: { __name__: 'future' }, samples: [[1, Date.now() + 3_600_000]] },
      { labels: { __name__: 'native_histogram' }, histograms: [{ countInt: 3, sum: 1, schema: 0, timestamp: t }] },
      ok('kept_two'),
    ]);
    expect(res.statusCode).toBe(400);
    const msg = res.body;
    expect(msg.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(msg).toMatch(/^12 of 14 samples \(11 of 13 series\) refused, the rest taken: /);
    for (const want of [
      'series "unsorted": labels must be sorted by name (remote write 1.0), but "job" comes after "zone"',
      'series "duplicated": the label "job" appears twice; label names must be unique in a series (2 samples)',
      'the metric name (label __name__) is empty',
      'has no __name__ label; every remote write series carries its metric name there',
      'series "bad-name": "bad-name" is not a metric name',
      'series "bad_label": "bad.label" is not a label name',
      '"__meta_x" is not a label name: names starting with "__" are reserved',
      'more than the 1024 a label value may have',
      'series "negative_total": -1 is not a value a counter can hold',
      'more than 10 minutes ahead of the gateway\'s clock',
    ]) expect(msg).toContain(want);
    // Ten reasons are named; the rest are counted.
    expect(msg).toContain('and 1 more samples for other reasons');
    expect(msg).not.toContain('v'.repeat(100));
    const text = await scrape();
    expect(text).toContain('kept_one{job="ok"');
    expect(text).toContain('kept_two{job="ok"');
    for (const gone of ['unsorted', 'duplicated', 'bad_label', 'negative_total', 'future', 'native_histogram']) expect(text).not.toContain(`\n${gone}{`);

    const native = await write(p.ingest, [{ labels: { __name__: 'native_only' }, histograms: [{ countInt: 3, sum: 1, schema: 0, timestamp: t }] }]);
    expect(native.statusCode).toBe(400);
    expect(native.body).toContain('native histograms are not supported; send the classic histogram');
  });

  it('refuses a name another source or the events hold with another type, per series, disturbing nothing else', async () => {
    const t = Date.now();
    const res = await write(p.ingest, [
      // The events' own counter, sent as a gauge by metadata.
      { labels: { __name__: 'meterway_runs_total', job: 'x' }, samples: [[1, t]] },
      // A series the events' histogram already writes.
      { labels: { __name__: 'meterway_run_execution_time_seconds_bucket', le: '1' }, samples: [[1, t]] },
      // The same type as the events' counter: it joins it, as an OTLP counter of that name does.
      { labels: { __name__: 'meterway_run_errors_total', job: 'x' }, samples: [[4, t]] },
      ok('beside_the_clash'),
    ], [{ type: GAUGE, name: 'meterway_runs_total' }]);
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/^2 of 4 samples \(2 of 4 series\) refused/);
    expect(res.body).toContain('series "meterway_runs_total": meterway_runs_total is already a counter in this project; a gauge cannot have the same name');
    expect(res.body).toContain('meterway_run_execution_time_seconds_bucket is a series of the histogram meterway_run_execution_time_seconds');
    const text = await scrape();
    expect(text).toContain(`meterway_run_errors_total{job="x",project_id="${p.id}"} 4\n`);
    expect(text).toContain('beside_the_clash{job="ok"');
    expect(text).not.toContain('meterway_runs_total{job="x"');
  });

  it('stops at the project series limit with 400 naming it, keeping what fits', async () => {
    const q = await gw.project('limited');
    const t = Date.now();
    const res = await write(q.ingest, Array.from({ length: LIMIT + 5 }, (_, i) => ({ labels: { __name__: 'many', n: String(i) }, samples: [[i, t]] as Array<[number, number]> })));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain(`has reached its limit of ${LIMIT} series`);
    const text = await scrape(q);
    expect(text).toContain('many{n="0"');
    expect(text).not.toContain(`many{n="${LIMIT + 4}"`);
    const self = await selfMetrics();
    expect(selfValue(self, 'meterway_source_samples_dropped_total{source="remote_write",reason="series_limit"}')).toBeGreaterThanOrEqual(5);
    expect(selfValue(self, 'meterway_source_samples_dropped_total{source="remote_write",reason="invalid"}')).toBeGreaterThan(0);
    expect(selfValue(self, 'meterway_source_samples_total{source="remote_write"}')).toBeGreaterThan(LIMIT);
  });
});

describe('projects and isolation', () => {
  it('a project-bound token writes only into its project: another project_id becomes exported_project_id', async () => {
    const victim = await gw.project('victim');
    const res = await write(p.ingest, [
      { labels: { __name__: 'spoofed_metric', project_id: victim.id }, samples: [[1, Date.now()]] },
      { labels: { __name__: 'own_project_metric', project_id: p.id }, samples: [[2, Date.now()]] },
    ]);
    expect(res.statusCode).toBe(204);
    const text = await scrape();
    expect(text).toContain(`spoofed_metric{exported_project_id="${victim.id}",project_id="${p.id}"} 1\n`);
    expect(text).toContain(`own_project_metric{project_id="${p.id}"} 2\n`);
    expect(await scrape(victim)).not.toContain('spoofed_metric');
    expect(await query('spoofed_metric', victim)).toEqual([]);
  });

  it('a server-wide ingest token writes where each series\' project_id points, and refuses series without a known one', async () => {
    const a = await gw.project('a');
    const b = await gw.project('b');
    const tok = await gw.app.inject({ method: 'POST', url: '/v1/tokens', headers: gw.auth(ADMIN_TOKEN), payload: { scope: 'ingest', name: 'forwarder' } });
    expect(tok.statusCode).toBe(201);
    const serverWide = tok.json().token as string;
    const t = Date.now();
    const res = await write(serverWide, [
      { labels: { __name__: 'routed_metric', project_id: a.id }, samples: [[1, t]] },
      { labels: { __name__: 'routed_metric', project_id: b.id }, samples: [[2, t]] },
      { labels: { __name__: 'routed_metric' }, samples: [[3, t]] },
      { labels: { __name__: 'routed_metric', project_id: 'p-doesnotexist' }, samples: [[4, t]] },
    ]);
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/^2 of 4 samples \(2 of 4 series\) refused/);
    expect(res.body).toContain('the label project_id is required with a server-wide ingest token');
    expect(res.body).toContain('project_id: unknown project "p-doesnotexist" for this token');
    expect(await scrape(a)).toContain(`routed_metric{project_id="${a.id}"} 1\n`);
    expect(await scrape(b)).toContain(`routed_metric{project_id="${b.id}"} 2\n`);
    expect(await scrape(a)).not.toContain(`project_id="${b.id}"`);
    expect(await scrape()).not.toContain('routed_metric');
    // The admin token is server-wide too.
    expect((await write(ADMIN_TOKEN, [{ labels: { __name__: 'admin_routed', project_id: a.id }, samples: [[5, t]] }])).statusCode).toBe(204);
    expect(await scrape(a)).toContain(`admin_routed{project_id="${a.id}"} 5\n`);
  });

  it('refuses a token that may not write, with the plain message a sender logs', async () => {
    const body = compress(encode([ok('x')]));
    const monitoring = await post(p.monitoring, body);
    expect(monitoring.statusCode).toBe(403);
    expect(monitoring.headers['content-type']).toMatch(/^text\/plain/);
    const none = await gw.app.inject({ method: 'POST', url: '/v1/prom/write', headers, payload: Buffer.from(body) });
    expect(none.statusCode).toBe(401);
    expect(none.body.length).toBeGreaterThan(10);
  });
});

describe('rate limits', () => {
  let g: TestGateway;
  let now = 0;
  beforeAll(async () => {
    g = await startTestGateway({ rateLimitClock: () => now, file: { ingest: { rate_limit: { events_per_second: 10, burst: 20, per_token_events_per_second: 0 } } } });
  });
  afterAll(() => g.close());

  it('charges each sample as the OTLP route charges each point: 429 with Retry-After past the rate, 413 past the burst', async () => {
    const q = await g.project('limited');
    const many = (n: number, v: number): Uint8Array => compress(encode(Array.from({ length: n }, (_, i) => ({ labels: { __name__: 'rl_gauge', n: String(i) }, samples: [[v, Date.now()]] as Array<[number, number]> }))));
    const send = (body: Uint8Array) => g.app.inject({ method: 'POST', url: '/v1/prom/write', headers: { ...g.auth(q.ingest), ...headers }, payload: Buffer.from(body) });
    expect((await send(many(20, 1))).statusCode).toBe(204);
    const limited = await send(many(5, 2));
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.body).toContain('10 samples/s (burst 20)');
    const text = (await g.app.inject({ method: 'GET', url: `/v1/projects/${q.id}/metrics`, headers: g.auth(q.monitoring) })).body;
    expect(text).toContain('rl_gauge{n="0",');
    expect(text).not.toContain('} 2\n');
    now += 60_000;
    const tooBig = await send(many(21, 3));
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.body).toContain('lower queue_config.max_samples_per_send');
  });
});
