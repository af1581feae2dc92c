/**
 * The functions table: every PromQL function with its signature (checked by the parser) and its
 * implementation (run by the evaluator). Three implementation shapes cover all functions:
 *  - `range`: one value from the points of one series in one window (rate, *_over_time, ...);
 *  - `elementwise`: one value from one sample (abs, round, clamp, ...);
 *  - `custom`: the function sees whole vectors (sort, absent, label_replace, histogram_quantile).
 */
import type { Labels } from '../core/labels.js';
import { METRIC_NAME } from '../core/labels.js';
import type { Call, Expr, ValueType } from './ast.js';
import { compileRegex, type LabelRegex } from './regex.js';
import { boundaryPoints } from './extended.js';
import { isWellFormedUtf8 } from './literals.js';
import { infoFunction } from './info.js';
import type { EvalContext, EvalValue, StepSeries } from './values.js';
import { compareLabels, formatValue, labelsKey } from './values.js';

/** What a range function knows about its window besides the points. */
export interface Window {
  /** Exclusive start and inclusive end of the window (ms), offset applied. */
  rangeStart: number;
  rangeEnd: number;
  rangeMs: number;
  /** Evaluation time of the step (ms), before offset. */
  evalTs: number;
  /** Values of the scalar arguments at this step, in argument order (matrix argument left out). */
  params: number[];
  labels: Labels;
  /** Start timestamps (ms, 0 = unknown) aligned with the points, for the functions that use them. */
  sts: ArrayLike<number> | null;
  /**
   * anchored/smoothed: points [lo, hi) then also cover one lookback delta before the range
   * (smoothed: and after it).
   */
  extension: 'anchored' | 'smoothed' | null;
  warn(message: string): void;
  info(message: string): void;
  fail(message: string): never;
}

/** Computes one output value from points [lo, hi) (hi > lo); undefined means "no output". */
export type RangeFn = (ts: ArrayLike<number>, vs: ArrayLike<number>, lo: number, hi: number, w: Window) => number | undefined;

export type FunctionImpl =
  | { readonly kind: 'range'; readonly fn: RangeFn; readonly keepName?: boolean }
  /** Returning undefined drops the sample (clamp with max < min). */
  | { readonly kind: 'elementwise'; readonly fn: (v: number, params: number[]) => number | undefined }
  | { readonly kind: 'custom'; readonly fn: (ctx: EvalContext, call: Call) => EvalValue };

export interface FunctionDef {
  readonly name: string;
  readonly argTypes: readonly ValueType[];
  /** 0: exactly argTypes; n > 0: up to n more optional; -1: the last type repeats without bound. */
  readonly variadic: number;
  readonly returnType: ValueType;
  /** Needs a Prometheus feature flag (the conformance corpus turns these on). */
  readonly experimental?: boolean;
  readonly impl: FunctionImpl;
}

// ---------------------------------------------------------------------------------------------
// Numeric helpers with Prometheus' exact float behaviour.

/** The compensation term written by the last kahanInc call (avoids allocating a pair per sample). */
export const kahan = { c: 0 };

/**
 * Neumaier-compensated summation step (Prometheus' kahansum.Inc): returns the new sum and leaves
 * the new compensation in `kahan.c`.
 */
export function kahanInc(inc: number, sum: number, c: number): number {
  const t = sum + inc;
  if (!Number.isFinite(t) && !Number.isNaN(t)) kahan.c = 0;
  else if (Math.abs(sum) >= Math.abs(inc)) kahan.c = c + (sum - t + inc);
  else kahan.c = c + (inc - t + sum);
  return t;
}

/** Go's math.Pow edge cases differ from JS's `**` for a base of 1 and ±1 with infinite exponent. */
export function goPow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if ((x === -1) && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

/** Prometheus' quantile over a plain list (sorts the list in place). */
export function quantileOf(q: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  values.sort(nanFirstAsc);
  const n = values.length;
  const rank = q * (n - 1);
  const lowerIndex = Math.max(0, Math.floor(rank));
  const upperIndex = Math.min(n - 1, lowerIndex + 1);
  const weight = rank - Math.floor(rank);
  return values[lowerIndex] * (1 - weight) + values[upperIndex] * weight;
}

function nanFirstAsc(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
  if (Number.isNaN(b)) return 1;
  return a - b;
}

export interface Bucket {
  upperBound: number;
  count: number;
}

function almostEqual(a: number, b: number, epsilon: number): boolean {
  const minNormal = 2.2250738585072014e-308;
  if (a === b) return true;
  const absSum = Math.abs(a) + Math.abs(b);
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || absSum < minNormal) return diff < epsilon * minNormal;
  return diff / Math.min(absSum, Number.MAX_VALUE) < epsilon;
}

function prepareBuckets(buckets: Bucket[]): Bucket[] {
  buckets.sort((a, b) => a.upperBound - b.upperBound);
  const out: Bucket[] = [];
  for (const b of buckets) {
    const last = out[out.length - 1];
    if (last && last.upperBound === b.upperBound) last.count += b.count;
    else out.push({ upperBound: b.upperBound, count: b.count });
  }
  return out;
}

