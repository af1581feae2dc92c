/**
 * The evaluator. A query is a range of steps (an instant query has one); each AST node is
 * evaluated once for all steps into columnar series (see values.ts). Selection, grouping and
 * matching work per series, so label sets are hashed once per query, not once per sample.
 */
import type { Labels } from '../core/labels.js';
import { METRIC_NAME, isStaleNaN } from '../core/labels.js';
import type { Querier, SeriesSamples } from '../core/queryable.js';
import type {
  AggregateExpr,
  AtModifier,
  BinaryExpr,
  Call,
  Expr,
  MatrixSelector,
  SubqueryExpr,
  VectorMatching,
  VectorSelector,
} from './ast.js';
import { COMPARISON_OPERATORS } from './ast.js';
import {
  positionOf,
  PromQLExecutionError,
  PromQLTimeoutError,
  PromQLTooManySamplesError,
} from './errors.js';
import type { Window } from './functions.js';
import { FUNCTIONS, goPow, kahan, kahanInc, quantileOf } from './functions.js';
import { exprType } from './parser.js';
import { extendPoints } from './extended.js';
import type { EvalContext, EvalValue, RawSeries, StepSeries } from './values.js';
import { formatValue, keyOf, keyWithout, labelsKey, labelsString, withoutName } from './values.js';

export interface EvalSettings {
  readonly lookbackDeltaMs: number;
  readonly maxSamples: number;
  readonly deadline: number;
  /** Resolution of subqueries written without a step (`x[5m:]`). */
  readonly defaultSubqueryStepMs: number;
}

/** State shared by an evaluator and the child evaluators of its subqueries. */
export interface SharedState {
  readonly querier: Querier;
  readonly settings: EvalSettings;
  /** The outermost query's start and end, which `@ start()`/`@ end()` and start()/end() refer to. */
  readonly queryStartMs: number;
  readonly queryEndMs: number;
  readonly queryStepMs: number;
  /** The query text, for the `(line:col)` suffix of annotations. */
  readonly query: string;
  samples: number;
  checks: number;
  readonly warnings: Set<string>;
  readonly infos: Set<string>;
}

type BinFn = (l: number, r: number) => number;

const ARITHMETIC: Record<string, BinFn> = {
  '+': (l, r) => l + r,
  '-': (l, r) => l - r,
  '*': (l, r) => l * r,
  '/': (l, r) => l / r,
  '%': (l, r) => l % r,
  '^': goPow,
  atan2: Math.atan2,
};

const COMPARE: Record<string, (l: number, r: number) => boolean> = {
  '==': (l, r) => l === r,
  '!=': (l, r) => l !== r,
  '>': (l, r) => l > r,
  '<': (l, r) => l < r,
  '>=': (l, r) => l >= r,
  '<=': (l, r) => l <= r,
};

function stepTimes(startMs: number, endMs: number, stepMs: number): Float64Array {
  const n = Math.floor((endMs - startMs) / stepMs) + 1;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) times[i] = startMs + i * stepMs;
  return times;
}

function* mapIterable<T, U>(it: Iterable<T>, f: (t: T) => U): Iterable<U> {
  for (const x of it) yield f(x);
}

function unwrapParens(e: Expr): Expr {
  return e.type === 'paren' ? unwrapParens(e.expr) : e;
}

/** Drops staleness markers: range functions never see them. */
function withoutStale(s: SeriesSamples): { ts: ArrayLike<number>; vs: ArrayLike<number>; sts?: ArrayLike<number> } {
  const vs = s.values;
  const sts = s.startTimestamps;
  let stale = 0;
  for (let i = 0; i < vs.length; i++) if (vs[i] !== vs[i] && isStaleNaN(vs[i])) stale++;
  if (stale === 0) return sts ? { ts: s.timestamps, vs, sts } : { ts: s.timestamps, vs };
  const n = vs.length - stale;
  const ts2 = new Float64Array(n);
  const vs2 = new Float64Array(n);
  const sts2 = sts ? new Float64Array(n) : undefined;
  let k = 0;
  for (let i = 0; i < vs.length; i++) {
    if (vs[i] !== vs[i] && isStaleNaN(vs[i])) continue;
    ts2[k] = s.timestamps[i];
    if (sts2) sts2[k] = sts![i];
    vs2[k++] = vs[i];
  }
  return sts2 ? { ts: ts2, vs: vs2, sts: sts2 } : { ts: ts2, vs: vs2 };
}

/** Functions that read start timestamps (Prometheus: with start timestamps enabled). */
const USES_START_TIMESTAMPS = new Set(['rate', 'increase', 'irate', 'resets']);

export class Evaluator implements EvalContext {
  readonly n: number;
  readonly times: Float64Array;

  constructor(
    readonly shared: SharedState,
    readonly startMs: number,
    readonly endMs: number,
    readonly stepMs: number,
  ) {
    this.times = stepTimes(startMs, endMs, stepMs);
    this.n = this.times.length;
  }

  get queryStartMs(): number {
    return this.shared.queryStartMs;
  }

  get queryEndMs(): number {
    return this.shared.queryEndMs;
  }

  get queryStepMs(): number {
    return this.shared.queryStepMs;
  }

  // ---- EvalContext --------------------------------------------------------------------------

  fail(message: string): never {
    throw new PromQLExecutionError(message);
  }

  /** Prometheus' annotation text: the message, then the position of the expression it is about. */
  private annotation(message: string, e?: Expr): string {
    if (!e) return message;
    const p = positionOf(this.shared.query, e.pos.start);
    return `${message} (${p.line}:${p.column})`;
  }

  warn(message: string, e?: Expr): void {
    this.shared.warnings.add(this.annotation(message, e));
  }

  info(message: string, e?: Expr): void {
    this.shared.infos.add(this.annotation(message, e));
  }

