/**
 * Runs promqltest `.test` files against the engine over an in-memory Queryable and compares
 * results the way Prometheus' runner does: label sets as sets, floats with a relative tolerance
 * of 1e-6, NaN/Inf exact, range points and timestamps exact, order only when asked for.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Labels } from '../../core/labels.js';
import { STALE_NAN, isStaleNaN } from '../../core/labels.js';
import { Engine, parse, type Expr, type QueryResult } from '../index.js';
import { PromQLError, PromQLParseError } from '../errors.js';
import { formatValue, labelsKey, labelsString } from '../values.js';
import { MemoryStorage } from './memory.js';
import { matchesAll as matches } from '../matchers.js';
import type { LabelMatcher } from '../../core/queryable.js';
import type { EvalCommand, ExpectedSeries, LoadCommand } from './testfile.js';
import { parseTestFile } from './testfile.js';

/** Corpus files that exercise feature-flagged syntax; reported apart from the rest. */
export const EXPERIMENTAL_FILES: ReadonlySet<string> = new Set([
  'duration_expression',
  'extended_vectors',
  'fill-modifier',
  'info',
  'start_timestamps',
]);

export interface EvalFailure {
  file: string;
  line: number;
  expr: string;
  expected: string;
  got: string;
}

export interface EvalSkip {
  file: string;
  line: number;
  expr: string;
  reason: string;
}

export interface FileResult {
  file: string;
  experimental: boolean;
  passed: number;
  failed: number;
  skipped: number;
  failures: EvalFailure[];
  skips: EvalSkip[];
  /** Set when the file itself could not be parsed. */
  error: string | null;
}

export interface RunOptions {
  /** Check `expect warn/info/no_warn/no_info` lines, with their msg/regex texts; default true. */
  checkAnnotations?: boolean;
  /**
   * Also run each instant eval as a range query over [t-1m, t+1m] step 1m and compare the
   * point at t, as Prometheus' runner does; default true.
   */
  rangeCheck?: boolean;
  /**
   * Also re-run each instant eval with `@ t` on every selector and subquery at other evaluation
   * times (Prometheus' @-modifier check); default true.
   */
  atCheck?: boolean;
}

const MIN_NORMAL = 2.2250738585072014e-308;

/** Prometheus' almost.Equal with epsilon 1e-6; StaleNaN equals only StaleNaN. */
export function almostEqual(a: number, b: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return isStaleNaN(a) === isStaleNaN(b);
  if (a === b) return true;
  const absSum = Math.abs(a) + Math.abs(b);
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || absSum < MIN_NORMAL) return diff < 1e-6 * MIN_NORMAL;
  return diff / Math.min(absSum, Number.MAX_VALUE) < 1e-6;
}

function fmtSeries(labels: Labels, values: (number | null)[]): string {
  return `${labelsString(labels)} ${values.map((v) => (v === null ? '_' : formatValue(v))).join(' ')}`;
}

function describeResult(r: QueryResult): string {
  switch (r.resultType) {
    case 'scalar':
      return `scalar ${formatValue(r.result.value)}`;
    case 'string':
      return `string ${JSON.stringify(r.result.value)}`;
    case 'vector':
      return r.result.length === 0 ? 'empty vector' : r.result.map((s) => fmtSeries(s.labels, [s.value])).join('; ');
    case 'matrix':
      return r.result.length === 0
        ? 'empty matrix'
        : r.result.map((s) => `${labelsString(s.labels)} ${s.timestampsMs.map((t, k) => `${formatValue(s.values[k])}@${t / 1000}`).join(' ')}`).join('; ');
  }
}

function describeExpected(cmd: EvalCommand): string {
  if (cmd.expects.some((e) => e.kind === 'fail')) {
    const f = cmd.expects.find((e) => e.kind === 'fail')!;
    return `an error${f.msg !== undefined ? ` with message ${JSON.stringify(f.msg)}` : ''}${f.regex !== undefined ? ` matching /${f.regex}/` : ''}`;
  }
  if (cmd.string !== null) return `string ${JSON.stringify(cmd.string)}`;
  if (cmd.scalar !== null) return `scalar ${formatValue(cmd.scalar)}`;
  if (cmd.series.length === 0) return 'empty result';
  return cmd.series.map((s) => fmtSeries(s.labels, s.values)).join('; ');
}

