/**
 * Prometheus remote write in (CONTRACT section 9): which project each series goes to, the family
 * it joins (a counter or a gauge, from the sender's metadata or its name) and whether its newest
 * sample can be taken. Every series is applied or refused with its reason; nothing valid in a
 * request is lost to an invalid series beside it.
 *
 * Remote write 1.0 carries classic series with timestamped samples and no types; metadata
 * (type, help, unit per metric family) comes now and then, in its own requests. The aggregation
 * keeps one value per series, so of the samples of a series the newest is applied; one older than
 * what the series already holds is a resend or a late duplicate and is dropped without a word
 * (a sender retrying a request it could not see answered must not be told it failed).
 */
import type { Aggregator, ProjectMetrics } from '../../aggregate/project.js';
import { DeclareError } from '../../aggregate/project.js';
import type { Family } from '../../aggregate/registry.js';
import type { CounterSeries, GaugeSeries } from '../../aggregate/series.js';
import { applyCounter, applyGauge, identity, type SeriesIdentity } from '../../aggregate/samples.js';
import { labelNameProblem, metricNameProblem, METRIC_NAME } from '../../core/labels.js';
import { MAX_LABEL_CHARS } from '../../ingest/fields.js';
import type { Source, SourceObserver } from '../source.js';
import { RemoteWriteBodyError, type MetadataIn, type MetricTypeName, type SeriesColumns, type WriteRequestIn } from './decode.js';

/** The label that names the project for a server-wide ingest token. */
export const PROJECT_LABEL = 'project_id';

/**
 * How far ahead of the gateway's clock a sample may be, as Prometheus' own receiver allows: one
 * from a sender whose clock is far ahead would hold its series, since every later (true) sample
 * would look older and be dropped.
 */
export const MAX_AHEAD_MS = 10 * 60_000;

export interface RemoteWriteScope {
  /** The project an ingest token is bound to; undefined for a server-wide token. */
  readonly project?: string;
  /** Metadata is remembered per sender: its project, or for a server-wide token the token. */
  readonly tokenId: string;
}

/** Why samples were dropped, as the self-metrics count them. */
export type DropReason = 'unknown_project' | 'invalid' | 'unsupported' | 'series_limit' | 'conflict' | 'duplicate' | 'exemplars';

export interface RemoteWriteResult {
  /** Samples taken (staleness markers included), of series not refused. */
  accepted: number;
  /** Samples refused, with a reason the answer gives. */
  rejected: number;
  /** Samples older than their series' newest, dropped without an error (resends). */
  ignored: number;
  readonly seriesTotal: number;
  seriesRejected: number;
  /** Distinct reasons, each with how many samples it cost, in the order first met. */
  readonly reasons: Map<string, number>;
}

/** What the labels of one series say, worked out once per label set (the cache holds it). */
interface ParsedSeries {
  readonly name: string;
  /** The project the series names with its `project_id` label (server-wide tokens only). */
  readonly project: string | undefined;
  readonly id: SeriesIdentity | undefined;
  /** Why the series can never be taken. */
  readonly problem: string | undefined;
  /** The family it went to last time, and in which project (a project deleted and made again is another). */
  fam: Family | undefined;
  famOf: ProjectMetrics | undefined;
}

/** A request with each series' project decided (the rate limit charges by it) before anything is applied. */
export interface ResolvedWrite {
  readonly req: WriteRequestIn;
  readonly scope: RemoteWriteScope;
  readonly parsed: readonly ParsedSeries[];
  readonly pms: ReadonlyArray<ProjectMetrics | undefined>;
  /** Samples per project, for the rate limit. */
  readonly costs: Map<string, number>;
}

interface Meta {
  readonly type: MetricTypeName;
  readonly help: string;
  readonly unit: string;
}

interface Wanted {
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  readonly unit: string;
}

const MAX_REASONS = 10;
/** Parsed label sets, all scopes together; past this many the cache starts again. */
const SERIES_CACHE_MAX = 200_000;
/** Remembered metadata entries, all senders together; past this many the memory starts again. */
const METADATA_MAX = 100_000;
const SERVER_WIDE = '';
const COMPONENT_SUFFIXES = ['_bucket', '_sum', '_count', '_created'] as const;

export class RemoteWriteReceiver implements Source {
  readonly name = 'remote_write';
  /** Parsed label sets by scope (the bound project's id, or SERVER_WIDE). */
  private readonly cache = new Map<string, ScopeCache>();
  private cached = 0;
  /** Metadata by sender and family name: `${sender}\0${name}`. */
  private readonly metadata = new Map<string, Meta>();
  /**
   * The families this receiver made, per project. Their type was settled by what was known when
   * the first sample came (often before the sender's first metadata); a later metadata saying
   * otherwise must not refuse the series that made them, since a family's type cannot change.
   */
  private readonly made = new WeakMap<ProjectMetrics, Set<string>>();

