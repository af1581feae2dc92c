/**
 * Every selector's series fetched before evaluation, as Prometheus' populateSeries does: the
 * expression is walked once with the query's time range, each selector gets the window the
 * engine will read for it (lookback, range, offset, @ and the subquery steps around it), and
 * the querier is asked for all of them up front. Evaluation then runs synchronously over what
 * was fetched, so the engine needs no await in its loops and a remote store costs one round of
 * requests per query, not one per step.
 *
 * The windows are the engine's own (engine.ts: evalVectorSelector, evalSmoothedSelector,
 * rangeSource), computed the same way; the evaluation is then checked against them: a read
 * outside its window is an internal error, never a silently short answer.
 */
import type { AtModifier, Expr } from './ast.js';
import { childrenOf } from './bounds.js';
import { PromQLExecutionError } from './errors.js';
import type { AsyncQuerier, LabelMatcher, Querier, SelectHints, SeriesSamples } from '../core/queryable.js';
import type { Labels } from '../core/labels.js';

export interface SelectorFetch {
  /** The selector node's own matcher array: the engine selects with this same object. */
  readonly matchers: readonly LabelMatcher[];
  readonly hints: SelectHints;
}

export interface WalkSettings {
  readonly lookbackDeltaMs: number;
  readonly defaultSubqueryStepMs: number;
}

/** The window of every selector in `expr` for a query over [startMs, endMs] at `stepMs` (0: instant). */
export function selectorFetches(expr: Expr, startMs: number, endMs: number, stepMs: number, settings: WalkSettings): SelectorFetch[] {
  const out: SelectorFetch[] = [];
  const lb = settings.lookbackDeltaMs;
  const at = (a: AtModifier | null, t: number): number => (a === null ? t : a.kind === 'time' ? a.ms : a.kind === 'start' ? startMs : endMs);
  // Windows of a selector evaluated more than once (it cannot be today, but a subquery evaluated
  // per step would) are merged, so one fetch covers every read.
  const add = (matchers: readonly LabelMatcher[], hints: SelectHints): void => {
    const had = out.findIndex((f) => f.matchers === matchers);
    if (had < 0) {
      out.push({ matchers, hints });
      return;
    }
    const h = out[had].hints;
    out[had] = { matchers, hints: { ...h, startMs: Math.min(h.startMs, hints.startMs), endMs: Math.max(h.endMs, hints.endMs) } };
  };
  const walk = (e: Expr, from: number, to: number, step: number, func: string | undefined): void => {
    switch (e.type) {
      case 'vectorSelector': {
        const first = at(e.at, from) - e.offsetMs;
        const last = at(e.at, to) - e.offsetMs;
        add(e.matchers, { startMs: first - lb + 1, endMs: e.extension === 'smoothed' ? last + lb : last, stepMs: step, rangeMs: 0, func });
        return;
      }
      case 'matrixSelector': {
        const s = e.selector;
        const first = at(s.at, from) - s.offsetMs;
        const last = at(s.at, to) - s.offsetMs;
        const before = s.extension ? lb : 0;
        const after = s.extension === 'smoothed' ? lb : 0;
        add(s.matchers, { startMs: first - e.rangeMs - before + 1, endMs: last + after, stepMs: step, rangeMs: e.rangeMs, func });
        return;
      }
      case 'subquery': {
        const subStep = e.stepMs || settings.defaultSubqueryStepMs;
        const begin = at(e.at, from) - e.offsetMs - e.rangeMs;
        let start = subStep * Math.trunc(begin / subStep);
        if (start <= begin) start += subStep;
        const end = at(e.at, to) - e.offsetMs;
        if (start <= end) walk(e.expr, start, end, subStep, undefined);
        return;
      }
      case 'call':
        for (const a of e.args) walk(a, from, to, step, e.name);
        return;
      default:
        for (const c of childrenOf(e)) walk(c, from, to, step, undefined);
    }
  };
  walk(expr, startMs, endMs, stepMs, undefined);
  return out;
}

interface Fetched {
  readonly hints: SelectHints;
  readonly series: Iterable<SeriesSamples>;
}

/** Asks `querier` for every selector's series at once; the answer serves the evaluation. */
export async function prefetch(querier: AsyncQuerier, fetches: readonly SelectorFetch[], signal: AbortSignal, fallback?: Querier): Promise<PrefetchedQuerier> {
  const sets = await Promise.all(fetches.map((f) => querier.select(f.matchers, f.hints, signal)));
  const byMatchers = new Map<readonly LabelMatcher[], Fetched>();
  fetches.forEach((f, i) => byMatchers.set(f.matchers, { hints: f.hints, series: sets[i] }));
  return new PrefetchedQuerier(byMatchers, fallback);
}

/**
 * The engine's Querier over fetched series. A selection the walk could not know of (info()
 * builds its selector from the data) goes to `fallback`, the store's synchronous view, where
 * there is one.
 */
export class PrefetchedQuerier implements Querier {
  constructor(
    private readonly fetched: ReadonlyMap<readonly LabelMatcher[], Fetched>,
    private readonly fallback?: Querier,
  ) {}

  select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Iterable<SeriesSamples> {
    const f = this.fetched.get(matchers);
    if (f === undefined) return this.unfetched().select(matchers, minMs, maxMs);
    if (minMs < f.hints.startMs || maxMs > f.hints.endMs) {
      throw new PromQLExecutionError(`internal error: the engine read [${minMs}, ${maxMs}] of a selector fetched for [${f.hints.startMs}, ${f.hints.endMs}]`);
    }
    if (minMs === f.hints.startMs && maxMs === f.hints.endMs) return f.series;
    return trimmed(f.series, minMs, maxMs);
  }

  labelNames(matchers: readonly LabelMatcher[]): string[] {
    return this.unfetched().labelNames(matchers);
  }

  labelValues(name: string, matchers: readonly LabelMatcher[]): string[] {
    return this.unfetched().labelValues(name, matchers);
  }

  seriesLabels(matchers: readonly LabelMatcher[], minMs: number, maxMs: number): Labels[] {
    const q = this.unfetched();
    if (q.seriesLabels === undefined) throw new PromQLExecutionError('this store cannot list series');
    return q.seriesLabels(matchers, minMs, maxMs);
  }

  private unfetched(): Querier {
    if (this.fallback === undefined) throw new PromQLExecutionError('this store serves only the selectors of the query itself (info() needs a local store)');
    return this.fallback;
  }
}

function* trimmed(series: Iterable<SeriesSamples>, minMs: number, maxMs: number): Generator<SeriesSamples> {
  for (const s of series) {
    const ts = s.timestamps;
    const lo = lowerBound(ts, minMs);
    const hi = lowerBound(ts, maxMs + 1);
    if (lo === hi) continue;
    if (lo === 0 && hi === ts.length) {
      yield s;
      continue;
    }
    yield {
      labels: s.labels,
      timestamps: part(ts, lo, hi),
      values: part(s.values, lo, hi),
      ...(s.startTimestamps === undefined ? {} : { startTimestamps: part(s.startTimestamps, lo, hi) }),
    };
  }
}

/** First index whose timestamp is at least `t`. */
function lowerBound(ts: ArrayLike<number>, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A view where the array has one (typed arrays), else a copy; staleness NaNs survive either way in a typed array. */
function part(a: ArrayLike<number>, lo: number, hi: number): ArrayLike<number> {
  const typed = a as Float64Array;
  if (typeof typed.subarray === 'function') return typed.subarray(lo, hi);
  return Array.prototype.slice.call(a, lo, hi) as number[];
}
