/**
 * Public API of the PromQL engine: parse, evaluate instant and range queries against a Querier,
 * typed results and typed errors (each with Prometheus' API `errorType`).
 */
import type { Labels } from '../core/labels.js';
import { asAsync, type Querier, type Queryable } from '../core/queryable.js';
import { prefetch, selectorFetches } from './prefetch.js';
import type { Expr } from './ast.js';
import { Evaluator, finalizeNames, type SharedState } from './engine.js';
import { PromQLExecutionError, PromQLLimitError, PromQLParseError, positionOf } from './errors.js';
import { exprType, parseExpr } from './parser.js';
import { DurationError, resolveDurations } from './durations.js';
import { exprBounds as boundsOf, largestSubquery, type TimeBounds } from './bounds.js';
import type { StepSeries } from './values.js';
import { compareLabels, labelsKey } from './values.js';

export type { Expr, ValueType } from './ast.js';
export { PromQLError, PromQLParseError, PromQLExecutionError, PromQLLimitError, PromQLTimeoutError, PromQLTooManySamplesError } from './errors.js';
export { DEFAULT_MAX_DEPTH } from './parser.js';
export type { PromQLErrorType, Position } from './errors.js';
export { formatTimestamp, formatValue, labelsString } from './values.js';
export { FUNCTIONS } from './functions.js';
export type { TimeBounds } from './bounds.js';
export type { FunctionDef } from './functions.js';

export interface EngineOptions {
  /** How far back an instant selector looks for a sample (Prometheus' default: 5 minutes). */
  lookbackDeltaMs?: number;
  /** Limit on samples loaded by one query. */
  maxSamples?: number;
  timeoutMs?: number;
  /** Step of subqueries written without one, e.g. `x[1h:]` (Prometheus' default: 1 minute). */
  defaultSubqueryStepMs?: number;
  /** Deepest nesting the parser accepts (see parser.ts's DEFAULT_MAX_DEPTH). */
  maxDepth?: number;
  /** Most steps one subquery may evaluate its inner expression at; checked before evaluation. */
  maxPointsPerSubquery?: number;
}

export interface Annotations {
  warnings: string[];
  infos: string[];
}

export interface InstantSample {
  labels: Labels;
  timestampMs: number;
  value: number;
}

export interface RangeSeries {
  labels: Labels;
  /** Parallel arrays, in time order. */
  timestampsMs: number[];
  values: number[];
}

export type QueryResult = (
  | { resultType: 'vector'; result: InstantSample[] }
  | { resultType: 'matrix'; result: RangeSeries[] }
  | { resultType: 'scalar'; result: { timestampMs: number; value: number } }
  | { resultType: 'string'; result: { timestampMs: number; value: string } }
) & { annotations: Annotations };

/**
 * The [minMs, maxMs] a querier must cover to evaluate `query` (lookback, ranges, offsets, @ and
 * subqueries included), for `Queryable.querier(project, minMs, maxMs)`. stepMs 0: an instant query.
 */
export function queryBounds(query: string, startMs: number, endMs: number, stepMs = 0, lookbackDeltaMs = 300_000): TimeBounds {
  return boundsOf(prepare(query, stepMs, endMs - startMs), startMs, endMs, lookbackDeltaMs);
}

/** Parses a query without evaluating it; throws PromQLParseError (also for nesting deeper than maxDepth). */
export function parse(query: string, maxDepth?: number): Expr {
  return parseExpr(query, maxDepth);
}

export class Engine {
  readonly lookbackDeltaMs: number;
  readonly maxSamples: number;
  readonly timeoutMs: number;
  readonly defaultSubqueryStepMs: number;
  readonly maxDepth: number | undefined;
  readonly maxPointsPerSubquery: number;

  constructor(options: EngineOptions = {}) {
    this.lookbackDeltaMs = options.lookbackDeltaMs ?? 300_000;
    this.maxSamples = options.maxSamples ?? 50_000_000;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.defaultSubqueryStepMs = options.defaultSubqueryStepMs ?? 60_000;
    this.maxDepth = options.maxDepth;
    this.maxPointsPerSubquery = options.maxPointsPerSubquery ?? Infinity;
  }

  /** Evaluates `query` at one instant. The querier should cover [time - lookback - ranges, time]. */
  async instantQuery(querier: Querier, query: string, timeMs: number): Promise<QueryResult> {
    return this.instantQuerySync(querier, query, timeMs);
  }

  /** Evaluates `query` at start, start+step, ... <= end. Results are always a matrix. */
  async rangeQuery(querier: Querier, query: string, startMs: number, endMs: number, stepMs: number): Promise<QueryResult> {
    return this.rangeQuerySync(querier, query, startMs, endMs, stepMs);
  }