/** Prometheus' BucketQuantile over classic `le` buckets; `forced` reports a monotonicity fix. */
export function bucketQuantile(q: number, input: Bucket[]): { value: number; forced: boolean } {
  if (Number.isNaN(q)) return { value: NaN, forced: false };
  if (q < 0) return { value: -Infinity, forced: false };
  if (q > 1) return { value: Infinity, forced: false };
  input.sort((a, b) => a.upperBound - b.upperBound);
  if (input[input.length - 1].upperBound !== Infinity) return { value: NaN, forced: false };
  const buckets = prepareBuckets(input);
  let forced = false;
  let prev = buckets[0].count;
  for (let i = 1; i < buckets.length; i++) {
    const curr = buckets[i].count;
    if (curr === prev) continue;
    if (almostEqual(prev, curr, 1e-12)) {
      buckets[i].count = prev;
      continue;
    }
    if (curr < prev) {
      buckets[i].count = prev;
      forced = true;
      continue;
    }
    prev = curr;
  }
  if (buckets.length < 2) return { value: NaN, forced };
  const observations = buckets[buckets.length - 1].count;
  if (observations === 0) return { value: NaN, forced };
  let rank = q * observations;
  let b = 0;
  while (b < buckets.length - 1 && !(buckets[b].count >= rank)) b++;
  if (b === buckets.length - 1) return { value: buckets[buckets.length - 2].upperBound, forced };
  if (b === 0 && buckets[0].upperBound <= 0) return { value: buckets[0].upperBound, forced };
  let bucketStart = 0;
  const bucketEnd = buckets[b].upperBound;
  let count = buckets[b].count;
  if (b > 0) {
    bucketStart = buckets[b - 1].upperBound;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return { value: bucketStart + (bucketEnd - bucketStart) * (rank / count), forced };
}

/** Prometheus' BucketFraction over classic `le` buckets. */
export function bucketFraction(lower: number, upper: number, input: Bucket[]): number {
  input.sort((a, b) => a.upperBound - b.upperBound);
  if (input[input.length - 1].upperBound !== Infinity) return NaN;
  const buckets = prepareBuckets(input);
  const count = buckets[buckets.length - 1].count;
  if (count === 0 || Number.isNaN(lower) || Number.isNaN(upper)) return NaN;
  if (lower >= upper) return 0;
  let rank = 0;
  let lowerRank = 0;
  let upperRank = 0;
  let lowerSet = false;
  let upperSet = false;
  let lowerBound = buckets[0].upperBound <= 0 ? -Infinity : 0;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i];
    if (i > 0) lowerBound = buckets[i - 1].upperBound;
    const upperBound = b.upperBound;
    const interp = (v: number) => (lowerBound === -Infinity ? b.count : rank + ((b.count - rank) * (v - lowerBound)) / (upperBound - lowerBound));
    if (!lowerSet && lowerBound >= lower) {
      lowerRank = rank;
      lowerSet = true;
    }
    if (!upperSet && lowerBound >= upper) {
      upperRank = rank;
      upperSet = true;
    }
    if (lowerSet && upperSet) break;
    if (!lowerSet && lowerBound < lower && upperBound > lower) {
      lowerRank = interp(lower);
      lowerSet = true;
    }
    if (!upperSet && lowerBound < upper && upperBound > upper) {
      upperRank = interp(upper);
      upperSet = true;
    }
    if (lowerSet && upperSet) break;
    rank = b.count;
  }
  if (!lowerSet || lowerRank > count) lowerRank = count;
  if (!upperSet || upperRank > count) upperRank = count;
  return (upperRank - lowerRank) / count;
}

// ---------------------------------------------------------------------------------------------
// Range functions.

/** rate/increase/delta over an anchored or smoothed window (Prometheus' extendedRate). */
function extendedRate(isCounter: boolean, isRate: boolean): RangeFn {
  return (ts, vs, lo, hi, w) => {
    const b = boundaryPoints(ts, vs, lo, hi, w.rangeStart, w.rangeEnd, w.extension === 'smoothed', isCounter);
    if (!b) return undefined;
    let result = b.right - b.left;
    if (isCounter) {
      let prev = b.left;
      for (let i = b.first; i <= b.last; i++) {
        if (vs[i] < prev) result += prev;
        prev = vs[i];
      }
      if (b.right < prev) result += prev;
    }
    return isRate ? result / (w.rangeMs / 1000) : result;
  };
}

/**
 * Whether the current sample starts a new counter according to its start timestamp (Prometheus'
 * isStartTimestampReset): a start after the previous sample, or a delta sample (start at the
 * previous sample) following one with a known start.
 */
export function isStartTimestampReset(prevSt: number, prevT: number, curSt: number, curT: number): boolean {
  if (curSt === 0 || curSt >= curT) return false;
  if (curSt < prevT) return false;
  if (curSt > prevT) return true;
  if (prevSt > prevT) return false;
  return prevSt !== 0 && prevSt !== prevT;
}

function extrapolatedRate(isCounter: boolean, isRate: boolean): RangeFn {
  const extended = extendedRate(isCounter, isRate);
  return (ts, vs, lo, hi, w) => {
    if (w.extension) return extended(ts, vs, lo, hi, w);
    const last = hi - 1;
    const sts = isCounter ? w.sts : null;
    const firstT = ts[lo];
    const lastT = ts[last];
    let result = vs[last] - vs[lo];
    if (isCounter) {
      let overlapWarned = false;
      for (let i = lo + 1; i < hi; i++) {
        if (sts && !overlapWarned && sts[i] !== 0 && sts[i] < ts[i - 1] && sts[i] !== sts[i - 1]) {
          w.warn(`PromQL warning: sample has start time that overlaps with previous sample timestamp for metric "${w.labels.__name__ ?? ''}"`);
          overlapWarned = true;
        }
        if (vs[i] < vs[i - 1] || (sts && isStartTimestampReset(sts[i - 1], ts[i - 1], sts[i], ts[i]))) result += vs[i - 1];
      }
    }
    let durationToStart = (firstT - w.rangeStart) / 1000;
    let durationToEnd = (w.rangeEnd - lastT) / 1000;
    let sampledInterval = (lastT - firstT) / 1000;
    const averageDurationBetweenSamples = last > lo ? sampledInterval / (last - lo) : 0;
    const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
    const firstSt = sts ? sts[lo] : 0;
    if (firstSt !== 0 && firstSt > w.rangeStart && firstSt < firstT) {
      // The first sample's start lies inside the window: the counter was 0 there, so the
      // increase is measured from it instead of extrapolating to the left.
      durationToStart = 0;
      sampledInterval = (lastT - firstSt) / 1000;
      result += vs[lo];
    } else if (last === lo) {
      return undefined;
    } else {
      if (durationToStart >= extrapolationThreshold) durationToStart = averageDurationBetweenSamples / 2;
      if (isCounter) {
        let durationToZero = durationToStart;
        if (result > 0 && vs[lo] >= 0) durationToZero = sampledInterval * (vs[lo] / result);
        if (durationToZero < durationToStart) durationToStart = durationToZero;
      }
    }
    if (durationToEnd >= extrapolationThreshold) durationToEnd = averageDurationBetweenSamples / 2;
    let factor = 1;
    if (sampledInterval !== 0) factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval;
    if (isRate) factor /= w.rangeMs / 1000;
    return result * factor;
  };
}