  newSeries(labels: Labels, dropName: boolean): StepSeries {
    return { labels, values: new Float64Array(this.n), present: new Uint8Array(this.n), dropName };
  }

  evalVector(e: Expr, sampleTimes = false): StepSeries[] {
    // Only timestamp()/start_timestamp() of a plain selector read sample times; keeping them
    // for every selector would double the memory of a range query.
    const inner = unwrapParens(e);
    if (sampleTimes && inner.type === 'vectorSelector') return this.evalVectorSelector(inner, true);
    const v = this.eval(e);
    if (v.kind !== 'vector') this.fail(`expected instant vector, got ${v.kind}`);
    return v.series;
  }

  evalScalar(e: Expr): Float64Array {
    const v = this.eval(e);
    if (v.kind !== 'scalar') this.fail(`expected scalar, got ${v.kind}`);
    return v.values;
  }

  mergeSameLabels(series: StepSeries[]): StepSeries[] {
    const byKey = new Map<string, StepSeries>();
    const out: StepSeries[] = [];
    for (const s of series) {
      const key = labelsKey(s.labels);
      const prev = byKey.get(key);
      if (!prev) {
        byKey.set(key, s);
        out.push(s);
        continue;
      }
      for (let i = 0; i < this.n; i++) {
        if (!s.present[i]) continue;
        if (prev.present[i]) this.fail('vector cannot contain metrics with the same labelset');
        prev.present[i] = 1;
        prev.values[i] = s.values[i];
      }
    }
    return out;
  }

  // ---- limits -------------------------------------------------------------------------------

  private tick(): void {
    if ((++this.shared.checks & 63) === 0 && Date.now() > this.shared.settings.deadline) {
      throw new PromQLTimeoutError();
    }
  }

  /** Counts samples that stay in memory until the query ends (results of nodes). */
  private account(samples: number): void {
    this.shared.samples += samples;
    if (this.shared.samples > this.shared.settings.maxSamples) throw new PromQLTooManySamplesError();
  }

  /**
   * Checks samples held only while one series is processed (a range window), as Prometheus
   * counts a window's points at each step and releases them after.
   */
  private accountTransient(samples: number): void {
    if (this.shared.samples + samples > this.shared.settings.maxSamples) throw new PromQLTooManySamplesError();
  }

  // ---- dispatch -----------------------------------------------------------------------------

  eval(e: Expr): EvalValue {
    if (Date.now() > this.shared.settings.deadline) throw new PromQLTimeoutError();
    switch (e.type) {
      case 'number': {
        const values = new Float64Array(this.n).fill(e.value);
        return { kind: 'scalar', values };
      }
      case 'string':
        return { kind: 'string', value: e.value };
      case 'paren':
        return this.eval(e.expr);
      case 'unary':
        return this.evalUnary(e.op, this.eval(e.expr));
      case 'vectorSelector':
        return { kind: 'vector', series: this.evalVectorSelector(e) };
      case 'matrixSelector':
      case 'subquery':
        return { kind: 'matrix', series: this.rangeAt(e) };
      case 'call':
        return this.evalCall(e);
      case 'aggregate':
        return { kind: 'vector', series: this.evalAggregate(e) };
      case 'binary':
        return this.evalBinary(e);
    }
  }

  private evalUnary(op: '-' | '+', v: EvalValue): EvalValue {
    if (op === '+') return v;
    if (v.kind === 'scalar') return { kind: 'scalar', values: v.values.map((x) => -x) };
    if (v.kind !== 'vector') this.fail('unary minus needs a scalar or instant vector');
    return {
      kind: 'vector',
      series: v.series.map((s) => ({ labels: s.labels, values: s.values.map((x) => -x), present: s.present, dropName: true })),
    };
  }

  // ---- selectors ----------------------------------------------------------------------------

  private atTime(at: AtModifier | null): number | null {
    if (!at) return null;
    if (at.kind === 'time') return at.ms;
    return at.kind === 'start' ? this.shared.queryStartMs : this.shared.queryEndMs;
  }