  /**
   * Like instantQuery, on the project's store: parsing and limits are checked first, then every
   * selector's series is fetched (asynchronously where the store is: see prefetch.ts), then the
   * query is evaluated over what was fetched. `signal` aborts the fetch.
   */
  async instantQueryOn(queryable: Queryable, project: string, query: string, timeMs: number, signal?: AbortSignal): Promise<QueryResult> {
    const expr = prepare(query, 0, 0, this.maxDepth);
    this.checkSubqueries(expr, timeMs, timeMs);
    const querier = await this.fetch(queryable, project, expr, timeMs, timeMs, 0, signal);
    return this.evalInstant(querier, query, expr, timeMs);
  }

  /** Like rangeQuery, on the project's store, as instantQueryOn. */
  async rangeQueryOn(queryable: Queryable, project: string, query: string, startMs: number, endMs: number, stepMs: number, signal?: AbortSignal): Promise<QueryResult> {
    const expr = this.checkRange(query, startMs, endMs, stepMs);
    this.checkSubqueries(expr, startMs, endMs);
    const querier = await this.fetch(queryable, project, expr, startMs, endMs, stepMs, signal);
    return this.evalRange(querier, query, expr, startMs, endMs, stepMs);
  }

  private async fetch(queryable: Queryable, project: string, expr: Expr, startMs: number, endMs: number, stepMs: number, signal?: AbortSignal): Promise<Querier> {
    const { minMs, maxMs } = boundsOf(expr, startMs, endMs, this.lookbackDeltaMs);
    const sync = queryable.querier(project, minMs, maxMs);
    const async = queryable.asyncQuerier?.(project, minMs, maxMs) ?? asAsync(sync);
    const fetches = selectorFetches(expr, startMs, endMs, stepMs, this);
    return prefetch(async, fetches, signal ?? AbortSignal.timeout(this.timeoutMs), sync);
  }

  /**
   * Evaluates an already parsed (and possibly rewritten) expression at one instant. `query` is
   * only used for the positions in annotation texts. Durations that use step()/range() must
   * have been resolved (an instant query has step and range 0).
   */
  instantQueryExprSync(querier: Querier, expr: Expr, timeMs: number, query = ''): QueryResult {
    return this.evalInstant(querier, query, resolveDurations(expr, 0, 0), timeMs);
  }

  instantQuerySync(querier: Querier, query: string, timeMs: number): QueryResult {
    return this.evalInstant(querier, query, prepare(query, 0, 0, this.maxDepth), timeMs);
  }

  rangeQuerySync(querier: Querier, query: string, startMs: number, endMs: number, stepMs: number): QueryResult {
    return this.evalRange(querier, query, this.checkRange(query, startMs, endMs, stepMs), startMs, endMs, stepMs);
  }

  private evalInstant(querier: Querier, query: string, expr: Expr, timeMs: number): QueryResult {
    this.checkSubqueries(expr, timeMs, timeMs);
    const shared = this.shared(querier, query, timeMs, timeMs, 0);
    const ev = new Evaluator(shared, timeMs, timeMs, 1);
    const v = ev.eval(expr);
    const annotations = annotationsOf(shared);
    switch (v.kind) {
      case 'scalar':
        return { resultType: 'scalar', result: { timestampMs: timeMs, value: v.values[0] }, annotations };
      case 'string':
        return { resultType: 'string', result: { timestampMs: timeMs, value: v.value }, annotations };
      case 'matrix': {
        const result = v.series.map((s) => ({
          labels: s.labels,
          timestampsMs: Array.from(s.ts),
          values: Array.from(s.vs),
          dropName: s.dropName,
        }));
        return { resultType: 'matrix', result: this.finalMatrix(result), annotations };
      }
      case 'vector': {
        const series = finalizeNames(v.series);
        const seen = new Set<string>();
        const result: InstantSample[] = [];
        for (const s of series) {
          if (!s.present[0]) continue;
          const key = labelsKey(s.labels);
          if (seen.has(key)) throw new PromQLExecutionError('vector cannot contain metrics with the same labelset');
          seen.add(key);
          result.push({ labels: s.labels, timestampMs: timeMs, value: s.values[0] });
        }
        return { resultType: 'vector', result, annotations };
      }
    }
  }

  private checkRange(query: string, startMs: number, endMs: number, stepMs: number): Expr {
    if (stepMs <= 0) throw new PromQLExecutionError('zero or negative query resolution step widths are not accepted');
    if (endMs < startMs) throw new PromQLExecutionError('end timestamp must not be before start time');
    const expr = prepare(query, stepMs, endMs - startMs, this.maxDepth);
    const t = exprType(expr);
    if (t !== 'scalar' && t !== 'vector') {
      const names = { matrix: 'range vector', string: 'string' } as const;
      throw new PromQLParseError(
        `invalid expression type "${names[t]}" for range query, must be Scalar or instant Vector`,
        positionOf(query, 0, query.length),
      );
    }
    return expr;
  }

