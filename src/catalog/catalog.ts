/**
 * The metric catalogue: every metric Meterway exposes, defined once. Scrape endpoints, the query
 * API and every sink derive names, types, units and labels from here, so a metric has one name
 * everywhere.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';
export type EventType = 'run' | 'inference' | 'resource' | 'device' | 'instance' | 'job';

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
  /**
   * Histogram buckets: a bucket family's name (see DEFAULT_BUCKETS; configurable per family under
   * `metrics.buckets`), or fixed upper bounds for a histogram that does not measure seconds.
   */
  readonly buckets?: BucketFamily | readonly number[];
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

/**
 * Tokens per second of on-device generation: a phone runs a small model at a few to a few tens of
 * tokens a second, a laptop's GPU at hundreds. Fixed, as the configurable families are in seconds.
 */
export const THROUGHPUT_BUCKETS: readonly number[] = [1, 2.5, 5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1000];

const INFERENCE_LABELS = ['model_name', 'service_tier'] as const;
/** Device families: what ran where. `device_id` only on the per-device gauges (one series per device). */
const DEVICE_LABELS = ['model_name', 'platform'] as const;
const PER_DEVICE_LABELS = ['platform', 'device_id'] as const;
/** A fleet instance, as dstack's fleet metrics describe one. */
const INSTANCE_LABELS = ['fleet_name', 'instance_name', 'backend', 'instance_type', 'gpu_name'] as const;
/** A job of a run, as dstack's job metrics describe one. */
const JOB_LABELS = ['run_name', 'job_name', 'user', 'fleet_name', 'backend', 'gpu_name'] as const;
/**
 * `meterway_jobs_total` counts jobs: without `job_name`, which would make every series a single
 * job's 0 or 1, and with the terminal `status` (`done`, `failed`, `terminated`).
 */
