/**
 * OTLP receiver throughput: data points per CPU-second of the gateway for 1,000-point protobuf
 * ExportMetricsServiceRequests (counters, gauges and explicit-bucket histograms, as an
 * OpenTelemetry SDK sends them), sent by a child process; beside it, in the same run, the event
 * ingest figure (1,000-event NDJSON batches) of the `ingest` benchmark. Target: at least the
 * events' figure per data point.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientConfig } from './_ingest-client.js';
import { driveClient, type Driven } from './_drive.js';
import { EVENTS_PER_BATCH } from './_ingest-data.js';
import { fmtNum, header, startGateway, verdict } from './_util.js';
import { otlpSchema } from '../test/otlp-receiver.js';

const CONCURRENCY = 4;
const WARMUP_MS = 2_000;
const MEASURE_MS = 6_000;
const BODIES = 16;
const SERIES_PER_METRIC = 25;
const COUNTERS = 20;
const GAUGES = 10;
const HISTOGRAMS = 10;
const POINTS_PER_BODY = (COUNTERS + GAUGES + HISTOGRAMS) * SERIES_PER_METRIC;
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const str = (key: string, v: string) => ({ key, value: { stringValue: v } });

/** One request: each body has its own series (pod attribute), so 16 bodies make 16,000 series. */
function body(b: number, timeNs: string, startNs: string): Uint8Array {
  const metrics: unknown[] = [];
  const attrs = (i: number) => [str('http.route', `/v1/route/${i % 5}`), str('http.response.status_code', String(200 + (i % 3))), str('gen_ai.request.model', `model-${i % 4}`), str('k8s.pod.name', `pod-${b}-${i}`)];
  for (let m = 0; m < COUNTERS; m++) {
    metrics.push({
      name: `app.requests.${m}`, unit: '{request}',
      sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: Array.from({ length: SERIES_PER_METRIC }, (_, i) => ({ attributes: attrs(i), startTimeUnixNano: startNs, timeUnixNano: timeNs, asInt: String(1000 + i) })) },
    });
  }
  for (let m = 0; m < GAUGES; m++) {
    metrics.push({
      name: `app.queue.depth.${m}`, unit: '{item}',
      gauge: { dataPoints: Array.from({ length: SERIES_PER_METRIC }, (_, i) => ({ attributes: attrs(i), timeUnixNano: timeNs, asDouble: i * 1.5 })) },
    });
  }
  for (let m = 0; m < HISTOGRAMS; m++) {
    metrics.push({
      name: `app.latency.${m}`, unit: 's',
      histogram: {
        aggregationTemporality: 2,
        dataPoints: Array.from({ length: SERIES_PER_METRIC }, (_, i) => ({
          attributes: attrs(i), startTimeUnixNano: startNs, timeUnixNano: timeNs,
          count: String(BOUNDS.length + 1), sum: 12.5, bucketCounts: Array.from({ length: BOUNDS.length + 1 }, () => '1'), explicitBounds: BOUNDS,
        })),
      },
    });
  }
  const req = {
    resourceMetrics: [{ resource: { attributes: [str('service.name', 'bench-api'), str('service.instance.id', `instance-${b}`)] }, scopeMetrics: [{ scope: { name: 'bench' }, metrics }] }],
  };
  const type = otlpSchema().ExportMetricsServiceRequest;
  return type.encode(type.fromObject(req)).finish();
}

function report(what: string, unit: string, d: Driven, expected: number): number {
  const { result } = d;
  if (result.failures > 0 || result.rejected > 0) throw new Error(`${what}: requests failed or were rejected: ${result.firstError}`);
  if (result.accepted !== result.requests * expected) throw new Error(`${what}: accepted count does not match what was sent`);
  const perSecond = (result.accepted * 1000) / result.ms;
  const perCpuSecond = perSecond / d.gatewayCores;
  console.log(`   ${what}: ${fmtNum(perSecond)} ${unit}/s end to end (${result.requests} requests in ${(result.ms / 1000).toFixed(1)} s), gateway busy ${(d.gatewayCores * 100).toFixed(0)}% of one core`);
  console.log(`   ${' '.repeat(what.length)}  ${fmtNum(perCpuSecond)} ${unit} per CPU-second of the gateway process`);
  return perCpuSecond;
}

export async function main(): Promise<void> {
  header(`otlp: POST /v1/otlp/v1/metrics, protobuf requests of ${POINTS_PER_BODY} points (${COUNTERS} counters, ${GAUGES} gauges, ${HISTOGRAMS} histograms x ${SERIES_PER_METRIC} series), beside POST /v1/events with ${EVENTS_PER_BATCH}-event batches; ${CONCURRENCY} requests in flight, ${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up`);
  const bg = await startGateway({ ingest: { rate_limit: { events_per_second: 0 } }, metrics: { max_series_per_project: 0 } });
  const dir = mkdtempSync(join(tmpdir(), 'meterway-bench-otlp-'));
  try {
    const base: ClientConfig = {
      port: bg.port, token: bg.project.ingest, projectId: bg.project.id,
      concurrency: CONCURRENCY, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, batches: BODIES,
    };
    const events = report('events', 'events', await driveClient(base), EVENTS_PER_BATCH);

    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const bodies = Array.from({ length: BODIES }, (_, b) => body(b, String(nowNs), String(nowNs - 60_000_000_000n)));
    const bodiesFile = join(dir, 'bodies.txt');
    writeFileSync(bodiesFile, bodies.map((x) => Buffer.from(x).toString('base64')).join('\n'));
    console.log(`   request size: ${fmtNum(bodies[0].length)} bytes of protobuf for ${POINTS_PER_BODY} points`);
    const points = report('otlp', 'points', await driveClient({ ...base, prepared: { receiver: 'otlp', bodiesFile, perBody: POINTS_PER_BODY } }), POINTS_PER_BODY);
    const pm = bg.gw.aggregator.get(bg.project.id)!;
    console.log(`   series in the project after both runs: ${fmtNum(pm.registry.seriesCount)}`);
    console.log(`   points per CPU-second / events per CPU-second: ${(points / events).toFixed(2)} (target >= 1.00: ${verdict(points >= events)})`);
  } finally {
    await bg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
