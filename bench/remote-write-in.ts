/**
 * Remote write receiver throughput: samples per CPU-second of the gateway for Snappy-compressed
 * remote write 1.0 requests (one sample per series, as Prometheus batches them; counters and
 * gauges under the labels a scrape gives them), sent by a child process; beside it, in the same
 * run and against the same gateway, the OTLP receiver's points per CPU-second for protobuf
 * requests of the same metrics and label sets. Target: at least the OTLP receiver's figure.
 *
 * `RW_BENCH_MEASURE_MS` and `RW_BENCH_WARMUP_MS` shorten a run (a smoke run: 500 and 200).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ClientConfig } from './_ingest-client.js';
import { driveClient, type Driven } from './_drive.js';
import { fmtNum, header, startGateway, verdict } from './_util.js';
import { otlpSchema } from '../test/otlp-receiver.js';
import { snappyCompress } from '../src/wire/snappy.js';

const CONCURRENCY = 4;
const WARMUP_MS = Number(process.env.RW_BENCH_WARMUP_MS ?? 2_000);
const MEASURE_MS = Number(process.env.RW_BENCH_MEASURE_MS ?? 6_000);
const BODIES = 16;
const SERIES_PER_METRIC = 25;
const COUNTERS = 20;
const GAUGES = 20;
const SAMPLES_PER_BODY = (COUNTERS + GAUGES) * SERIES_PER_METRIC;

/** The labels of series `i` of body `b`, the same for both receivers (OTLP attribute names are already label names). */
function labels(b: number, i: number): Array<[string, string]> {
  return [['code', String(200 + (i % 3))], ['model', `model-${i % 4}`], ['pod', `pod-${b}-${i}`], ['route', `/v1/route/${i % 5}`]];
}

function remoteWriteBody(b: number, timeMs: number): Uint8Array {
  const root = new protobuf.Root();
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'wire', 'proto', 'prompb');
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync('remote.proto');
  const type = root.lookupType('prometheus.WriteRequest');
  const timeseries: unknown[] = [];
  const add = (name: string, i: number, value: number) => {
    // Sorted by name, as senders write them: `__name__` sorts before the lower-case names.
    const all: Array<[string, string]> = [['__name__', name], ...labels(b, i), ['instance', `10.0.${b}.1:9100`], ['job', 'bench-api']];
    all.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    timeseries.push({ labels: all.map(([name, value]) => ({ name, value })), samples: [{ value, timestamp: timeMs }] });
  };
  for (let m = 0; m < COUNTERS; m++) for (let i = 0; i < SERIES_PER_METRIC; i++) add(`app_requests_${m}_total`, i, 1000 + i);
  for (let m = 0; m < GAUGES; m++) for (let i = 0; i < SERIES_PER_METRIC; i++) add(`app_queue_depth_${m}`, i, i * 1.5);
  return snappyCompress(type.encode(type.fromObject({ timeseries })).finish());
}

function otlpBody(b: number, timeNs: string, startNs: string): Uint8Array {
  const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
  const attrs = (i: number) => labels(b, i).map(([k, v]) => str(k, v));
  const metrics: unknown[] = [];
  for (let m = 0; m < COUNTERS; m++) {
    metrics.push({ name: `app_requests_${m}`, sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: Array.from({ length: SERIES_PER_METRIC }, (_, i) => ({ attributes: attrs(i), startTimeUnixNano: startNs, timeUnixNano: timeNs, asInt: String(1000 + i) })) } });
  }
  for (let m = 0; m < GAUGES; m++) {
    metrics.push({ name: `app_queue_depth_${m}`, gauge: { dataPoints: Array.from({ length: SERIES_PER_METRIC }, (_, i) => ({ attributes: attrs(i), timeUnixNano: timeNs, asDouble: i * 1.5 })) } });
  }
  const req = { resourceMetrics: [{ resource: { attributes: [str('service.name', 'bench-api'), str('service.instance.id', `10.0.${b}.1:9100`)] }, scopeMetrics: [{ scope: { name: 'bench' }, metrics }] }] };
  const type = otlpSchema().ExportMetricsServiceRequest;
  return type.encode(type.fromObject(req)).finish();
}