/** Compares a result with the expectation; returns a mismatch description or null. */
function compare(cmd: EvalCommand, r: QueryResult): string | null {
  if (cmd.string !== null) {
    if (r.resultType !== 'string') return `expected a string, got ${r.resultType}`;
    return r.result.value === cmd.string ? null : 'string differs';
  }
  if (cmd.scalar !== null) {
    if (cmd.instant) {
      if (r.resultType !== 'scalar') return `expected a scalar, got ${r.resultType}`;
      return almostEqual(r.result.value, cmd.scalar) ? null : 'scalar value differs';
    }
  }
  const ordered = cmd.expects.some((e) => e.kind === 'ordered');
  if (cmd.instant && !cmd.rangeVector) {
    if (r.resultType === 'scalar') return cmd.series.length === 0 ? 'expected a vector, got a scalar' : 'expected a vector, got a scalar';
    if (r.resultType !== 'vector') return `expected a vector, got ${r.resultType}`;
    if (r.result.length !== cmd.series.length) return `expected ${cmd.series.length} series, got ${r.result.length}`;
    const byKey = new Map<string, ExpectedSeries & { index: number }>();
    cmd.series.forEach((s, index) => byKey.set(labelsKey(s.labels), { ...s, index }));
    for (let k = 0; k < r.result.length; k++) {
      const got = r.result[k];
      const exp = byKey.get(labelsKey(got.labels));
      if (!exp) return `unexpected series ${labelsString(got.labels)}`;
      if (exp.values.length !== 1 || exp.values[0] === null) return `bad expectation for ${labelsString(got.labels)}`;
      if (!almostEqual(got.value, exp.values[0])) return `value of ${labelsString(got.labels)} differs`;
      if (ordered && exp.index !== k) return `series ${labelsString(got.labels)} at position ${k + 1}, expected at ${exp.index + 1}`;
    }
    return null;
  }
  // Range results: a matrix whose points sit at start + i*step.
  const start = cmd.rangeVector ? cmd.rangeVector.startMs : cmd.startMs;
  const step = cmd.rangeVector ? cmd.rangeVector.stepMs : cmd.stepMs;
  const end = cmd.rangeVector ? cmd.rangeVector.endMs : cmd.endMs;
  if (r.resultType !== 'matrix') return `expected a matrix, got ${r.resultType}`;
  const expected = cmd.scalar !== null && !cmd.instant ? [{ labels: {}, values: stepsOf(cmd).map(() => cmd.scalar), line: cmd.line }] : cmd.series;
  const expNonEmpty = expected.filter((s) => s.values.some((v) => v !== null));
  if (r.result.length !== expNonEmpty.length) return `expected ${expNonEmpty.length} series, got ${r.result.length}`;
  const byKey = new Map(expNonEmpty.map((s) => [labelsKey(s.labels), s]));
  for (const got of r.result) {
    const exp = byKey.get(labelsKey(got.labels));
    if (!exp) return `unexpected series ${labelsString(got.labels)}`;
    const wantT: number[] = [];
    const wantV: number[] = [];
    exp.values.forEach((v, i) => {
      if (v === null) return;
      wantT.push(start + i * step);
      wantV.push(v);
    });
    if (wantT.length !== got.timestampsMs.length) return `series ${labelsString(got.labels)}: expected ${wantT.length} points, got ${got.timestampsMs.length}`;
    for (let k = 0; k < wantT.length; k++) {
      if (got.timestampsMs[k] > end) return `series ${labelsString(got.labels)}: point after end`;
      if (got.timestampsMs[k] !== wantT[k]) return `series ${labelsString(got.labels)}: point ${k} at ${got.timestampsMs[k]}ms, expected ${wantT[k]}ms`;
      if (!almostEqual(got.values[k], wantV[k])) return `series ${labelsString(got.labels)}: value at ${wantT[k]}ms differs`;
    }
  }
  return null;
}

function stepsOf(cmd: EvalCommand): number[] {
  const out: number[] = [];
  for (let t = cmd.startMs; t <= cmd.endMs; t += cmd.stepMs) out.push(t);
  return out;
}

