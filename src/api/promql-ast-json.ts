/**
 * The AST as `/api/v1/parse_query` answers it. Prometheus 2.42 has no such endpoint; this is the
 * shape of Prometheus 3's (web/api/v1/translate_ast.go, the tree view of its UI): every node a
 * `type` and its fields, durations in milliseconds, `@` as a millisecond `timestamp` or
 * `startOrEnd`, number values as strings.
 */
import type { AtModifier, DurationExpr, Expr, VectorSelector } from '../promql/ast.js';
import { FUNCTIONS, formatValue } from '../promql/index.js';

export function astToJson(e: Expr): unknown {
  switch (e.type) {
    case 'aggregate':
      return {
        type: 'aggregation',
        op: e.op,
        expr: astToJson(e.expr),
        param: e.param === null ? null : astToJson(e.param),
        grouping: [...e.grouping],
        without: e.without,
      };
    case 'binary': {
      const m = e.matching;
      return {
        type: 'binaryExpr',
        op: e.op,
        lhs: astToJson(e.lhs),
        rhs: astToJson(e.rhs),
        matching: m === null ? null : {
          card: m.card,
          labels: [...m.labels],
          on: m.on,
          include: [...m.include],
          fillValues: { lhs: m.fill?.lhs ?? null, rhs: m.fill?.rhs ?? null },
        },
        bool: e.returnBool,
      };
    }
    case 'call': {
      const def = FUNCTIONS.get(e.name);
      return {
        type: 'call',
        func: { name: e.name, argTypes: def?.argTypes ?? [], variadic: def?.variadic ?? 0, returnType: def?.returnType ?? 'vector' },
        args: e.args.map(astToJson),
      };
    }
    case 'matrixSelector': {
      const v = e.selector;
      return {
        type: 'matrixSelector',
        name: v.name ?? '',
        range: e.rangeExpr ? durationMs(e.rangeExpr) : e.rangeMs,
        offset: v.offsetExpr ? durationMs(v.offsetExpr) : v.offsetMs,
        matchers: matchers(v),
        ...atFields(v.at),
        anchored: v.extension === 'anchored',
        smoothed: v.extension === 'smoothed',
      };
    }
    case 'subquery':
      return {
        type: 'subquery',
        expr: astToJson(e.expr),
        range: e.rangeExpr ? durationMs(e.rangeExpr) : e.rangeMs,
        offset: e.offsetExpr ? durationMs(e.offsetExpr) : e.offsetMs,
        step: e.stepExpr ? durationMs(e.stepExpr) : e.stepMs,
        ...atFields(e.at),
        alignEvalTime: false,
      };
    case 'number':
      return { type: 'numberLiteral', val: formatValue(e.value) };
    case 'paren':
      return { type: 'parenExpr', expr: astToJson(e.expr) };
    case 'string':
      return { type: 'stringLiteral', val: e.value };
    case 'unary':
      return { type: 'unaryExpr', op: e.op, expr: astToJson(e.expr) };
    case 'vectorSelector':
      return {
        type: 'vectorSelector',
        name: e.name ?? '',
        offset: e.offsetExpr ? durationMs(e.offsetExpr) : e.offsetMs,
        matchers: matchers(e),
        ...atFields(e.at),
        anchored: e.extension === 'anchored',
        smoothed: e.extension === 'smoothed',
      };
  }
}

function matchers(v: VectorSelector): Array<{ name: string; value: string; type: string }> {
  return v.matchers.map((m) => ({ name: m.name, value: m.value, type: m.type }));
}

function atFields(at: AtModifier | null): { timestamp: number | null; startOrEnd: 'start' | 'end' | null } {
  if (at === null) return { timestamp: null, startOrEnd: null };
  if (at.kind === 'time') return { timestamp: at.ms, startOrEnd: null };
  return { timestamp: null, startOrEnd: at.kind };
}

/**
 * A duration that depends on the query's step or range (`step() * 2`) has no value until the
 * query runs; Prometheus' tree shows 0 for it, as here.
 */
function durationMs(_d: DurationExpr): number {
  return 0;
}
