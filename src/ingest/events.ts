/**
 * Event types: each one's field rules and how it turns into samples. Adding an event type is one
 * entry in EVENT_TYPES.
 */
import { CATALOG, CATALOG_INDEX as I, seriesKey } from '../catalog/catalog.js';
import type { ProjectMetrics } from '../aggregate/project.js';
import { accrualScale, type AccrualKind, type Entity } from '../aggregate/accrual.js';
import type { AnySeries, CounterSeries, ExemplarLabels, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import { SeriesRow, type Family } from '../aggregate/registry.js';
import { FieldError, describe, type FieldRule } from './fields.js';

export interface EventType {
  readonly rules: readonly FieldRule[];
  /**
   * Applies a validated event; `eventMs` is its time, `nowMs` the wall clock. Returns why it cannot
   * be applied (having changed nothing), or undefined once it is.
   */
  apply(ev: Record<string, any>, pm: ProjectMetrics, eventMs: number, nowMs: number): FieldError | undefined;
}

const MS = 1 / 1000;

type Values = Array<string | undefined>;

/** What a series is created with: its label values, built only when it is created. */
interface Labeller {
  values(): Values;
}

/**
 * An event's label values, built only when a series is created. A small object rather than a
 * closure: closures made per event cost an allocation each and, under tsx's keepNames, a
 * defineProperty call that showed as 4% of ingest time.
 */
class AppLabels implements Labeller {
  constructor(
    readonly projectId: string,
    readonly app: string | undefined,
    readonly region: string | undefined,
    /** How many of e1..e3 follow the base labels. */
    readonly extras: 0 | 1 | 2 | 3 = 0,
    readonly e1?: string,
    readonly e2?: string,
    readonly e3?: string,
  ) {}
  values(): Values {
    const { projectId, app, region } = this;
    const appId = app === undefined ? undefined : `${projectId}-${app}`;
    // Literals, not push: a pushed-to array keeps spare capacity for the life of the series.
    switch (this.extras) {
      case 0: return [projectId, appId, app, region];
      case 1: return [projectId, appId, app, region, this.e1];
      case 2: return [projectId, appId, app, region, this.e1, this.e2];
      default: return [projectId, appId, app, region, this.e1, this.e2, this.e3];
    }
  }
}

function lookup<S extends AnySeries>(pm: ProjectMetrics, idx: number, key: string, labels: Labeller): S | undefined {
  const fam = pm.families[idx] as Family<S>;
  return fam.series.get(key) ?? pm.registry.series(fam, key, labels.values());
}

function gauge(pm: ProjectMetrics, idx: number, key: string, labels: Labeller): GaugeSeries | undefined {
  return lookup<GaugeSeries>(pm, idx, key, labels);
}

/** The series in `slot` of `row`, looked up (or created) and kept there on first use. */
function cached<S extends AnySeries>(row: SeriesRow, slot: number, pm: ProjectMetrics, idx: number, key: string, labels: Labeller): S | undefined {
  const s = row.slots[slot];
  if (s !== undefined) return s as S;
  // Left empty when the series limit dropped it, so the next event tries again, as without a row.
  const found = lookup<S>(pm, idx, key, labels);
  row.slots[slot] = found;
  return found;
}

/**
 * The row for `key`. A key's first event gets a fresh row that is kept only if its `anchor`
 * slot then holds a series, so keys dropped by the series limit do not grow the cache.
 */
function rowFor(rows: Map<string, SeriesRow>, pm: ProjectMetrics, key: string, size: number): SeriesRow {
  const row = rows.get(key);
  if (row !== undefined && row.generation === pm.registry.generation) return row;
  return new SeriesRow(pm.registry.generation, size);
}

function keepRow(rows: Map<string, SeriesRow>, key: string, row: SeriesRow, anchor: number): void {
  if (row.slots[anchor] !== undefined && rows.get(key) !== row) rows.set(key, row);
}

/** The series already in `slot`, or in the family under `key`; undefined when there is none yet. */
function existing<S extends AnySeries>(row: SeriesRow, slot: number, pm: ProjectMetrics, idx: number, key: string): S | undefined {
  return (row.slots[slot] as S | undefined) ?? (pm.families[idx] as Family<S>).series.get(key);
}

/**
 * Why adding `by` (from `field`'s value `v`) to a sum at `current` cannot be done, or undefined. A
 * sum at +Inf would stay there for good (nothing is ever taken off a counter) and make every
 * rate() over it NaN, so the event is refused instead. Only sums that already exist can
 * overflow: a new one starts from zero, and validation let only finite values through.
 */
function overflow(field: string, v: number, current: number, by: number, series: string): FieldError | undefined {
  if (Number.isFinite(current + by)) return undefined;
  return new FieldError(
    'overflow',
    `${field}: ${describe(v)} would take ${series} past the largest number a series can hold (about 1.8e308) to +Inf; it is at ${describe(current)}. The event was not applied`,
  );
}

function counterRoom(row: SeriesRow, slot: number, pm: ProjectMetrics, idx: number, key: string, field: string, v: number): FieldError | undefined {
  const s = existing<CounterSeries>(row, slot, pm, idx, key);
  return s === undefined ? undefined : overflow(field, v, s.value, v, pm.families[idx].def.name);
}

function histogramRoom(row: SeriesRow, slot: number, pm: ProjectMetrics, idx: number, key: string, field: string, ms: number | undefined, scale = MS): FieldError | undefined {
  if (ms === undefined) return undefined;
  const s = existing<HistogramSeries>(row, slot, pm, idx, key);
  // The same product observeMs adds, so the check and the sum cannot disagree.
  return s === undefined ? undefined : overflow(field, ms, s.sum, ms * scale, `${pm.families[idx].def.name}_sum`);
}

function observeMs(row: SeriesRow, slot: number, pm: ProjectMetrics, idx: number, key: string, ms: number | undefined, labels: Labeller, ex?: EventExemplar): void {
  if (ms === undefined) return;
  cached<HistogramSeries>(row, slot, pm, idx, key, labels)?.observe(ms * MS, ex?.labels, ex?.timeMs);
}

interface EventExemplar {
  readonly labels: ExemplarLabels;
  readonly timeMs: number;
}

/** OpenMetrics caps an exemplar's label set at 128 characters (names and values together). */
const MAX_EXEMPLAR_CHARS = 128;

/**
 * The exemplar labels an event gives its observations: its `run_id` and `trace_id`, when given
 * and short enough for OpenMetrics; undefined otherwise (most events: nothing is allocated).
 */
function exemplarOf(ev: Record<string, any>, eventMs: number): EventExemplar | undefined {
  const runId: string | undefined = ev.run_id;
  const traceId: string | undefined = ev.trace_id;
  if (runId === undefined && traceId === undefined) return undefined;
  const labels: Record<string, string> = {};
  let chars = 0;
  if (runId !== undefined && 6 + runId.length <= MAX_EXEMPLAR_CHARS) {
    labels.run_id = runId;
    chars = 6 + runId.length;
  }
  if (traceId !== undefined && chars + 8 + traceId.length <= MAX_EXEMPLAR_CHARS) labels.trace_id = traceId;
  return Object.keys(labels).length === 0 ? undefined : { labels, timeMs: eventMs };
}

const RUN: EventType = {
  rules: [
    { name: 'app_name', kind: 'label', required: true },
    { name: 'status', kind: 'run_status', required: true },
    { name: 'region', kind: 'label' },
    { name: 'run_id', kind: 'label' },
    { name: 'trace_id', kind: 'label' },
    { name: 'queue_time_ms', kind: 'duration_ms' },
    { name: 'coldstart_time_ms', kind: 'duration_ms' },
    { name: 'execution_time_ms', kind: 'duration_ms' },
    { name: 'response_time_ms', kind: 'duration_ms' },
  ],
  apply(ev, pm, eventMs) {
    const app: string = ev.app_name;
    const region: string | undefined = ev.region;
    // Validation forbids NUL in labels, so NUL-joined keys cannot collide.
    const key = region === undefined ? app : `${app}\u0000${region}`;
    // Slots, in the order series are first looked up (which decides who is dropped at the limit).
    const row = rowFor(pm.rows.run, pm, key, 7);
    // Every sum is checked before any is touched, so a refused event leaves all of them as they
    // were. The counters here only ever add 1, which cannot take a finite double to +Inf.
    const refused =
      histogramRoom(row, 3, pm, I.run_queue_time, key, 'queue_time_ms', ev.queue_time_ms) ??
      histogramRoom(row, 4, pm, I.run_coldstart_time, key, 'coldstart_time_ms', ev.coldstart_time_ms) ??
      histogramRoom(row, 5, pm, I.run_execution_time, key, 'execution_time_ms', ev.execution_time_ms) ??
      histogramRoom(row, 6, pm, I.run_response_time, key, 'response_time_ms', ev.response_time_ms);
    if (refused !== undefined) return refused;
    pm.apps.add(app);
    const values = new AppLabels(pm.projectId, app, region);
    cached<CounterSeries>(row, 0, pm, I.runs, key, values)?.inc(1);
    if (ev.status === 'success') cached<CounterSeries>(row, 1, pm, I.run_successes, key, values)?.inc(1);
    else cached<CounterSeries>(row, 2, pm, I.run_errors, key, values)?.inc(1);
    const ex = exemplarOf(ev, eventMs);
    observeMs(row, 3, pm, I.run_queue_time, key, ev.queue_time_ms, values, ex);
    observeMs(row, 4, pm, I.run_coldstart_time, key, ev.coldstart_time_ms, values, ex);
    observeMs(row, 5, pm, I.run_execution_time, key, ev.execution_time_ms, values, ex);
    observeMs(row, 6, pm, I.run_response_time, key, ev.response_time_ms, values, ex);
    keepRow(pm.rows.run, key, row, 0);
    return undefined;
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
    { name: 'trace_id', kind: 'label' },
  ],
  apply(ev, pm, eventMs) {
    const model: string = ev.model_name;
    const tier: string = ev.service_tier ?? 'on_demand';
    const app: string | undefined = ev.app_name;
    const region: string | undefined = ev.region;
    const key = `${model}\u0000${tier}\u0000${app ?? ''}\u0000${region ?? ''}`;
    const row = rowFor(pm.rows.inference, pm, key, 10);
    // All sums checked before any is touched (see RUN); the request counters only add 1.
    const refused =
      counterRoom(row, 0, pm, I.inference_input_tokens, key, 'input_tokens', ev.input_tokens) ??
      counterRoom(row, 1, pm, I.inference_output_tokens, key, 'output_tokens', ev.output_tokens) ??
      histogramRoom(row, 2, pm, I.inference_ttft, key, 'ttft_ms', ev.ttft_ms) ??
      histogramRoom(row, 3, pm, I.inference_tpot, key, 'tpot_ms', ev.tpot_ms) ??
      histogramRoom(row, 4, pm, I.inference_duration, key, 'duration_ms', ev.duration_ms);
    if (refused !== undefined) return refused;
    if (app !== undefined) pm.apps.add(app);
    const values = new AppLabels(pm.projectId, app, region, 2, model, tier);
    // Status code 100 to 599 (validated), so classes 1xx to 5xx take slots 5 to 9.
    const codeDigit = ev.status_code === undefined ? 2 : Math.floor(ev.status_code / 100);
    const requestsSlot = 4 + codeDigit;
    let requests = row.slots[requestsSlot] as CounterSeries | undefined;
    if (requests === undefined) {
      const codeClass = ev.status_code === undefined ? '2xx' : `${codeDigit}xx`;
      requests = lookup<CounterSeries>(pm, I.inference_requests, `${key}\u0000${codeClass}`, new AppLabels(pm.projectId, app, region, 3, model, tier, codeClass));
      row.slots[requestsSlot] = requests;
    }
    requests?.inc(1);
    cached<CounterSeries>(row, 0, pm, I.inference_input_tokens, key, values)?.inc(ev.input_tokens);
    cached<CounterSeries>(row, 1, pm, I.inference_output_tokens, key, values)?.inc(ev.output_tokens);
    const ex = exemplarOf(ev, eventMs);
    observeMs(row, 2, pm, I.inference_ttft, key, ev.ttft_ms, values, ex);
    observeMs(row, 3, pm, I.inference_tpot, key, ev.tpot_ms, values, ex);
    observeMs(row, 4, pm, I.inference_duration, key, ev.duration_ms, values, ex);
    keepRow(pm.rows.inference, key, row, 0);
    return undefined;
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
    const values = new AppLabels(pm.projectId, app, region);
    const gpuValues = new AppLabels(pm.projectId, app, region, 1, gpu);
    for (const [field, idx, perGpu] of RESOURCE_GAUGES) {
      const v: number | undefined = ev[field];
      if (v === undefined) continue;
      const series = perGpu ? gauge(pm, idx, gpuKey, gpuValues) : gauge(pm, idx, key, values);
      series?.set(v, eventMs, nowMs);
    }
    // Gauges are set, not summed: a value that passed validation is finite, and so is the gauge.
    return undefined;
  },
};

/** Label values given as a list: the base labels, then the family's extra labels. */
class ListLabels implements Labeller {
  constructor(
    readonly projectId: string,
    readonly app: string | undefined,
    readonly region: string | undefined,
    readonly extras: Values,
  ) {}
  values(): Values {
    const { projectId, app } = this;
    return [projectId, app === undefined ? undefined : `${projectId}-${app}`, app, this.region, ...this.extras];
  }
}

/**
 * On-device inference telemetry, as Octomil's SDK sends it. An event that carries a duration,
 * time to first token, throughput or token count is one inference; one that carries only a
 * battery level or memory use (a status report) is not.
 */
const DEVICE: EventType = {
  rules: [
    { name: 'device_id', kind: 'label', required: true },
    { name: 'model_name', kind: 'label' },
    { name: 'app_name', kind: 'label' },
    { name: 'region', kind: 'label' },
    { name: 'platform', kind: 'label' },
    { name: 'event_name', kind: 'label' },
    { name: 'duration_ms', kind: 'duration_ms' },
    { name: 'ttft_ms', kind: 'duration_ms' },
    { name: 'throughput_tokens_per_second', kind: 'quantity' },
    { name: 'total_tokens', kind: 'count' },
    { name: 'battery_level_percent', kind: 'percent' },
    { name: 'memory_used_bytes', kind: 'quantity' },
  ],
  apply(ev, pm, eventMs, nowMs) {
    const device: string = ev.device_id;
    const app: string | undefined = ev.app_name;
    const region: string | undefined = ev.region;
    const model: string | undefined = ev.model_name;
    const platform: string | undefined = ev.platform;
    const tokens: number | undefined = ev.total_tokens;
    const throughput: number | undefined = ev.throughput_tokens_per_second;
    // seriesKey of the label values, written out (restore rebuilds it with seriesKey itself).
    const site = `${app ?? ''}\u0000${region ?? ''}`;
    const key = `${site}\u0000${model ?? ''}\u0000${platform ?? ''}`;
    const row = rowFor(pm.rows.device, pm, key, 5);
    // All sums checked before any is touched (see RUN); the inference counter only adds 1.
    const refused =
      (tokens === undefined ? undefined : counterRoom(row, 1, pm, I.device_tokens, key, 'total_tokens', tokens)) ??
      histogramRoom(row, 2, pm, I.device_inference_duration, key, 'duration_ms', ev.duration_ms) ??
      histogramRoom(row, 3, pm, I.device_ttft, key, 'ttft_ms', ev.ttft_ms) ??
      histogramRoom(row, 4, pm, I.device_throughput, key, 'throughput_tokens_per_second', throughput, 1);
    if (refused !== undefined) return refused;
    if (app !== undefined) pm.apps.add(app);
    const values = new ListLabels(pm.projectId, app, region, [model, platform]);
    const inference = ev.duration_ms !== undefined || ev.ttft_ms !== undefined || throughput !== undefined || tokens !== undefined;
    if (inference) cached<CounterSeries>(row, 0, pm, I.device_inferences, key, values)?.inc(1);
    if (tokens !== undefined) cached<CounterSeries>(row, 1, pm, I.device_tokens, key, values)?.inc(tokens);
    observeMs(row, 2, pm, I.device_inference_duration, key, ev.duration_ms, values);
    observeMs(row, 3, pm, I.device_ttft, key, ev.ttft_ms, values);
    if (throughput !== undefined) cached<HistogramSeries>(row, 4, pm, I.device_throughput, key, values)?.observe(throughput);
    keepRow(pm.rows.device, key, row, 0);
    // The per-device gauges: the one place device_id is a label, so each device is a series of
    // its own and counts against the project's series limit.
    const battery: number | undefined = ev.battery_level_percent;
    const memory: number | undefined = ev.memory_used_bytes;
    if (battery !== undefined || memory !== undefined) {
      const perDevice = `${site}\u0000${platform ?? ''}\u0000${device}`;
      const labels = new ListLabels(pm.projectId, app, region, [platform, device]);
      if (battery !== undefined) gauge(pm, I.device_battery_level, perDevice, labels)?.set(battery, eventMs, nowMs);
      if (memory !== undefined) gauge(pm, I.device_memory_used, perDevice, labels)?.set(memory, eventMs, nowMs);
    }
    // Active devices, without a series per device. A device counts from when an event of it
    // arrives, if the event is recent: a backfill of old telemetry does not make it active now.
    const cutoff = nowMs - pm.staleAfterMs;
    if (eventMs >= cutoff) {
      const activeKey = `${site}\u0000${platform ?? ''}`;
      const set = pm.devices.seen(activeKey, device, nowMs, cutoff);
      const g = gauge(pm, I.devices_active, activeKey, new ListLabels(pm.projectId, app, region, [platform]));
      set.gauge = g;
      if (g !== undefined) {
        // Set outright: the count is as of now, whatever the time of the event that moved it.
        g.value = set.count;
        g.sampleMs = nowMs;
        g.updatedAt = nowMs;
      }
    }
    return undefined;
  },
};

/** How an instance or a job accrues: its kind, identity, states and families. */
interface AccrualSpec {
  readonly kind: AccrualKind;
  /** The two fields that name one entity (a fleet's instance, a run's job). */
  readonly identity: readonly [string, string];
  /** The field that holds its state. */
  readonly stateField: string;
  /** The state it accrues in, from one event to the next. */
  readonly running: string;
  /** States it ends in: accrual stops and its gauges go. */
  readonly terminal: ReadonlySet<string>;
  readonly runningIdx: number;
  readonly costIdx: number;
  readonly priceIdx: number;
  readonly gpuCountIdx: number;
  /** The counter of entities that reached a terminal state, each once (jobs). */
  readonly endedIdx?: number;
  /** Label fields beside the identity and the state: an event that leaves one out keeps the entity's last value. */
  readonly labelFields: readonly string[];
}

/** The label fields of a spec's families (and `region`), without its identity and state fields. */
function labelFieldsOf(spec: Omit<AccrualSpec, 'labelFields'>): string[] {
  const idxs = [spec.runningIdx, spec.costIdx, spec.priceIdx, spec.gpuCountIdx, ...(spec.endedIdx === undefined ? [] : [spec.endedIdx])];
  const names = new Set(['region', ...idxs.flatMap((i) => CATALOG[i].extraLabels)]);
  for (const n of [...spec.identity, spec.stateField]) names.delete(n);
  return [...names];
}

/**
 * The label values an event gives a family: the base labels (instances and jobs have no app),
 * then each of the family's extra labels from the event's field of the same name (the catalogue
 * names them so, and the event's rules validate each of them as a label).
 */
function labelValuesOf(pm: ProjectMetrics, idx: number, ev: Record<string, any>): Values {
  const values: Values = [pm.projectId, undefined, undefined, ev.region];
  for (const name of CATALOG[idx].extraLabels) values.push(ev[name]);
  return values;
}

/** Why adding `by` (scale units) to an accrued counter cannot be done (see overflow), or undefined. */
function accrualRoom(pm: ProjectMetrics, idx: number, key: string, field: string, v: unknown, by: number): FieldError | undefined {
  if (by === 0) return undefined;
  const total = pm.accrual.total(idx, key);
  const scale = accrualScale(idx);
  if (Number.isFinite(total + by) && Number.isFinite((total + by) / scale)) return undefined;
  return new FieldError(
    'overflow',
    `${field}: ${describe(v)} would take ${pm.families[idx].def.name} past the largest number a series can hold (about 1.8e308) to +Inf; it is at ${describe(total / scale)}. The event was not applied`,
  );
}

/**
 * Applies an instance or job event: accrues running time and cost over the interval since the
 * entity's previous event (src/aggregate/accrual.ts says how and why), counts a terminal state
 * once, and sets or hides the entity's gauges.
 */
function applyAccrual(spec: AccrualSpec, ev: Record<string, any>, pm: ProjectMetrics, eventMs: number, nowMs: number): FieldError | undefined {
  const book = pm.accrual;
  const id = `${ev[spec.identity[0]]}\u0000${ev[spec.identity[1]]}`;
  const prev = book.entity(spec.kind, id);
  // Older than the newest event applied (out of order, or sent again): the interval it falls in
  // was counted by the events around it, so it changes nothing. Still accepted: it is valid.
  if (prev !== undefined && eventMs < prev.lastMs) return undefined;
  const state: string = ev[spec.stateField];
  // What describes the entity holds until an event says otherwise, as its price does: a
  // heartbeat or a terminated event that leaves out the backend or the GPU feeds the same series.
  const labels: Record<string, string> = {};
  for (const f of spec.labelFields) {
    const v: string | undefined = ev[f] ?? prev?.labels[f];
    if (v !== undefined) labels[f] = v;
  }
  const described = { ...labels, [spec.identity[0]]: ev[spec.identity[0]], [spec.identity[1]]: ev[spec.identity[1]], [spec.stateField]: state };
  // The interval since the previous event ran at the previous event's state and price; one
  // longer than the staleness time counts only that long.
  const ranMs = prev !== undefined && prev.state === spec.running ? Math.min(eventMs - prev.lastMs, pm.staleAfterMs) : 0;
  const costBy = ranMs > 0 && prev!.price !== undefined ? ranMs * prev!.price : 0;
  const price: number | undefined = ev.price_per_hour ?? prev?.price;
  const ended = spec.terminal.has(state);
  const endsNow = ended && (prev === undefined || !spec.terminal.has(prev.state));
  const values = labelValuesOf(pm, spec.runningIdx, described);
  const key = seriesKey(values);
  const endedValues = endsNow && spec.endedIdx !== undefined ? labelValuesOf(pm, spec.endedIdx, described) : undefined;
  const endedKey = endedValues === undefined ? '' : seriesKey(endedValues);
  const refused =
    accrualRoom(pm, spec.runningIdx, key, 'timestamp', eventMs, ranMs) ??
    accrualRoom(pm, spec.costIdx, key, 'price_per_hour', prev?.price ?? 0, costBy) ??
    (endedValues === undefined ? undefined : accrualRoom(pm, spec.endedIdx!, endedKey, spec.stateField, state, 1));
  if (refused !== undefined) return refused;
  // Counters start at 0 once an entity runs, so the first increase shows in rate().
  const running = state === spec.running;
  if (ranMs > 0 || running) book.add(spec.runningIdx, key, values, ranMs);
  if (costBy > 0 || (running && price !== undefined)) book.add(spec.costIdx, key, values, costBy);
  if (endedValues !== undefined) book.add(spec.endedIdx!, endedKey, endedValues, 1);
  const gpuCount: number | undefined = ev.gpu_count ?? prev?.gpuCount;
  const shown: GaugeSeries[] = [];
  if (!ended) {
    const gaugeLabels = new ListLabels(pm.projectId, undefined, values[3], values.slice(4));
    for (const [idx, v] of [[spec.priceIdx, price], [spec.gpuCountIdx, gpuCount]] as const) {
      if (v === undefined) continue;
      const g = gauge(pm, idx, key, gaugeLabels);
      if (g === undefined) continue;
      g.set(v, eventMs, nowMs);
      shown.push(g);
    }
  }
  // A gauge the entity no longer sets (it ended, or its labels changed) is hidden at once and
  // swept with the stale ones: a terminated instance has no price any more.
  for (const g of prev?.gauges ?? []) if (!shown.includes(g)) g.updatedAt = 0;
  const next: Entity = { lastMs: eventMs, state, price, labels, touchedAt: nowMs, gpuCount, gauges: shown.length > 0 ? shown : undefined };
  book.put(spec.kind, id, next);
  return undefined;
}

export const INSTANCE_STATES = ['provisioning', 'running', 'terminated'] as const;
export const JOB_STATUSES = ['submitted', 'running', 'done', 'failed', 'terminated'] as const;

const withLabelFields = (spec: Omit<AccrualSpec, 'labelFields'>): AccrualSpec => ({ ...spec, labelFields: labelFieldsOf(spec) });

const INSTANCE_SPEC = withLabelFields({
  kind: 'instance', identity: ['fleet_name', 'instance_name'], stateField: 'state', running: 'running', terminal: new Set(['terminated']),
  runningIdx: I.instance_running_seconds, costIdx: I.instance_cost, priceIdx: I.instance_price, gpuCountIdx: I.instance_gpus,
});

const JOB_SPEC = withLabelFields({
  kind: 'job', identity: ['run_name', 'job_name'], stateField: 'status', running: 'running', terminal: new Set(['done', 'failed', 'terminated']),
  runningIdx: I.job_running_seconds, costIdx: I.job_cost, priceIdx: I.job_price, gpuCountIdx: I.job_gpus, endedIdx: I.jobs,
});

/** A fleet instance, as dstack's fleets report them; a heartbeat a minute keeps its running time and cost current. */
const INSTANCE: EventType = {
  rules: [
    { name: 'fleet_name', kind: 'label', required: true },
    { name: 'instance_name', kind: 'label', required: true },
    { name: 'state', kind: 'enum', required: true, values: INSTANCE_STATES },
    { name: 'backend', kind: 'label' },
    { name: 'instance_type', kind: 'label' },
    { name: 'region', kind: 'label' },
    { name: 'gpu_name', kind: 'label' },
    { name: 'gpu_count', kind: 'count' },
    { name: 'price_per_hour', kind: 'price' },
  ],
  apply: (ev, pm, eventMs, nowMs) => applyAccrual(INSTANCE_SPEC, ev, pm, eventMs, nowMs),
};

/** A job of a run, as dstack's jobs report them. */
const JOB: EventType = {
  rules: [
    { name: 'run_name', kind: 'label', required: true },
    { name: 'job_name', kind: 'label', required: true },
    { name: 'status', kind: 'enum', required: true, values: JOB_STATUSES },
    { name: 'user', kind: 'label' },
    { name: 'fleet_name', kind: 'label' },
    { name: 'instance_name', kind: 'label' },
    { name: 'backend', kind: 'label' },
    { name: 'region', kind: 'label' },
    { name: 'gpu_name', kind: 'label' },
    { name: 'gpu_count', kind: 'count' },
    { name: 'price_per_hour', kind: 'price' },
  ],
  apply: (ev, pm, eventMs, nowMs) => applyAccrual(JOB_SPEC, ev, pm, eventMs, nowMs),
};

export const EVENT_TYPES: Readonly<Record<string, EventType>> = {
  run: RUN,
  inference: INFERENCE,
  resource: RESOURCE,
  device: DEVICE,
  instance: INSTANCE,
  job: JOB,
};