function instantValue(isRate: boolean): RangeFn {
  return (ts, vs, lo, hi, w) => {
    if (hi - lo < 2) return undefined;
    const t0 = ts[hi - 2];
    const t1 = ts[hi - 1];
    const v0 = vs[hi - 2];
    const v1 = vs[hi - 1];
    const interval = t1 - t0;
    if (interval === 0) return undefined;
    const stReset = isRate && w.sts !== null && isStartTimestampReset(w.sts[hi - 2], t0, w.sts[hi - 1], t1);
    let r = v1;
    if (!isRate || !(v1 < v0 || stReset)) r = v1 - v0;
    if (isRate) r /= interval / 1000;
    return r;
  };
}

const sumOverTime: RangeFn = (_ts, vs, lo, hi) => {
  let sum = 0;
  let c = 0;
  for (let i = lo; i < hi; i++) {
    sum = kahanInc(vs[i], sum, c);
    c = kahan.c;
  }
  return Number.isFinite(sum) || Number.isNaN(sum) ? sum + c : sum;
};

const avgOverTime: RangeFn = (_ts, vs, lo, hi) => {
  let sum = vs[lo];
  let count = 1;
  let mean = 0;
  let c = 0;
  let incremental = false;
  for (let i = lo + 1; i < hi; i++) {
    const f = vs[i];
    count = i - lo + 1;
    if (!incremental) {
      const ns = kahanInc(f, sum, c);
      const nc = kahan.c;
      if (Number.isFinite(ns) || Number.isNaN(ns)) {
        sum = ns;
        c = nc;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      c /= count - 1;
    }
    const q = (count - 1) / count;
    mean = kahanInc(f / count, q * mean, q * c);
    c = kahan.c;
  }
  if (incremental) return mean + c;
  return sum / count + c / count;
};

function compareOverTime(better: (cur: number, best: number) => boolean, returnTimestamp: boolean): RangeFn {
  return (ts, vs, lo, hi) => {
    let best = vs[lo];
    let bestT = ts[lo];
    for (let i = lo; i < hi; i++) {
      if (better(vs[i], best)) {
        best = vs[i];
        bestT = ts[i];
      }
    }
    return returnTimestamp ? bestT / 1000 : best;
  };
}

function varianceOverTime(sqrt: boolean): RangeFn {
  return (_ts, vs, lo, hi) => {
    let count = 0;
    let mean = 0;
    let cMean = 0;
    let aux = 0;
    let cAux = 0;
    for (let i = lo; i < hi; i++) {
      const f = vs[i];
      count++;
      const delta = f - (mean + cMean);
      mean = kahanInc(delta / count, mean, cMean);
      cMean = kahan.c;
      aux = kahanInc(delta * (f - (mean + cMean)), aux, cAux);
      cAux = kahan.c;
    }
    const variance = (aux + cAux) / count;
    return sqrt ? Math.sqrt(variance) : variance;
  };
}

function linearRegression(ts: ArrayLike<number>, vs: ArrayLike<number>, lo: number, hi: number, interceptTime: number): [number, number] {
  let n = 0;
  let sumX = 0, cX = 0, sumY = 0, cY = 0, sumXY = 0, cXY = 0, sumX2 = 0, cX2 = 0;
  const initY = vs[lo];
  let constY = true;
  for (let i = lo; i < hi; i++) {
    const y = vs[i];
    if (constY && i > lo && y !== initY) constY = false;
    n += 1;
    const x = (ts[i] - interceptTime) / 1e3;
    sumX = kahanInc(x, sumX, cX);
    cX = kahan.c;
    sumY = kahanInc(y, sumY, cY);
    cY = kahan.c;
    sumXY = kahanInc(x * y, sumXY, cXY);
    cXY = kahan.c;
    sumX2 = kahanInc(x * x, sumX2, cX2);
    cX2 = kahan.c;
  }
  if (constY) {
    if (!Number.isFinite(initY) && !Number.isNaN(initY)) return [NaN, NaN];
    return [0, initY];
  }
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  return [slope, sumY / n - (slope * sumX) / n];
}

/** Go's %f: six decimals. */
function goF(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return v.toFixed(6);
}

const doubleExponentialSmoothing: RangeFn = (_ts, vs, lo, hi, w) => {
  const [sf, tf] = w.params;
  if (!(sf > 0 && sf < 1)) w.fail(`invalid smoothing factor. Expected: 0 < sf < 1, got: ${goF(sf)}`);
  if (!(tf > 0 && tf < 1)) w.fail(`invalid trend factor. Expected: 0 < tf < 1, got: ${goF(tf)}`);
  const l = hi - lo;
  if (l < 2) return undefined;
  let s0 = 0;
  let s1 = vs[lo];
  let b = vs[lo + 1] - vs[lo];
  for (let i = 1; i < l; i++) {
    const x = sf * vs[lo + i];
    b = i - 1 === 0 ? b : tf * (s1 - s0) + (1 - tf) * b;
    const y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  return s1;
};

function quantileWarning(q: number): string {
  return `PromQL warning: quantile value should be between 0 and 1, got ${formatValue(q)}`;
}

const quantileOverTime: RangeFn = (_ts, vs, lo, hi, w) => {
  const q = w.params[0];
  if (Number.isNaN(q) || q < 0 || q > 1) w.warn(quantileWarning(q));
  const values: number[] = [];
  for (let i = lo; i < hi; i++) values.push(vs[i]);
  return quantileOf(q, values);
};

const madOverTime: RangeFn = (_ts, vs, lo, hi) => {
  const values: number[] = [];
  for (let i = lo; i < hi; i++) {
    if (Number.isNaN(vs[i])) return NaN;
    values.push(vs[i]);
  }
  const median = quantileOf(0.5, values);
  for (let i = 0; i < values.length; i++) values[i] = Math.abs(values[i] - median);
  return quantileOf(0.5, values);
};

/**
 * First point for changes()/resets(): with `anchored`, the last point at or before the range
 * start (if any) anchors the count; nothing is counted without a point inside the range.
 */
function firstCounted(ts: ArrayLike<number>, lo: number, hi: number, w: Window): number | undefined {
  if (w.extension !== 'anchored') return lo;
  let k = lo;
  while (k < hi && ts[k] <= w.rangeStart) k++;
  if (k >= hi) return undefined;
  return k > lo ? k - 1 : lo;
}

const changes: RangeFn = (ts, vs, lo, hi, w) => {
  const first = firstCounted(ts, lo, hi, w);
  if (first === undefined) return undefined;
  let n = 0;
  for (let i = first + 1; i < hi; i++) {
    const cur = vs[i];
    const prev = vs[i - 1];
    if (cur !== prev && !(Number.isNaN(cur) && Number.isNaN(prev))) n++;
  }
  return n;
};

const resets: RangeFn = (ts, vs, lo, hi, w) => {
  const first = firstCounted(ts, lo, hi, w);
  if (first === undefined) return undefined;
  const sts = w.sts;
  let n = 0;
  for (let i = first + 1; i < hi; i++) {
    if (vs[i] < vs[i - 1] || (sts && isStartTimestampReset(sts[i - 1], ts[i - 1], sts[i], ts[i]))) n++;
  }
  return n;
};

const deriv: RangeFn = (ts, vs, lo, hi) => {
  if (hi - lo < 2) return undefined;
  return linearRegression(ts, vs, lo, hi, ts[lo])[0];
};

const predictLinear: RangeFn = (ts, vs, lo, hi, w) => {
  if (hi - lo < 2) return undefined;
  const [slope, intercept] = linearRegression(ts, vs, lo, hi, w.evalTs);
  return slope * w.params[0] + intercept;
};

// ---------------------------------------------------------------------------------------------
// Custom functions.

function emptyVector(): EvalValue {
  return { kind: 'vector', series: [] };
}

function scalarOf(ctx: EvalContext, f: (t: number, i: number) => number): EvalValue {
  const values = new Float64Array(ctx.n);
  for (let i = 0; i < ctx.n; i++) values[i] = f(ctx.times[i], i);
  return { kind: 'scalar', values };
}

function stringArg(call: Call, i: number): string {
  const a = unwrap(call.args[i]);
  return a.type === 'string' ? a.value : '';
}

function unwrap(e: Expr): Expr {
  return e.type === 'paren' ? unwrap(e.expr) : e;
}

function isValidLabelName(name: string): boolean {
  // Prometheus 3 accepts any non-empty, valid UTF-8 name.
  return name.length > 0 && isWellFormedUtf8(name);
}

function labelReplace(ctx: EvalContext, call: Call): EvalValue {
  const dst = stringArg(call, 1);
  const repl = stringArg(call, 2);
  const src = stringArg(call, 3);
  const reStr = stringArg(call, 4);
  let re: LabelRegex;
  try {
    re = compileRegex(reStr);
  } catch {
    return ctx.fail(`invalid regular expression in label_replace(): ${reStr}`);
  }
  if (!isValidLabelName(dst)) ctx.fail(`invalid destination label name in label_replace(): ${dst}`);
  const input = ctx.evalVector(call.args[0]);
  const out = input.map((s) => {
    const srcVal = s.labels[src] ?? '';
    const m = re.exec(srcVal);
    if (!m) return s;
    const value = expandTemplate(repl, m);
    const labels: Record<string, string> = { ...s.labels };
    if (value === '') delete labels[dst];
    else labels[dst] = value;
    return { ...s, labels, dropName: dst === METRIC_NAME ? false : s.dropName, times: undefined };
  });
  return { kind: 'vector', series: ctx.mergeSameLabels(out) };
}

/** Go's regexp.Expand: $1, ${1}, $name, ${name}; $$ is a literal dollar. */
export function expandTemplate(template: string, m: RegExpExecArray): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c !== '$' || i === template.length - 1) {
      out += c;
      continue;
    }
    if (template[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string;
    let end: number;
    if (template[i + 1] === '{') {
      const close = template.indexOf('}', i + 2);
      if (close < 0) {
        out += c;
        continue;
      }
      name = template.slice(i + 2, close);
      end = close;
    } else {
      const mm = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (!mm) {
        out += c;
        continue;
      }
      name = mm[0];
      end = i + name.length;
    }
    i = end;
    if (/^[0-9]+$/.test(name)) out += m[Number(name)] ?? '';
    else out += m.groups?.[name] ?? '';
  }
  return out;
}

function labelJoin(ctx: EvalContext, call: Call): EvalValue {
  const dst = stringArg(call, 1);
  const sep = stringArg(call, 2);
  const srcs: string[] = [];
  for (let i = 3; i < call.args.length; i++) {
    const s = stringArg(call, i);
    if (!isValidLabelName(s)) ctx.fail(`invalid source label name in label_join(): ${s}`);
    srcs.push(s);
  }
  if (!isValidLabelName(dst)) ctx.fail(`invalid destination label name in label_join(): ${dst}`);
  const input = ctx.evalVector(call.args[0]);
  const out = input.map((s) => {
    const value = srcs.map((n) => s.labels[n] ?? '').join(sep);
    const labels: Record<string, string> = { ...s.labels };
    if (value === '') delete labels[dst];
    else labels[dst] = value;
    return { ...s, labels, dropName: dst === METRIC_NAME ? false : s.dropName, times: undefined };
  });
  return { kind: 'vector', series: ctx.mergeSameLabels(out) };
}

/** Labels of absent()'s output: the equality matchers of a plain selector argument. */
function absentLabels(e: Expr): Labels {
  const u = unwrap(e);
  const sel = u.type === 'vectorSelector' ? u : u.type === 'matrixSelector' ? u.selector : null;
  if (!sel) return {};
  const out: Record<string, string> = {};
  const has = new Set<string>();
  for (const m of sel.matchers) {
    if (m.name === METRIC_NAME) continue;
    if (m.type === '=' && !has.has(m.name)) {
      if (m.value !== '') out[m.name] = m.value;
      has.add(m.name);
    } else {
      delete out[m.name];
    }
  }
  return out;
}

function absent(ctx: EvalContext, call: Call): EvalValue {
  const input = ctx.evalVector(call.args[0]);
  const out = ctx.newSeries(absentLabels(call.args[0]), true);
  let any = false;
  for (let i = 0; i < ctx.n; i++) {
    let seen = false;
    for (const s of input) {
      if (s.present[i]) {
        seen = true;
        break;
      }
    }
    if (!seen) {
      out.values[i] = 1;
      out.present[i] = 1;
      any = true;
    }
  }
  return { kind: 'vector', series: any ? [out] : [] };
}

function absentOverTime(ctx: EvalContext, call: Call): EvalValue {
  const counted = ctx.evalVector({ type: 'call', name: 'count_over_time', args: call.args, pos: call.pos });
  const out = ctx.newSeries(absentLabels(call.args[0]), true);
  let any = false;
  for (let i = 0; i < ctx.n; i++) {
    if (!counted.some((s) => s.present[i])) {
      out.values[i] = 1;
      out.present[i] = 1;
      any = true;
    }
  }
  return { kind: 'vector', series: any ? [out] : [] };
}

function scalarFn(ctx: EvalContext, call: Call): EvalValue {
  const input = ctx.evalVector(call.args[0]);
  return scalarOf(ctx, (_t, i) => {
    let found = false;
    let value = NaN;
    for (const s of input) {
      if (!s.present[i]) continue;
      if (found) return NaN;
      found = true;
      value = s.values[i];
    }
    return value;
  });
}

function vectorFn(ctx: EvalContext, call: Call): EvalValue {
  const v = ctx.evalScalar(call.args[0]);
  const out = ctx.newSeries({}, false);
  out.values.set(v);
  out.present.fill(1);
  return { kind: 'vector', series: [out] };
}

/** Orders a vector: only meaningful for instant queries, where the order is the result's. */
function sortBy(compare: (a: StepSeries, b: StepSeries, i: number) => number): (ctx: EvalContext, call: Call) => EvalValue {
  return (ctx, call) => {
    if (ctx.queryStepMs > 0) ctx.warn('PromQL warning: sort is ineffective for range queries since results are always ordered by labels', call);
    const input = ctx.evalVector(call.args[0]);
    const i = ctx.n - 1;
    return { kind: 'vector', series: [...input].sort((a, b) => compare(a, b, i)) };
  };
}

/** NaN sorts last for both directions, as in Prometheus. */
function byValue(desc: boolean) {
  return (a: StepSeries, b: StepSeries, i: number): number => {
    const x = a.values[i];
    const y = b.values[i];
    if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
    if (Number.isNaN(y)) return -1;
    return desc ? y - x : x - y;
  };
}

/** github.com/facette/natsort: digit runs compare numerically. */
export function natLess(a: string, b: string): boolean {
  const chunk = /(\d+|\D+)/g;
  const ca = a.match(chunk) ?? [];
  const cb = b.match(chunk) ?? [];
  for (let i = 0; i < ca.length && i < cb.length; i++) {
    if (ca[i] === cb[i]) continue;
    const na = /^\d/.test(ca[i]);
    const nb = /^\d/.test(cb[i]);
    if (na && nb) {
      const x = Number(ca[i]);
      const y = Number(cb[i]);
      if (x !== y) return x < y;
      return ca[i] < cb[i];
    }
    return ca[i] < cb[i];
  }
  return ca.length < cb.length;
}

function sortByLabel(desc: boolean): (ctx: EvalContext, call: Call) => EvalValue {
  return (ctx, call) => {
    const names = call.args.slice(1).map((_, k) => stringArg(call, k + 1));
    const input = ctx.evalVector(call.args[0]);
    const sorted = [...input].sort((a, b) => {
      for (const n of names) {
        const x = a.labels[n] ?? '';
        const y = b.labels[n] ?? '';
        if (x === y) continue;
        const less = natLess(x, y);
        return (less ? -1 : 1) * (desc ? -1 : 1);
      }
      return compareLabels(a.labels, b.labels) * (desc ? -1 : 1);
    });
    return { kind: 'vector', series: sorted };
  };
}

interface BucketGroup {
  labels: Labels;
  members: { le: number; series: StepSeries }[];
}

function groupBuckets(ctx: EvalContext, input: StepSeries[], metricExpr: Expr): BucketGroup[] {
  const groups = new Map<string, BucketGroup>();
  for (const s of input) {
    const leStr = s.labels.le;
    const le = leStr === undefined ? NaN : parseGoFloat(leStr);
    if (Number.isNaN(le)) {
      const name = s.labels[METRIC_NAME];
      const forName = name ? ` for metric name "${name}"` : '';
      ctx.warn(`PromQL warning: bucket label "le" is missing or has a malformed value of "${leStr ?? ''}"${forName}`, metricExpr);
      continue;
    }
    const rest: Record<string, string> = {};
    for (const k in s.labels) if (k !== 'le') rest[k] = s.labels[k];
    const key = labelsKey(rest);
    let g = groups.get(key);
    if (!g) {
      g = { labels: rest, members: [] };
      groups.set(key, g);
    }
    g.members.push({ le, series: s });
  }
  return [...groups.values()];
}

/** strconv.ParseFloat accepting Prometheus' spellings of infinity. */
function parseGoFloat(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === '+inf' || t === 'inf' || t === '+infinity' || t === 'infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (t === 'nan') return NaN;
  if (t === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) && !/^[+-]?0x[0-9a-f]+$/.test(t)) return NaN;
  return Number(t);
}

