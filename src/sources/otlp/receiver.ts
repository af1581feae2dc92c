/**
 * The OTLP receiver's rules (CONTRACT section 9): which project a resource's points go to, the
 * names and labels Prometheus' own OTLP receiver gives them, and per point whether it can be
 * taken. Every point is applied or rejected with its reason; rejections come back as an OTLP
 * partial success, and nothing valid in the same request is lost.
 */
import type { Aggregator, ProjectMetrics, SourceFamily } from '../../aggregate/project.js';
import { DeclareError } from '../../aggregate/project.js';
import type { Family } from '../../aggregate/registry.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../../aggregate/series.js';
import { applyCounter, applyGauge, applyHistogram, identity, type Refusal, type SeriesIdentity, type Temporality } from '../../aggregate/samples.js';
import { labelNameProblem, metricNameProblem } from '../../core/labels.js';
import { MAX_LABEL_CHARS } from '../../ingest/fields.js';
import type { Source, SourceObserver } from '../source.js';
import {
  FLAG_NO_RECORDED_VALUE, TEMPORALITY_CUMULATIVE, TEMPORALITY_DELTA,
  OtlpBodyError, type Attributes, type ExemplarIn, type HistogramPointIn, type PointAttributes, type MetricIn, type NumberPointIn, type ResourceMetricsIn,
} from './decode.js';
import { prometheusUnit, translateLabelName, translateMetricName, type OtlpType } from './names.js';

/** The resource attribute that names the project for a server-wide ingest token. */
export const PROJECT_ATTRIBUTE = 'meterway.project_id';

export interface OtlpOptions {
  /** Resource attributes copied onto every series as labels (Prometheus' `promote_resource_attributes`). */
  readonly promoteResourceAttributes: readonly string[];
}

export interface OtlpScope {
  /** The project an ingest token is bound to; undefined for a server-wide token. */
  readonly project?: string;
}

/** Why points were dropped, as the self-metrics count them. */
export type DropReason = 'unknown_project' | 'invalid' | 'unsupported' | 'series_limit' | 'conflict' | 'duplicate';

export interface OtlpResult {
  accepted: number;
  rejected: number;
  /** Distinct reasons, each with how many points it cost, in the order first met. */
  readonly reasons: Map<string, number>;
}

/** A resource with the project its points go to, or why none. */
export interface ResolvedResource {
  readonly resource: ResourceMetricsIn;
  readonly pm: ProjectMetrics | undefined;
  readonly refusal?: string;
  readonly points: number;
}

const IDENTIFYING = new Set(['service.name', 'service.namespace', 'service.instance.id', PROJECT_ATTRIBUTE]);
const MAX_REASONS = 10;
const NAME_CACHE_MAX = 10_000;
/**
 * Points' identities by resource labels, then by their attributes as sent; an identity's names
 * and values arrays are its series' own, so an entry costs little more than its key.
 */
const IDENTITY_CACHE_MAX = 100_000;

export class OtlpReceiver implements Source {
  readonly name = 'otlp';
  private readonly metricNames = new Map<string, string | Error>();
  private readonly labelNames = new Map<string, string | Error>();
  private readonly identities = new Map<string, Map<string, SeriesIdentity>>();
  private identityCount = 0;

  constructor(
    private readonly aggregator: Aggregator,
    private readonly opts: OtlpOptions,
    private readonly observer?: SourceObserver,
  ) {}

  /** Each resource's project, decided before anything is applied (rate limits charge by it). */
  resolve(resources: readonly ResourceMetricsIn[], scope: OtlpScope): ResolvedResource[] {
    return resources.map((resource) => {
      const points = resource.metrics.reduce((n, m) => n + pointCount(m), 0);
      const named = attribute(resource.attributes, PROJECT_ATTRIBUTE);
      if (scope.project !== undefined) {
        if (named !== undefined && named !== scope.project) {
          return { resource, pm: undefined, points, refusal: `the resource attribute ${PROJECT_ATTRIBUTE} names a project other than this token's; a project-bound token writes only to its own project: leave the attribute out or use that project's token` };
        }
        return { resource, pm: this.aggregator.get(scope.project), points };
      }
      if (named === undefined) {
        return { resource, pm: undefined, points, refusal: `the resource attribute ${PROJECT_ATTRIBUTE} is required with a server-wide ingest token: set it to the project id (OTEL_RESOURCE_ATTRIBUTES=${PROJECT_ATTRIBUTE}=p-...), or use a project's ingest token` };
      }
      const pm = this.aggregator.get(named);
      return pm === undefined
        ? { resource, pm, points, refusal: `${PROJECT_ATTRIBUTE}: unknown project ${JSON.stringify(named)} for this token` }
        : { resource, pm, points };
    });
  }

