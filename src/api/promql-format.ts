/**
 * PromQL printed back from the engine's AST, as Prometheus' formatter prints it
 * (`/api/v1/format_query`): `format` is Prometheus' `String()` (one line, its spacing: `sum by
 * (job) (rate(x[5m]))`, matchers sorted, durations as `1h30m`, numbers as Go's `%v`), `pretty` is
 * its `Pretty(0)` (the same, split over indented lines where a node is longer than 100 bytes).
 *
 * What the printer guarantees is the round trip: `parse(format(e))` and `parse(pretty(e))` give
 * `e` again (positions aside). Where Prometheus 2.42's printer would lose something
 * (`a + ignoring() group_left(x) b` prints as `a + b` there) this one keeps it, as Prometheus 3
 * does; names that are not legacy identifiers (`{"my.metric"}`, `"my.label"="v"`) are quoted.
 */
import type { AggregateExpr, AtModifier, BinaryExpr, DurationExpr, Expr, MatrixSelector, SubqueryExpr, VectorSelector } from '../promql/ast.js';
import { formatValue } from '../promql/index.js';

const MAX_CHARACTERS_PER_LINE = 100;
const INDENT = '  ';

/** The expression on one line, as Prometheus' `String()`. */
export function format(e: Expr): string {
  switch (e.type) {
    case 'number':
      return goFloat(e.value);
    case 'string':
      return goQuote(e.value);
    case 'paren':
      return `(${format(e.expr)})`;
    case 'unary':
      return e.op + format(e.expr);
    case 'call':
      return `${e.name}(${e.args.map(format).join(', ')})`;
    case 'aggregate':
      return `${aggregateOp(e)}(${e.param ? `${format(e.param)}, ` : ''}${format(e.expr)})`;
    case 'binary':
      return `${format(e.lhs)} ${binaryOp(e)} ${format(e.rhs)}`;
    case 'vectorSelector':
      return vectorSelector(e, true);
    case 'matrixSelector':
      return matrixSelector(e);
    case 'subquery':
      return format(e.expr) + subquerySuffix(e);
  }
}

/** The expression as Prometheus' `Pretty(0)`: lines split where a node is longer than 100 bytes. */
export function pretty(e: Expr): string {
  return prettyAt(e, 0);
}

function prettyAt(e: Expr, level: number): string {
  const indent = INDENT.repeat(level);
  const flat = format(e);
  const split = byteLength(flat) > MAX_CHARACTERS_PER_LINE;
  switch (e.type) {
    case 'aggregate': {
      if (!split) return indent + flat;
      const param = e.param ? `${prettyAt(e.param, level + 1)},\n` : '';
      return `${indent}${aggregateOp(e)}(\n${param}${prettyAt(e.expr, level + 1)}\n${indent})`;
    }
    case 'binary':
      if (!split) return indent + flat;
      return `${prettyAt(e.lhs, level + 1)}\n${indent}${binaryOp(e)}\n${prettyAt(e.rhs, level + 1)}`;
    case 'call':
      if (!split) return indent + flat;
      return `${indent}${e.name}(\n${e.args.map((a) => prettyAt(a, level + 1)).join(',\n')}\n${indent})`;
    case 'paren':
      if (!split) return indent + flat;
      return `${indent}(\n${prettyAt(e.expr, level + 1)}\n${indent})`;
    case 'subquery':
      // Prometheus 2.42 indents neither a short subquery nor the suffix of a long one.
      if (!split) return flat;
      return prettyAt(e.expr, level) + subquerySuffix(e);
    case 'unary':
      // The operator takes the child's indent.
      return indent + e.op + prettyAt(e.expr, level).trim();
    default:
      return indent + flat;
  }
}

function aggregateOp(e: AggregateExpr): string {
  if (e.without) return `${e.op} without (${labelList(e.grouping)}) `;
  if (e.grouping.length > 0) return `${e.op} by (${labelList(e.grouping)}) `;
  return e.op;
}

/** `+`, `> bool`, `* on (a) group_left (b)`, `+ fill (0)`: the operator and its modifiers. */
function binaryOp(e: BinaryExpr): string {
  let s: string = e.op;
  if (e.returnBool) s += ' bool';
  const m = e.matching;
  if (m === null) return s;
  const grouped = m.card === 'many-to-one' || m.card === 'one-to-many';
  if (m.on || m.labels.length > 0 || grouped) s += ` ${m.on ? 'on' : 'ignoring'} (${labelList(m.labels)})`;
  if (grouped) s += ` group_${m.card === 'many-to-one' ? 'left' : 'right'} (${labelList(m.include)})`;
  const fill = m.fill;
  if (fill !== undefined && (fill.lhs !== null || fill.rhs !== null)) {
    if (fill.lhs !== null && fill.rhs !== null && Object.is(fill.lhs, fill.rhs)) s += ` fill (${goFloat(fill.lhs)})`;
    else {
      if (fill.lhs !== null) s += ` fill_left (${goFloat(fill.lhs)})`;
      if (fill.rhs !== null) s += ` fill_right (${goFloat(fill.rhs)})`;
    }
  }
  return s;
}

function vectorSelector(e: VectorSelector, withModifiers: boolean): string {
  const name = e.name !== null && isPlainMetricName(e.name) ? e.name : null;
  const parts: string[] = [];
  for (const m of e.matchers) {
    // The name written before the braces is also its first matcher: print it once.
    if (e.name !== null && m.name === '__name__' && m.type === '=' && m.value === e.name && m === e.matchers[0]) continue;
    parts.push(`${labelName(m.name)}${m.type}${goQuote(m.value)}`);
  }
  parts.sort(compareBytes);
  // A name that is not an identifier goes in the braces, quoted, as `{"my.metric"}` is written.
  if (e.name !== null && name === null) parts.unshift(goQuote(e.name));
  let s = (name ?? '') + (parts.length > 0 || name === null ? `{${parts.join(',')}}` : '');
  if (withModifiers) s += at(e.at) + (e.extension ? ` ${e.extension}` : '') + offset(e.offsetMs, e.offsetExpr);
  return s;
}