  private evalRange(querier: Querier, query: string, expr: Expr, startMs: number, endMs: number, stepMs: number): QueryResult {
    this.checkSubqueries(expr, startMs, endMs);
    const shared = this.shared(querier, query, startMs, endMs, stepMs);
    const ev = new Evaluator(shared, startMs, endMs, stepMs);
    const v = ev.eval(expr);
    const annotations = annotationsOf(shared);
    let series: StepSeries[];
    if (v.kind === 'scalar') {
      const s = ev.newSeries({}, false);
      s.values.set(v.values);
      s.present.fill(1);
      series = [s];
    } else if (v.kind === 'vector') {
      series = finalizeNames(v.series);
    } else {
      throw new PromQLExecutionError(`unexpected ${v.kind} result for range query`);
    }
    const raw = series.map((s) => {
      const timestampsMs: number[] = [];
      const values: number[] = [];
      for (let i = 0; i < ev.n; i++) {
        if (!s.present[i]) continue;
        timestampsMs.push(ev.times[i]);
        values.push(s.values[i]);
      }
      return { labels: s.labels, timestampsMs, values, dropName: false };
    });
    return { resultType: 'matrix', result: this.finalMatrix(raw), annotations };
  }

  private checkSubqueries(expr: Expr, startMs: number, endMs: number): void {
    const { points, subquery } = largestSubquery(expr, startMs, endMs, this.defaultSubqueryStepMs);
    if (subquery === null || points <= this.maxPointsPerSubquery) return;
    const step = subquery.stepMs || this.defaultSubqueryStepMs;
    throw new PromQLLimitError(
      `a subquery would evaluate its expression at ${points.toLocaleString('en-US')} steps, more than the limit of ${this.maxPointsPerSubquery.toLocaleString('en-US')} (query.max_points_per_subquery); ` +
        `give it a longer step than ${step / 1000}s or a shorter range`,
    );
  }

  /** Drops names where delayed, merges series that became identical, sorts by labels. */
  private finalMatrix(series: (RangeSeries & { dropName: boolean })[]): RangeSeries[] {
    const byKey = new Map<string, RangeSeries>();
    for (const s of series) {
      if (s.timestampsMs.length === 0) continue;
      let labels = s.labels;
      if (s.dropName && '__name__' in labels) {
        const { __name__: _drop, ...rest } = labels;
        labels = rest;
      }
      const key = labelsKey(labels);
      const prev = byKey.get(key);
      if (!prev) {
        byKey.set(key, { labels, timestampsMs: s.timestampsMs, values: s.values });
        continue;
      }
      const merged = new Map<number, number>();
      prev.timestampsMs.forEach((t, k) => merged.set(t, prev.values[k]));
      for (let k = 0; k < s.timestampsMs.length; k++) {
        if (merged.has(s.timestampsMs[k])) throw new PromQLExecutionError('vector cannot contain metrics with the same labelset');
        merged.set(s.timestampsMs[k], s.values[k]);
      }
      const ts = [...merged.keys()].sort((a, b) => a - b);
      byKey.set(key, { labels, timestampsMs: ts, values: ts.map((t) => merged.get(t)!) });
    }
    return [...byKey.values()].sort((a, b) => compareLabels(a.labels, b.labels));
  }

  private shared(querier: Querier, query: string, startMs: number, endMs: number, stepMs: number): SharedState {
    return {
      querier,
      settings: {
        lookbackDeltaMs: this.lookbackDeltaMs,
        maxSamples: this.maxSamples,
        deadline: Date.now() + this.timeoutMs,
        defaultSubqueryStepMs: this.defaultSubqueryStepMs,
      },
      queryStartMs: startMs,
      queryEndMs: endMs,
      queryStepMs: stepMs,
      query,
      samples: 0,
      checks: 0,
      warnings: new Set(),
      infos: new Set(),
    };
  }
}

/** Parses and resolves the durations that depend on the query's step and range. */
function prepare(query: string, stepMs: number, rangeMs: number, maxDepth?: number): Expr {
  const expr = parseExpr(query, maxDepth);
  try {
    return resolveDurations(expr, stepMs, rangeMs);
  } catch (err) {
    if (err instanceof DurationError) throw new PromQLParseError(err.message, positionOf(query, 0, query.length));
    throw err;
  }
}

function annotationsOf(shared: SharedState): Annotations {
  return { warnings: [...shared.warnings], infos: [...shared.infos] };
}
