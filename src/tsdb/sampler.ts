/**
 * Samples every project's series into the store at a fixed interval, as a Prometheus scraping the
 * gateway would: the same names, labels and values as the scrape endpoint, durable appends in
 * slices of a few milliseconds, and a staleness marker once for a series that stops being exposed.
 */
import type { Aggregator, ProjectMetrics } from '../aggregate/project.js';
import type { Family } from '../aggregate/registry.js';
import type { AnySeries, BucketExemplars, CounterSeries, GaugeSeries, HistogramSeries } from '../aggregate/series.js';
import { STALE_NAN, type Labels } from '../core/labels.js';
import { formatValue } from '../exposition/escape.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SOURCE_ORIGIN, type Sample, type Storage, type StoredExemplar } from '../core/storage.js';

const SLICE_MS = 10;
/** Samples of one project appended at once at most (about 1 to 2 ms of sampling and appending). */
const CHUNK_SAMPLES = 4096;

export interface SamplerOptions {
  /** Default 15 s. */
  readonly intervalMs?: number;
  /** Gauges not updated for this long are not exposed (as on the scrape endpoint); default 5 min. */
  readonly gaugeStaleAfterMs?: number;
  /** Longest stretch of sampling work between two turns of the event loop (default 10 ms). */
  readonly sliceMs?: number;
  /** Called with an error thrown by a timed tick (the tick is skipped, the timer keeps going). */
  readonly onError?: (err: unknown) => void;
}

export interface SampleTick {
  samples: number;
  staleMarkers: number;
  projects: number;
}

/** Where a family's samples go; the array is swapped for a new one each time a chunk is full. */
interface SampleSink {
  batch: Sample[];
}

/** Label sets of one aggregator series, built once per series (not per tick). */
type SeriesLabelSets = Labels[];

/**
 * Series are compared across ticks by label key, not by object: a gauge swept and then recreated
 * gets new label objects for the same series, which must not be marked stale.
 */
const keyOf = new WeakMap<Labels, string>();

export class Sampler {
  readonly intervalMs: number;
  private readonly gaugeStaleAfterMs: number;
  private readonly labelSets = new WeakMap<AnySeries, SeriesLabelSets>();
  /** Per project, the label objects exposed at the previous tick. */
  private previous = new Map<string, Map<string, Labels>>();
  private timer: NodeJS.Timeout | undefined;
  /** A sliced tick still running: the next one waits rather than overlapping it, and stop() for it. */
  private inflight: Promise<unknown> | undefined;
  private lastTickMs = -Infinity;
  /** Per project, how many families its stored metadata covers (sources declare more as they go). */
  private readonly metadataDone = new Map<string, number>();

