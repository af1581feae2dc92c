/**
 * OTLP encoding: data points per second into one protobuf ExportMetricsServiceRequest, ours
 * (encodeMetricsProtobuf from a MetricBatch) against @opentelemetry/otlp-transformer 0.223's
 * ProtobufMetricsSerializer.serializeRequest (from the SDK's ResourceMetrics), on the same series
 * and observations, in the same run. Each side starts from the shape its pipeline holds at push
 * time (a snapshot batch; the SDK's collected ResourceMetrics), so neither side's collection is
 * timed. Both requests are decoded once with the vendored schema to prove they carry the same data.
 */
import { AggregationTemporality, AggregationType, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, BatchMetric, MetricBatch } from '../src/push/types.js';
import { DEFAULT_BUCKETS } from '../src/catalog/catalog.js';
import { encodeMetricsProtobuf } from '../src/sinks/otlp-http/encode-metrics.js';
import { decodeMetricsProtobuf, type MetricsRequest } from '../test/otlp-receiver.js';
import { fmtNum, fmtRate, header, latencies, median, verdict, encodeRate, inferenceLabelSets } from './_util.js';

const SERIES = Number(process.env.BENCH_SERIES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const BOUNDS = DEFAULT_BUCKETS.latency; // 15 bounds, 16 buckets
const COUNTER = { name: 'meterway_inference_requests_total', unit: '{request}', description: 'Inference requests, by HTTP status class.' };
const HIST = { name: 'meterway_inference_request_duration_seconds', unit: 's', description: 'Duration of an inference request, in seconds.' };
const OBS_PER_HIST = 20;
const RESOURCE: Attributes = [['service.name', 'meterway']];
const SCOPE = { name: 'meterway', version: '0.1.0' };

class ManualReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function sdkResourceMetrics(labels: Array<Record<string, string>>, values: Float64Array): Promise<ResourceMetrics> {
  const reader = new ManualReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'meterway' }),
    readers: [reader],
    views: [{ instrumentName: HIST.name, aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [...BOUNDS], recordMinMax: false } } }],
  });
  const meter = provider.getMeter(SCOPE.name, SCOPE.version);
  const counter = meter.createCounter(COUNTER.name, { unit: COUNTER.unit, description: COUNTER.description });
  const hist = meter.createHistogram(HIST.name, { unit: HIST.unit, description: HIST.description });
  for (let i = 0; i < labels.length; i++) {
    counter.add(i + 1, { ...labels[i], code_class: '2xx' });
    for (let k = 0; k < OBS_PER_HIST; k++) hist.record(values[(i * OBS_PER_HIST + k) % values.length], labels[i]);
  }
  const { resourceMetrics, errors } = await reader.collect();
  if (errors.length > 0) throw new Error(`SDK collect: ${errors.join('; ')}`);
  await provider.shutdown();
  return resourceMetrics;
}

function ourBatch(labels: Array<Record<string, string>>, values: Float64Array, startMs: number, timeMs: number): MetricBatch {
  const counters: BatchMetric['points'][number][] = [];
  const hists: BatchMetric['points'][number][] = [];
  for (let i = 0; i < labels.length; i++) {
    counters.push({ attributes: Object.entries({ ...labels[i], code_class: '2xx' }), value: i + 1 });
    const counts = new Float64Array(BOUNDS.length + 1);
    let sum = 0;
    for (let k = 0; k < OBS_PER_HIST; k++) {
      const v = values[(i * OBS_PER_HIST + k) % values.length];
      let b = 0;
      while (b < BOUNDS.length && v > BOUNDS[b]) b++;
      counts[b]++;
      sum += v;
    }
    hists.push({ attributes: Object.entries(labels[i]), count: OBS_PER_HIST, sum, bucketCounts: counts });
  }
  return {
    projectId: 'p-bench0001',
    temporality: 'cumulative',
    startMs,
    timeMs,
    metrics: [
      { ...COUNTER, type: 'counter', keys: labels.map((_, i) => `c${i}`), points: counters },
      { ...HIST, type: 'histogram', bounds: BOUNDS, keys: labels.map((_, i) => `h${i}`), points: hists },
    ],
  };
}