  /** Reference time of each step for a selector: the @ time or the step time, minus offset. */
  private refTimes(at: AtModifier | null, offsetMs: number): Float64Array {
    const fixed = this.atTime(at);
    const refs = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) refs[i] = (fixed ?? this.times[i]) - offsetMs;
    return refs;
  }

  private select(vs: VectorSelector, minMs: number, maxMs: number): Iterable<SeriesSamples> {
    return this.shared.querier.select(vs.matchers, minMs, maxMs);
  }

  private evalVectorSelector(vs: VectorSelector, sampleTimes = false): StepSeries[] {
    if (vs.extension === 'smoothed') return this.evalSmoothedSelector(vs);
    const refs = this.refTimes(vs.at, vs.offsetMs);
    const lookback = this.shared.settings.lookbackDeltaMs;
    const raw = this.select(vs, refs[0] - lookback + 1, refs[this.n - 1]);
    const out: StepSeries[] = [];
    let points = 0;
    for (const s of raw) {
      this.tick();
      const ts = s.timestamps;
      const vals = s.values;
      const series = this.newSeries(s.labels, false);
      const times = sampleTimes ? new Float64Array(this.n) : undefined;
      const sts = s.startTimestamps;
      const startTimes = sampleTimes && sts ? new Float64Array(this.n) : undefined;
      let j = 0;
      let any = false;
      for (let i = 0; i < this.n; i++) {
        const ref = refs[i];
        while (j < ts.length && ts[j] <= ref) j++;
        const last = j - 1;
        if (last < 0 || ts[last] <= ref - lookback) continue;
        const v = vals[last];
        if (v !== v && isStaleNaN(v)) continue;
        series.values[i] = v;
        series.present[i] = 1;
        if (times) times[i] = ts[last];
        if (startTimes) startTimes[i] = sts![last];
        any = true;
        points++;
      }
      if (any) {
        series.times = times;
        series.startTimes = startTimes;
        out.push(series);
      }
    }
    this.account(points);
    return out;
  }

  /**
   * `x smoothed`: the value at each step is interpolated between the samples around it (within
   * the lookback delta on either side), or the last one before it when none follows.
   */
  private evalSmoothedSelector(vs: VectorSelector): StepSeries[] {
    const refs = this.refTimes(vs.at, vs.offsetMs);
    const lb = this.shared.settings.lookbackDeltaMs;
    const out: StepSeries[] = [];
    let points = 0;
    for (const raw of this.select(vs, refs[0] - lb + 1, refs[this.n - 1] + lb)) {
      this.tick();
      const { ts, vs: vals } = withoutStale(raw);
      const series = this.newSeries(raw.labels, false);
      let any = false;
      let lo = 0;
      let i0 = 0;
      for (let i = 0; i < this.n; i++) {
        const t = refs[i];
        if (i > 0 && t < refs[i - 1]) {
          lo = 0;
          i0 = 0;
        }
        while (lo < ts.length && ts[lo] <= t - lb) lo++;
        if (i0 < lo) i0 = lo;
        while (i0 < ts.length && ts[i0] < t) i0++;
        const hasNext = i0 < ts.length && ts[i0] <= t + lb;
        const hasPrev = i0 > lo;
        let v: number;
        if (hasNext && ts[i0] === t) v = vals[i0];
        else if (hasPrev && hasNext) v = vals[i0 - 1] + ((vals[i0] - vals[i0 - 1]) * (t - ts[i0 - 1])) / (ts[i0] - ts[i0 - 1]);
        else if (hasPrev) v = vals[i0 - 1];
        else continue;
        series.values[i] = v;
        series.present[i] = 1;
        any = true;
        points++;
      }
      if (any) out.push(series);
    }
    this.account(points);
    return out;
  }

  /**
   * The points of a range selector or subquery, plus what windows over them need. Selector
   * series are streamed from the querier one at a time, so a range function over many long
   * series never holds more than one of them.
   */
  private rangeSource(e: MatrixSelector | SubqueryExpr): RangeSource {
    if (e.type === 'matrixSelector') {
      const vs = e.selector;
      const refs = this.refTimes(vs.at, vs.offsetMs);
      // anchored/smoothed windows reach one lookback delta further (smoothed: on both sides).
      const lb = this.shared.settings.lookbackDeltaMs;
      const before = vs.extension ? lb : 0;
      const after = vs.extension === 'smoothed' ? lb : 0;
      const raw = this.select(vs, refs[0] - e.rangeMs - before + 1, refs[this.n - 1] + after);
      return {
        series: mapIterable(raw, (s) => ({ labels: s.labels, ...withoutStale(s), dropName: false })),
        refs,
        rangeMs: e.rangeMs,
        before,
        after,
        extension: vs.extension ?? null,
      };
    }
    const refs = this.refTimes(e.at, e.offsetMs);
    const step = e.stepMs || this.shared.settings.defaultSubqueryStepMs;
    const from = refs[0] - e.rangeMs;
    let start = step * Math.trunc(from / step);
    if (start <= from) start += step;
    const end = refs[this.n - 1];
    if (start > end) return { series: [], refs, rangeMs: e.rangeMs, before: 0, after: 0, extension: null };
    const child = new Evaluator(this.shared, start, end, step);
    const inner = child.evalVector(e.expr);
    const series: RawSeries[] = [];
    for (const s of inner) {
      let count = 0;
      for (let i = 0; i < child.n; i++) count += s.present[i];
      const ts = new Float64Array(count);
      const vs = new Float64Array(count);
      let k = 0;
      for (let i = 0; i < child.n; i++) {
        if (!s.present[i]) continue;
        ts[k] = child.times[i];
        vs[k++] = s.values[i];
      }
      series.push({ labels: s.labels, ts, vs, dropName: s.dropName });
    }
    return { series, refs, rangeMs: e.rangeMs, before: 0, after: 0, extension: null };
  }

  /** A range vector as a value: only valid for an instant query (one step). */
  private rangeAt(e: MatrixSelector | SubqueryExpr): RawSeries[] {
    const src = this.rangeSource(e);
    const end = src.refs[this.n - 1];
    const start = end - src.rangeMs;
    const out: RawSeries[] = [];
    for (const s of src.series) {
      if (src.extension) {
        const ext = extendPoints(s.ts, s.vs, start, end, src.before, src.after, src.extension === 'smoothed');
        if (ext) {
          out.push({ labels: s.labels, ts: ext.ts, vs: ext.vs, dropName: s.dropName });
          this.account(ext.ts.length);
        }
        continue;
      }
      const ts: number[] = [];
      const vs: number[] = [];
      for (let i = 0; i < s.ts.length; i++) {
        if (s.ts[i] > start && s.ts[i] <= end) {
          ts.push(s.ts[i]);
          vs.push(s.vs[i]);
        }
      }
      if (ts.length > 0) {
        out.push({ labels: s.labels, ts, vs, dropName: s.dropName });
        this.account(ts.length);
      }
    }
    return out;
  }

  // ---- functions ----------------------------------------------------------------------------

  private evalCall(call: Call): EvalValue {
    const def = FUNCTIONS.get(call.name);
    if (!def) this.fail(`unknown function ${call.name}`);
    const impl = def.impl;
    switch (impl.kind) {
      case 'custom':
        return impl.fn(this, call);
      case 'elementwise': {
        const input = this.evalVector(call.args[0]);
        const params = call.args.slice(1).map((a) => this.evalScalar(a));
        const p: number[] = new Array(params.length);
        const out: StepSeries[] = [];
        for (const s of input) {
          const r = this.newSeries(s.labels, true);
          let any = false;
          for (let i = 0; i < this.n; i++) {
            if (!s.present[i]) continue;
            for (let k = 0; k < params.length; k++) p[k] = params[k][i];
            const v = impl.fn(s.values[i], p);
            if (v === undefined) continue;
            r.values[i] = v;
            r.present[i] = 1;
            any = true;
          }
          if (any) out.push(r);
        }
        return { kind: 'vector', series: out };
      }
      case 'range':
        return { kind: 'vector', series: this.evalRangeFunction(call, impl.fn, impl.keepName === true) };
    }
  }

  private evalRangeFunction(call: Call, fn: import('./functions.js').RangeFn, keepName: boolean): StepSeries[] {
    const mi = call.args.findIndex((a) => exprType(a) === 'matrix');
    const arg = unwrapParens(call.args[mi]) as MatrixSelector | SubqueryExpr;
    const params = call.args.filter((_, k) => k !== mi).map((a) => this.evalScalar(a));
    const src = this.rangeSource(arg);
    const { refs, rangeMs, before, after } = src;
    if (src.extension) {
      const safe = src.extension === 'anchored' ? ANCHORED_SAFE : SMOOTHED_SAFE;
      if (!safe.includes(call.name)) {
        this.fail(`${src.extension} modifier can only be used with: ${safe.join(', ')} - not with ${call.name}`);
      }
    }
    const out: StepSeries[] = [];
    const self = this;
    const w: Window = {
      rangeStart: 0,
      rangeEnd: 0,
      rangeMs,
      evalTs: 0,
      params: new Array(params.length),
      labels: {},
      sts: null,
      extension: src.extension,
      warn: (m) => self.warn(m, call.args[mi]),
      info: (m) => self.info(m, call.args[mi]),
      fail: (m) => self.fail(m),
    };
    const counterCheck = call.name === 'rate' || call.name === 'increase';
    const usesSts = USES_START_TIMESTAMPS.has(call.name);
    let outPoints = 0;
    for (const s of src.series) {
      this.tick();
      const ts = s.ts;
      const vs = s.vs;
      const r = this.newSeries(s.labels, keepName ? s.dropName : true);
      w.labels = s.labels;
      w.sts = usesSts ? (s.sts ?? null) : null;
      let lo = 0;
      let hi = 0;
      let any = false;
      let maxWindow = 0;
      for (let i = 0; i < this.n; i++) {
        const end = refs[i];
        const start = end - rangeMs;
        // Windows only move forward (refs never decrease), so two cursors suffice.
        if (i > 0 && end < refs[i - 1]) {
          lo = 0;
          hi = 0;
        }
        while (lo < ts.length && ts[lo] <= start - before) lo++;
        if (hi < lo) hi = lo;
        while (hi < ts.length && ts[hi] <= end + after) hi++;
        if (hi <= lo) continue;
        if (hi - lo > maxWindow) {
          maxWindow = hi - lo;
          this.accountTransient(maxWindow + outPoints);
        }
        w.rangeStart = start;
        w.rangeEnd = end;
        w.evalTs = this.times[i];
        for (let k = 0; k < params.length; k++) w.params[k] = params[k][i];
        const v = fn(ts, vs, lo, hi, w);
        if (v === undefined) continue;
        r.values[i] = v;
        r.present[i] = 1;
        outPoints++;
        any = true;
      }
      if (any) {
        out.push(r);
        const name = s.labels[METRIC_NAME];
        if (counterCheck && name !== undefined && !/_(total|sum|count|bucket)$/.test(name)) {
          this.info(`PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "${name}"`, call.args[mi]);
        }
      }
    }
    this.account(outPoints);
    return out;
  }

  // ---- aggregation --------------------------------------------------------------------------

  private evalAggregate(e: AggregateExpr): StepSeries[] {
    const input = this.evalVector(e.expr);
    const op = e.op;
    if (op === 'count_values') return this.countValues(e, input);
    const param = e.param ? this.evalScalar(e.param) : null;
    if (op === 'topk' || op === 'bottomk' || op === 'limitk' || op === 'limit_ratio') return this.aggregateK(e, input, param!);

    const grouping = [...e.grouping].sort();
    const groupSet = new Set(e.grouping);
    const groupOf = new Int32Array(input.length);
    const groupLabels: Labels[] = [];
    const index = new Map<string, number>();
    input.forEach((s, si) => {
      this.tick();
      const key = e.without ? keyWithout(s.labels, groupSet) : keyOf(s.labels, grouping);
      let g = index.get(key);
      if (g === undefined) {
        g = groupLabels.length;
        index.set(key, g);
        groupLabels.push(e.without ? dropLabels(s.labels, groupSet) : keepLabels(s.labels, grouping));
      }
      groupOf[si] = g;
    });
    const G = groupLabels.length;
    const n = this.n;
    const size = G * n;
    const value = new Float64Array(size);
    const comp = new Float64Array(size);
    const count = new Float64Array(size);
    const mean = new Float64Array(size);
    const incremental = new Uint8Array(size);
    const dropName = new Uint8Array(G);
    const lists: number[][] | null = op === 'quantile' ? Array.from({ length: size }, () => []) : null;
    if (op === 'quantile' && param) {
      for (let i = 0; i < n; i++) {
        const q = param[i];
        if (Number.isNaN(q) || q < 0 || q > 1) {
          this.warn(`PromQL warning: quantile value should be between 0 and 1, got ${formatValue(q)}`, e.param!);
          break;
        }
      }
    }

    for (let si = 0; si < input.length; si++) {
      const s = input[si];
      const g = groupOf[si];
      if (s.dropName) dropName[g] = 1;
      const base = g * n;
      const vals = s.values;
      const pres = s.present;
      for (let i = 0; i < n; i++) {
        if (!pres[i]) continue;
        const f = vals[i];
        const k = base + i;
        const c = count[k]++;
        if (c === 0) {
          switch (op) {
            case 'stddev':
            case 'stdvar':
              value[k] = Number.isFinite(f) ? 0 : NaN;
              mean[k] = f;
              break;
            case 'group':
              value[k] = 1;
              break;
            case 'quantile':
              lists![k].push(f);
              break;
            default:
              value[k] = f;
          }
          continue;
        }
        switch (op) {
          case 'sum': {
            const t = value[k] + f;
            const sum = value[k];
            if (!Number.isFinite(t) && !Number.isNaN(t)) comp[k] = 0;
            else if (Math.abs(sum) >= Math.abs(f)) comp[k] += sum - t + f;
            else comp[k] += f - t + sum;
            value[k] = t;
            break;
          }
          case 'avg': {
            const cnt = c + 1;
            if (!incremental[k]) {
              const nv = kahanInc(f, value[k], comp[k]);
              const nc = kahan.c;
              if (Number.isFinite(nv) || Number.isNaN(nv)) {
                value[k] = nv;
                comp[k] = nc;
                break;
              }
              incremental[k] = 1;
              mean[k] = value[k] / (cnt - 1);
              comp[k] /= cnt - 1;
            }
            const q = (cnt - 1) / cnt;
            mean[k] = kahanInc(f / cnt, q * mean[k], q * comp[k]);
            comp[k] = kahan.c;
            break;
          }
          case 'max':
            if (value[k] < f || Number.isNaN(value[k])) value[k] = f;
            break;
          case 'min':
            if (value[k] > f || Number.isNaN(value[k])) value[k] = f;
            break;
          case 'stddev':
          case 'stdvar': {
            const cnt = c + 1;
            const delta = f - mean[k];
            mean[k] += delta / cnt;
            value[k] += delta * (f - mean[k]);
            break;
          }
          case 'quantile':
            lists![k].push(f);
            break;
          default:
            break;
        }
      }
    }

    const out: StepSeries[] = [];
    for (let g = 0; g < G; g++) {
      const r = this.newSeries(groupLabels[g], dropName[g] === 1);
      let any = false;
      for (let i = 0; i < n; i++) {
        const k = g * n + i;
        const cnt = count[k];
        if (cnt === 0) continue;
        let v: number;
        switch (op) {
          case 'sum':
            v = Number.isFinite(value[k]) || Number.isNaN(value[k]) ? value[k] + comp[k] : value[k];
            break;
          case 'avg':
            v = incremental[k] ? mean[k] + comp[k] : value[k] / cnt + comp[k] / cnt;
            break;
          case 'count':
            v = cnt;
            break;
          case 'stdvar':
            v = value[k] / cnt;
            break;
          case 'stddev':
            v = Math.sqrt(value[k] / cnt);
            break;
          case 'quantile':
            v = quantileOf(param![i], lists![k]);
            break;
          default:
            v = value[k];
        }
        r.values[i] = v;
        r.present[i] = 1;
        any = true;
      }
      if (any) out.push(r);
    }
    this.account(out.length * n);
    return out;
  }

  private groupKeyFn(e: AggregateExpr): (l: Labels) => string {
    const grouping = [...e.grouping].sort();
    const groupSet = new Set(e.grouping);
    return e.without ? (l) => keyWithout(l, groupSet) : (l) => keyOf(l, grouping);
  }

  private countValues(e: AggregateExpr, input: StepSeries[]): StepSeries[] {
    const param = this.eval(e.param!);
    const labelName = param.kind === 'string' ? param.value : '';
    if (labelName === '') this.fail(`invalid label name ""`);
    const groupSet = new Set(e.grouping);
    const grouping = [...e.grouping].sort();
    const out = new Map<string, StepSeries>();
    for (let i = 0; i < this.n; i++) {
      for (const s of input) {
        if (!s.present[i]) continue;
        const base = e.without ? dropLabels(s.labels, groupSet) : keepLabels(s.labels, grouping);
        const labels = { ...base, [labelName]: formatValue(s.values[i]) };
        const key = labelsKey(labels);
        let r = out.get(key);
        if (!r) {
          r = this.newSeries(labels, false);
          out.set(key, r);
        }
        if (!r.present[i]) {
          r.present[i] = 1;
          r.values[i] = 0;
        }
        r.values[i]++;
      }
    }
    return [...out.values()];
  }

  private aggregateK(e: AggregateExpr, input: StepSeries[], param: Float64Array): StepSeries[] {
    const op = e.op;
    let max = -Infinity;
    let min = Infinity;
    let hasNaN = false;
    for (const p of param) {
      if (Number.isNaN(p)) hasNaN = true;
      // math.Max/Min in Go propagate NaN, which decides the early returns below.
      max = Math.max(max, p);
      min = Math.min(min, p);
    }
    if (op === 'limit_ratio') {
      if (max === 0 && min === 0) return [];
      if (hasNaN) this.fail('Ratio value is NaN');
      if (max > 1) this.warn(`PromQL warning: ratio value should be between -1 and 1, got ${formatValue(max)}, capping to 1`, e.param!);
      if (min < -1) this.warn(`PromQL warning: ratio value should be between -1 and 1, got ${formatValue(min)}, capping to -1`, e.param!);
    } else {
      if (max < 1) return [];
      if (hasNaN) this.fail('Parameter value is NaN');
      if (min <= -9223372036854775808) this.fail(`Scalar value ${formatValue(min)} underflows int64`);
      if (max >= 9223372036854775807) this.fail(`Scalar value ${formatValue(max)} overflows int64`);
    }
    const keyFn = this.groupKeyFn(e);
    const groupOf = new Int32Array(input.length);
    const index = new Map<string, number>();
    input.forEach((s, si) => {
      const key = keyFn(s.labels);
      let g = index.get(key);
      if (g === undefined) {
        g = index.size;
        index.set(key, g);
      }
      groupOf[si] = g;
    });
    const G = index.size;
    // One output series per input series: topk & co. keep the input labels.
    const outs: (StepSeries | null)[] = new Array(input.length).fill(null);
    const order: number[] = [];
    const heaps: number[][] = Array.from({ length: G }, () => []);
    for (let i = 0; i < this.n; i++) {
      for (const h of heaps) h.length = 0;
      const fp = param[i];
      const k = Math.min(Math.trunc(fp), input.length);
      if (op !== 'limit_ratio' && k < 1) continue;
      if (op === 'limit_ratio' && fp === 0) continue;
      const ratio = Math.max(-1, Math.min(1, fp));
      const val = (si: number) => input[si].values[i];
      // Go's container/heap with Prometheus' Less, so ties resolve the same way.
      const less = op === 'bottomk' ? (a: number, b: number) => Number.isNaN(val(a)) || val(a) > val(b) : (a: number, b: number) => Number.isNaN(val(a)) || val(a) < val(b);
      for (let si = 0; si < input.length; si++) {
        if (!input[si].present[i]) continue;
        const h = heaps[groupOf[si]];
        switch (op) {
          case 'topk':
          case 'bottomk': {
            if (h.length < k) {
              h.push(si);
              heapUp(h, h.length - 1, less);
            } else {
              const top = val(h[0]);
              const v = val(si);
              const better = op === 'topk' ? top < v : top > v;
              if (better || (Number.isNaN(top) && !Number.isNaN(v))) {
                h[0] = si;
                if (k > 1) heapFix(h, 0, less);
              }
            }
            break;
          }
          case 'limitk':
            if (h.length < k) h.push(si);
            break;
          case 'limit_ratio':
            if (ratioSample(ratio, input[si].labels)) h.push(si);
            break;
          default:
            break;
        }
      }
      for (const h of heaps) {
        if ((op === 'topk' || op === 'bottomk') && h.length > 1) {
          // sort.Sort(sort.Reverse(heap)): insertion sort (Go's choice below 13 elements) on
          // the reversed order; larger inputs use a stable sort, equivalent for distinct values.
          const rev = (a: number, b: number) => less(b, a);
          stableSortBy(h, rev);
        }
        for (const si of h) {
          let r = outs[si];
          if (!r) {
            r = this.newSeries(input[si].labels, input[si].dropName);
            outs[si] = r;
            order.push(si);
          }
          r.values[i] = input[si].values[i];
          r.present[i] = 1;
        }
      }
    }
    // For an instant query this is the per-group order computed above (range results get sorted).
    return order.map((si) => outs[si]!);
  }

  // ---- binary operators ---------------------------------------------------------------------

  private evalBinary(e: BinaryExpr): EvalValue {
    const lhs = this.eval(e.lhs);
    const rhs = this.eval(e.rhs);
    const isCmp = COMPARISON_OPERATORS.has(e.op);
    if (lhs.kind === 'scalar' && rhs.kind === 'scalar') {
      const f = isCmp ? (l: number, r: number) => (COMPARE[e.op](l, r) ? 1 : 0) : ARITHMETIC[e.op];
      const values = new Float64Array(this.n);
      for (let i = 0; i < this.n; i++) values[i] = f(lhs.values[i], rhs.values[i]);
      return { kind: 'scalar', values };
    }
    if (lhs.kind === 'vector' && rhs.kind === 'scalar') return { kind: 'vector', series: this.vectorScalar(e, lhs.series, rhs.values, false) };
    if (lhs.kind === 'scalar' && rhs.kind === 'vector') return { kind: 'vector', series: this.vectorScalar(e, rhs.series, lhs.values, true) };
    if (lhs.kind !== 'vector' || rhs.kind !== 'vector') this.fail('binary expression must contain only scalar and instant vector types');
    const matching = e.matching ?? { card: 'one-to-one', on: false, labels: [], include: [] };
    switch (e.op) {
      case 'and':
      case 'unless':
        return { kind: 'vector', series: this.andUnless(e.op, lhs.series, rhs.series, matching) };
      case 'or':
        return { kind: 'vector', series: this.or(lhs.series, rhs.series, matching) };
      default:
        return { kind: 'vector', series: this.vectorVector(e, lhs.series, rhs.series, matching) };
    }
  }

  private vectorScalar(e: BinaryExpr, vec: StepSeries[], scalar: Float64Array, swap: boolean): StepSeries[] {
    const isCmp = COMPARISON_OPERATORS.has(e.op);
    const arith = ARITHMETIC[e.op];
    const cmp = COMPARE[e.op];
    const out: StepSeries[] = [];
    for (const s of vec) {
      const r = this.newSeries(s.labels, s.dropName || !isCmp || e.returnBool);
      let any = false;
      for (let i = 0; i < this.n; i++) {
        if (!s.present[i]) continue;
        const sv = s.values[i];
        const l = swap ? scalar[i] : sv;
        const rr = swap ? sv : scalar[i];
        let v: number;
        if (isCmp) {
          const keep = cmp(l, rr);
          if (e.returnBool) v = keep ? 1 : 0;
          else if (keep) v = sv;
          else continue;
        } else {
          v = arith(l, rr);
        }
        r.values[i] = v;
        r.present[i] = 1;
        any = true;
      }
      if (any) out.push(r);
    }
    return out;
  }

  private signatures(series: StepSeries[], m: VectorMatching): string[] {
    if (m.on) {
      const names = [...m.labels].sort();
      return series.map((s) => keyOf(s.labels, names));
    }
    const set = new Set(m.labels);
    return series.map((s) => keyWithout(s.labels, set));
  }

  private andUnless(op: 'and' | 'unless', lhs: StepSeries[], rhs: StepSeries[], m: VectorMatching): StepSeries[] {
    const ls = this.signatures(lhs, m);
    const rs = this.signatures(rhs, m);
    const rightBySig = new Map<string, StepSeries[]>();
    rhs.forEach((s, k) => {
      const list = rightBySig.get(rs[k]);
      if (list) list.push(s);
      else rightBySig.set(rs[k], [s]);
    });
    const out: StepSeries[] = [];
    lhs.forEach((s, k) => {
      const partners = rightBySig.get(ls[k]) ?? [];
      const r = this.newSeries(s.labels, s.dropName);
      let any = false;
      for (let i = 0; i < this.n; i++) {
        if (!s.present[i]) continue;
        let matched = false;
        for (const p of partners) {
          if (p.present[i]) {
            matched = true;
            break;
          }
        }
        if (matched !== (op === 'and')) continue;
        r.values[i] = s.values[i];
        r.present[i] = 1;
        any = true;
      }
      if (any) out.push(r);
    });
    return out;
  }

  private or(lhs: StepSeries[], rhs: StepSeries[], m: VectorMatching): StepSeries[] {
    const ls = this.signatures(lhs, m);
    const rs = this.signatures(rhs, m);
    const leftBySig = new Map<string, StepSeries[]>();
    lhs.forEach((s, k) => {
      const list = leftBySig.get(ls[k]);
      if (list) list.push(s);
      else leftBySig.set(ls[k], [s]);
    });
    const out: StepSeries[] = [...lhs];
    rhs.forEach((s, k) => {
      const partners = leftBySig.get(rs[k]) ?? [];
      const r = this.newSeries(s.labels, s.dropName);
      let any = false;
      for (let i = 0; i < this.n; i++) {
        if (!s.present[i]) continue;
        if (partners.some((p) => p.present[i])) continue;
        r.values[i] = s.values[i];
        r.present[i] = 1;
        any = true;
      }
      if (any) out.push(r);
    });
    return out;
  }

  private vectorVector(e: BinaryExpr, lhsIn: StepSeries[], rhsIn: StepSeries[], m: VectorMatching): StepSeries[] {
    const fillOne = m.fill?.rhs ?? null;
    const fillMany = m.fill?.lhs ?? null;
    if (lhsIn.length === 0 && rhsIn.length === 0) return [];
    if ((lhsIn.length === 0 || rhsIn.length === 0) && fillOne === null && fillMany === null) return [];
    const oneToMany = m.card === 'one-to-many';
    // The "many" side is iterated; the "one" side must be unique per signature at each step.
    // As in Prometheus, group_right swaps the sides, fill values included.
    const many = oneToMany ? rhsIn : lhsIn;
    const one = oneToMany ? lhsIn : rhsIn;
    const manySig = this.signatures(many, m);
    const oneSig = this.signatures(one, m);
    const sigIndex = new Map<string, number>();
    const ordinal = (sig: string) => {
      let o = sigIndex.get(sig);
      if (o === undefined) {
        o = sigIndex.size;
        sigIndex.set(sig, o);
      }
      return o;
    };
    const oneOrd = oneSig.map(ordinal);
    const manyOrd = manySig.map(ordinal);
    const S = sigIndex.size;
    const isCmp = COMPARISON_OPERATORS.has(e.op);
    const arith = ARITHMETIC[e.op];
    const cmp = COMPARE[e.op];
    const dropNameNow = !isCmp;
    const oneAt = new Int32Array(S);
    const matchedAt = new Int32Array(S);
    const resultCache = new Map<string, { labels: Labels; key: string }>();
    const outByKey = new Map<string, StepSeries>();
    const out: StepSeries[] = [];
    const names = m.on ? new Set(m.labels) : null;
    const ignoring = m.on ? null : new Set(m.labels);
    // A filled-in side has only the matching labels of the series it stands in for.
    const matchLabels = (l: Labels): Labels => {
      const res: Record<string, string> = {};
      for (const k in l) {
        if (names ? names.has(k) : !ignoring!.has(k) && k !== METRIC_NAME) res[k] = l[k];
      }
      return res;
    };
    const manyFillLabels = new Map<number, Labels>();
    const oneFillLabels = new Map<number, Labels>();
    const resultLabels = (cacheKey: string, base: Labels, other: Labels): { labels: Labels; key: string } => {
      let c = resultCache.get(cacheKey);
      if (c) return c;
      const res: Record<string, string> = {};
      for (const k in base) {
        if (dropNameNow && k === METRIC_NAME) continue;
        if (m.card === 'one-to-one') {
          if (names && !names.has(k)) continue;
          if (ignoring && ignoring.has(k)) continue;
        }
        res[k] = base[k];
      }
      for (const ln of m.include) {
        const v = other[ln];
        if (v !== undefined && v !== '') res[ln] = v;
        else delete res[ln];
      }
      c = { labels: res, key: labelsKey(res) };
      resultCache.set(cacheKey, c);
      return c;
    };
    const stepKeys = new Set<string>();
    const matchedCount = new Int32Array(S);
    const apply = (i: number, o: number, cacheKey: string, manyLabels: Labels, manyValue: number, oneLabels: Labels, oneValue: number, dropName: boolean) => {
      const lv = oneToMany ? oneValue : manyValue;
      const rv = oneToMany ? manyValue : oneValue;
      const { labels, key } = resultLabels(cacheKey, manyLabels, oneLabels);
      if (m.card === 'one-to-one') {
        if (matchedAt[o]) this.fail('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
        matchedAt[o] = 1;
      } else {
        if (stepKeys.has(key)) this.fail('multiple matches for labels: grouping labels must ensure unique matches');
        stepKeys.add(key);
        matchedCount[o]++;
      }
      let v: number;
      if (isCmp) {
        const keep = cmp(lv, rv);
        if (e.returnBool) v = keep ? 1 : 0;
        else if (keep) v = lv;
        else return;
      } else {
        v = arith(lv, rv);
      }
      let r = outByKey.get(key);
      if (!r) {
        r = this.newSeries(labels, e.returnBool || (isCmp && dropName));
        outByKey.set(key, r);
        out.push(r);
      }
      if (r.present[i]) this.fail('vector cannot contain metrics with the same labelset');
      r.values[i] = v;
      r.present[i] = 1;
    };
    for (let i = 0; i < this.n; i++) {
      this.tick();
      oneAt.fill(-1);
      matchedAt.fill(0);
      matchedCount.fill(0);
      stepKeys.clear();
      for (let k = 0; k < one.length; k++) {
        if (!one[k].present[i]) continue;
        const o = oneOrd[k];
        if (oneAt[o] >= 0) {
          const side = oneToMany ? 'left' : 'right';
          const a = labelsString(one[k].labels);
          const b = labelsString(one[oneAt[o]].labels);
          const [d1, d2] = a < b ? [a, b] : [b, a];
          this.fail(
            `found duplicate series for the match group ${labelsString(matchLabels(one[k].labels))} on the ${side} hand-side of the operation: [${d1}, ${d2}];many-to-many matching not allowed: matching labels must be unique on one side`,
          );
        }
        oneAt[o] = k;
      }
      for (let k = 0; k < many.length; k++) {
        if (!many[k].present[i]) continue;
        const o = manyOrd[k];
        const ri = oneAt[o];
        if (ri >= 0) {
          apply(i, o, `${k}:${ri}`, many[k].labels, many[k].values[i], one[ri].labels, one[ri].values[i], many[k].dropName);
          continue;
        }
        if (fillOne === null) continue;
        let fl = oneFillLabels.get(k);
        if (!fl) {
          fl = matchLabels(many[k].labels);
          oneFillLabels.set(k, fl);
        }
        apply(i, o, `${k}:f`, many[k].labels, many[k].values[i], fl, fillOne, many[k].dropName);
      }
      if (fillMany === null) continue;
      for (let k = 0; k < one.length; k++) {
        if (!one[k].present[i]) continue;
        const o = oneOrd[k];
        if (m.card === 'one-to-one' ? matchedAt[o] : matchedCount[o] > 0) continue;
        let fl = manyFillLabels.get(k);
        if (!fl) {
          fl = matchLabels(one[k].labels);
          manyFillLabels.set(k, fl);
        }
        apply(i, o, `f:${k}`, fl, fillMany, one[k].labels, one[k].values[i], false);
      }
    }
    return out;
  }

}

