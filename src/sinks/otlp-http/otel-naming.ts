/**
 * `naming: otel`: the catalogue's metrics under OpenTelemetry semantic-convention names where one
 * exists (the GenAI server metrics, token usage, GPU hardware metrics), and under Meterway's
 * Prometheus names otherwise. Applied to a batch after delivery has made its deltas, so merging
 * two metrics into one (input and output tokens into `gen_ai.client.token.usage`) cannot mix up
 * their delta bookkeeping, which is keyed by the catalogue's names.
 *
 * The table, and where it departs from the conventions, is in this folder's README.
 */
import type { Attributes, BatchMetric, MetricBatch, NumberPoint } from '../../push/types.js';

interface OtelMetric {
  readonly name: string;
  readonly unit: string;
  /** Multiplies every value: the catalogue's percent to the conventions' ratio (unit `1`). */
  readonly scale?: number;
  /** Attributes every point of the metric gets, after its own. */
  readonly extra?: Attributes;
  /** Replaces the catalogue's help where metrics merge into one. */
  readonly description?: string;
}

const TOKEN_USAGE = 'Tokens of inference requests, by gen_ai.token.type (input or output).';
const HW_GPU: Attributes = [['hw.type', 'gpu']];

/** By catalogue key (src/catalog/catalog.ts). */
const OTEL_METRICS: Readonly<Record<string, OtelMetric>> = {
  inference_duration: { name: 'gen_ai.server.request.duration', unit: 's' },
  inference_ttft: { name: 'gen_ai.server.time_to_first_token', unit: 's' },
  inference_tpot: { name: 'gen_ai.server.time_per_output_token', unit: 's' },
  inference_input_tokens: { name: 'gen_ai.client.token.usage', unit: '{token}', description: TOKEN_USAGE, extra: [['gen_ai.token.type', 'input']] },
  inference_output_tokens: { name: 'gen_ai.client.token.usage', unit: '{token}', description: TOKEN_USAGE, extra: [['gen_ai.token.type', 'output']] },
  gpu_compute_utilization: { name: 'hw.gpu.utilization', unit: '1', scale: 0.01, extra: HW_GPU },
  gpu_memory_usage: { name: 'hw.gpu.memory.usage', unit: 'By', extra: HW_GPU },
};

/** Label names with a convention attribute of the same meaning, on every catalogue metric. */
const OTEL_ATTRIBUTES: Readonly<Record<string, string>> = {
  model_name: 'gen_ai.request.model',
  region: 'cloud.region',
  gpu: 'hw.id',
};

/**
 * `error.type` is set only when the operation failed, so the `2xx` (and `1xx`, `3xx`) classes,
 * which are not errors, leave it out instead of naming a non-error.
 */
function renamedAttributes(attrs: Attributes, extra: Attributes | undefined): Attributes {
  const out: Array<readonly [string, string]> = [];
  for (const [name, value] of attrs) {
    if (name === 'code_class') {
      if (value === '4xx' || value === '5xx') out.push(['error.type', value]);
      continue;
    }
    out.push([OTEL_ATTRIBUTES[name] ?? name, value]);
  }
  if (extra !== undefined) out.push(...extra);
  return out;
}

/**
 * Renamed attributes per extra, then per series' attribute array (the snapshot keeps one array
 * per series for its life): a series is renamed on its first push, not on every one.
 */
const renamedCache = new Map<Attributes | undefined, WeakMap<Attributes, Attributes>>();

function renamedOnce(attrs: Attributes, extra: Attributes | undefined): Attributes {
  let bySeries = renamedCache.get(extra);
  if (bySeries === undefined) renamedCache.set(extra, (bySeries = new WeakMap()));
  let out = bySeries.get(attrs);
  if (out === undefined) bySeries.set(attrs, (out = renamedAttributes(attrs, extra)));
  return out;
}

function convert(m: BatchMetric): BatchMetric {
  if (m.catalogKey === undefined) return m;
  const otel = OTEL_METRICS[m.catalogKey];
  const scale = otel?.scale;
  const points = m.points.map((p) => {
    const attributes = renamedOnce(p.attributes, otel?.extra);
    return scale === undefined ? { ...p, attributes } : { attributes, value: (p as NumberPoint).value * scale };
  });
  if (otel === undefined) return { ...m, points };
  return { ...m, name: otel.name, unit: otel.unit, description: otel.description ?? m.description, points };
}

/** The batch under OpenTelemetry names: metrics that share a convention name become one. */
export function withOtelNames(batch: MetricBatch): MetricBatch {
  const byName = new Map<string, BatchMetric>();
  for (const m of batch.metrics) {
    const c = convert(m);
    const same = byName.get(c.name);
    byName.set(c.name, same === undefined ? c : { ...same, keys: [...same.keys, ...c.keys], points: [...same.points, ...c.points] });
  }
  return { ...batch, metrics: [...byName.values()] };
}