const JOBS_TOTAL_LABELS = ['run_name', 'user', 'fleet_name', 'backend', 'gpu_name', 'status'] as const;

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
  // device events (on-device inference)
  { key: 'device_inferences', suffix: 'device_inferences_total', type: 'counter', unit: '', otlpUnit: '{inference}', source: 'device', extraLabels: DEVICE_LABELS,
    help: 'On-device inferences: device events that carry a duration, time to first token, throughput or token count.' },
  { key: 'device_tokens', suffix: 'device_tokens_total', type: 'counter', unit: '', otlpUnit: '{token}', source: 'device', extraLabels: DEVICE_LABELS,
    help: 'Tokens generated on devices.' },
  { key: 'device_inference_duration', suffix: 'device_inference_duration_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'device', extraLabels: DEVICE_LABELS, buckets: 'latency',
    help: 'End-to-end duration of an on-device inference, in seconds.' },
  { key: 'device_ttft', suffix: 'device_time_to_first_token_seconds', type: 'histogram', unit: 'seconds', otlpUnit: 's', source: 'device', extraLabels: DEVICE_LABELS, buckets: 'latency',
    help: 'Time to first token of an on-device inference, in seconds.' },
  // `{token/s}` and `{USD/h}` below, not `{token}/s` and `{USD}/h`: Prometheus' OTLP translation
  // appends a per-unit (`_per_second`) even to a name that ends with it; an annotation adds nothing.
  { key: 'device_throughput', suffix: 'device_throughput_tokens_per_second', type: 'histogram', unit: 'tokens_per_second', otlpUnit: '{token/s}', source: 'device', extraLabels: DEVICE_LABELS, buckets: THROUGHPUT_BUCKETS,
    help: 'Generation throughput of an on-device inference, in tokens per second.' },
  { key: 'device_battery_level', suffix: 'device_battery_level_percent', type: 'gauge', unit: 'percent', otlpUnit: '%', source: 'device', extraLabels: PER_DEVICE_LABELS,
    help: 'Battery level of a device, in percent (0 to 100).' },
  { key: 'device_memory_used', suffix: 'device_memory_used_bytes', type: 'gauge', unit: 'bytes', otlpUnit: 'By', source: 'device', extraLabels: PER_DEVICE_LABELS,
    help: 'Memory in use on a device, in bytes.' },
  { key: 'devices_active', suffix: 'devices_active', type: 'gauge', unit: '', otlpUnit: '{device}', source: 'device', extraLabels: ['platform'],
    help: 'Distinct devices seen within the gauge staleness time (metrics.gauge_stale_after).' },
  // instance events (fleet instances)
  { key: 'instance_running_seconds', suffix: 'instance_running_seconds_total', type: 'counter', unit: 'seconds', otlpUnit: 's', source: 'instance', extraLabels: INSTANCE_LABELS,
    help: 'Time instances spent running, in seconds, accrued between their events.' },
  { key: 'instance_cost', suffix: 'instance_cost_dollars_total', type: 'counter', unit: 'dollars', otlpUnit: '{USD}', source: 'instance', extraLabels: INSTANCE_LABELS,
    help: 'Cost of running instances, in US dollars: running seconds times price_per_hour / 3600.' },
  { key: 'instance_price', suffix: 'instance_price_dollars_per_hour', type: 'gauge', unit: 'dollars_per_hour', otlpUnit: '{USD/h}', source: 'instance', extraLabels: INSTANCE_LABELS,
    help: 'Price of an instance that is not terminated, in US dollars per hour.' },
  // CONTRACT section 5 names this meterway_instance_gpu_count, but a gauge ending in `_count`
  // fails `promtool check metrics` ("non-histogram and non-summary metrics should not have
  // _count suffix"), which the same section also promises: the lint-clean name is kept.
  { key: 'instance_gpus', suffix: 'instance_gpus', type: 'gauge', unit: '', otlpUnit: '{gpu}', source: 'instance', extraLabels: INSTANCE_LABELS,
    help: 'GPUs of an instance that is not terminated.' },
  // job events (jobs of runs)
  { key: 'job_running_seconds', suffix: 'job_running_seconds_total', type: 'counter', unit: 'seconds', otlpUnit: 's', source: 'job', extraLabels: JOB_LABELS,
    help: 'Time jobs spent running, in seconds, accrued between their events.' },
  { key: 'job_cost', suffix: 'job_cost_dollars_total', type: 'counter', unit: 'dollars', otlpUnit: '{USD}', source: 'job', extraLabels: JOB_LABELS,
    help: 'Cost of running jobs, in US dollars: running seconds times price_per_hour / 3600.' },
  { key: 'jobs', suffix: 'jobs_total', type: 'counter', unit: '', otlpUnit: '{job}', source: 'job', extraLabels: JOBS_TOTAL_LABELS,
    help: 'Jobs that reached a terminal status (done, failed or terminated), each counted once.' },
  { key: 'job_price', suffix: 'job_price_dollars_per_hour', type: 'gauge', unit: 'dollars_per_hour', otlpUnit: '{USD/h}', source: 'job', extraLabels: JOB_LABELS,
    help: 'Price of a job that has not finished, in US dollars per hour.' },
  // Not meterway_job_gpu_count, for the reason given at meterway_instance_gpus.
  { key: 'job_gpus', suffix: 'job_gpus', type: 'gauge', unit: '', otlpUnit: '{gpu}', source: 'job', extraLabels: JOB_LABELS,
    help: 'GPUs of a job that has not finished.' },
];

/**
 * Event types whose series are filed under `seriesKey` of their label values (the generic key),
 * rather than under a key built by hand for the hot path. Restore (src/tsdb/restore.ts) rebuilds
 * their keys the same way, so the two cannot drift apart.
 */
export const LABEL_KEYED_SOURCES: ReadonlySet<EventType> = new Set<EventType>(['device', 'instance', 'job']);

/**
 * The generic key of a series: its label values after `project_id` and `app_id` (the one is the
 * registry's, the other follows from `app_name`), NUL-joined, an absent one as ''. Validation
 * refuses empty label values and NUL in them, so two label sets cannot share a key.
 */
export function seriesKey(values: ReadonlyArray<string | undefined>): string {
  let key = values[2] ?? '';
  for (let i = 3; i < values.length; i++) key += `\u0000${values[i] ?? ''}`;
  return key;
}

/** Catalogue entries by key, for the event mappers. */
export const METRIC: Readonly<Record<string, MetricDef>> = Object.fromEntries(CATALOG.map((d) => [d.key, d]));

export function metricName(prefix: string, def: MetricDef): string {
  return `${prefix}_${def.suffix}`;
}

/** Position of each entry in CATALOG, so hot paths index arrays instead of hashing keys. */
export const CATALOG_INDEX: Readonly<Record<string, number>> = Object.fromEntries(CATALOG.map((d, i) => [d.key, i]));