  constructor(
    private readonly aggregator: Aggregator,
    private readonly observer?: SourceObserver,
  ) {}

  resolve(req: WriteRequestIn, scope: RemoteWriteScope): ResolvedWrite {
    const s = req.series;
    const scopeKey = scope.project ?? SERVER_WIDE;
    const parsed: ParsedSeries[] = new Array(s.count);
    const pms: Array<ProjectMetrics | undefined> = new Array(s.count);
    const costs = new Map<string, number>();
    const bound = scope.project === undefined ? undefined : this.aggregator.get(scope.project);
    let cache = this.cache.get(scopeKey);
    if (cache === undefined) this.cache.set(scopeKey, (cache = newScopeCache()));
    // Server-wide: the projects series name, looked up once per request each.
    const named = new Map<string, ProjectMetrics | undefined>();
    let boundCost = 0;
    for (let i = 0; i < s.count; i++) {
      let p = lookup(cache, s, i);
      if (p === undefined) {
        p = this.parse(s.labels.bind(s), i, scope.project);
        if (store(cache, s, i, p) && ++this.cached >= SERIES_CACHE_MAX) {
          // A request holding entries of the dropped maps is unaffected.
          this.cache.clear();
          this.cached = 0;
          this.cache.set(scopeKey, (cache = newScopeCache()));
        }
      }
      parsed[i] = p;
      const n = s.samples[i] + s.histograms[i];
      if (scope.project !== undefined) {
        pms[i] = bound;
        boundCost += n;
        continue;
      }
      if (p.project === undefined) continue;
      let pm = named.get(p.project);
      if (pm === undefined && !named.has(p.project)) named.set(p.project, (pm = this.aggregator.get(p.project)));
      pms[i] = pm;
      if (pm !== undefined) costs.set(pm.projectId, (costs.get(pm.projectId) ?? 0) + n);
    }
    if (bound !== undefined && boundCost > 0) costs.set(bound.projectId, boundCost);
    return { req, scope, parsed, pms, costs };
  }

  apply(w: ResolvedWrite, nowMs = Date.now()): RemoteWriteResult {
    const s = w.req.series;
    const result: RemoteWriteResult = { accepted: 0, rejected: 0, ignored: 0, seriesTotal: s.count, seriesRejected: 0, reasons: new Map() };
    const sender = w.scope.project ?? `token:${w.scope.tokenId}`;
    for (const m of w.req.metadata) this.remember(sender, m);
    let exemplars = 0;
    for (let i = 0; i < s.count; i++) {
      exemplars += s.exemplars[i];
      const before = result.rejected;
      this.applySeries(w, i, sender, nowMs, result);
      if (result.rejected > before) result.seriesRejected++;
    }
    // Exemplars are not kept (see src/sources/README.md); they do not fail the request, as they do
    // not in Prometheus' own receiver, but they are counted.
    if (exemplars > 0) this.observer?.sourceDropped(this.name, 'exemplars', exemplars);
    this.observer?.sourceSamples(this.name, result.accepted);
    return result;
  }

  private applySeries(w: ResolvedWrite, i: number, sender: string, nowMs: number, result: RemoteWriteResult): void {
    const s = w.req.series;
    const p = w.parsed[i];
    const pm = w.pms[i];
    const samples = s.samples[i];
    const histograms = s.histograms[i];
    if (samples + histograms === 0) return;
    if (p.problem !== undefined) {
      this.reject(result, samples + histograms, 'invalid', p.problem);
      return;
    }
    if (pm === undefined) {
      this.reject(result, samples + histograms, 'unknown_project', this.projectRefusal(w.scope, p));
      return;
    }
    if (histograms > 0) {
      this.reject(result, histograms, 'unsupported', `series ${quoted(p.name)}: native histograms are not supported; send the classic histogram (Prometheus: leave the native-histograms feature off, or set scrape_classic_histograms: true on the job)`);
      if (samples === 0) return;
    }
    let fam = p.famOf === pm ? p.fam : undefined;
    if (fam === undefined) {
      const f = this.family(pm, p.name, sender);
      if (f instanceof DeclareError) {
        this.reject(result, samples, 'conflict', `series ${quoted(p.name)}: ${f.message}`);
        return;
      }
      fam = p.fam = f;
      p.famOf = pm;
    }
    this.sample(pm, fam, p, s.newestValue[i], s.newestMs[i], s.newestStale[i] === 1, samples, nowMs, result);
  }

