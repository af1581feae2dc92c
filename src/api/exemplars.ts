/**
 * /api/v1/query_exemplars: the exemplars of the series the query's selectors match, from the
 * project's own exemplar ring (src/tsdb/exemplars.ts), in Prometheus' shape.
 */
import type { Expr } from '../promql/ast.js';
import { childrenOf } from '../promql/bounds.js';
import { formatValue } from '../promql/index.js';
import type { LabelMatcher } from '../core/queryable.js';
import type { SeriesExemplars } from '../tsdb/exemplars.js';

export interface ExemplarSource {
  exemplars(project: string, matcherSets: ReadonlyArray<readonly LabelMatcher[]>, minMs: number, maxMs: number): SeriesExemplars[];
}

/** Every selector's matchers in an expression. */
export function selectorMatchers(expr: Expr): LabelMatcher[][] {
  const out: LabelMatcher[][] = [];
  const walk = (e: Expr): void => {
    if (e.type === 'vectorSelector') out.push([...e.matchers]);
    else if (e.type === 'matrixSelector') out.push([...e.selector.matchers]);
    else for (const c of childrenOf(e)) walk(c);
  };
  walk(expr);
  return out;
}

export function exemplarData(source: ExemplarSource, project: string, expr: Expr, minMs: number, maxMs: number): unknown[] {
  const sets = selectorMatchers(expr);
  if (sets.length === 0) return [];
  return source.exemplars(project, sets, minMs, maxMs).map((s) => ({
    seriesLabels: s.seriesLabels,
    exemplars: s.exemplars.map((e) => ({ labels: e.labels, value: formatValue(e.value), timestamp: e.timeMs / 1000 })),
  }));
}
