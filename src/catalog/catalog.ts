/**
 * The metric catalogue: every metric Meterway exposes, defined once. Scrape endpoints, the query
 * API and every sink derive names, types, units and labels from here, so a metric has one name
 * everywhere.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';
export type EventType = 'run' | 'inference' | 'resource';

/** Labels every project series may carry, in exposition order; absent optional ones are omitted. */
export const BASE_LABELS = ['project_id', 'app_id', 'app_name', 'region'] as const;

export interface MetricDef {
  /** Stable key, independent of the configurable prefix. */
  readonly key: string;
  /** Name after the prefix, in Prometheus form (base unit and `_total` included). */
  readonly suffix: string;
  readonly type: MetricType;
  /** Base unit as Prometheus names it (`seconds`, `bytes`), or '' when dimensionless. */
  readonly unit: string;
  /**
   * The UCUM unit sent over OTLP. Names go out in their Prometheus form so every destination shows
   * the same name; Prometheus' OTLP translation then adds nothing, because it never appends a unit
   * suffix the name already has and de-duplicates `_total`. Curly-brace units are annotations the
   * translation drops.
   */
  readonly otlpUnit: string;
  readonly help: string;
  readonly source: EventType;
  /** Labels after BASE_LABELS. */
  readonly extraLabels: readonly string[];
  /** Bucket family name for histograms (see BUCKETS); configurable per family. */
  readonly buckets?: BucketFamily;
}


export type BucketFamily = 'latency' | 'coldstart' | 'token';

/**
 * Upper bounds in seconds. Latencies of inference requests run from milliseconds to minutes; cold
 * starts from a fraction of a second to ten minutes (large model images); time per output token is
 * milliseconds. Each list stays near 12 to 15 buckets: enough for histogram_quantile to land within
 * a factor of about 2, few enough that a series stays cheap.
 */
export const DEFAULT_BUCKETS: Readonly<Record<BucketFamily, readonly number[]>> = {
  latency: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  coldstart: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
  token: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1],
};

const INFERENCE_LABELS = ['model_name', 'service_tier'] as const;

export const CATALOG: readonly MetricDef[] = [
  // resource samples
  { key: 'cpu_utilization', suffix: 'cpu_utilization_cores', type: 'gauge', unit: 'cores', otlpUnit: '{core}', source: 'resource', extraLabels: [],
    help: 'CPU in use by the app, in cores.' },
  { key: 'cpu_limit', suffix: 'cpu_limit_cores', type: 'gauge', unit: 'cores', otlpUnit: '{core}', source: 'resource', extraLabels: [],
    help: 'CPU limit of the app, in cores.' },
  { key: 'memory_usage', suffix: 'memory_usage_bytes', type: 'gauge', unit: 'bytes', otlpUnit: 'By', source: 'resource', extraLabels: [],
    help: 'Memory in use by the app, in bytes.' },
  { key: 'memory_limit', suffix: 'memory_limit_bytes', type: 'gauge', unit: 'bytes', otlpUnit: 'By', source: 'resource', extraLabels: [],
    help: 'Memory limit of the app, in bytes.' },
  { key: 'gpu_memory_usage', suffix: 'gpu_memory_usage_bytes', type: 'gauge', unit: 'bytes', otlpUnit: 'By', source: 'resource', extraLabels: ['gpu'],
    help: 'GPU memory in use by the app, in bytes.' },
  { key: 'gpu_compute_utilization', suffix: 'gpu_compute_utilization_percent', type: 'gauge', unit: 'percent', otlpUnit: '%', source: 'resource', extraLabels: ['gpu'],
    help: 'GPU compute utilization of the app, in percent (0 to 100).' },
  { key: 'containers_running', suffix: 'containers_running', type: 'gauge', unit: '', otlpUnit: '{container}', source: 'resource', extraLabels: [],
    help: 'Containers of the app that are running.' },
  { key: 'containers_ready', suffix: 'containers_ready', type: 'gauge', unit: '', otlpUnit: '{container}', source: 'resource', extraLabels: [],
    help: 'Containers of the app that are ready to serve.' },
  // run events
  { key: 'run_execution_time', suffix: 'run_execution_time_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'run', extraLabels: [], buckets: 'latency',
    help: 'Time a run spent executing, in seconds.' },
  { key: 'run_queue_time', suffix: 'run_queue_time_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'run', extraLabels: [], buckets: 'latency',
    help: 'Time a run waited in the queue before it started, in seconds.' },
  { key: 'run_coldstart_time', suffix: 'run_coldstart_time_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'run', extraLabels: [], buckets: 'coldstart',
    help: 'Time a run spent on a cold start, in seconds.' },
  { key: 'run_response_time', suffix: 'run_response_time_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'run', extraLabels: [], buckets: 'latency',
    help: 'End-to-end response time of a run, in seconds.' },
  { key: 'runs', suffix: 'runs_total', type: 'counter', unit: '', otlpUnit: '{run}', source: 'run', extraLabels: [],
    help: 'Runs completed, successful or not.' },
  { key: 'run_successes', suffix: 'run_successes_total', type: 'counter', unit: '', otlpUnit: '{run}', source: 'run', extraLabels: [],
    help: 'Runs that completed successfully.' },
  { key: 'run_errors', suffix: 'run_errors_total', type: 'counter', unit: '', otlpUnit: '{run}', source: 'run', extraLabels: [],
    help: 'Runs that ended in an error.' },
  // inference events
  { key: 'inference_requests', suffix: 'inference_requests_total', type: 'counter', unit: '', otlpUnit: '{request}', source: 'inference', extraLabels: [...INFERENCE_LABELS, 'code_class'],
    help: 'Inference requests, by HTTP status class.' },
  { key: 'inference_input_tokens', suffix: 'inference_input_tokens_total', type: 'counter', unit: '', otlpUnit: '{token}', source: 'inference', extraLabels: INFERENCE_LABELS,
    help: 'Input (prompt) tokens processed.' },
  { key: 'inference_output_tokens', suffix: 'inference_output_tokens_total', type: 'counter', unit: '', otlpUnit: '{token}', source: 'inference', extraLabels: INFERENCE_LABELS,
    help: 'Output (generated) tokens produced.' },
  { key: 'inference_ttft', suffix: 'inference_time_to_first_token_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'inference', extraLabels: INFERENCE_LABELS, buckets: 'latency',
    help: 'Time to first token of an inference request, in seconds.' },
  { key: 'inference_tpot', suffix: 'inference_time_per_output_token_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'inference', extraLabels: INFERENCE_LABELS, buckets: 'token',
    help: 'Mean time per output token after the first, in seconds.' },
  { key: 'inference_duration', suffix: 'inference_request_duration_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'inference', extraLabels: INFERENCE_LABELS, buckets: 'latency',
    help: 'Duration of an inference request, in seconds.' },
];

/** Catalogue entries by key, for the event mappers. */
export const METRIC: Readonly<Record<string, MetricDef>> = Object.fromEntries(CATALOG.map((d) => [d.key, d]));

export function metricName(prefix: string, def: MetricDef): string {
  return `${prefix}_${def.suffix}`;
}

/** Position of each entry in CATALOG, so hot paths index arrays instead of hashing keys. */
export const CATALOG_INDEX: Readonly<Record<string, number>> = Object.fromEntries(CATALOG.map((d, i) => [d.key, i]));