function perCpuSecond(what: string, unit: string, accepted: number, requests: number, ms: number, cores: number): number {
  const perSecond = (accepted * 1000) / ms;
  const perCpu = perSecond / cores;
  console.log(`   ${what}: ${fmtNum(perSecond)} ${unit}/s end to end (${requests} requests in ${(ms / 1000).toFixed(1)} s), gateway busy ${(cores * 100).toFixed(0)}% of one core`);
  console.log(`   ${' '.repeat(what.length)}  ${fmtNum(perCpu)} ${unit} per CPU-second of the gateway process`);
  return perCpu;
}

function otlpFigure(d: Driven): number {
  const { result } = d;
  if (result.failures > 0 || result.rejected > 0) throw new Error(`otlp: requests failed or were rejected: ${result.firstError}`);
  if (result.accepted !== result.requests * SAMPLES_PER_BODY) throw new Error('otlp: accepted count does not match what was sent');
  return perCpuSecond('otlp', 'points', result.accepted, result.requests, result.ms, d.gatewayCores);
}

export async function main(): Promise<void> {
  header(`remote-write-in: POST /v1/prom/write, Snappy remote write 1.0 requests of ${SAMPLES_PER_BODY} samples (${COUNTERS} counters, ${GAUGES} gauges x ${SERIES_PER_METRIC} series, one sample each), beside POST /v1/otlp/v1/metrics with the same metrics and labels; ${CONCURRENCY} requests in flight, ${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up`);
  const bg = await startGateway({ ingest: { rate_limit: { events_per_second: 0 } }, metrics: { max_series_per_project: 0 } });
  const dir = mkdtempSync(join(tmpdir(), 'meterway-bench-rw-'));
  try {
    const nowMs = Date.now();
    const nowNs = BigInt(nowMs) * 1_000_000n;
    const otlpFile = join(dir, 'otlp.txt');
    writeFileSync(otlpFile, Array.from({ length: BODIES }, (_, b) => Buffer.from(otlpBody(b, String(nowNs), String(nowNs - 60_000_000_000n))).toString('base64')).join('\n'));
    const base: ClientConfig = {
      port: bg.port, token: bg.project.ingest, projectId: bg.project.id,
      concurrency: CONCURRENCY, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, batches: BODIES,
    };
    const points = otlpFigure(await driveClient({ ...base, prepared: { receiver: 'otlp', bodiesFile: otlpFile, perBody: SAMPLES_PER_BODY } }));

    const rwBodies = Array.from({ length: BODIES }, (_, b) => remoteWriteBody(b, nowMs));
    const rwFile = join(dir, 'remote-write.txt');
    writeFileSync(rwFile, rwBodies.map((x) => Buffer.from(x).toString('base64')).join('\n'));
    console.log(`   request size: ${fmtNum(rwBodies[0].length)} bytes of Snappy for ${SAMPLES_PER_BODY} samples`);
    const rw = await driveClient({ ...base, prepared: { receiver: 'remote-write', bodiesFile: rwFile, perBody: SAMPLES_PER_BODY } });
    if (rw.result.failures > 0 || rw.result.rejected > 0) throw new Error(`remote write: requests failed: ${rw.result.firstError}`);
    const samples = perCpuSecond('remote write', 'samples', rw.result.accepted, rw.result.requests, rw.result.ms, rw.gatewayCores);
    const pm = bg.gw.aggregator.get(bg.project.id)!;
    console.log(`   series in the project after both runs: ${fmtNum(pm.registry.seriesCount)}`);
    console.log(`   samples per CPU-second / OTLP points per CPU-second: ${(samples / points).toFixed(2)} (target >= 1.00: ${verdict(samples >= points)})`);
  } finally {
    await bg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