/** Points, bucket layout and sums of a decoded request, for the equivalence check. */
function digest(req: MetricsRequest): string {
  const parts: string[] = [];
  for (const m of req.resourceMetrics![0].scopeMetrics![0].metrics!) {
    if (m.sum) parts.push(`${m.name} ${m.unit} sum t${m.sum.aggregationTemporality} mono=${m.sum.isMonotonic} n=${m.sum.dataPoints!.length} total=${m.sum.dataPoints!.reduce((a, p) => a + (p.asDouble ?? 0), 0)}`);
    if (m.histogram) {
      const dps = m.histogram.dataPoints!;
      const buckets = new Array(BOUNDS.length + 1).fill(0);
      for (const p of dps) p.bucketCounts!.forEach((c, i) => (buckets[i] += Number(c)));
      parts.push(`${m.name} ${m.unit} histogram t${m.histogram.aggregationTemporality} n=${dps.length} bounds=${dps[0].explicitBounds!.join(',')} buckets=${buckets.join(',')}`);
    }
  }
  return parts.sort().join('\n');
}

export async function main(): Promise<void> {
  header(`OTLP encoding: ${fmtNum(SERIES)} counter + ${fmtNum(SERIES)} histogram series (${BOUNDS.length} bounds), one request`);
  const labels = inferenceLabelSets(SERIES);
  const values = latencies(SERIES * OBS_PER_HIST);
  const rm = await sdkResourceMetrics(labels, values);
  const startMs = Date.now() - 60_000;
  const batch = ourBatch(labels, values, startMs, Date.now());
  const points = SERIES * 2;

  const oursBytes = encodeMetricsProtobuf(batch, RESOURCE, SCOPE);
  const sdkBytes = ProtobufMetricsSerializer.serializeRequest(rm);
  if (sdkBytes === undefined) throw new Error('SDK serializer returned nothing');
  const same = digest(decodeMetricsProtobuf(oursBytes)) === digest(decodeMetricsProtobuf(sdkBytes));
  console.log(`   request size: ours ${fmtNum(oursBytes.length)} B, SDK ${fmtNum(sdkBytes.length)} B; same points, buckets, sums: ${same ? 'yes' : 'NO'}`);
  if (!same) {
    console.log(digest(decodeMetricsProtobuf(oursBytes)));
    console.log(digest(decodeMetricsProtobuf(sdkBytes)));
    throw new Error('the two requests do not carry the same data');
  }

  // Warm both up alike before timing, then alternate so drift on a shared machine hits both.
  for (let i = 0; i < 20; i++) {
    encodeMetricsProtobuf(batch, RESOURCE, SCOPE);
    ProtobufMetricsSerializer.serializeRequest(rm);
  }
  const sdkEncode = () => (ProtobufMetricsSerializer.serializeRequest(rm) as Uint8Array).length;
  const ourEncode = () => encodeMetricsProtobuf(batch, RESOURCE, SCOPE).length;
  const sdk = await encodeRate(sdkEncode, points, 150, ROUNDS);
  const ours = await encodeRate(ourEncode, points, 150, ROUNDS);
  const sdk2 = await encodeRate(sdkEncode, points, 150, ROUNDS);
  const ours2 = await encodeRate(ourEncode, points, 150, ROUNDS);
  const oursBest = Math.max(ours.best, ours2.best);
  const sdkBest = Math.max(sdk.best, sdk2.best);
  const ratio = oursBest / sdkBest;
  console.log(`   ours (encodeMetricsProtobuf):              ${fmtRate(oursBest)} points (median of rounds ${fmtRate(median([ours.med, ours2.med]))})`);
  console.log(`   otlp-transformer 0.223 serializeRequest:   ${fmtRate(sdkBest)} points (median of rounds ${fmtRate(median([sdk.med, sdk2.med]))})`);
  const medRatio = median([ours.med, ours2.med]) / median([sdk.med, sdk2.med]);
  console.log(`   ratio (best rounds): ${ratio.toFixed(2)}x, of medians ${medRatio.toFixed(2)}x — target 2x: ${verdict(ratio >= 2)}`);
}
