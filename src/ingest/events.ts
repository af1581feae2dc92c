/**
 * Event types: each one's field rules and how it turns into samples. Adding an event type is one
 * entry in EVENT_TYPES.
 */
import { CATALOG_INDEX as I } from '../catalog/catalog.js';
import type { ProjectMetrics } from '../aggregate/project.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import type { Family } from '../aggregate/registry.js';
import type { FieldRule } from './fields.js';

export interface EventType {
  readonly rules: readonly FieldRule[];
  /** Applies a validated event; `eventMs` is its time, `nowMs` the wall clock. */
  apply(ev: Record<string, any>, pm: ProjectMetrics, eventMs: number, nowMs: number): void;
}

const MS = 1 / 1000;

type Values = Array<string | undefined>;

function counter(pm: ProjectMetrics, idx: number, key: string, values: () => Values): CounterSeries | undefined {
  const fam = pm.families[idx] as Family<CounterSeries>;
  return fam.series.get(key) ?? pm.registry.series(fam, key, values());
}

function histogram(pm: ProjectMetrics, idx: number, key: string, values: () => Values): HistogramSeries | undefined {
  const fam = pm.families[idx] as Family<HistogramSeries>;
  return fam.series.get(key) ?? pm.registry.series(fam, key, values());
}

function gauge(pm: ProjectMetrics, idx: number, key: string, values: () => Values): GaugeSeries | undefined {
  const fam = pm.families[idx] as Family<GaugeSeries>;
  return fam.series.get(key) ?? pm.registry.series(fam, key, values());
}

function observeMs(pm: ProjectMetrics, idx: number, key: string, ms: number | undefined, values: () => Values): void {
  if (ms === undefined) return;
  histogram(pm, idx, key, values)?.observe(ms * MS);
}

const RUN: EventType = {
  rules: [
    { name: 'app_name', kind: 'label', required: true },
    { name: 'status', kind: 'run_status', required: true },
    { name: 'region', kind: 'label' },
    { name: 'run_id', kind: 'label' },
    { name: 'queue_time_ms', kind: 'duration_ms' },
    { name: 'coldstart_time_ms', kind: 'duration_ms' },
    { name: 'execution_time_ms', kind: 'duration_ms' },
    { name: 'response_time_ms', kind: 'duration_ms' },
  ],
  apply(ev, pm) {
    const app: string = ev.app_name;
    const region: string | undefined = ev.region;
    pm.apps.add(app);
    // Validation forbids NUL in labels, so NUL-joined keys cannot collide.
    const key = region === undefined ? app : `${app}\u0000${region}`;
    const values = (): Values => [pm.projectId, `${pm.projectId}-${app}`, app, region];
    counter(pm, I.runs, key, values)?.inc(1);
    counter(pm, ev.status === 'success' ? I.run_successes : I.run_errors, key, values)?.inc(1);
    observeMs(pm, I.run_queue_time, key, ev.queue_time_ms, values);
    observeMs(pm, I.run_coldstart_time, key, ev.coldstart_time_ms, values);
    observeMs(pm, I.run_execution_time, key, ev.execution_time_ms, values);
    observeMs(pm, I.run_response_time, key, ev.response_time_ms, values);
  },
};

const INFERENCE: EventType = {
  rules: [
    { name: 'model_name', kind: 'label', required: true },
    { name: 'input_tokens', kind: 'count', required: true },
    { name: 'output_tokens', kind: 'count', required: true },
    { name: 'service_tier', kind: 'label' },
    { name: 'app_name', kind: 'label' },
    { name: 'region', kind: 'label' },
    { name: 'status_code', kind: 'status_code' },
    { name: 'ttft_ms', kind: 'duration_ms' },
    { name: 'tpot_ms', kind: 'duration_ms' },
    { name: 'duration_ms', kind: 'duration_ms' },
  ],
  apply(ev, pm) {
    const model: string = ev.model_name;
    const tier: string = ev.service_tier ?? 'on_demand';
    const app: string | undefined = ev.app_name;
    const region: string | undefined = ev.region;
    if (app !== undefined) pm.apps.add(app);
    const key = `${model}\u0000${tier}\u0000${app ?? ''}\u0000${region ?? ''}`;
    const appId = app === undefined ? undefined : `${pm.projectId}-${app}`;
    const values = (): Values => [pm.projectId, appId, app, region, model, tier];
    const codeClass = ev.status_code === undefined ? '2xx' : `${Math.floor(ev.status_code / 100)}xx`;
    counter(pm, I.inference_requests, `${key}\u0000${codeClass}`, () => [...values(), codeClass])?.inc(1);
    counter(pm, I.inference_input_tokens, key, values)?.inc(ev.input_tokens);
    counter(pm, I.inference_output_tokens, key, values)?.inc(ev.output_tokens);
    observeMs(pm, I.inference_ttft, key, ev.ttft_ms, values);
    observeMs(pm, I.inference_tpot, key, ev.tpot_ms, values);
    observeMs(pm, I.inference_duration, key, ev.duration_ms, values);
  },
};

const RESOURCE_GAUGES: ReadonlyArray<readonly [field: string, idx: number, perGpu: boolean]> = [
  ['cpu_cores', I.cpu_utilization, false],
  ['cpu_limit_cores', I.cpu_limit, false],
  ['memory_bytes', I.memory_usage, false],
  ['memory_limit_bytes', I.memory_limit, false],
  ['gpu_memory_bytes', I.gpu_memory_usage, true],
  ['gpu_compute_utilization_percent', I.gpu_compute_utilization, true],
  ['containers_running', I.containers_running, false],
  ['containers_ready', I.containers_ready, false],
];

const RESOURCE: EventType = {
  rules: [
    { name: 'app_name', kind: 'label', required: true },
    { name: 'region', kind: 'label' },
    { name: 'gpu', kind: 'gpu' },
    { name: 'cpu_cores', kind: 'quantity' },
    { name: 'cpu_limit_cores', kind: 'quantity' },
    { name: 'memory_bytes', kind: 'quantity' },
    { name: 'memory_limit_bytes', kind: 'quantity' },
    { name: 'gpu_memory_bytes', kind: 'quantity' },
    { name: 'gpu_compute_utilization_percent', kind: 'percent' },
    { name: 'containers_running', kind: 'count' },
    { name: 'containers_ready', kind: 'count' },
  ],
  apply(ev, pm, eventMs, nowMs) {
    const app: string = ev.app_name;
    const region: string | undefined = ev.region;
    const gpu: string | undefined = ev.gpu === undefined ? undefined : String(Number(ev.gpu));
    pm.apps.add(app);
    const key = region === undefined ? app : `${app}\u0000${region}`;
    const gpuKey = gpu === undefined ? key : `${key}\u0000\u0000${gpu}`;
    const values = (): Values => [pm.projectId, `${pm.projectId}-${app}`, app, region];
    const gpuValues = (): Values => [...values(), gpu];
    for (const [field, idx, perGpu] of RESOURCE_GAUGES) {
      const v: number | undefined = ev[field];
      if (v === undefined) continue;
      const series = perGpu ? gauge(pm, idx, gpuKey, gpuValues) : gauge(pm, idx, key, values);
      series?.set(v, eventMs, nowMs);
    }
  },
};

export const EVENT_TYPES: Readonly<Record<string, EventType>> = {
  run: RUN,
  inference: INFERENCE,
  resource: RESOURCE,
};