  /** Applies a series' newest sample, standing for all `samples` of it in the request. */
  private sample(pm: ProjectMetrics, fam: Family, p: ParsedSeries, value: number, sentMs: number, stale: boolean, samples: number, nowMs: number, result: RemoteWriteResult): void {
    const id = p.id!;
    const timeMs = sentMs === 0 ? nowMs : sentMs;
    if (timeMs > nowMs + MAX_AHEAD_MS) {
      this.reject(result, samples, 'invalid', `series ${quoted(p.name)}: a sample at ${iso(timeMs)} is more than ${MAX_AHEAD_MS / 60_000} minutes ahead of the gateway's clock; check the sender's clock`);
      return;
    }
    const counter = fam.def.type === 'counter';
    const existing = fam.series.get(id.key) as CounterSeries | GaugeSeries | undefined;
    const lastMs = existing === undefined ? -Infinity : counter ? (existing as CounterSeries).pointMs : (existing as GaugeSeries).sampleMs;
    if (timeMs < lastMs) {
      this.ignore(result, samples);
      return;
    }
    if (stale) {
      // The sender says the series ended (its target went away, or the series left the scrape):
      // it leaves the scrape, and the store gets its staleness marker, as an OTLP point flagged
      // NO_RECORDED_VALUE does.
      if (existing !== undefined) pm.registry.remove(fam, id.key);
      result.accepted += samples;
      return;
    }
    const t = { startMs: 0, timeMs };
    let why;
    if (counter) {
      if (!(value >= 0) || value === Infinity) {
        this.reject(result, samples, 'invalid', `series ${quoted(p.name)}: ${value} is not a value a counter can hold (a finite number, not negative); if it is not a counter, its metadata should say gauge and its name not end in _total`);
        return;
      }
      // No start time in remote write 1.0: a value lower than the last is the sender's reset.
      why = applyCounter(pm, fam as Family<CounterSeries>, id, value, t, 'cumulative', nowMs);
    } else {
      // Any double, NaN included: a summary's quantiles are NaN until it has observations.
      why = applyGauge(pm, fam as Family<GaugeSeries>, id, value, t, undefined, nowMs);
    }
    if (why === undefined) result.accepted += samples;
    else if (why.reason === 'duplicate') this.ignore(result, samples);
    else this.reject(result, samples, why.reason, `series ${quoted(p.name)}: ${why.message}`);
  }

  /**
   * The family a series goes to: the one this receiver made under the name, whatever its type;
   * else one declared now as metadata or the name says. A name another source or the events
   * already hold is joined when the type is the same and refused when it is not.
   */
  private family(pm: ProjectMetrics, name: string, sender: string): Family | DeclareError {
    const made = this.made.get(pm);
    const existing = pm.registry.getFamily(name);
    if (existing !== undefined && made?.has(name) === true) return existing;
    for (const suffix of COMPONENT_SUFFIXES) {
      if (!name.endsWith(suffix)) continue;
      const base = pm.registry.getFamily(name.slice(0, -suffix.length));
      // Exposition writes such a histogram's _bucket, _sum and _count itself: a series of the same
      // name beside it would be a second, different series under that name.
      if (base?.def.type === 'histogram' && suffix !== '_created') {
        return new DeclareError(`${name} is a series of the histogram ${base.def.name} in this project (from events or OTLP); send it under another name`);
      }
    }
    const want = this.wanted(sender, name);
    const fam = pm.declare({ name, type: want.type, help: want.help, unit: want.unit !== '' && name.endsWith(`_${want.unit}`) ? want.unit : '', otlpUnit: '' });
    if (!(fam instanceof DeclareError) && existing === undefined) {
      if (made === undefined) this.made.set(pm, new Set([name]));
      else made.add(name);
    }
    return fam;
  }