function classicHistogramQuantiles(
  ctx: EvalContext,
  call: Call,
  input: StepSeries[],
  metricExpr: Expr,
  qs: Float64Array[],
  labelFor: (labels: Labels, q: number) => Labels,
): EvalValue {
  const groups = groupBuckets(ctx, input, metricExpr);
  const out = new Map<string, StepSeries>();
  const buckets: Bucket[] = [];
  for (let i = 0; i < ctx.n; i++) {
    for (const qv of qs) {
      const q = qv[i];
      for (const g of groups) {
        buckets.length = 0;
        for (const m of g.members) if (m.series.present[i]) buckets.push({ upperBound: m.le, count: m.series.values[i] });
        if (buckets.length === 0) continue;
        const { value, forced } = bucketQuantile(q, buckets);
        if (forced) {
          const name = g.labels[METRIC_NAME];
          ctx.info(
            `PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)${name ? ` for metric name "${name}"` : ''}`,
            metricExpr,
          );
        }
        const labels = labelFor(g.labels, q);
        const key = labelsKey(labels);
        let s = out.get(key);
        if (!s) {
          s = ctx.newSeries(labels, true);
          out.set(key, s);
        }
        if (s.present[i]) ctx.fail('vector cannot contain metrics with the same labelset');
        s.values[i] = value;
        s.present[i] = 1;
      }
    }
  }
  return { kind: 'vector', series: [...out.values()] };
}

