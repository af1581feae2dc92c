/**
 * Parser of Prometheus' promqltest `.test` files (format: shared/promql-tests/FORMAT.md).
 */
import type { Labels } from '../../core/labels.js';
import { METRIC_NAME } from '../../core/labels.js';
import { parseDurationMs, unquoteString } from '../parser.js';

export interface LoadedSeries {
  labels: Labels;
  /** One entry per position; null where the position has no sample. */
  values: SampleValue[];
  /** From a preceding `name{...}@st` line: start time offset (ms) per position, null if none. */
  startOffsets?: (number | null)[];
}

/**
 * A staleness marker is kept symbolic until it reaches a Float64Array: V8 may canonicalise NaN
 * payloads in plain arrays, which would turn the marker into an ordinary NaN.
 */
export type SampleValue = number | null | 'stale';

export type ExpectKind = 'fail' | 'ordered' | 'warn' | 'info' | 'no_warn' | 'no_info';

export interface Expectation {
  kind: ExpectKind;
  msg?: string;
  regex?: string;
}

export interface ExpectedSeries {
  labels: Labels;
  /** Instant: one value; range: one per step, null for "_". */
  values: (number | null)[];
  line: number;
}

export interface EvalCommand {
  kind: 'eval';
  line: number;
  expr: string;
  /** Instant evals have start === end and step 0. */
  instant: boolean;
  startMs: number;
  endMs: number;
  stepMs: number;
  expects: Expectation[];
  series: ExpectedSeries[];
  scalar: number | null;
  string: string | null;
  /** `expect range vector from s to e step d`: an instant query returning a range vector. */
  rangeVector: { startMs: number; endMs: number; stepMs: number } | null;
  /** Why the eval is out of scope, if it is. */
  skip: string | null;
}

export interface LoadCommand {
  kind: 'load';
  line: number;
  stepMs: number;
  series: LoadedSeries[];
  withNhcb: boolean;
  /**
   * Series with native-histogram samples (not stored: out of scope). For load_with_nhcb these
   * are all its series plus the base-name series the classic histograms become.
   */
  histogramSeries: Labels[];
}

export type Command = { kind: 'clear'; line: number } | LoadCommand | EvalCommand;

export class TestFileError extends Error {}

const NUMBER_RE = /^[+-]?(?:inf(?:inity)?|nan|0x[0-9a-f]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:e[+-]?\d+)?)$/i;

/** A value in a series line: decimal, exponent, Inf/NaN, or (latest) a duration in seconds. */
export function parseSampleNumber(text: string): number {
  if (NUMBER_RE.test(text)) {
    const t = text.toLowerCase().replace(/_/g, '');
    const sign = t.startsWith('-') ? -1 : 1;
    const body = t.replace(/^[+-]/, '');
    if (body.startsWith('inf')) return sign * Infinity;
    if (body === 'nan') return NaN;
    if (body.startsWith('0x')) return sign * parseInt(body.slice(2), 16);
    return sign * Number(body);
  }
  const d = parseDurationMs(text);
  if (d !== null) return d / 1000;
  throw new TestFileError(`invalid number ${JSON.stringify(text)}`);
}

function duration(text: string, line: number): number {
  const d = parseDurationMs(text);
  if (d === null) throw new TestFileError(`line ${line}: invalid duration ${JSON.stringify(text)}`);
  return d;
}

/** Splits `name{a="b", c="d"} rest` into labels and the rest of the line. */
export function parseSeriesDesc(text: string): { labels: Labels; rest: string } {
  let i = 0;
  const labels: Record<string, string> = {};
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:.]*/.exec(text);
  if (nameMatch) {
    labels[METRIC_NAME] = nameMatch[0];
    i = nameMatch[0].length;
  }
  if (text[i] === '{') {
    i++;
    for (;;) {
      while (text[i] === ' ' || text[i] === ',' || text[i] === '\t') i++;
      if (text[i] === '}') {
        i++;
        break;
      }
      if (i >= text.length) throw new TestFileError(`unterminated label set in ${JSON.stringify(text)}`);
      let name: string;
      if (text[i] === '"' || text[i] === "'" || text[i] === '`') {
        const end = stringEnd(text, i);
        name = unquoteString(text.slice(i, end));
        i = end;
      } else {
        const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
        if (!m) throw new TestFileError(`bad label name in ${JSON.stringify(text)}`);
        name = m[0];
        i += name.length;
      }
      while (text[i] === ' ') i++;
      if (text[i] !== '=') {
        // A lone quoted string is the metric name.
        labels[METRIC_NAME] = name;
        continue;
      }
      i++;
      while (text[i] === ' ') i++;
      const end = stringEnd(text, i);
      labels[name] = unquoteString(text.slice(i, end));
      i = end;
    }
  } else if (!nameMatch) {
    throw new TestFileError(`invalid series ${JSON.stringify(text)}`);
  }
  return { labels, rest: text.slice(i).trim() };
}