  /**
   * Counter or gauge, from the sender's metadata where it has sent some: a counter is a counter
   * under its own name (text format) or with `_total` after its family's (OpenMetrics); the
   * series of a histogram or summary (`_bucket`, `_sum`, `_count`, quantiles) are kept as the
   * plain series they arrive as, gauges. Without metadata, a name ending in `_total` is a
   * counter, anything else a gauge.
   */
  private wanted(sender: string, name: string): Wanted {
    const own = this.metadata.get(`${sender}\u0000${name}`);
    if (own !== undefined && own.type !== 'unknown' && own.type !== 'info' && own.type !== 'stateset') {
      return { type: own.type === 'counter' ? 'counter' : 'gauge', help: own.help, unit: own.unit };
    }
    if (name.endsWith('_total')) {
      const fam = this.metadata.get(`${sender}\u0000${name.slice(0, -6)}`);
      if (fam?.type === 'counter') return { type: 'counter', help: fam.help, unit: fam.unit };
    } else {
      for (const suffix of COMPONENT_SUFFIXES) {
        if (!name.endsWith(suffix)) continue;
        const fam = this.metadata.get(`${sender}\u0000${name.slice(0, -suffix.length)}`);
        if (fam !== undefined && fam.type !== 'gauge' && fam.type !== 'unknown') return { type: 'gauge', help: fam.help, unit: fam.unit };
      }
    }
    return { type: name.endsWith('_total') ? 'counter' : 'gauge', help: own?.help ?? '', unit: own?.unit ?? '' };
  }

  private remember(sender: string, m: MetadataIn): void {
    if (m.name === '') return;
    const key = `${sender}\u0000${m.name}`;
    const had = this.metadata.get(key);
    if (had !== undefined && had.type === m.type && had.help === m.help && had.unit === m.unit) return;
    if (had === undefined && this.metadata.size >= METADATA_MAX) this.metadata.clear();
    this.metadata.set(key, { type: m.type, help: m.help, unit: m.unit });
  }

  private projectRefusal(scope: RemoteWriteScope, p: ParsedSeries): string {
    if (scope.project !== undefined) return `project ${scope.project} of this token no longer exists`;
    if (p.project === undefined) {
      return `the label ${PROJECT_LABEL} is required with a server-wide ingest token: set it to the project id (Prometheus: external_labels or write_relabel_configs), or use the project's own ingest token`;
    }
    return `${PROJECT_LABEL}: unknown project ${quoted(p.project)} for this token`;
  }

  private reject(result: RemoteWriteResult, n: number, reason: DropReason, message: string): void {
    result.rejected += n;
    this.observer?.sourceDropped(this.name, reason, n);
    const seen = result.reasons.get(message);
    if (seen !== undefined) result.reasons.set(message, seen + n);
    else if (result.reasons.size < MAX_REASONS) result.reasons.set(message, n);
  }

  private ignore(result: RemoteWriteResult, n: number): void {
    result.ignored += n;
    this.observer?.sourceDropped(this.name, 'duplicate', n);
  }