function warnQuantiles(ctx: EvalContext, q: Float64Array, e: Expr): void {
  for (const v of q) {
    if (Number.isNaN(v) || v < 0 || v > 1) {
      ctx.warn(quantileWarning(v), e);
      return;
    }
  }
}

function histogramQuantile(ctx: EvalContext, call: Call): EvalValue {
  const q = ctx.evalScalar(call.args[0]);
  const input = ctx.evalVector(call.args[1]);
  warnQuantiles(ctx, q, call.args[0]);
  return classicHistogramQuantiles(ctx, call, input, call.args[1], [q], (l) => l);
}

function histogramQuantiles(ctx: EvalContext, call: Call): EvalValue {
  const input = ctx.evalVector(call.args[0]);
  const label = stringArg(call, 1);
  const qs = call.args.slice(2).map((a) => ctx.evalScalar(a));
  call.args.slice(2).forEach((a, k) => warnQuantiles(ctx, qs[k], a));
  return classicHistogramQuantiles(ctx, call, input, call.args[0], qs, (l, q) => ({ ...l, [label]: formatOpenMetricsFloat(q) }));
}

/** labels.FormatOpenMetricsFloat: integral values get a ".0". */
function formatOpenMetricsFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  const s = formatValue(v);
  return Number.isInteger(v) && !s.includes('e') ? `${s}.0` : s;
}

