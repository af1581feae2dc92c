/**
 * Typed samples from a source (OTLP today; exporter scrapes and remote write next) into a
 * project's families, with the rules OpenTelemetry gives cumulative and delta streams. Events
 * have their own fast path (src/ingest/events.ts) into the same registry: whatever is exposed,
 * stored or pushed from there cannot tell the two apart.
 *
 * Each function either applies the point or says why not, having changed nothing.
 */
import type { ProjectMetrics } from './project.js';
import type { Family } from './registry.js';
import type { CounterSeries, GaugeSeries, HistogramSeries } from './series.js';

export type Temporality = 'cumulative' | 'delta';

/** Why a point was not applied: the reason counted in self-metrics, and the message its sender reads. */
export interface Refusal {
  readonly reason: 'series_limit' | 'duplicate' | 'invalid';
  readonly message: string;
}

/** One series' identity: label names sorted, their values, and the key both make. */
export interface SeriesIdentity {
  readonly names: readonly string[];
  readonly values: readonly string[];
  readonly key: string;
}

export interface PointTime {
  /** Where a cumulative stream counts from; 0 when the source did not say. */
  readonly startMs: number;
  readonly timeMs: number;
}

/** The series' key: label pairs in name order, NUL-separated (NUL is refused in names and values). */
export function identity(names: readonly string[], values: readonly string[]): SeriesIdentity {
  let key = '';
  for (let i = 0; i < names.length; i++) key += `${names[i]}\u0000${values[i]}\u0000`;
  return { names, values, key };
}

function seriesFor<S extends CounterSeries | GaugeSeries | HistogramSeries>(pm: ProjectMetrics, fam: Family<S>, id: SeriesIdentity): S | Refusal {
  const s = fam.series.get(id.key) ?? pm.registry.series(fam, id.key, id.values, id.names);
  return s ?? { reason: 'series_limit', message: `project ${pm.projectId} has reached its limit of ${pm.registry.limits.maxSeries} series; this point would start a new one` };
}

const refused = (s: object): s is Refusal => 'reason' in s;

/** A gauge: the newest point by its own time wins; a delta (an up-down counter sent as delta) adds. */
export function applyGauge(pm: ProjectMetrics, fam: Family<GaugeSeries>, id: SeriesIdentity, value: number, t: PointTime, temporality: Temporality | undefined, nowMs: number): Refusal | undefined {
  const s = seriesFor(pm, fam, id);
  if (refused(s)) return s;
  if (temporality !== 'delta') {
    s.set(value, t.timeMs, nowMs);
    return undefined;
  }
  if (t.timeMs <= s.sampleMs) return resent(t.timeMs, s.sampleMs);
  if (!Number.isFinite(s.value + value)) return overflow(fam.def.name);
  s.set(s.value + value, t.timeMs, nowMs);
  return undefined;
}

/** A monotonic sum. */
export function applyCounter(pm: ProjectMetrics, fam: Family<CounterSeries>, id: SeriesIdentity, value: number, t: PointTime, temporality: Temporality, nowMs: number): Refusal | undefined {
  const existing = fam.series.get(id.key);
  if (temporality === 'delta') {
    if (existing !== undefined) {
      if (t.timeMs <= existing.pointMs) return resent(t.timeMs, existing.pointMs);
      if (!Number.isFinite(existing.value + value)) return overflow(fam.def.name);
    }
    const s = existing ?? seriesFor(pm, fam, id);
    if (refused(s)) return s;
    s.value += value;
    s.pointMs = t.timeMs;
    s.updatedAt = nowMs;
    return undefined;
  }
  if (existing !== undefined) {
    const why = cumulativeProblem(existing, t, value < existing.value, fam.def.name);
    if (why !== undefined) return why;
  }
  const s = existing ?? seriesFor(pm, fam, id);
  if (refused(s)) return s;
  s.value = value;
  s.startMs = t.startMs;
  s.pointMs = t.timeMs;
  s.updatedAt = nowMs;
  return undefined;
}

export interface HistogramValue {
  readonly count: number;
  readonly sum: number;
  /** Per bucket, not cumulative; one more than the family's bounds. */
  readonly bucketCounts: readonly number[];
}

/** An explicit-bucket histogram whose bounds are the family's (the caller checked). */
export function applyHistogram(pm: ProjectMetrics, fam: Family<HistogramSeries>, id: SeriesIdentity, h: HistogramValue, t: PointTime, temporality: Temporality, nowMs: number): Refusal | undefined {
  const existing = fam.series.get(id.key);
  if (temporality === 'delta') {
    if (existing !== undefined) {
      if (t.timeMs <= existing.pointMs) return resent(t.timeMs, existing.pointMs);
      if (!Number.isFinite(existing.sum + h.sum) || !Number.isFinite(existing.count + h.count)) return overflow(`${fam.def.name}_sum`);
    }
    const s = existing ?? seriesFor(pm, fam, id);
    if (refused(s)) return s;
    for (let i = 0; i < s.counts.length; i++) s.counts[i] += h.bucketCounts[i];
    s.sum += h.sum;
    s.count += h.count;
    s.pointMs = t.timeMs;
    s.updatedAt = nowMs;
    return undefined;
  }
  if (existing !== undefined) {
    const fewer = h.count < existing.count || h.bucketCounts.some((c, i) => c < existing.counts[i]);
    const why = cumulativeProblem(existing, t, fewer, fam.def.name);
    if (why !== undefined) return why;
  }
  const s = existing ?? seriesFor(pm, fam, id);
  if (refused(s)) return s;
  s.counts.set(h.bucketCounts);
  s.sum = h.sum;
  s.count = h.count;
  s.startMs = t.startMs;
  s.pointMs = t.timeMs;
  s.updatedAt = nowMs;
  return undefined;
}

/**
 * Why a cumulative point cannot replace what the series holds. A point older than the one
 * applied is late (its newer successor already counts it). With the same start time a cumulative
 * value can only grow; a new start time is a reset (the sender restarted), and the smaller value
 * is taken, which rate() reads as the reset it is. A sender that gives no start time is taken
 * at its word too: a drop can only be a restart.
 */
function cumulativeProblem(s: { startMs: number; pointMs: number }, t: PointTime, decreased: boolean, name: string): Refusal | undefined {
  if (t.timeMs < s.pointMs) return duplicate(`the point at ${iso(t.timeMs)} is older than the one already applied to this ${name} series (${iso(s.pointMs)})`);
  const sameStart = t.startMs !== 0 && t.startMs === s.startMs;
  if (decreased && sameStart) {
    return { reason: 'invalid', message: `a cumulative ${name} went down with the same start time (${iso(t.startMs)}); a monotonic sum only grows, or restarts with a new start time` };
  }
  return undefined;
}

function duplicate(message: string): Refusal {
  return { reason: 'duplicate', message };
}

function resent(timeMs: number, appliedMs: number): Refusal {
  return duplicate(`a delta point ending at ${iso(timeMs)} was already counted (this series has points up to ${iso(appliedMs)}); a resend is not counted twice`);
}

function overflow(name: string): Refusal {
  return { reason: 'invalid', message: `adding this point would take ${name} past the largest number a series can hold (about 1.8e308)` };
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}