interface RangeSource {
  series: Iterable<RawSeries>;
  /** Window end (ms) at each step; windows are (end - range, end]. */
  refs: Float64Array;
  rangeMs: number;
  /** How far (ms) anchored/smoothed windows reach beyond the range, before and after. */
  before: number;
  after: number;
  extension: 'anchored' | 'smoothed' | null;
}

const ANCHORED_SAFE = ['changes', 'delta', 'increase', 'rate', 'resets'];
const SMOOTHED_SAFE = ['delta', 'increase', 'rate'];

function keepLabels(l: Labels, names: readonly string[]): Labels {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = l[n];
    if (v !== undefined && v !== '') out[n] = v;
  }
  return out;
}

function dropLabels(l: Labels, names: ReadonlySet<string>): Labels {
  const out: Record<string, string> = {};
  for (const k in l) if (k !== METRIC_NAME && !names.has(k)) out[k] = l[k];
  return out;
}

function heapUp(h: number[], j: number, less: (a: number, b: number) => boolean): void {
  while (j > 0) {
    const i = Math.floor((j - 1) / 2);
    if (i === j || !less(h[j], h[i])) break;
    [h[i], h[j]] = [h[j], h[i]];
    j = i;
  }
}

function heapDown(h: number[], i0: number, n: number, less: (a: number, b: number) => boolean): boolean {
  let i = i0;
  for (;;) {
    const j1 = 2 * i + 1;
    if (j1 >= n || j1 < 0) break;
    let j = j1;
    const j2 = j1 + 1;
    if (j2 < n && less(h[j2], h[j1])) j = j2;
    if (!less(h[j], h[i])) break;
    [h[i], h[j]] = [h[j], h[i]];
    i = j;
  }
  return i > i0;
}

function heapFix(h: number[], i: number, less: (a: number, b: number) => boolean): void {
  if (!heapDown(h, i, h.length, less)) heapUp(h, i, less);
}

function stableSortBy(h: number[], less: (a: number, b: number) => boolean): void {
  for (let i = 1; i < h.length; i++) {
    for (let j = i; j > 0 && less(h[j], h[j - 1]); j--) [h[j], h[j - 1]] = [h[j - 1], h[j]];
  }
}

/** limit_ratio's deterministic sampling: a series is kept when its hash falls under the ratio. */
function ratioSample(ratio: number, labels: Labels): boolean {
  const key = labelsKey(labels);
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const offset = h / 0xffffffff;
  return ratio >= 0 ? offset < ratio : offset >= 1 + ratio;
}

/** Removes `__name__` where delayed name removal asked for it. */
export function finalizeNames(series: StepSeries[]): StepSeries[] {
  return series.map((s) => (s.dropName && METRIC_NAME in s.labels ? { ...s, labels: withoutName(s.labels), dropName: false } : s));
}