function stringEnd(text: string, i: number): number {
  const q = text[i];
  if (q !== '"' && q !== "'" && q !== '`') throw new TestFileError(`expected a quoted string in ${JSON.stringify(text)}`);
  let j = i + 1;
  while (j < text.length && text[j] !== q) j += text[j] === '\\' && q !== '`' ? 2 : 1;
  return j + 1;
}

const EXPAND_RE = /^([^x]+?)([+-])([^x]+)x(\d+)$/;

/** Expands the value items of a load line or a range result line. */
export function parseValues(text: string, allowStale: boolean): SampleValue[] {
  const out: SampleValue[] = [];
  for (const item of text.split(/\s+/).filter((s) => s !== '')) {
    if (item === '_') {
      out.push(null);
      continue;
    }
    if (item === 'stale') {
      if (!allowStale) throw new TestFileError('stale not allowed here');
      out.push('stale');
      continue;
    }
    let m = /^_x(\d+)$/.exec(item);
    if (m) {
      for (let k = 0; k < Number(m[1]); k++) out.push(null);
      continue;
    }
    m = EXPAND_RE.exec(item);
    if (m && !/^[+-]?$/.test(m[1])) {
      const start = parseSampleNumber(m[1]);
      const delta = parseSampleNumber(m[3]) * (m[2] === '-' ? -1 : 1);
      const times = Number(m[4]);
      let v = start;
      out.push(v);
      for (let k = 0; k < times; k++) {
        v += delta;
        out.push(v);
      }
      continue;
    }
    m = /^([^x]+)x(\d+)$/.exec(item);
    // Hex is not allowed in series values, so `0x59` is 0 repeated.
    if (m) {
      const v = m[1] === '_' ? null : parseSampleNumber(m[1]);
      for (let k = 0; k <= Number(m[2]); k++) out.push(v);
      continue;
    }
    out.push(parseSampleNumber(item));
  }
  return out;
}