function checkFailure(cmd: EvalCommand, err: unknown): string | null {
  return checkFailureMessage(cmd, err instanceof PromQLParseError ? err.detail : err instanceof Error ? err.message : String(err));
}

function checkFailureMessage(cmd: EvalCommand, message: string): string | null {
  const f = cmd.expects.find((e) => e.kind === 'fail');
  if (!f) return null;
  if (f.msg !== undefined && message !== f.msg) return `error ${JSON.stringify(message)}`;
  if (f.regex !== undefined && !new RegExp(f.regex).test(message)) return `error ${JSON.stringify(message)}`;
  return null;
}

function checkAnnotations(cmd: EvalCommand, r: QueryResult): string | null {
  const kinds = [
    ['warn', 'no_warn', r.annotations.warnings, 'warning'],
    ['info', 'no_info', r.annotations.infos, 'info annotation'],
  ] as const;
  for (const [yes, no, got, what] of kinds) {
    const expects = cmd.expects.filter((e) => e.kind === yes);
    if (cmd.expects.some((e) => e.kind === no) && got.length > 0) return `unexpected ${what}: ${got[0]}`;
    if (expects.length === 0) continue;
    if (got.length === 0) return `expected a ${what}, got none`;
    const matchers = expects
      .filter((e) => e.msg !== undefined || e.regex !== undefined)
      .map((e) => (text: string) => (e.msg !== undefined ? text === e.msg : new RegExp(e.regex!).test(text)));
    if (matchers.length === 0) continue;
    // Each expected text must match an annotation, and each annotation an expected text.
    for (const m of matchers) if (!got.some(m)) return `no ${what} matches the expected text; got: ${got.join(' | ')}`;
    for (const a of got) if (!matchers.some((m) => m(a))) return `unexpected ${what}: ${a}`;
  }
  return null;
}

const AT_UNSAFE = new Set([
  'days_in_month', 'day_of_month', 'day_of_week', 'day_of_year', 'end', 'hour', 'minute', 'month', 'year',
  'predict_linear', 'range', 'start', 'step', 'time', 'timestamp',
]);

/**
 * Sets `@ t` on every selector and subquery without one, not descending into subqueries (whose
 * inner selectors must keep following the subquery's steps). Null when the expression calls a
 * function whose value depends on the evaluation time anyway.
 */
function withAtEverywhere(e: Expr, t: number): Expr | null {
  let unsafe = false;
  const at = { kind: 'time', ms: t } as const;
  const walk = (x: Expr): Expr => {
    switch (x.type) {
      case 'vectorSelector':
        return x.at ? x : { ...x, at };
      case 'matrixSelector':
        return x.selector.at ? x : { ...x, selector: { ...x.selector, at } };
      case 'subquery':
        return x.at ? x : { ...x, at };
      case 'call':
        if (AT_UNSAFE.has(x.name)) unsafe = true;
        return { ...x, args: x.args.map(walk) };
      case 'aggregate':
        return { ...x, expr: walk(x.expr), param: x.param ? walk(x.param) : null };
      case 'binary':
        return { ...x, lhs: walk(x.lhs), rhs: walk(x.rhs) };
      case 'unary':
      case 'paren':
        return { ...x, expr: walk(x.expr) };
      default:
        return x;
    }
  };
  const out = walk(e);
  return unsafe ? null : out;
}

/** Prometheus' @-modifier check: the same result at -10t, 0, t/5, t and 10t (or -1s, 0, 1s). */
function atModifierCheck(engine: Engine, storage: MemoryStorage, cmd: EvalCommand): string | null {
  if (!cmd.instant) return null;
  const t = cmd.rangeVector ? cmd.rangeVector.endMs : cmd.startMs;
  let rewritten: Expr | null;
  try {
    rewritten = withAtEverywhere(parse(cmd.expr), t);
  } catch {
    return null;
  }
  if (!rewritten) return null;
  const times = t === 0 ? [-1000, 0, 1000] : [-10 * t, 0, Math.trunc(t / 5), t, 10 * t];
  const expectFail = cmd.expects.some((e) => e.kind === 'fail');
  for (const et of times) {
    let r: QueryResult;
    try {
      r = engine.instantQueryExprSync(storage.querier('conformance', 0, 0), rewritten, et, cmd.expr);
    } catch (err) {
      if (expectFail && err instanceof PromQLError && !(err instanceof PromQLParseError) && checkFailure(cmd, err) === null) continue;
      return `at ${et}ms with @ ${t / 1000}: error ${err instanceof Error ? err.message : String(err)}`;
    }
    if (expectFail) return `at ${et}ms with @ ${t / 1000}: expected an error`;
    const mismatch = compare(cmd, r);
    if (mismatch) return `at ${et}ms with @ ${t / 1000}: ${describeResult(r)} (${mismatch})`;
  }
  return null;
}