  /**
   * A series' labels into its metric name and identity: `project_id` (the token's project, or for
   * a server-wide token the one the label names), then every label but `__name__`, in name order;
   * or why the series can never be taken.
   */
  private parse(labelsOf: (i: number) => string[], i: number, boundProject: string | undefined): ParsedSeries {
    let flat: string[];
    try {
      flat = labelsOf(i);
    } catch (err) {
      if (err instanceof RemoteWriteBodyError) return invalid('', err.message);
      throw err;
    }
    let name: string | undefined;
    for (let k = 0; k < flat.length; k += 2) if (flat[k] === METRIC_NAME) name = flat[k + 1];
    const what = name === undefined || name === '' ? `a series (${labelText(flat)})` : `series ${quoted(name)}`;
    const pairs: Array<[string, string]> = [];
    let projectLabel: string | undefined;
    for (let k = 0; k < flat.length; k += 2) {
      const n = flat[k];
      const v = flat[k + 1];
      if (k > 0) {
        const prev = flat[k - 2];
        if (n === prev) return invalid(name ?? '', `${what}: the label ${quoted(n)} appears twice; label names must be unique in a series`);
        if (n < prev) return invalid(name ?? '', `${what}: labels must be sorted by name (remote write 1.0), but ${quoted(n)} comes after ${quoted(prev)}`);
      }
      if (n === METRIC_NAME) continue;
      const bad = labelNameProblem(n);
      if (bad !== undefined) return invalid(name ?? '', `${what}: ${bad}`);
      // An empty value is no label at all, to Prometheus as here.
      if (v === '') continue;
      const badValue = labelValueProblem(v);
      if (badValue !== undefined) return invalid(name ?? '', `${what}: label ${n}: ${badValue}`);
      if (n === PROJECT_LABEL) projectLabel = v;
      else pairs.push([n, v]);
    }
    if (name === undefined) return invalid('', `${what} has no ${METRIC_NAME} label; every remote write series carries its metric name there`);
    if (name === '') return invalid('', `${what}: the metric name (label ${METRIC_NAME}) is empty`);
    const badName = metricNameProblem(name);
    if (badName !== undefined) return invalid(name, `${what}: ${badName}`);
    let project: string | undefined;
    if (boundProject === undefined) {
      if (projectLabel === undefined) return { name, project: undefined, id: undefined, problem: undefined, fam: undefined, famOf: undefined };
      project = projectLabel;
    } else {
      project = boundProject;
      // A bound token's series cannot name another project: that label is kept aside, as
      // Prometheus keeps a target's own `job` as `exported_job` (honor_labels: false).
      if (projectLabel !== undefined && projectLabel !== boundProject) {
        let aside = `exported_${PROJECT_LABEL}`;
        while (pairs.some(([n]) => n === aside)) aside = `exported_${aside}`;
        pairs.push([aside, projectLabel]);
      }
    }
    pairs.push([PROJECT_LABEL, project]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const id = identity(pairs.map((x) => x[0]), pairs.map((x) => x[1]));
    return { name, project: boundProject === undefined ? project : undefined, id, problem: undefined, fam: undefined, famOf: undefined };
  }
}

/**
 * One scope's parsed label sets: by the hash of their bytes (each entry keeps the bytes, compared
 * in full on every hit, so a collision can never hand one series another's identity), and, for
 * the rare series whose labels are not one run of bytes, by the bytes as a string.
 */
interface ScopeCache {
  readonly byHash: Map<number, Cached[]>;
  readonly byKey: Map<string, ParsedSeries>;
}

interface Cached {
  readonly words: Int32Array;
  readonly length: number;
  readonly parsed: ParsedSeries;
}

/**
 * Label sets sharing one hash that are kept; past it a label set is parsed each time it comes. A
 * bound on the work of one lookup, whatever labels a sender makes up to collide.
 */
const MAX_CHAIN = 4;

function newScopeCache(): ScopeCache {
  return { byHash: new Map(), byKey: new Map() };
}

function lookup(cache: ScopeCache, s: SeriesColumns, i: number): ParsedSeries | undefined {
  const h = s.labelHash[i];
  if (h < 0) return cache.byKey.get(s.labelKey(i));
  const chain = cache.byHash.get(h);
  if (chain === undefined) return undefined;
  for (const c of chain) if (s.sameLabels(i, c.words, c.length)) return c.parsed;
  return undefined;
}

/** Caches series `i`'s parse; false when it was not kept. */
function store(cache: ScopeCache, s: SeriesColumns, i: number, parsed: ParsedSeries): boolean {
  const h = s.labelHash[i];
  if (h < 0) {
    cache.byKey.set(s.labelKey(i), parsed);
    return true;
  }
  const entry = { words: s.labelWords(i), length: s.labelEnd[i] - s.labelStart[i], parsed };
  const chain = cache.byHash.get(h);
  if (chain === undefined) cache.byHash.set(h, [entry]);
  else if (chain.length < MAX_CHAIN) chain.push(entry);
  else return false;
  return true;
}

function invalid(name: string, problem: string): ParsedSeries {
  return { name, project: undefined, id: undefined, problem, fam: undefined, famOf: undefined };
}

/** A name as messages quote it: a name of any length must not make the answer that long. */
function quoted(name: string): string {
  return name.length > 80 ? `${JSON.stringify(name.slice(0, 80))}...` : JSON.stringify(name);
}

/** A series' labels as messages show them, cut short. */
function labelText(flat: readonly string[]): string {
  if (flat.length === 0) return 'no labels';
  let out = '';
  for (let k = 0; k < flat.length && out.length < 120; k += 2) out += `${out === '' ? '' : ','}${flat[k]}=${JSON.stringify(flat[k + 1])}`;
  return out.length > 120 ? `${out.slice(0, 120)}...` : out;
}

function labelValueProblem(v: string): string | undefined {
  if (v.length > MAX_LABEL_CHARS) return `the value is ${v.length} characters long, more than the ${MAX_LABEL_CHARS} a label value may have`;
  if (v.includes('\u0000')) return 'the value contains the NUL character';
  return undefined;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

/** The answer to a request with refused samples: how many of what, and the first reasons. */
export function refusalMessage(result: RemoteWriteResult): string {
  const total = result.accepted + result.rejected + result.ignored;
  const parts = [...result.reasons].map(([msg, n]) => (n > 1 ? `${msg} (${n} samples)` : msg));
  const listed = [...result.reasons.values()].reduce((a, b) => a + b, 0);
  if (listed < result.rejected) parts.push(`and ${result.rejected - listed} more samples for other reasons`);
  return `${result.rejected} of ${total} samples (${result.seriesRejected} of ${result.seriesTotal} series) refused, the rest taken: ${parts.join('; ')}`;
}