function histogramFraction(ctx: EvalContext, call: Call): EvalValue {
  const lower = ctx.evalScalar(call.args[0]);
  const upper = ctx.evalScalar(call.args[1]);
  const input = ctx.evalVector(call.args[2]);
  const groups = groupBuckets(ctx, input, call.args[2]);
  const out: StepSeries[] = [];
  for (const g of groups) {
    const s = ctx.newSeries(g.labels, true);
    let any = false;
    for (let i = 0; i < ctx.n; i++) {
      const buckets: Bucket[] = [];
      for (const m of g.members) if (m.series.present[i]) buckets.push({ upperBound: m.le, count: m.series.values[i] });
      if (buckets.length === 0) continue;
      s.values[i] = bucketFraction(lower[i], upper[i], buckets);
      s.present[i] = 1;
      any = true;
    }
    if (any) out.push(s);
  }
  return { kind: 'vector', series: out };
}

/** Native-histogram-only functions ignore float samples, so over float data they return nothing. */
function nativeHistogramOnly(ctx: EvalContext, call: Call): EvalValue {
  for (const a of call.args) ctx.eval(a);
  return emptyVector();
}

/** Start timestamps of the samples of a plain selector (0 when unknown); nothing otherwise. */
function startTimestampFn(ctx: EvalContext, call: Call): EvalValue {
  const input = ctx.evalVector(call.args[0], true);
  const out: StepSeries[] = [];
  for (const s of input) {
    if (!s.startTimes) continue;
    const r = ctx.newSeries(s.labels, true);
    r.present.set(s.present);
    for (let i = 0; i < ctx.n; i++) if (s.present[i]) r.values[i] = s.startTimes[i] / 1000;
    out.push(r);
  }
  return { kind: 'vector', series: out };
}