  constructor(
    private readonly aggregator: Aggregator,
    private readonly store: Storage,
    private readonly opts: SamplerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 15_000;
    this.gaugeStaleAfterMs = opts.gaugeStaleAfterMs ?? 300_000;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      // Timestamps on the interval grid, as Prometheus aligns scrape times within a tolerance:
      // timer jitter would otherwise cost about a byte per sample in the timestamp encoding.
      const t = Math.round(Date.now() / this.intervalMs) * this.intervalMs;
      if (t <= this.lastTickMs || this.inflight !== undefined) return;
      this.inflight = this.sampleSliced(t)
        .catch((err) => this.opts.onError?.(err))
        .finally(() => {
          this.inflight = undefined;
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a tick in progress, so the store can be closed after it. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight;
  }

  /** Stops tracking a project: no staleness markers for it (before `Storage.dropProject`). */
  forget(project: string): void {
    this.previous.delete(project);
    this.metadataDone.delete(project);
  }

  /** Takes one sample of every exposed series at `nowMs`, in one transaction. */
  sampleOnce(nowMs: number): SampleTick {
    const tick: SampleTick = { samples: 0, staleMarkers: 0, projects: 0 };
    const current = new Map<string, Map<string, Labels>>();
    const batches = [...this.projectBatches(nowMs, tick, current)];
    // One transaction for the whole tick: one sync, however many projects.
    if (batches.length > 0) this.store.appendProjects(batches);
    this.previous = current;
    return tick;
  }

  /**
   * The same tick in slices: a transaction per `sliceMs` of work, the event loop given back in
   * between, so a gateway with hundreds of thousands of series never stalls ingest or pushes for
   * the length of a whole tick.
   */
  async sampleSliced(nowMs: number): Promise<SampleTick> {
    const tick: SampleTick = { samples: 0, staleMarkers: 0, projects: 0 };
    const current = new Map<string, Map<string, Labels>>();
    let pending: Array<{ project: string; samples: Sample[] }> = [];
    let sliceStart = performance.now();
    for (const batch of this.projectBatches(nowMs, tick, current)) {
      pending.push(batch);
      if (performance.now() - sliceStart < (this.opts.sliceMs ?? SLICE_MS)) continue;
      this.store.appendProjects(pending);
      pending = [];
      await yieldToLoop();
      sliceStart = performance.now();
    }
    if (pending.length > 0) this.store.appendProjects(pending);
    this.previous = current;
    return tick;
  }

  /**
   * Each project's samples for one tick, then staleness markers for projects gone since the last.
   * A project's samples come in batches of at most CHUNK_SAMPLES, so that a slice of a sliced tick
   * is bounded whatever one project holds (one of 10,000 series took 37 ms in one go).
   */
  private *projectBatches(nowMs: number, tick: SampleTick, current: Map<string, Map<string, Labels>>): Generator<{ project: string; samples: Sample[] }> {
    this.lastTickMs = nowMs;
    const freshSince = nowMs - this.gaugeStaleAfterMs;
    for (const pm of this.aggregator.all()) {
      const exposed = new Map<string, Labels>();
      const exemplars: StoredExemplar[] = [];
      let taken = 0;
      let deleted = false;
      const out: SampleSink = { batch: [] };
      sampling: for (const fam of pm.families) {
        for (const _ of this.sampleFamily(pm, fam, nowMs, freshSince, out, exposed, exemplars)) {
          const full = out.batch;
          out.batch = [];
          taken += full.length;
          yield { project: pm.projectId, samples: full };
          // A sliced tick gives the event loop back here: the project may have been deleted
          // meanwhile, and nothing more of it may reach the store.
          if (this.aggregator.get(pm.projectId) !== pm) {
            deleted = true;
            break sampling;
          }
        }
      }
      if (deleted) continue;
      const batch = out.batch;
      this.store.appendExemplars(pm.projectId, exemplars);
      const prev = this.previous.get(pm.projectId);
      if (prev !== undefined) {
        for (const [k, l] of prev) {
          if (exposed.has(k)) continue;
          batch.push({ labels: l, t: nowMs, v: STALE_NAN });
          tick.staleMarkers++;
        }
      }
      current.set(pm.projectId, exposed);
      taken += batch.length;
      if (taken > 0) pm.sampled = true;
      tick.samples += taken;
      tick.projects++;
      this.recordMetadata(pm);
      if (batch.length > 0) yield { project: pm.projectId, samples: batch };
    }
    for (const [pid, prev] of this.previous) {
      if (current.has(pid) || prev.size === 0) continue;
      const batch: Sample[] = [...prev.values()].map((labels) => ({ labels, t: nowMs, v: STALE_NAN }));
      tick.staleMarkers += batch.length;
      yield { project: pid, samples: batch };
    }
  }

  /**
   * The samples a tick at `nowMs` would store for a project, without storing them or taking its
   * new exemplars (src/tsdb/head.ts serves them to queries before the project's first tick).
   */
  currentSamples(pm: ProjectMetrics, nowMs: number): Sample[] {
    const out: SampleSink = { batch: [] };
    const exposed = new Map<string, Labels>();
    for (const fam of pm.families) for (const _ of this.sampleFamily(pm, fam, nowMs, nowMs - this.gaugeStaleAfterMs, out, exposed, undefined, Infinity));
    return out.batch;
  }

  /**
   * Appends a family's samples to `out.batch`; with `exemplars`, also the new exemplars it has,
   * taking them. Yields whenever `out.batch` holds `chunk` samples or more: the caller takes them
   * and leaves a new array there before resuming.
   */
  private *sampleFamily(pm: ProjectMetrics, fam: Family, nowMs: number, freshSince: number, out: SampleSink, exposed: Map<string, Labels>, exemplars?: StoredExemplar[], chunk = CHUNK_SAMPLES): Generator<void> {
    const def = fam.def;
    for (const s of fam.series.values()) {
      if (out.batch.length >= chunk) yield;
      const batch = out.batch;
      if (def.type === 'gauge' && (s as GaugeSeries).updatedAt < freshSince) continue;
      let sets = this.labelSets.get(s);
      if (sets === undefined) {
        sets = buildLabelSets(pm, fam, s);
        this.labelSets.set(s, sets);
      }
      if (def.type === 'histogram') {
        const h = s as HistogramSeries;
        let cum = 0;
        for (let i = 0; i < h.counts.length; i++) {
          cum += h.counts[i];
          batch.push({ labels: sets[i], t: nowMs, v: cum });
          exposed.set(keyOf.get(sets[i])!, sets[i]);
        }
        if (h.exemplars !== undefined && exemplars !== undefined) this.newExemplars(h.exemplars, sets, exemplars);
        const n = h.counts.length;
        batch.push({ labels: sets[n], t: nowMs, v: h.sum });
        batch.push({ labels: sets[n + 1], t: nowMs, v: h.count });
        exposed.set(keyOf.get(sets[n])!, sets[n]);
        exposed.set(keyOf.get(sets[n + 1])!, sets[n + 1]);
      } else {
        batch.push({ labels: sets[0], t: nowMs, v: (s as CounterSeries | GaugeSeries).value });
        exposed.set(keyOf.get(sets[0])!, sets[0]);
      }
    }
  }

  /** Exemplars not handed to the store before, with the bucket series each belongs to. */
  private newExemplars(ex: BucketExemplars, sets: SeriesLabelSets, out: StoredExemplar[]): void {
    for (let i = 0; i < ex.fresh.length; i++) {
      const labels = ex.labels[i];
      if (ex.fresh[i] === 0 || labels === undefined) continue;
      ex.fresh[i] = 0;
      out.push({ seriesLabels: sets[i], labels, value: ex.values[i], timeMs: ex.timesMs[i] });
    }
  }

  private recordMetadata(pm: ProjectMetrics): void {
    if (this.metadataDone.get(pm.projectId) === pm.families.length) return;
    this.store.setMetadataAll(
      pm.projectId,
      pm.families.map((fam) => [fam.def.name, { type: fam.def.type, help: fam.def.help, unit: fam.def.unit }, fam.def.perSeriesLabels === true ? SOURCE_ORIGIN : ''] as const),
    );
    this.metadataDone.set(pm.projectId, pm.families.length);
  }
}

/**
 * The label sets a series is exposed under, as the scrape endpoint writes them: counters and
 * gauges one; histograms one per bucket (`_bucket` with `le`), then `_sum` and `_count`.
 */
export function buildLabelSets(pm: ProjectMetrics, fam: Family, s: AnySeries): SeriesLabelSets {
  const def = fam.def;
  const base: Record<string, string> = {};
  for (let i = 0; i < s.labelNames.length; i++) {
    const v = s.labelValues[i];
    if (v !== undefined) base[s.labelNames[i]] = v;
  }
  base.project_id = pm.projectId;
  const sets: Labels[] = [];
  if (def.type !== 'histogram') sets.push(Object.freeze({ __name__: def.name, ...base }));
  else addHistogramSets(sets, def.name, def.buckets ?? [], base);
  for (const l of sets) keyOf.set(l, JSON.stringify(l));
  return sets;
}

function addHistogramSets(sets: Labels[], name: string, bounds: readonly number[], base: Record<string, string>): void {
  for (const b of bounds) sets.push(Object.freeze({ __name__: `${name}_bucket`, ...base, le: formatValue(b) }));
  sets.push(Object.freeze({ __name__: `${name}_bucket`, ...base, le: '+Inf' }));
  sets.push(Object.freeze({ __name__: `${name}_sum`, ...base }));
  sets.push(Object.freeze({ __name__: `${name}_count`, ...base }));
}
