/**
 * Duration expressions (`[5m+1m]`, `[step()*2]`, `offset min_of(range(), 1h)`): evaluated in
 * seconds as Prometheus does, then truncated to milliseconds. Those that use step() or range()
 * are resolved per query, before evaluation.
 */
import type { DurationExpr, Expr } from './ast.js';

export class DurationError extends Error {}

export function usesQueryContext(d: DurationExpr): boolean {
  switch (d.kind) {
    case 'literal':
      return false;
    case 'step':
    case 'range':
      return true;
    case 'unary':
      return usesQueryContext(d.expr);
    default:
      return usesQueryContext(d.lhs) || usesQueryContext(d.rhs);
  }
}

function seconds(d: DurationExpr, stepS: number, rangeS: number): number {
  switch (d.kind) {
    case 'literal':
      return d.seconds;
    case 'step':
      return stepS;
    case 'range':
      return rangeS;
    case 'unary':
      return d.op === '-' ? -seconds(d.expr, stepS, rangeS) : seconds(d.expr, stepS, rangeS);
    case 'min_of':
      return Math.min(seconds(d.lhs, stepS, rangeS), seconds(d.rhs, stepS, rangeS));
    case 'max_of':
      return Math.max(seconds(d.lhs, stepS, rangeS), seconds(d.rhs, stepS, rangeS));
    case 'binary': {
      const l = seconds(d.lhs, stepS, rangeS);
      const r = seconds(d.rhs, stepS, rangeS);
      switch (d.op) {
        case '+':
          return l + r;
        case '-':
          return l - r;
        case '*':
          return l * r;
        case '/':
          if (r === 0) throw new DurationError('division by zero');
          return l / r;
        case '%':
          if (r === 0) throw new DurationError('modulo by zero');
          return l % r;
        case '^':
          return Math.pow(l, r);
      }
    }
  }
}

/** Milliseconds of a duration expression; ranges and steps must be positive, offsets need not. */
export function durationMs(d: DurationExpr, stepMs: number, rangeMs: number, allowNegative: boolean): number {
  // A plain duration literal is exact; only arithmetic goes through float seconds.
  const s = d.kind === 'literal' && d.ms !== undefined ? d.ms / 1000 : seconds(d, stepMs / 1000, rangeMs / 1000);
  if (d.kind === 'literal' && d.ms !== undefined && (d.ms > 0 || allowNegative)) return d.ms;
  if (!Number.isFinite(s)) throw new DurationError('duration is NaN or infinite');
  if (s <= 0 && !allowNegative) throw new DurationError('duration must be greater than 0');
  if (Math.abs(s) > 9223372036.854775) throw new DurationError('duration is out of range');
  return Math.trunc(s * 1000);
}

/** Replaces query-dependent durations by their values for this query. */
export function resolveDurations(e: Expr, stepMs: number, rangeMs: number): Expr {
  const r = (x: Expr) => resolveDurations(x, stepMs, rangeMs);
  switch (e.type) {
    case 'vectorSelector':
      return e.offsetExpr ? { ...e, offsetMs: durationMs(e.offsetExpr, stepMs, rangeMs, true), offsetExpr: undefined } : e;
    case 'matrixSelector': {
      const selector = r(e.selector) as typeof e.selector;
      const out = { ...e, selector };
      return e.rangeExpr ? { ...out, rangeMs: durationMs(e.rangeExpr, stepMs, rangeMs, false), rangeExpr: undefined } : out;
    }
    case 'subquery':
      return {
        ...e,
        expr: r(e.expr),
        rangeMs: e.rangeExpr ? durationMs(e.rangeExpr, stepMs, rangeMs, false) : e.rangeMs,
        stepMs: e.stepExpr ? durationMs(e.stepExpr, stepMs, rangeMs, false) : e.stepMs,
        offsetMs: e.offsetExpr ? durationMs(e.offsetExpr, stepMs, rangeMs, true) : e.offsetMs,
        rangeExpr: undefined,
        stepExpr: undefined,
        offsetExpr: undefined,
      };
    case 'call':
      return { ...e, args: e.args.map(r) };
    case 'aggregate':
      return { ...e, expr: r(e.expr), param: e.param ? r(e.param) : null };
    case 'binary':
      return { ...e, lhs: r(e.lhs), rhs: r(e.rhs) };
    case 'unary':
    case 'paren':
      return { ...e, expr: r(e.expr) };
    default:
      return e;
  }
}