const NATIVE_HISTOGRAM_FUNCS = /\bhistogram_(count|sum|avg|fraction|stddev|stdvar)\s*\(/;

function parseExpectLine(text: string, line: number): Expectation {
  const m = /^expect\s+(fail|ordered|warn|info|no_warn|no_info)(?:\s+(msg|regex):\s?(.*))?$/.exec(text);
  if (!m) throw new TestFileError(`line ${line}: invalid expect line ${JSON.stringify(text)}`);
  const e: Expectation = { kind: m[1] as ExpectKind };
  if (m[2] === 'msg') e.msg = m[3].trim();
  if (m[2] === 'regex') e.regex = m[3].trim();
  return e;
}

export function parseTestFile(content: string): Command[] {
  const lines = content.split('\n').map((l) => l.trim());
  const blank = (l: string) => l === '' || l.startsWith('#');
  const cmds: Command[] = [];
  let i = 0;
  while (i < lines.length) {
    if (blank(lines[i])) {
      i++;
      continue;
    }
    const header = lines[i];
    const headerLine = i + 1;
    const body: { text: string; line: number }[] = [];
    i++;
    // `clear` is a single line; the next line may start another command.
    if (header.toLowerCase() === 'clear') {
      cmds.push({ kind: 'clear', line: headerLine });
      continue;
    }
    while (i < lines.length && !blank(lines[i])) {
      body.push({ text: lines[i], line: i + 1 });
      i++;
    }
    const word = header.split(/\s+/)[0].toLowerCase();
    if (word === 'clear') {
      cmds.push({ kind: 'clear', line: headerLine });
    } else if (word === 'load' || word === 'load_with_nhcb') {
      cmds.push(parseLoad(header, headerLine, body, word === 'load_with_nhcb'));
    } else if (word.startsWith('eval')) {
      cmds.push(parseEval(header, headerLine, body));
    } else {
      throw new TestFileError(`line ${headerLine}: unknown command ${JSON.stringify(header)}`);
    }
  }
  return cmds;
}

/** A signed duration as used in `@st` lines: `-1m`, `+1m`, `-59999ms`, `0`. */
function signedDuration(text: string): number {
  const m = /^([+-]?)(.+)$/.exec(text)!;
  const d = parseDurationMs(m[2]);
  if (d === null) throw new TestFileError(`invalid start time offset ${JSON.stringify(text)}`);
  return m[1] === '-' ? -d : d;
}

/** Expands the offset items of an `@st` line: `_`, `_xN`, `<dur>`, `<dur>xN`, `<dur>±<dur>xN`. */
export function parseStartOffsets(text: string): (number | null)[] {
  const out: (number | null)[] = [];
  for (const item of text.split(/\s+/).filter((x) => x !== '')) {
    if (item === '_') {
      out.push(null);
      continue;
    }
    let m = /^_x(\d+)$/.exec(item);
    if (m) {
      for (let k = 0; k < Number(m[1]); k++) out.push(null);
      continue;
    }
    m = /^([+-]?[0-9a-z]+)([+-])([0-9a-z]+)x(\d+)$/.exec(item);
    if (m) {
      const start = signedDuration(m[1]);
      const delta = signedDuration(m[3]) * (m[2] === '-' ? -1 : 1);
      for (let k = 0; k <= Number(m[4]); k++) out.push(start + k * delta);
      continue;
    }
    m = /^([+-]?[0-9a-z]+)x(\d+)$/.exec(item);
    if (m) {
      const v = signedDuration(m[1]);
      for (let k = 0; k <= Number(m[2]); k++) out.push(v);
      continue;
    }
    out.push(signedDuration(item));
  }
  return out;
}

function parseLoad(header: string, line: number, body: { text: string; line: number }[], withNhcb: boolean): LoadCommand {
  const parts = header.split(/\s+/);
  const stepMs = duration(parts[1], line);
  const series: LoadedSeries[] = [];
  const histogramSeries: Labels[] = [];
  const pendingStarts = new Map<string, (number | null)[]>();
  for (const b of body) {
    const { labels, rest } = parseSeriesDesc(b.text);
    if (b.text.includes('{{')) {
      histogramSeries.push(labels);
      continue;
    }
    const key = JSON.stringify(Object.entries(labels).sort());
    if (rest.startsWith('@st')) {
      pendingStarts.set(key, parseStartOffsets(rest.slice(3)));
      continue;
    }
    const startOffsets = pendingStarts.get(key);
    pendingStarts.delete(key);
    if (withNhcb) {
      histogramSeries.push(labels);
      const name = labels[METRIC_NAME] ?? '';
      const base = name.replace(/_(bucket|sum|count)$/, '');
      if (base !== name) {
        const { le: _le, ...rest2 } = labels;
        histogramSeries.push({ ...rest2, [METRIC_NAME]: base });
      }
    }
    series.push(startOffsets ? { labels, values: parseValues(rest, true), startOffsets } : { labels, values: parseValues(rest, true) });
  }
  return { kind: 'load', line, stepMs, series, withNhcb, histogramSeries };
}

function parseEval(header: string, line: number, body: { text: string; line: number }[]): EvalCommand {
  const inst = /^eval(?:_(fail|warn|ordered|info))?\s+instant\s+at\s+(\S+)\s+(.+)$/.exec(header);
  const rng = /^eval(?:_(fail|warn|ordered|info))?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$/.exec(header);
  if (!inst && !rng) throw new TestFileError(`line ${line}: invalid eval header ${JSON.stringify(header)}`);
  const expects: Expectation[] = [];
  const suffix = (inst ?? rng)![1];
  if (suffix) expects.push({ kind: suffix as ExpectKind });
  const cmd: EvalCommand = inst
    ? {
        kind: 'eval', line, expr: inst[3], instant: true, startMs: duration(inst[2], line), endMs: duration(inst[2], line), stepMs: 0,
        expects, series: [], scalar: null, string: null, rangeVector: null, skip: null,
      }
    : {
        kind: 'eval', line, expr: rng![5], instant: false, startMs: duration(rng![2], line), endMs: duration(rng![3], line),
        stepMs: duration(rng![4], line), expects, series: [], scalar: null, string: null, rangeVector: null, skip: null,
      };
  if (NATIVE_HISTOGRAM_FUNCS.test(cmd.expr)) cmd.skip = 'native histogram function';
  for (const b of body) {
    const t = b.text;
    if (t.startsWith('expect ')) {
      const sm = /^expect\s+string\s+(.*)$/.exec(t);
      if (sm) {
        cmd.string = unquoteString(sm[1].trim());
        continue;
      }
      const rv = /^expect\s+range\s+vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$/.exec(t);
      if (rv) {
        cmd.rangeVector = { startMs: duration(rv[1], b.line), endMs: duration(rv[2], b.line), stepMs: duration(rv[3], b.line) };
        continue;
      }
      expects.push(parseExpectLine(t, b.line));
      continue;
    }
    if (t.startsWith('expected_fail_message ')) {
      expects.push({ kind: 'fail', msg: t.slice('expected_fail_message '.length).trim() });
      continue;
    }
    if (t.startsWith('expected_fail_regexp ')) {
      expects.push({ kind: 'fail', regex: t.slice('expected_fail_regexp '.length).trim() });
      continue;
    }
    if (t.includes('{{')) {
      cmd.skip = 'native histogram result';
      continue;
    }
    if (/^\S+$/.test(t) && NUMBER_RE.test(t)) {
      cmd.scalar = parseSampleNumber(t);
      continue;
    }
    const { labels, rest } = parseSeriesDesc(t);
    cmd.series.push({ labels, values: parseValues(rest, false) as (number | null)[], line: b.line });
  }
  // Merge deprecated fail lines into a bare eval_fail expectation.
  const fails = expects.filter((e) => e.kind === 'fail');
  if (fails.length > 1) {
    const detailed = fails.find((e) => e.msg !== undefined || e.regex !== undefined);
    cmd.expects = expects.filter((e) => e.kind !== 'fail').concat(detailed ? [detailed] : [fails[0]]);
  }
  return cmd;
}