  apply(resolved: readonly ResolvedResource[], nowMs = Date.now()): OtlpResult {
    const result: OtlpResult = { accepted: 0, rejected: 0, reasons: new Map() };
    for (const r of resolved) {
      if (r.pm === undefined) {
        this.reject(result, r.points, 'unknown_project', r.refusal ?? 'the project no longer exists');
        continue;
      }
      this.applyResource(r.pm, r, nowMs, result);
    }
    this.observer?.sourceSamples(this.name, result.accepted);
    return result;
  }

  private reject(result: OtlpResult, n: number, reason: DropReason, message: string): void {
    if (n === 0) return;
    result.rejected += n;
    this.observer?.sourceDropped(this.name, reason, n);
    const seen = result.reasons.get(message);
    if (seen !== undefined) result.reasons.set(message, seen + n);
    else if (result.reasons.size < MAX_REASONS) result.reasons.set(message, n);
  }

  private applyResource(pm: ProjectMetrics, { resource, points }: ResolvedResource, nowMs: number, result: OtlpResult): void {
    const base = this.resourceLabels(pm, resource.attributes);
    if (typeof base === 'string') {
      this.reject(result, points, 'invalid', base);
      return;
    }
    let baseKey = '';
    for (const [k, v] of base) baseKey += `${k}\u0000${v}\u0000`;
    let identities = this.identities.get(baseKey);
    if (identities === undefined) {
      this.identities.set(baseKey, (identities = new Map()));
      this.countIdentity();
    }
    const labels = { base, identities };
    let newestMs = 0;
    for (const m of resource.metrics) {
      const t = this.applyMetric(pm, m, labels, nowMs, result);
      if (t > newestMs) newestMs = t;
    }
    if (newestMs > 0) this.targetInfo(pm, resource.attributes, base, newestMs, nowMs);
  }

  /**
   * project_id, then job and instance from service.namespace/service.name and service.instance.id,
   * then the promoted resource attributes, as label pairs; or why the resource cannot be taken.
   */
  private resourceLabels(pm: ProjectMetrics, attrs: Attributes): Map<string, string> | string {
    const get = (k: string): string | undefined => attribute(attrs, k);
    const labels = new Map<string, string>([['project_id', pm.projectId]]);
    const service = get('service.name');
    const namespace = get('service.namespace');
    if (service !== undefined && service !== '') labels.set('job', namespace !== undefined && namespace !== '' ? `${namespace}/${service}` : service);
    const instance = get('service.instance.id');
    if (instance !== undefined && instance !== '') labels.set('instance', instance);
    for (const key of this.opts.promoteResourceAttributes) {
      const v = get(key);
      if (v === undefined || v === '') continue;
      const name = this.labelName(key);
      if (name instanceof Error) return `resource attribute ${JSON.stringify(key)}: ${name.message}`;
      if (!labels.has(name)) labels.set(name, v);
    }
    for (const [k, v] of labels) {
      const bad = labelValueProblem(v);
      if (bad !== undefined) return `label ${k}: ${bad}`;
    }
    return labels;
  }

  /**
   * `target_info` as Prometheus writes it: one gauge at 1 per resource, carrying the resource
   * attributes that are not already job, instance or promoted labels.
   */
  private targetInfo(pm: ProjectMetrics, attrs: Attributes, base: Map<string, string>, timeMs: number, nowMs: number): void {
    const labels = new Map<string, string>();
    for (const k of ['project_id', 'job', 'instance']) if (base.has(k)) labels.set(k, base.get(k)!);
    for (const [key, value] of pairsByKey(attrs)) {
      if (IDENTIFYING.has(key) || this.opts.promoteResourceAttributes.includes(key) || value === '') continue;
      const name = this.labelName(key);
      if (name instanceof Error || labelValueProblem(value) !== undefined) continue;
      addLabel(labels, name, value);
    }
    if (labels.size <= 3 && [...labels.keys()].every((k) => k === 'project_id' || k === 'job' || k === 'instance')) return;
    const fam = pm.declare({ name: 'target_info', type: 'gauge', help: 'Target metadata', unit: '', otlpUnit: '' });
    if (fam instanceof DeclareError) return;
    applyGauge(pm, fam as Family<GaugeSeries>, sortedIdentity(labels), 1, { startMs: 0, timeMs }, undefined, nowMs);
  }

