/**
 * Runtime values of the evaluator and label helpers.
 *
 * Every node is evaluated once for all steps of a query (instant queries are a range of one
 * step). An instant vector is therefore a list of series, each with one value slot per step and
 * a presence flag, so labels are hashed once per series rather than once per sample.
 */
import type { Labels } from '../core/labels.js';
import { METRIC_NAME } from '../core/labels.js';
import type { Expr } from './ast.js';

export interface StepSeries {
  labels: Labels;
  /** One value per step; meaningful only where `present[i]` is 1. */
  values: Float64Array;
  present: Uint8Array;
  /** Prometheus 3 delayed name removal: drop `__name__` at the end of evaluation. */
  dropName: boolean;
  /** Timestamps (ms) of the samples picked by a plain vector selector, for timestamp(). */
  times?: Float64Array;
  /** Their start timestamps (ms, 0 = unknown), for start_timestamp(). */
  startTimes?: Float64Array;
}

/** A series with its raw points: input of range functions and the result of `x[5m]`. */
export interface RawSeries {
  labels: Labels;
  ts: ArrayLike<number>;
  vs: ArrayLike<number>;
  /** Start timestamps (ms, 0 = unknown) when the storage has them; subqueries never do. */
  sts?: ArrayLike<number>;
  dropName: boolean;
}

export type EvalValue =
  | { kind: 'scalar'; values: Float64Array }
  | { kind: 'vector'; series: StepSeries[] }
  | { kind: 'string'; value: string }
  | { kind: 'matrix'; series: RawSeries[] };

/** What custom function implementations may use from the evaluator. */
export interface EvalContext {
  /** Number of steps. */
  readonly n: number;
  /** Evaluation timestamp (ms) of each step. */
  readonly times: Float64Array;
  readonly startMs: number;
  readonly endMs: number;
  readonly stepMs: number;
  /** The outermost query's range (subqueries evaluate over their own steps). */
  readonly queryStartMs: number;
  readonly queryEndMs: number;
  /** 0 for an instant query. */
  readonly queryStepMs: number;
  eval(e: Expr): EvalValue;
  /** `sampleTimes`: keep the timestamps of the samples a plain selector picks (timestamp()). */
  evalVector(e: Expr, sampleTimes?: boolean): StepSeries[];
  evalScalar(e: Expr): Float64Array;
  warn(message: string, e?: Expr): void;
  info(message: string, e?: Expr): void;
  fail(message: string): never;
  newSeries(labels: Labels, dropName: boolean): StepSeries;
  /** Merges series with identical label sets, failing when two have a value at the same step. */
  mergeSameLabels(series: StepSeries[]): StepSeries[];
}

const keyCache = new WeakMap<object, string>();

/** A canonical string for a label set (sorted names), cached per label object. */
export function labelsKey(l: Labels): string {
  let k = keyCache.get(l);
  if (k === undefined) {
    const names = Object.keys(l).sort();
    k = '';
    for (const n of names) k += n + '\xff' + l[n] + '\xfe';
    keyCache.set(l, k);
  }
  return k;
}

/** Key of the values of `names` (which must be sorted) in `l`. */
export function keyOf(l: Labels, names: readonly string[]): string {
  let k = '';
  for (const n of names) {
    const v = l[n];
    if (v !== undefined && v !== '') k += n + '\xff' + v + '\xfe';
  }
  return k;
}

/** Key of all labels of `l` except `names` (which must be sorted) and `__name__`. */
export function keyWithout(l: Labels, names: ReadonlySet<string>): string {
  const all = Object.keys(l).sort();
  let k = '';
  for (const n of all) {
    if (n === METRIC_NAME || names.has(n)) continue;
    const v = l[n];
    if (v !== '') k += n + '\xff' + v + '\xfe';
  }
  return k;
}

export function withoutName(l: Labels): Labels {
  if (!(METRIC_NAME in l)) return l;
  const out: Record<string, string> = {};
  for (const k in l) if (k !== METRIC_NAME) out[k] = l[k];
  return out;
}

/** Prometheus' labels.Compare: by sorted (name, value) pairs, then by length. */
export function compareLabels(a: Labels, b: Labels): number {
  const an = Object.keys(a).sort();
  const bn = Object.keys(b).sort();
  const len = Math.min(an.length, bn.length);
  for (let i = 0; i < len; i++) {
    if (an[i] !== bn[i]) return an[i] < bn[i] ? -1 : 1;
    const av = a[an[i]];
    const bv = b[bn[i]];
    if (av !== bv) return av < bv ? -1 : 1;
  }
  return an.length - bn.length;
}

/** Go's strconv.Quote for the ASCII-printable common case, used in label set strings. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Prometheus' labels.String(): `{a="b", c="d"}` in name order. */
export function labelsString(l: Labels): string {
  const names = Object.keys(l).sort();
  return '{' + names.map((n) => `${n}=${goQuote(l[n])}`).join(', ') + '}';
}

/**
 * Go's strconv.FormatFloat(v, 'f', -1, 64) for finite values, and Prometheus' "+Inf", "-Inf",
 * "NaN" otherwise: the shortest decimal that round-trips, never in exponent form.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  const s = String(v);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const mantissa = s.slice(0, e);
  const exp = Number(s.slice(e + 1));
  const neg = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const pointAt = (mantissa.replace('-', '').indexOf('.') < 0 ? mantissa.replace('-', '').length : mantissa.replace('-', '').indexOf('.')) + exp;
  let out: string;
  if (pointAt <= 0) out = '0.' + '0'.repeat(-pointAt) + digits;
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length);
  else out = digits.slice(0, pointAt) + '.' + digits.slice(pointAt);
  return neg ? '-' + out : out;
}

/** Prometheus' timestamp format in the API: seconds with up to millisecond precision. */
export function formatTimestamp(ms: number): number {
  return ms / 1000;
}