/**
 * Prometheus' range-mode check: skipped for ordered evals, string and range-vector results, and
 * expressions whose value depends on the query range.
 */
function rangeModeCheck(engine: Engine, storage: MemoryStorage, cmd: EvalCommand): string | null {
  if (!rangeModeApplies(cmd)) return null;
  const t = cmd.startMs;
  let r: QueryResult;
  try {
    r = engine.rangeQuerySync(storage.querier('conformance', 0, 0), cmd.expr, t - 60_000, t + 60_000, 60_000);
  } catch (err) {
    return `error: ${err instanceof Error ? err.message : String(err)}`;
  }
  return rangeModeCompare(cmd, r);
}

function rangeModeApplies(cmd: EvalCommand): boolean {
  if (!cmd.instant || cmd.rangeVector || cmd.string !== null) return false;
  if (cmd.expects.some((e) => e.kind === 'ordered')) return false;
  return !/\b(start|end|range|step)\s*\(/.test(cmd.expr);
}

/** The range-mode result (over [t-1m, t+1m] step 1m) compared at t with the instant expectation. */
function rangeModeCompare(cmd: EvalCommand, r: QueryResult): string | null {
  const t = cmd.startMs;
  if (r.resultType !== 'matrix') return `expected a matrix, got ${r.resultType}`;
  const atT = r.result.flatMap((s) => {
    const k = s.timestampsMs.indexOf(t);
    return k < 0 ? [] : [{ labels: s.labels, value: s.values[k] }];
  });
  if (cmd.scalar !== null) {
    if (atT.length !== 1 || !almostEqual(atT[0].value, cmd.scalar)) return `scalar at ${t}ms differs`;
    return null;
  }
  if (atT.length !== cmd.series.length) return `expected ${cmd.series.length} series at ${t}ms, got ${atT.length}`;
  const byKey = new Map(cmd.series.map((s) => [labelsKey(s.labels), s]));
  for (const got of atT) {
    const exp = byKey.get(labelsKey(got.labels));
    if (!exp) return `unexpected series ${labelsString(got.labels)} at ${t}ms`;
    if (!almostEqual(got.value, exp.values[0] ?? NaN)) return `value of ${labelsString(got.labels)} at ${t}ms differs`;
  }
  return null;
}

/** FORMAT.md's rule: an eval uses native histograms if a selector matches a histogram series. */
function selectsHistograms(expr: string, histogramSeries: readonly Labels[]): string | null {
  return selectsAnyOf(expr, histogramSeries) ? 'selects native histogram series' : null;
}

/** Whether a selector of `expr` (which must parse) matches one of `series`. */
export function selectsAnyOf(expr: string, series: readonly Labels[]): boolean {
  if (series.length === 0) return false;
  let ast: Expr;
  try {
    ast = parse(expr);
  } catch {
    return false;
  }
  const selectors: LabelMatcher[][] = [];
  const walk = (e: Expr): void => {
    switch (e.type) {
      case 'vectorSelector':
        selectors.push([...e.matchers]);
        return;
      case 'matrixSelector':
        selectors.push([...e.selector.matchers]);
        return;
      case 'call':
        e.args.forEach(walk);
        return;
      case 'aggregate':
        walk(e.expr);
        if (e.param) walk(e.param);
        return;
      case 'binary':
        walk(e.lhs);
        walk(e.rhs);
        return;
      case 'subquery':
      case 'unary':
      case 'paren':
        walk(e.expr);
        return;
      default:
        return;
    }
  };
  walk(ast);
  return selectors.some((ms) => series.some((l) => matches(l, ms)));
}

/** A file's empty result and its parsed commands; no commands when it does not parse (the error is in the result). */
function openTestFile(path: string): { result: FileResult; commands?: ReturnType<typeof parseTestFile> } {
  const file = basename(path);
  const result: FileResult = {
    file,
    experimental: EXPERIMENTAL_FILES.has(file.replace(/\.test$/, '')),
    passed: 0,
    failed: 0,
    skipped: 0,
    failures: [],
    skips: [],
    error: null,
  };
  try {
    return { result, commands: parseTestFile(readFileSync(path, 'utf8')) };
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    return { result };
  }
}

export function runTestFile(path: string, options: RunOptions = {}): FileResult {
  const { result, commands } = openTestFile(path);
  if (commands === undefined) return result;
  const file = result.file;
  const storage = new MemoryStorage();
  // Settings the corpus assumes (FORMAT.md section 10).
  const engine = new Engine({ lookbackDeltaMs: 300_000, defaultSubqueryStepMs: 60_000, maxSamples: 10_000 });
  /** Series with native-histogram samples since the last clear (not stored: out of scope). */
  let histogramSeries: Labels[] = [];
  for (const cmd of commands) {
    if (cmd.kind === 'clear') {
      storage.clear();
      histogramSeries = [];
      continue;
    }
    if (cmd.kind === 'load') {
      histogramSeries.push(...cmd.histogramSeries);
      if (cmd.withNhcb) continue;
      for (const s of cmd.series) {
        s.values.forEach((v, k) => {
          const t = k * cmd.stepMs;
          const offset = s.startOffsets?.[k];
          const st = offset === undefined || offset === null ? 0 : t + offset;
          if (v === 'stale') storage.append(s.labels, t, STALE_NAN, st);
          else if (v !== null) storage.append(s.labels, t, v, st);
        });
      }
      continue;
    }
    const skipReason = cmd.skip ?? selectsHistograms(cmd.expr, histogramSeries);
    if (skipReason) {
      result.skipped++;
      result.skips.push({ file, line: cmd.line, expr: cmd.expr, reason: skipReason });
      continue;
    }
    const fail = (got: string) => {
      result.failed++;
      result.failures.push({ file, line: cmd.line, expr: cmd.expr, expected: describeExpected(cmd), got });
    };
    const expectFail = cmd.expects.some((e) => e.kind === 'fail');
    let r: QueryResult;
    try {
      const querier = storage.querier('conformance', 0, 0);
      r = cmd.instant
        ? engine.instantQuerySync(querier, cmd.expr, cmd.rangeVector ? cmd.rangeVector.endMs : cmd.startMs)
        : engine.rangeQuerySync(querier, cmd.expr, cmd.startMs, cmd.endMs, cmd.stepMs);
    } catch (err) {
      if (!(err instanceof PromQLError)) {
        fail(`crash: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        continue;
      }
      // The corpus only holds expressions Prometheus parses, so a parse error is always ours.
      if (!expectFail || err instanceof PromQLParseError) {
        fail(`error: ${err.message}`);
        continue;
      }
      const mismatch = checkFailure(cmd, err);
      const atMismatch = mismatch === null && options.atCheck !== false ? atModifierCheck(engine, storage, cmd) : null;
      if (mismatch) fail(mismatch);
      else if (atMismatch) fail(`@-modifier check: ${atMismatch}`);
      else result.passed++;
      continue;
    }
    if (expectFail) {
      fail(describeResult(r));
      continue;
    }
    const mismatch = compare(cmd, r) ?? (options.checkAnnotations !== false ? checkAnnotations(cmd, r) : null);
    if (mismatch) {
      fail(`${describeResult(r)} (${mismatch})`);
      continue;
    }
    const rangeMismatch = options.rangeCheck !== false ? rangeModeCheck(engine, storage, cmd) : null;
    if (rangeMismatch) {
      fail(`range-mode check: ${rangeMismatch}`);
      continue;
    }
    const atMismatch = options.atCheck !== false ? atModifierCheck(engine, storage, cmd) : null;
    if (atMismatch) fail(`@-modifier check: ${atMismatch}`);
    else result.passed++;
  }
  return result;
}

/** What a pluggable executor answers for one eval: a result, or an error (a parse error is never expected). */
export type ExecutorOutcome = { result: QueryResult } | { error: string; parseError: boolean };

/**
 * Runs a file's commands somewhere other than the in-memory engine (for example through the HTTP
 * API). The executor stores what `load` gives it, forgets everything on `clear`, and answers each
 * eval: an instant query at `rangeVector.endMs` (range-vector evals) or `startMs`, or a range query
 * over [startMs, endMs] by stepMs. Thrown exceptions count as crashes.
 */
export interface EvalExecutor {
  clear(): Promise<void> | void;
  /** Not called for `load_with_nhcb` blocks (native histograms are out of scope). */
  load(cmd: LoadCommand): Promise<void> | void;
  /** Why this executor cannot run the eval (e.g. data it cannot hold), or null. */
  skipReason?(cmd: EvalCommand): string | null;
  execute(cmd: EvalCommand): Promise<ExecutorOutcome>;
  /** A range query; when given, instant evals also get Prometheus' range-mode check. */
  range?(expr: string, startMs: number, endMs: number, stepMs: number): Promise<ExecutorOutcome>;
}

/**
 * runTestFile with a pluggable executor: the same parsing, native-histogram skips, result and
 * error comparison, annotation checks and (when the executor has `range`) range-mode check, each
 * unless turned off; the @-modifier check, which rewrites the parsed query, is not made.
 */
export async function runTestFileWith(path: string, executor: EvalExecutor, options: Pick<RunOptions, 'checkAnnotations' | 'rangeCheck'> = {}): Promise<FileResult> {
  const { result, commands } = openTestFile(path);
  if (commands === undefined) return result;
  const file = result.file;
  let histogramSeries: Labels[] = [];
  for (const cmd of commands) {
    if (cmd.kind === 'clear') {
      histogramSeries = [];
      await executor.clear();
      continue;
    }
    if (cmd.kind === 'load') {
      histogramSeries.push(...cmd.histogramSeries);
      if (!cmd.withNhcb) await executor.load(cmd);
      continue;
    }
    const skipReason = cmd.skip ?? selectsHistograms(cmd.expr, histogramSeries) ?? executor.skipReason?.(cmd) ?? null;
    if (skipReason) {
      result.skipped++;
      result.skips.push({ file, line: cmd.line, expr: cmd.expr, reason: skipReason });
      continue;
    }
    const fail = (got: string) => {
      result.failed++;
      result.failures.push({ file, line: cmd.line, expr: cmd.expr, expected: describeExpected(cmd), got });
    };
    const expectFail = cmd.expects.some((e) => e.kind === 'fail');
    let outcome: ExecutorOutcome;
    try {
      outcome = await executor.execute(cmd);
    } catch (err) {
      fail(`crash: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      continue;
    }
    if ('error' in outcome) {
      if (!expectFail || outcome.parseError) {
        fail(`error: ${outcome.error}`);
        continue;
      }
      const mismatch = checkFailureMessage(cmd, outcome.error);
      if (mismatch) fail(mismatch);
      else result.passed++;
      continue;
    }
    if (expectFail) {
      fail(describeResult(outcome.result));
      continue;
    }
    const mismatch = compare(cmd, outcome.result) ?? (options.checkAnnotations !== false ? checkAnnotations(cmd, outcome.result) : null);
    if (mismatch) {
      fail(`${describeResult(outcome.result)} (${mismatch})`);
      continue;
    }
    if (options.rangeCheck !== false && executor.range && rangeModeApplies(cmd)) {
      let ranged: ExecutorOutcome;
      try {
        ranged = await executor.range(cmd.expr, cmd.startMs - 60_000, cmd.startMs + 60_000, 60_000);
      } catch (err) {
        fail(`range-mode check: crash: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        continue;
      }
      const rangeMismatch = 'error' in ranged ? `error: ${ranged.error}` : rangeModeCompare(cmd, ranged.result);
      if (rangeMismatch) {
        fail(`range-mode check: ${rangeMismatch}`);
        continue;
      }
    }
    result.passed++;
  }
  return result;
}