  /** Applies one metric's points; returns the newest point time applied (0 when none). */
  private applyMetric(pm: ProjectMetrics, m: MetricIn, base: ResourceLabels, nowMs: number, result: OtlpResult): number {
    const d = m.data;
    const what = `metric ${quoted(m.name)}`;
    if (!('points' in d)) {
      if (d.kind === 'exponential_histogram') {
        this.reject(result, d.pointCount, 'unsupported', `${what}: exponential histograms are not supported; have the SDK aggregate this instrument into explicit buckets (a view with ExplicitBucketHistogramAggregation, or OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=explicit_bucket_histogram)`);
      } else if (d.kind === 'summary') {
        this.reject(result, d.pointCount, 'unsupported', `${what}: summaries are not supported (their quantiles cannot be aggregated); send a histogram instead`);
      }
      return 0;
    }
    let type: SourceFamily['type'];
    let otlpType: OtlpType;
    let temporality: Temporality | undefined;
    if (d.kind === 'gauge') {
      type = 'gauge';
      otlpType = 'gauge';
    } else {
      if (d.temporality !== TEMPORALITY_DELTA && d.temporality !== TEMPORALITY_CUMULATIVE) {
        this.reject(result, d.points.length, 'invalid', `${what}: aggregation_temporality must be 1 (delta) or 2 (cumulative), got ${d.temporality}`);
        return 0;
      }
      temporality = d.temporality === TEMPORALITY_DELTA ? 'delta' : 'cumulative';
      if (d.kind === 'histogram') {
        type = 'histogram';
        otlpType = 'histogram';
      } else if (d.monotonic) {
        type = 'counter';
        otlpType = 'monotonic_counter';
      } else {
        // Prometheus' own receiver: a non-monotonic sum (an up-down counter) is a gauge.
        type = 'gauge';
        otlpType = 'non_monotonic_counter';
      }
    }
    const name = this.metricName(m.name, m.unit, otlpType);
    if (name instanceof Error) {
      this.reject(result, d.points.length, 'invalid', `${what}: ${name.message}`);
      return 0;
    }
    const unitWord = prometheusUnit(m.unit);
    const decl = { name, type, help: m.description, unit: unitWord !== '' && name.endsWith(`_${unitWord}`) ? unitWord : '', otlpUnit: m.unit };
    let newest = 0;
    if (d.kind === 'histogram') {
      for (const p of d.points) {
        const t = p.timeMs > 0 ? p.timeMs : nowMs;
        const why = this.histogramPoint(pm, decl, p, base, t, temporality!, nowMs);
        if (why === undefined) {
          result.accepted++;
          if (t > newest) newest = t;
        } else this.reject(result, 1, why[0], `${what} (as ${name}): ${why[1]}`);
      }
      return newest;
    }
    let fam: Family | DeclareError | undefined;
    for (const p of d.points) {
      const t = p.timeMs > 0 ? p.timeMs : nowMs;
      fam ??= pm.declare(decl);
      const why = fam instanceof DeclareError ? (['conflict', fam.message] as const) : this.numberPoint(pm, fam, p, base, t, temporality, nowMs);
      if (why === undefined) {
        result.accepted++;
        if (t > newest) newest = t;
      } else this.reject(result, 1, why[0], `${what} (as ${name}): ${why[1]}`);
    }
    return newest;
  }

  private numberPoint(pm: ProjectMetrics, fam: Family, p: NumberPointIn, base: ResourceLabels, timeMs: number, temporality: Temporality | undefined, nowMs: number): readonly [DropReason, string] | undefined {
    const id = this.pointIdentity(base, p.attributes);
    if (typeof id === 'string') return ['invalid', id];
    if ((p.flags & FLAG_NO_RECORDED_VALUE) !== 0) {
      // The sender says the series ended: it leaves the scrape, and the store gets its staleness marker.
      pm.registry.remove(fam, id.key);
      return undefined;
    }
    if (p.value === undefined) return ['invalid', 'the point has neither as_double nor as_int'];
    if (!Number.isFinite(p.value)) return ['invalid', `the value ${p.value} is not a finite number`];
    const t = { startMs: p.startMs, timeMs };
    let why: Refusal | undefined;
    if (fam.def.type === 'counter') {
      if (p.value < 0) return ['invalid', `a monotonic sum cannot be negative (${p.value}); send an up-down counter (is_monotonic false) instead`];
      why = applyCounter(pm, fam as Family<CounterSeries>, id, p.value, t, temporality!, nowMs);
    } else {
      why = applyGauge(pm, fam as Family<GaugeSeries>, id, p.value, t, temporality, nowMs);
    }
    return why === undefined ? undefined : [why.reason, why.message];
  }