function matrixSelector(e: MatrixSelector): string {
  const v = e.selector;
  const range = e.rangeExpr ? durationExpr(e.rangeExpr) : goDuration(e.rangeMs);
  return `${vectorSelector(v, false)}[${range}]${v.extension ? ` ${v.extension}` : ''}${at(v.at)}${offset(v.offsetMs, v.offsetExpr)}`;
}

function subquerySuffix(e: SubqueryExpr): string {
  const range = e.rangeExpr ? durationExpr(e.rangeExpr) : goDuration(e.rangeMs);
  const step = e.stepExpr ? durationExpr(e.stepExpr) : e.stepMs !== 0 ? goDuration(e.stepMs) : '';
  return `[${range}:${step}]${at(e.at)}${offset(e.offsetMs, e.offsetExpr)}`;
}

function at(a: AtModifier | null): string {
  if (a === null) return '';
  if (a.kind === 'start') return ' @ start()';
  if (a.kind === 'end') return ' @ end()';
  return ` @ ${(a.ms / 1000).toFixed(3)}`;
}

function offset(ms: number, expr: DurationExpr | undefined): string {
  if (expr !== undefined) {
    // After `offset` the grammar takes a sign or a primary, so an operation goes in parentheses.
    const text = durationExpr(expr);
    return ` offset ${expr.kind === 'binary' ? `(${text})` : text}`;
  }
  if (ms > 0) return ` offset ${goDuration(ms)}`;
  if (ms < 0) return ` offset -${goDuration(-ms)}`;
  return '';
}

const DURATION_PRECEDENCE: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2, '%': 2, '^': 3 };

/** A duration expression (`step() * 2`, `min_of(range(), 1h)`), parenthesized where precedence needs it. */
function durationExpr(d: DurationExpr): string {
  switch (d.kind) {
    case 'literal':
      return d.ms !== undefined ? goDuration(d.ms) : formatValue(d.seconds);
    case 'step':
      return 'step()';
    case 'range':
      return 'range()';
    case 'min_of':
    case 'max_of':
      return `${d.kind}(${durationExpr(d.lhs)}, ${durationExpr(d.rhs)})`;
    case 'unary': {
      const inner = durationExpr(d.expr);
      return d.op + (d.expr.kind === 'binary' || d.expr.kind === 'unary' ? `(${inner})` : inner);
    }
    case 'binary': {
      const p = DURATION_PRECEDENCE[d.op];
      const side = (x: DurationExpr, right: boolean): string => {
        const text = durationExpr(x);
        if (x.kind === 'unary' && (d.op === '^' || !right)) return `(${text})`;
        if (x.kind !== 'binary') return text;
        const q = DURATION_PRECEDENCE[x.op];
        // Left-associative but for `^`, which groups to the right.
        const wrap = q < p || (q === p && (d.op === '^' ? !right : right));
        return wrap ? `(${text})` : text;
      };
      return `${side(d.lhs, false)} ${d.op} ${side(d.rhs, true)}`;
    }
  }
}

/** Prometheus' model.Duration String(): `1h30m`, `1s500ms`, `90d` (years and weeks only when exact), `0s`. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  const unit = (name: string, size: number, exact: boolean) => {
    if (exact && rest % size !== 0) return;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${name}`;
      rest -= n * size;
    }
  };
  unit('y', 365 * 86_400_000, true);
  unit('w', 7 * 86_400_000, true);
  unit('d', 86_400_000, false);
  unit('h', 3_600_000, false);
  unit('m', 60_000, false);
  unit('s', 1000, false);
  unit('ms', 1, false);
  return out;
}

/**
 * A float as Go's `%v` (strconv 'g', shortest): `0.5`, `100000`, `1e+06`, `1.5e-07`, `+Inf`,
 * `NaN`, `-0`. Prometheus prints number literals so, and its text exposition format writes values so.
 */
export function goFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const sign = v < 0 ? '-' : '';
  const [mantissa, expText] = Math.abs(v).toExponential().split('e');
  const exp = Number(expText);
  const digits = mantissa.replace('.', '');
  if (exp < -4 || exp >= 6) return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return sign + whole + (frac === '' ? '' : `.${frac}`);
}

const SIMPLE_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/**
 * Go's strconv.Quote: printable characters as they are, the rest escaped. Bytes that were not
 * valid UTF-8 in the query (kept by the parser as U+DC80..U+DCFF) come back as `\xff`.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const simple = SIMPLE_ESCAPES[ch];
    if (simple !== undefined) out += simple;
    else if (cp >= 0xdc80 && cp <= 0xdcff) out += `\\x${(cp - 0xdc00).toString(16).padStart(2, '0')}`;
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}

/**
 * Words the grammar reserves (in any case): a metric named so is quoted, `{"on"}`, to be read back
 * as a name. Label names never clash: in braces and label lists every identifier is a name.
 */
const RESERVED = new Set(['inf', 'nan', 'bool', 'ignoring', 'on', 'group_left', 'group_right', 'offset']);

function isPlainMetricName(name: string): boolean {
  return /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) && !RESERVED.has(name.toLowerCase());
}

function labelName(name: string): string {
  return /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) ? name : goQuote(name);
}

function labelList(names: readonly string[]): string {
  return names.map(labelName).join(', ');
}

/** Go's sort.Strings order: by UTF-8 bytes. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
