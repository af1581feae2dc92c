/**
 * The time range a querier must cover for a query: what the HTTP layer passes to
 * `Queryable.querier(project, minMs, maxMs)`.
 */
import type { AtModifier, Expr } from './ast.js';

export interface TimeBounds {
  minMs: number;
  maxMs: number;
}

/** Bounds of an expression whose durations are resolved (see durations.ts). */
export function exprBounds(expr: Expr, startMs: number, endMs: number, lookbackDeltaMs = 300_000): TimeBounds {
  let minMs = Infinity;
  let maxMs = -Infinity;
  const at = (a: AtModifier | null, t: number): number => {
    if (!a) return t;
    if (a.kind === 'time') return a.ms;
    return a.kind === 'start' ? startMs : endMs;
  };
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
      case 'call':
        e.args.forEach((a) => walk(a, from, to));
        return;
      case 'aggregate':
        walk(e.expr, from, to);
        if (e.param) walk(e.param, from, to);
        return;
      case 'binary':
        walk(e.lhs, from, to);
        walk(e.rhs, from, to);
        return;
      case 'unary':
      case 'paren':
        walk(e.expr, from, to);
        return;
      default:
        return;
    }
  };
  walk(expr, startMs, endMs);
  if (minMs === Infinity) return { minMs: startMs, maxMs: endMs };
  return { minMs, maxMs };
}