  private histogramPoint(pm: ProjectMetrics, decl: Omit<SourceFamily, 'buckets'>, p: HistogramPointIn, base: ResourceLabels, timeMs: number, temporality: Temporality, nowMs: number): readonly [DropReason, string] | undefined {
    const id = this.pointIdentity(base, p.attributes);
    if (typeof id === 'string') return ['invalid', id];
    const bad = histogramProblem(p);
    if (bad !== undefined) return ['invalid', bad];
    const fam = pm.declare({ ...decl, buckets: p.bounds });
    if (fam instanceof DeclareError) return ['conflict', fam.message];
    if ((p.flags & FLAG_NO_RECORDED_VALUE) !== 0) {
      pm.registry.remove(fam, id.key);
      return undefined;
    }
    const why = applyHistogram(pm, fam as Family<HistogramSeries>, id, { count: p.count, sum: p.sum!, bucketCounts: p.bucketCounts }, { startMs: p.startMs, timeMs }, temporality, nowMs);
    if (why !== undefined) return [why.reason, why.message];
    if (p.exemplars !== undefined) attachExemplars((fam as Family<HistogramSeries>).series.get(id.key)!, p.exemplars, timeMs);
    return undefined;
  }

  /** The point's series identity, from the cache when the same resource labels and attributes came before. */
  private pointIdentity(resource: ResourceLabels, attrs: PointAttributes): SeriesIdentity | string {
    const cached = resource.identities.get(attrs.key);
    if (cached !== undefined) return cached;
    let list: Attributes;
    try {
      list = attrs.list();
    } catch (err) {
      if (err instanceof OtlpBodyError) return err.message;
      throw err;
    }
    const id = this.buildIdentity(resource.base, list);
    if (typeof id !== 'string') {
      resource.identities.set(attrs.key, id);
      this.countIdentity();
    }
    return id;
  }

  /** Counts a cache entry; past the cap the cache starts again (a request holding a map it dropped is unaffected). */
  private countIdentity(): void {
    if (++this.identityCount < IDENTITY_CACHE_MAX) return;
    this.identities.clear();
    this.identityCount = 0;
  }

  /** The point's labels: the resource's, then its attributes translated (project_id is never one). */
  private buildIdentity(base: Map<string, string>, attrs: Attributes): SeriesIdentity | string {
    const labels = new Map(base);
    // Colliding names (`a.b` and `a_b`) are joined with ';' in key order, as Prometheus does.
    const fromPoint = new Set<string>();
    for (const [key, value] of pairsByKey(attrs)) {
      if (value === '') continue;
      let name = this.labelName(key);
      if (name instanceof Error) return `attribute ${quoted(key)}: ${name.message}`;
      const bad = labelValueProblem(value);
      if (bad !== undefined) return `attribute ${quoted(key)}: ${bad}`;
      // The project is the token's or the resource's, never a point's: its own project_id is kept aside.
      if (name === 'project_id') name = 'exported_project_id';
      if (base.has(name)) continue;
      if (fromPoint.has(name)) labels.set(name, `${labels.get(name)!};${value}`);
      else {
        labels.set(name, value);
        fromPoint.add(name);
      }
    }
    return sortedIdentity(labels);
  }

  private metricName(name: string, unit: string, type: OtlpType): string | Error {
    const key = `${name}\u0000${unit}\u0000${type}`;
    let out = this.metricNames.get(key);
    if (out === undefined) {
      out = translateMetricName(name, unit, type);
      const problem = typeof out === 'string' ? metricNameProblem(out) : undefined;
      if (problem !== undefined) out = new Error(`after translation, ${problem}`);
      if (this.metricNames.size >= NAME_CACHE_MAX) this.metricNames.clear();
      this.metricNames.set(key, out);
    }
    return out;
  }

  private labelName(key: string): string | Error {
    let out = this.labelNames.get(key);
    if (out === undefined) {
      out = translateLabelName(key);
      if (typeof out === 'string') {
        const problem = labelNameProblem(out);
        // `__`-prefixed names survive the translation but are Prometheus' reserved names.
        if (problem !== undefined) out = new Error(problem);
      }
      if (this.labelNames.size >= NAME_CACHE_MAX) this.labelNames.clear();
      this.labelNames.set(key, out);
    }
    return out;
  }
}

