/**
 * The time range a querier must cover for a query: what the HTTP layer passes to
 * `Queryable.querier(project, minMs, maxMs)`.
 */
import type { AtModifier, Expr, SubqueryExpr } from './ast.js';

export interface TimeBounds {
  minMs: number;
  maxMs: number;
}

/** Where each step of a selector or subquery looks: its @ time, or the step time. */
function atTimeOf(startMs: number, endMs: number) {
  return (a: AtModifier | null, t: number): number => {
    if (!a) return t;
    if (a.kind === 'time') return a.ms;
    return a.kind === 'start' ? startMs : endMs;
  };
}

/** The children of an expression node, in evaluation order. */
export function childrenOf(e: Expr): readonly Expr[] {
  switch (e.type) {
    case 'call':
      return e.args;
    case 'aggregate':
      return e.param ? [e.expr, e.param] : [e.expr];
    case 'binary':
      return [e.lhs, e.rhs];
    case 'unary':
    case 'paren':
    case 'subquery':
      return [e.expr];
    default:
      return [];
  }
}

/**
 * The largest subquery in `expr`: the steps the engine evaluates its inner expression at (one
 * array element per step and series), computed as the engine aligns them, nested subqueries
 * included. Lets `max_over_time(vector(1)[30d:1ms])` be refused before a byte is allocated.
 */
export function largestSubquery(expr: Expr, startMs: number, endMs: number, defaultStepMs: number): { points: number; subquery: SubqueryExpr | null } {
  const at = atTimeOf(startMs, endMs);
  let largest: { points: number; subquery: SubqueryExpr | null } = { points: 0, subquery: null };
  const walk = (e: Expr, from: number, to: number): void => {
    if (e.type !== 'subquery') {
      for (const c of childrenOf(e)) walk(c, from, to);
      return;
    }
    const step = e.stepMs || defaultStepMs;
    const first = at(e.at, from) - e.offsetMs - e.rangeMs;
    let start = step * Math.trunc(first / step);
    if (start <= first) start += step;
    const end = at(e.at, to) - e.offsetMs;
    if (start > end) return;
    const points = Math.floor((end - start) / step) + 1;
    if (points > largest.points) largest = { points, subquery: e };
    walk(e.expr, start, end);
  };
  walk(expr, startMs, endMs);
  return largest;
}

/** Bounds of an expression whose durations are resolved (see durations.ts). */
export function exprBounds(expr: Expr, startMs: number, endMs: number, lookbackDeltaMs = 300_000): TimeBounds {
  let minMs = Infinity;
  let maxMs = -Infinity;
  const at = atTimeOf(startMs, endMs);
  const walk = (e: Expr, from: number, to: number): void => {
    switch (e.type) {
      case 'vectorSelector': {
        minMs = Math.min(minMs, at(e.at, from) - e.offsetMs - lookbackDeltaMs);
        maxMs = Math.max(maxMs, at(e.at, to) - e.offsetMs + (e.extension === 'smoothed' ? lookbackDeltaMs : 0));
        return;
      }
      case 'matrixSelector': {
        const s = e.selector;
        const before = s.extension ? lookbackDeltaMs : 0;
        const after = s.extension === 'smoothed' ? lookbackDeltaMs : 0;
        minMs = Math.min(minMs, at(s.at, from) - s.offsetMs - e.rangeMs - before);
        maxMs = Math.max(maxMs, at(s.at, to) - s.offsetMs + after);
        return;
      }
      case 'subquery':
        walk(e.expr, at(e.at, from) - e.offsetMs - e.rangeMs, at(e.at, to) - e.offsetMs);
        return;
      default:
        for (const c of childrenOf(e)) walk(c, from, to);
    }
  };
  walk(expr, startMs, endMs);
  if (minMs === Infinity) return { minMs: startMs, maxMs: endMs };
  return { minMs, maxMs };
}