function timestampFn(ctx: EvalContext, call: Call): EvalValue {
  const input = ctx.evalVector(call.args[0], true);
  const out = input.map((s) => {
    const r = ctx.newSeries(s.labels, true);
    r.present.set(s.present);
    for (let i = 0; i < ctx.n; i++) if (s.present[i]) r.values[i] = (s.times ? s.times[i] : ctx.times[i]) / 1000;
    return r;
  });
  return { kind: 'vector', series: out };
}

/** Date functions: of the argument's values as Unix seconds, or of the evaluation time. */
function dateFn(f: (d: Date) => number): FunctionImpl {
  return {
    kind: 'custom',
    fn: (ctx, call) => {
      if (call.args.length === 0) {
        const s = ctx.newSeries({}, false);
        for (let i = 0; i < ctx.n; i++) {
          s.values[i] = f(new Date(Math.trunc(ctx.times[i] / 1000) * 1000));
          s.present[i] = 1;
        }
        return { kind: 'vector', series: [s] };
      }
      const input = ctx.evalVector(call.args[0]);
      return {
        kind: 'vector',
        series: input.map((s) => {
          const r = ctx.newSeries(s.labels, true);
          r.present.set(s.present);
          for (let i = 0; i < ctx.n; i++) {
            if (s.present[i]) r.values[i] = Number.isFinite(s.values[i]) ? f(new Date(Math.trunc(s.values[i]) * 1000)) : NaN;
          }
          return r;
        }),
      };
    },
  };
}

function daysInMonth(d: Date): number {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
}

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

// ---------------------------------------------------------------------------------------------
// The table.

const math1 = (fn: (v: number) => number): FunctionImpl => ({ kind: 'elementwise', fn: (v) => fn(v) });

type Entry = Omit<FunctionDef, 'name'>;
const V: ValueType = 'vector';
const M: ValueType = 'matrix';
const S: ValueType = 'scalar';
const STR: ValueType = 'string';

const range = (fn: RangeFn, extra: ValueType[] = [], keepName = false): Entry => ({
  argTypes: [M, ...extra],
  variadic: 0,
  returnType: V,
  impl: { kind: 'range', fn, keepName },
});

const elementwise = (fn: (v: number) => number): Entry => ({ argTypes: [V], variadic: 0, returnType: V, impl: math1(fn) });

/** An experimental function of two scalars, step by step (`max_of`, `min_of`). */
function pairOfScalars(f: (a: number, b: number) => number): Entry {
  return {
    argTypes: [S, S],
    variadic: 0,
    returnType: S,
    experimental: true,
    impl: {
      kind: 'custom',
      fn: (ctx, call) => {
        const a = ctx.evalScalar(call.args[0]);
        const b = ctx.evalScalar(call.args[1]);
        return scalarOf(ctx, (_t, i) => f(a[i], b[i]));
      },
    },
  };
}

const queryContext = (f: (ctx: EvalContext, t: number) => number): Entry => ({
  argTypes: [],
  variadic: 0,
  returnType: S,
  experimental: true,
  impl: { kind: 'custom', fn: (ctx) => scalarOf(ctx, (t) => f(ctx, t)) },
});

const date = (f: (d: Date) => number): Entry => ({ argTypes: [V], variadic: 1, returnType: V, impl: dateFn(f) });