/**
 * A histogram point's exemplars onto the buckets their values fall in, labelled `trace_id` and
 * `span_id` as Prometheus' OTLP receiver labels them (filtered attributes are left out: with the
 * ids they would pass OpenMetrics' 128 characters). One without a finite value or a trace is skipped.
 */
function attachExemplars(series: HistogramSeries, exemplars: readonly ExemplarIn[], pointMs: number): void {
  for (const e of exemplars) {
    if (!Number.isFinite(e.value) || e.traceId === '') continue;
    const labels: Record<string, string> = { trace_id: e.traceId };
    if (e.spanId !== '') labels.span_id = e.spanId;
    series.exemplar(e.value, labels, e.timeMs > 0 ? e.timeMs : pointMs);
  }
}

/** A name as messages quote it: a name of any length must not make the answer that long. */
function quoted(name: string): string {
  return name.length > 80 ? `${JSON.stringify(name.slice(0, 80))}...` : JSON.stringify(name);
}

function attribute(attrs: Attributes, key: string): string | undefined {
  for (let i = 0; i < attrs.length; i += 2) if (attrs[i] === key) return attrs[i + 1];
  return undefined;
}

/** Key-value pairs sorted by key. */
function pairsByKey(attrs: Attributes): Array<readonly [string, string]> {
  const pairs: Array<readonly [string, string]> = [];
  for (let i = 0; i < attrs.length; i += 2) pairs.push([attrs[i], attrs[i + 1]]);
  return pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** A resource's labels, and the cache of its points' identities. */
interface ResourceLabels {
  readonly base: Map<string, string>;
  /** The identity cache of points under these labels, by their attributes' key. */
  readonly identities: Map<string, SeriesIdentity>;
}

function addLabel(labels: Map<string, string>, name: string, value: string): void {
  const had = labels.get(name);
  labels.set(name, had === undefined ? value : `${had};${value}`);
}

function sortedIdentity(labels: Map<string, string>): SeriesIdentity {
  const names = [...labels.keys()].sort();
  return identity(names, names.map((n) => labels.get(n)!));
}

function labelValueProblem(v: string): string | undefined {
  if (v.length > MAX_LABEL_CHARS) return `the value is ${v.length} characters long, more than the ${MAX_LABEL_CHARS} a label value may have`;
  if (v.includes('\u0000')) return 'the value contains the NUL character';
  if (!(v as string & { isWellFormed(): boolean }).isWellFormed()) return 'the value is not valid Unicode (a lone UTF-16 surrogate)';
  return undefined;
}

function histogramProblem(p: HistogramPointIn): string | undefined {
  if (p.sum === undefined) return 'the histogram point has no sum; Prometheus histograms need one';
  if (!Number.isFinite(p.sum)) return `the sum ${p.sum} is not a finite number`;
  for (let i = 0; i < p.bounds.length; i++) {
    if (!Number.isFinite(p.bounds[i])) return `explicit_bounds[${i}] is ${p.bounds[i]}; bounds must be finite (+Inf is implied)`;
    if (i > 0 && p.bounds[i] <= p.bounds[i - 1]) return `explicit_bounds must increase strictly; [${i - 1}] ${p.bounds[i - 1]} is followed by ${p.bounds[i]}`;
  }
  if (p.bucketCounts.length !== p.bounds.length + 1) {
    return `${p.bucketCounts.length} bucket counts for ${p.bounds.length} explicit bounds; there must be one more count than bounds`;
  }
  let total = 0;
  for (const c of p.bucketCounts) total += c;
  if (total !== p.count) return `the bucket counts add up to ${total}, but count is ${p.count}`;
  return undefined;
}

export function pointCount(m: MetricIn): number {
  return 'points' in m.data ? m.data.points.length : m.data.pointCount;
}

/** The partial success's error_message: every distinct reason (up to ten) with its count. */
export function partialMessage(result: OtlpResult): string {
  if (result.rejected === 0) return '';
  const parts = [...result.reasons].map(([msg, n]) => (n > 1 ? `${msg} (${n} points)` : msg));
  const listed = [...result.reasons.values()].reduce((a, b) => a + b, 0);
  if (listed < result.rejected) parts.push(`and ${result.rejected - listed} more points for other reasons`);
  return `${result.rejected} of ${result.accepted + result.rejected} data points rejected: ${parts.join('; ')}`;
}