const TABLE: Record<string, Entry> = {
  abs: elementwise(Math.abs),
  absent: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: absent } },
  absent_over_time: { argTypes: [M], variadic: 0, returnType: V, impl: { kind: 'custom', fn: absentOverTime } },
  acos: elementwise(Math.acos),
  acosh: elementwise(Math.acosh),
  asin: elementwise(Math.asin),
  asinh: elementwise(Math.asinh),
  atan: elementwise(Math.atan),
  atanh: elementwise(Math.atanh),
  avg_over_time: range(avgOverTime),
  ceil: elementwise(Math.ceil),
  changes: range(changes),
  clamp: {
    argTypes: [V, S, S],
    variadic: 0,
    returnType: V,
    impl: { kind: 'elementwise', fn: (v, [min, max]) => (max < min ? undefined : Math.max(min, Math.min(max, v))) },
  },
  clamp_max: { argTypes: [V, S], variadic: 0, returnType: V, impl: { kind: 'elementwise', fn: (v, [max]) => Math.min(v, max) } },
  clamp_min: { argTypes: [V, S], variadic: 0, returnType: V, impl: { kind: 'elementwise', fn: (v, [min]) => Math.max(v, min) } },
  cos: elementwise(Math.cos),
  cosh: elementwise(Math.cosh),
  count_over_time: range((_ts, _vs, lo, hi) => hi - lo),
  days_in_month: date(daysInMonth),
  day_of_month: date((d) => d.getUTCDate()),
  day_of_week: date((d) => d.getUTCDay()),
  day_of_year: date(dayOfYear),
  deg: elementwise((v) => (v * 180) / Math.PI),
  delta: range(extrapolatedRate(false, false)),
  deriv: range(deriv),
  double_exponential_smoothing: { ...range(doubleExponentialSmoothing, [S, S]), experimental: true },
  end: queryContext((ctx) => ctx.queryEndMs / 1000),
  exp: elementwise(Math.exp),
  first_over_time: { ...range((_ts, vs, lo) => vs[lo], [], true), experimental: true },
  floor: elementwise(Math.floor),
  histogram_avg: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: nativeHistogramOnly } },
  histogram_count: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: nativeHistogramOnly } },
  histogram_fraction: { argTypes: [S, S, V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: histogramFraction } },
  histogram_quantile: { argTypes: [S, V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: histogramQuantile } },
  histogram_quantiles: {
    argTypes: [V, STR, S],
    variadic: -1,
    returnType: V,
    experimental: true,
    impl: { kind: 'custom', fn: histogramQuantiles },
  },
  histogram_stddev: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: nativeHistogramOnly } },
  histogram_stdvar: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: nativeHistogramOnly } },
  histogram_sum: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: nativeHistogramOnly } },
  hour: date((d) => d.getUTCHours()),
  idelta: range(instantValue(false)),
  increase: range(extrapolatedRate(true, false)),
  info: { argTypes: [V, V], variadic: 1, returnType: V, experimental: true, impl: { kind: 'custom', fn: infoFunction } },
  irate: range(instantValue(true)),
  label_join: { argTypes: [V, STR, STR, STR], variadic: -1, returnType: V, impl: { kind: 'custom', fn: labelJoin } },
  label_replace: { argTypes: [V, STR, STR, STR, STR], variadic: 0, returnType: V, impl: { kind: 'custom', fn: labelReplace } },
  last_over_time: range((_ts, vs, _lo, hi) => vs[hi - 1], [], true),
  ln: elementwise(Math.log),
  log10: elementwise(Math.log10),
  log2: elementwise(Math.log2),
  mad_over_time: { ...range(madOverTime), experimental: true },
  max_of: pairOfScalars(Math.max),
  max_over_time: range(compareOverTime((cur, best) => cur > best || Number.isNaN(best), false)),
  min_of: pairOfScalars(Math.min),
  min_over_time: range(compareOverTime((cur, best) => cur < best || Number.isNaN(best), false)),
  minute: date((d) => d.getUTCMinutes()),
  month: date((d) => d.getUTCMonth() + 1),
  pi: { argTypes: [], variadic: 0, returnType: S, impl: { kind: 'custom', fn: (ctx) => scalarOf(ctx, () => Math.PI) } },
  predict_linear: range(predictLinear, [S]),
  present_over_time: range(() => 1),
  quantile_over_time: {
    argTypes: [S, M],
    variadic: 0,
    returnType: V,
    impl: { kind: 'range', fn: quantileOverTime },
  },
  rad: elementwise((v) => (v * Math.PI) / 180),
  range: queryContext((ctx) => (ctx.queryEndMs - ctx.queryStartMs) / 1000),
  rate: range(extrapolatedRate(true, true)),
  resets: range(resets),
  round: {
    argTypes: [V, S],
    variadic: 1,
    returnType: V,
    impl: {
      kind: 'elementwise',
      fn: (v, params) => {
        const toNearestInverse = 1 / (params.length > 0 ? params[0] : 1);
        return Math.floor(v * toNearestInverse + 0.5) / toNearestInverse;
      },
    },
  },
  scalar: { argTypes: [V], variadic: 0, returnType: S, impl: { kind: 'custom', fn: scalarFn } },
  sgn: elementwise((v) => (v < 0 ? -1 : v > 0 ? 1 : v)),
  sin: elementwise(Math.sin),
  sinh: elementwise(Math.sinh),
  sort: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: sortBy(byValue(false)) } },
  sort_by_label: {
    argTypes: [V, STR],
    variadic: -1,
    returnType: V,
    experimental: true,
    impl: { kind: 'custom', fn: sortByLabel(false) },
  },
  sort_by_label_desc: {
    argTypes: [V, STR],
    variadic: -1,
    returnType: V,
    experimental: true,
    impl: { kind: 'custom', fn: sortByLabel(true) },
  },
  sort_desc: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: sortBy(byValue(true)) } },
  sqrt: elementwise(Math.sqrt),
  start: queryContext((ctx) => ctx.queryStartMs / 1000),
  start_timestamp: { argTypes: [V], variadic: 0, returnType: V, experimental: true, impl: { kind: 'custom', fn: startTimestampFn } },
  stddev_over_time: range(varianceOverTime(true)),
  stdvar_over_time: range(varianceOverTime(false)),
  step: queryContext((ctx) => ctx.queryStepMs / 1000),
  sum_over_time: range(sumOverTime),
  tan: elementwise(Math.tan),
  tanh: elementwise(Math.tanh),
  time: { argTypes: [], variadic: 0, returnType: S, impl: { kind: 'custom', fn: (ctx) => scalarOf(ctx, (t) => t / 1000) } },
  timestamp: { argTypes: [V], variadic: 0, returnType: V, impl: { kind: 'custom', fn: timestampFn } },
  ts_of_first_over_time: { ...range((ts, _vs, lo) => ts[lo] / 1000), experimental: true },
  ts_of_last_over_time: { ...range((ts, _vs, _lo, hi) => ts[hi - 1] / 1000), experimental: true },
  ts_of_max_over_time: { ...range(compareOverTime((cur, best) => cur >= best || Number.isNaN(best), true)), experimental: true },
  ts_of_min_over_time: { ...range(compareOverTime((cur, best) => cur <= best || Number.isNaN(best), true)), experimental: true },
  vector: { argTypes: [S], variadic: 0, returnType: V, impl: { kind: 'custom', fn: vectorFn } },
  year: date((d) => d.getUTCFullYear()),
};

export const FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(
  Object.entries(TABLE).map(([name, e]) => [name, { name, ...e }]),
);
