/**
 * Adapter from the official lezer grammar (@prometheus-io/lezer-promql) to the engine's AST.
 * lezer never throws: syntax errors are error nodes in the tree, which we turn into the first
 * PromQLParseError. Type checks that Prometheus' yacc parser makes (argument types, scalar
 * comparisons without bool, ...) are made here on our AST, with Prometheus' wording.
 */
import { parser as lezer } from '@prometheus-io/lezer-promql';
import type { SyntaxNode, Tree } from '@lezer/common';
import type { LabelMatcher, MatchType } from '../core/queryable.js';
import { METRIC_NAME } from '../core/labels.js';
import type {
  AggregateExpr,
  AggregateOp,
  AtModifier,
  BinaryExpr,
  BinaryOp,
  Cardinality,
  DurationExpr,
  Expr,
  PosRange,
  ValueType,
  VectorSelector,
} from './ast.js';
import { COMPARISON_OPERATORS, SET_OPERATORS, typeName } from './ast.js';
import { PromQLParseError, positionOf } from './errors.js';
import { FUNCTIONS } from './functions.js';
import { regexError } from './regex.js';
import { matchValue } from './matchers.js';
import { durationMs, usesQueryContext } from './durations.js';
import { parseDurationMs, parseNumberLiteral, unquoteString } from './literals.js';

export { isWellFormedUtf8, parseDurationMs, parseNumberLiteral, unquoteString } from './literals.js';

/**
 * Functions newer than the pinned grammar (it has no rule for them): the query text handed to
 * lezer has their names masked by a known function of the same length, so positions are kept;
 * the real name is read back from the original text.
 */
const GRAMMAR_MASKS: Record<string, string> = { min_of: 'minute', max_of: 'minute' };

const BINARY_OPS: Record<string, BinaryOp> = {
  Add: '+', Sub: '-', Mul: '*', Div: '/', Mod: '%', Pow: '^', Atan2: 'atan2',
  Eql: '==', Neq: '!=', Gtr: '>', Lss: '<', Gte: '>=', Lte: '<=',
  And: 'and', Or: 'or', Unless: 'unless',
};

const MATCH_OPS: Record<string, MatchType> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' };

class Builder {
  constructor(readonly text: string) {}

  fail(detail: string, from: number, to = from): never {
    throw new PromQLParseError(detail, positionOf(this.text, from, to));
  }

  src(n: SyntaxNode): string {
    return this.text.slice(n.from, n.to);
  }

  pos(n: SyntaxNode): PosRange {
    return { start: n.from, end: n.to };
  }

  children(n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
    return out;
  }

  expr(n: SyntaxNode): Expr {
    const handler = this.handlers[n.name];
    if (!handler) this.fail(`unexpected ${describe(this.src(n))}`, n.from, n.to);
    return handler(n);
  }

  private readonly handlers: Record<string, (n: SyntaxNode) => Expr> = {
    NumberDurationLiteral: (n) => {
      const v = parseNumberLiteral(this.src(n));
      if (v === null) this.fail(`error parsing number: ${this.src(n)}`, n.from, n.to);
      return { type: 'number', value: v, pos: this.pos(n) };
    },
    StringLiteral: (n) => ({ type: 'string', value: this.string(n), pos: this.pos(n) }),
    ParenExpr: (n) => {
      const inner = this.children(n)[0];
      if (!inner) this.fail('unexpected ")"', n.to - 1);
      return { type: 'paren', expr: this.expr(inner), pos: this.pos(n) };
    },
    UnaryExpr: (n) => {
      const [op, operand] = this.children(n);
      const inner = this.expr(operand);
      const t = exprType(inner);
      if (t !== 'scalar' && t !== 'vector') {
        this.fail(`unary expression only allowed on expressions of type scalar or instant vector, got "${typeName(t)}"`, n.from, n.to);
      }
      const sign = this.src(op) === '-' ? '-' : '+';
      // Prometheus folds a sign into a number literal directly.
      if (inner.type === 'number') {
        return { type: 'number', value: sign === '-' ? -inner.value : inner.value, pos: this.pos(n) };
      }
      return { type: 'unary', op: sign, expr: inner, pos: this.pos(n) };
    },
    VectorSelector: (n) => this.vectorSelector(n),
    MatrixSelector: (n) => {
      const [vsNode, durNode] = this.children(n);
      const inner = this.expr(vsNode);
      if (inner.type !== 'vectorSelector') this.fail('ranges only allowed for vector selectors', n.from, n.to);
      if (inner.offsetMs !== 0 || inner.at) this.fail('no offset modifiers allowed before range', n.from, n.to);
      const range = this.duration(durNode, false);
      return { type: 'matrixSelector', selector: inner, rangeMs: range.ms, rangeExpr: range.expr, pos: this.pos(n) };
    },
    SubqueryExpr: (n) => {
      const kids = this.children(n);
      const inner = this.expr(kids[0]);
      const t = exprType(inner);
      if (t !== 'vector') this.fail(`subquery is only allowed on instant vector, got ${t} instead`, n.from, n.to);
      const durs = kids.filter((k) => k.name === 'DurationExpr');
      const range = this.duration(durs[0], false);
      const step = durs[1] ? this.duration(durs[1], false) : { ms: 0 };
      return {
        type: 'subquery', expr: inner, rangeMs: range.ms, rangeExpr: range.expr, stepMs: step.ms, stepExpr: step.expr,
        offsetMs: 0, at: null, pos: this.pos(n),
      };
    },
    OffsetExpr: (n) => {
      const kids = this.children(n);
      const target = this.expr(kids[0]);
      const durNode = kids.find((k) => k.name === 'OffsetDurationExpr');
      if (!durNode) this.fail('unexpected end of input', n.to);
      const offset = this.duration(durNode, true);
      return this.withModifier(target, n, (t) => {
        if (t.offsetMs !== 0 || t.offsetExpr) this.fail('offset may not be set multiple times', n.from, n.to);
        return { ...t, offsetMs: offset.ms, offsetExpr: offset.expr };
      });
    },
    AnchoredExpr: (n) => this.withExtension(this.expr(this.children(n)[0]), 'anchored', n),
    SmoothedExpr: (n) => this.withExtension(this.expr(this.children(n)[0]), 'smoothed', n),
    StepInvariantExpr: (n) => {
      const kids = this.children(n);
      const target = this.expr(kids[0]);
      const atNode = kids[kids.length - 1];
      let at: AtModifier;
      if (atNode.name === 'AtModifierPreprocessors') {
        at = { kind: this.src(atNode) === 'start' ? 'start' : 'end' };
      } else {
        const num = this.expr(atNode);
        const v = num.type === 'number' ? num.value : NaN;
        if (!Number.isFinite(v)) this.fail(`timestamp out of bounds for @ modifier: ${v}`, atNode.from, atNode.to);
        at = { kind: 'time', ms: Math.round(v * 1000) };
      }
      return this.withModifier(target, n, (t) => {
        if (t.at) this.fail('@ <timestamp> may not be set multiple times', n.from, n.to);
        return { ...t, at };
      });
    },
    FunctionCall: (n) => this.call(n),
    AggregateExpr: (n) => this.aggregate(n),
    BinaryExpr: (n) => this.binary(n),
  };

  private withExtension(target: Expr, kind: 'anchored' | 'smoothed', n: SyntaxNode): Expr {
    switch (target.type) {
      case 'binary':
        return { ...target, rhs: this.withExtension(target.rhs, kind, n) };
      case 'unary':
        return { ...target, expr: this.withExtension(target.expr, kind, n) };
      case 'matrixSelector':
        if (target.selector.extension) this.fail('anchored and smoothed modifiers cannot be used together', n.from, n.to);
        return { ...target, selector: { ...target.selector, extension: kind } };
      case 'vectorSelector':
        if (kind === 'anchored') this.fail('anchored modifier can only be used with range vector selectors', n.from, n.to);
        if (target.extension) this.fail('anchored and smoothed modifiers cannot be used together', n.from, n.to);
        return { ...target, extension: kind };
      case 'subquery':
        return this.fail(`${kind} modifier is not supported for subqueries`, n.from, n.to);
      default:
        return this.fail(`${kind} modifier must be preceded by an instant vector selector or range vector selector`, n.from, n.to);
    }
  }

  private withModifier(
    target: Expr,
    n: SyntaxNode,
    apply: <T extends VectorSelector | { offsetMs: number; offsetExpr?: DurationExpr; at: AtModifier | null }>(t: T) => T,
  ): Expr {
    switch (target.type) {
      // The grammar attaches a trailing modifier to the whole preceding binary or unary
      // expression; Prometheus binds it to the closest operand.
      case 'binary':
        return { ...target, rhs: this.withModifier(target.rhs, n, apply) };
      case 'unary':
        return { ...target, expr: this.withModifier(target.expr, n, apply) };
      case 'vectorSelector':
        return apply(target);
      case 'matrixSelector':
        return { ...target, selector: apply(target.selector) };
      case 'subquery':
        return apply(target);
      default: {
        const what = this.src(n).includes('@') && !this.src(n).includes('offset') ? '@ modifier' : 'offset modifier';
        return this.fail(`${what} must be preceded by an instant vector selector or range vector selector or a subquery`, n.from, n.to);
      }
    }
  }

  private string(n: SyntaxNode): string {
    try {
      return unquoteString(this.src(n));
    } catch {
      return this.fail(`error unquoting string ${JSON.stringify(this.src(n))}: invalid syntax`, n.from, n.to);
    }
  }

  private labelName(n: SyntaxNode): string {
    if (n.name === 'QuotedLabelName') return this.string(this.children(n)[0]);
    return this.src(n);
  }

  private vectorSelector(n: SyntaxNode, allowEmpty = false): VectorSelector {
    let name: string | null = null;
    const matchers: LabelMatcher[] = [];
    for (const k of this.children(n)) {
      if (k.name === 'Identifier' || k.name === 'MetricName') name = this.src(k);
      if (k.name !== 'LabelMatchers') continue;
      for (const m of this.children(k)) {
        if (m.name === 'QuotedLabelName') {
          // A bare quoted string in braces is the metric name: {"my.metric"}.
          if (name !== null) this.fail(`metric name must not be set twice: "${name}" or "${this.labelName(m)}"`, n.from, n.to);
          name = this.labelName(m);
          continue;
        }
        const parts = this.children(m);
        const ln = this.labelName(parts[0]);
        const opNode = parts[1]?.firstChild;
        const valNode = parts[2];
        if (!opNode || !valNode) this.fail('unexpected end of input inside braces', m.to);
        const type = MATCH_OPS[opNode.name];
        const value = this.string(valNode);
        if (type === '=~' || type === '!~') {
          const reason = regexError(value);
          if (reason !== null) this.fail(reason, valNode.from, valNode.to);
        }
        matchers.push({ type, name: ln, value });
      }
    }
    if (name !== null) {
      if (matchers.some((m) => m.name === METRIC_NAME && m.type === '=')) {
        const other = matchers.find((m) => m.name === METRIC_NAME)!.value;
        this.fail(`metric name must not be set twice: "${name}" or "${other}"`, n.from, n.to);
      }
      matchers.unshift({ type: '=', name: METRIC_NAME, value: name });
    }
    // Prometheus refuses selectors that would match every series, e.g. {a=""} or {a=~".*"}.
    const nonEmpty = matchers.some((m) => !matchValue(m, ''));
    if (!nonEmpty && !allowEmpty) this.fail('vector selector must contain at least one non-empty matcher', n.from, n.to);
    return { type: 'vectorSelector', name, matchers, offsetMs: 0, at: null, pos: this.pos(n) };
  }

  private fillValues(n: SyntaxNode): { lhs: number | null; rhs: number | null } {
    let lhs: number | null = null;
    let rhs: number | null = null;
    for (const clause of this.children(n)) {
      const valueNode = this.children(clause).find((k) => k.name === 'NumberDurationLiteral' || k.name === 'UnaryExpr');
      if (!valueNode) this.fail('expected a number in fill modifier', clause.from, clause.to);
      const v = this.expr(valueNode);
      if (v.type !== 'number') this.fail('expected a number in fill modifier', clause.from, clause.to);
      if (clause.name !== 'FillRightClause') lhs = v.value;
      if (clause.name !== 'FillLeftClause') rhs = v.value;
    }
    return { lhs, rhs };
  }

  private durationTree(n: SyntaxNode): DurationExpr {
    const kids = this.children(n);
    switch (n.name) {
      case 'NumberDurationLiteralInDurationContext': {
        const text = this.src(n);
        const d = parseDurationMs(text);
        if (d !== null) return { kind: 'literal', seconds: d / 1000, ms: d };
        const num = parseNumberLiteral(text);
        if (num === null) this.fail(`bad number or duration syntax: "${text}"`, n.from, n.to);
        return { kind: 'literal', seconds: num };
      }
      case 'DurationStep':
        return { kind: 'step' };
      case 'DurationRange':
        return { kind: 'range' };
      case 'DurationExpr':
      case 'OffsetDurationExpr': {
        if (kids.length === 1) return this.durationTree(kids[0]);
        if (kids.length === 2 && kids[0].name === 'UnaryOp') {
          return { kind: 'unary', op: this.src(kids[0]) === '-' ? '-' : '+', expr: this.durationTree(kids[1]) };
        }
        if (kids.length === 3 && (kids[0].name === 'DurationMinOf' || kids[0].name === 'DurationMaxOf')) {
          const kind = kids[0].name === 'DurationMinOf' ? 'min_of' : 'max_of';
          return { kind, lhs: this.durationTree(kids[1]), rhs: this.durationTree(kids[2]) };
        }
        const op = kids.length === 3 ? BINARY_OPS[kids[1].name] : undefined;
        if (op === '+' || op === '-' || op === '*' || op === '/' || op === '%' || op === '^') {
          return { kind: 'binary', op, lhs: this.durationTree(kids[0]), rhs: this.durationTree(kids[2]) };
        }
        break;
      }
    }
    return this.fail('expected number literal or duration expression', n.from, n.to);
  }

  /** A duration: folded when constant, kept as an expression when it uses step() or range(). */
  private duration(n: SyntaxNode, allowNegative: boolean): { ms: number; expr?: DurationExpr } {
    const d = this.durationTree(n);
    if (usesQueryContext(d)) return { ms: 0, expr: d };
    try {
      return { ms: durationMs(d, 0, 0, allowNegative) };
    } catch (err) {
      return this.fail(err instanceof Error ? err.message : String(err), n.from, n.to);
    }
  }

  private call(n: SyntaxNode): Expr {
    const [idNode, bodyNode] = this.children(n);
    const name = this.src(idNode);
    const def = FUNCTIONS.get(name);
    if (!def) this.fail(`unknown function with name "${name}"`, idNode.from, idNode.to);
    // info()'s second argument is a bare label selector, exempt from the non-empty check.
    const args = (bodyNode ? this.children(bodyNode) : []).map((a, i) =>
      name === 'info' && i === 1 && a.name === 'VectorSelector' ? this.vectorSelector(a, true) : this.expr(a),
    );
    const pos = this.pos(n);
    if (name === 'info' && args.length > 1) {
      const sel = args[1];
      if (exprType(sel) !== 'vector') {
        this.fail(`expected type instant vector in call to function "info", got ${typeName(exprType(sel))}`, n.from, n.to);
      }
      if (sel.type !== 'vectorSelector') this.fail('expected label selectors only', sel.pos.start, sel.pos.end);
      if (sel.name !== null) this.fail('expected label selectors only, got vector selector instead', sel.pos.start, sel.pos.end);
    }
    const nargs = def.argTypes.length;
    if (def.variadic === 0) {
      if (nargs !== args.length) this.fail(`expected ${nargs} argument(s) in call to "${name}", got ${args.length}`, n.from, n.to);
    } else {
      const min = nargs - 1;
      if (min > args.length) this.fail(`expected at least ${min} argument(s) in call to "${name}", got ${args.length}`, n.from, n.to);
      if (def.variadic > 0 && min + def.variadic < args.length) {
        this.fail(`expected at most ${min + def.variadic} argument(s) in call to "${name}", got ${args.length}`, n.from, n.to);
      }
    }
    args.forEach((a, i) => {
      const want = def.argTypes[Math.min(i, nargs - 1)];
      const got = exprType(a);
      if (got !== want) {
        this.fail(`expected type ${typeName(want)} in call to function "${name}", got ${typeName(got)}`, a.pos.start, a.pos.end);
      }
    });
    return { type: 'call', name, args, pos };
  }

  private aggregate(n: SyntaxNode): AggregateExpr {
    const kids = this.children(n);
    const op = this.src(kids.find((k) => k.name === 'AggregateOp')!).toLowerCase() as AggregateOp;
    const mod = kids.find((k) => k.name === 'AggregateModifier');
    const body = kids.find((k) => k.name === 'FunctionCallBody');
    if (!body) this.fail('unexpected end of input in aggregation', n.to);
    const args = this.children(body).map((a) => this.expr(a));
    let grouping: string[] = [];
    let without = false;
    if (mod) {
      without = mod.firstChild?.name === 'Without';
      const gl = this.children(mod).find((k) => k.name === 'GroupingLabels');
      grouping = gl ? this.children(gl).map((l) => this.labelName(l)) : [];
    }
    const withParam = op === 'topk' || op === 'bottomk' || op === 'quantile' || op === 'count_values' || op === 'limitk' || op === 'limit_ratio';
    if (args.length === 0) this.fail('no arguments for aggregate expression provided', n.from, n.to);
    const want = withParam ? 2 : 1;
    if (args.length !== want) {
      this.fail(`wrong number of arguments for aggregate expression provided, expected ${want}, got ${args.length}`, n.from, n.to);
    }
    const expr = args[want - 1];
    const param = withParam ? args[0] : null;
    if (exprType(expr) !== 'vector') {
      this.fail(`expected type instant vector in aggregation expression, got ${typeName(exprType(expr))}`, expr.pos.start, expr.pos.end);
    }
    if (param) {
      const pt = exprType(param);
      const wantParam: ValueType = op === 'count_values' ? 'string' : 'scalar';
      if (pt !== wantParam) {
        this.fail(`expected type ${typeName(wantParam)} in aggregation parameter, got ${typeName(pt)}`, param.pos.start, param.pos.end);
      }
    }
    return { type: 'aggregate', op, expr, param, grouping, without, pos: this.pos(n) };
  }

  private binary(n: SyntaxNode): Expr {
    const kids = this.children(n);
    const lhsNode = kids[0];
    const opNode = kids[1];
    const rhsNode = kids[kids.length - 1];
    if (!opNode || kids.length < 3 || rhsNode.type.isError) this.fail('unexpected end of input', n.to);
    const op = BINARY_OPS[opNode.name];
    const returnBool = kids.some((k) => k.name === 'BoolModifier');
    const clause = kids.find((k) => k.name === 'MatchingModifierClause');
    const fillNode = kids.find((k) => k.name === 'FillModifier');
    const fill = fillNode ? this.fillValues(fillNode) : undefined;
    // The grammar lexes `-2` as one literal, so `-2 ^ 2` would be (-2)^2; in Prometheus the
    // sign is a unary operator binding looser than `^`: -(2^2).
    if (op === '^' && lhsNode.name === 'NumberDurationLiteral' && /^[+-]/.test(this.src(lhsNode))) {
      const text = this.src(lhsNode);
      const abs = parseNumberLiteral(text.slice(1).trimStart());
      if (abs === null) this.fail(`error parsing number: ${text}`, lhsNode.from, lhsNode.to);
      const inner: BinaryExpr = {
        type: 'binary',
        op,
        lhs: { type: 'number', value: abs, pos: { start: lhsNode.from + 1, end: lhsNode.to } },
        rhs: this.expr(rhsNode),
        returnBool: false,
        matching: null,
        pos: { start: lhsNode.from + 1, end: n.to },
      };
      if (exprType(inner.rhs) !== 'scalar' && exprType(inner.rhs) !== 'vector') {
        this.fail('binary expression must contain only scalar and instant vector types', inner.rhs.pos.start, inner.rhs.pos.end);
      }
      return { type: 'unary', op: text[0] === '-' ? '-' : '+', expr: inner, pos: this.pos(n) };
    }
    const lhs = this.expr(lhsNode);
    const rhs = this.expr(rhsNode);
    const lt = exprType(lhs);
    const rt = exprType(rhs);
    const opPos = opNode.from;
    if (returnBool && !COMPARISON_OPERATORS.has(op)) this.fail('bool modifier can only be used on comparison operators', opPos, opNode.to);
    if (COMPARISON_OPERATORS.has(op) && !returnBool && lt === 'scalar' && rt === 'scalar') {
      this.fail('comparisons between scalars must use BOOL modifier', opPos, opNode.to);
    }
    if (lt !== 'scalar' && lt !== 'vector') this.fail('binary expression must contain only scalar and instant vector types', lhs.pos.start, lhs.pos.end);
    if (rt !== 'scalar' && rt !== 'vector') this.fail('binary expression must contain only scalar and instant vector types', rhs.pos.start, rhs.pos.end);

    const isSet = SET_OPERATORS.has(op);
    let card: Cardinality = isSet ? 'many-to-many' : 'one-to-one';
    let on = false;
    let labels: string[] = [];
    let include: string[] = [];
    let hasClause = false;
    let hasGroup = false;
    if (clause) {
      hasClause = true;
      const ck = this.children(clause);
      on = ck[0].name === 'On';
      const lists = ck.filter((k) => k.name === 'GroupingLabels');
      labels = lists[0] ? this.children(lists[0]).map((l) => this.labelName(l)) : [];
      const g = ck.find((k) => k.name === 'GroupLeft' || k.name === 'GroupRight');
      if (g) {
        hasGroup = true;
        card = g.name === 'GroupLeft' ? 'many-to-one' : 'one-to-many';
        include = lists[1] ? this.children(lists[1]).map((l) => this.labelName(l)) : [];
        if (on) {
          for (const l of include) {
            if (labels.includes(l)) this.fail(`label "${l}" must not occur in ON and GROUP clause at once`, opPos, opNode.to);
          }
        }
      }
    }
    if ((lt !== 'vector' || rt !== 'vector') && hasClause) {
      this.fail('vector matching only allowed between instant vectors', n.from, n.to);
    }
    if ((lt !== 'vector' || rt !== 'vector') && fill) {
      this.fail('filling in missing series only allowed between instant vectors', n.from, n.to);
    }
    if (isSet && fill) this.fail('filling in missing series not allowed for set operators', n.from, n.to);
    if (isSet) {
      if (lt === 'scalar' || rt === 'scalar') this.fail(`set operator "${op}" not allowed in binary scalar expression`, n.from, n.to);
      if (hasGroup) this.fail(`no grouping allowed for "${op}" operation`, n.from, n.to);
    }
    const matching = lt === 'vector' && rt === 'vector' ? { card, on, labels, include, fill } : null;
    return { type: 'binary', op, lhs, rhs, returnBool, matching, pos: this.pos(n) };
  }
}

function describe(text: string): string {
  if (text === '') return 'end of input';
  return JSON.stringify(text.length > 20 ? text.slice(0, 20) : text);
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset']);
const OPERATORS = ['==', '!=', '>=', '<=', '=~', '!~', '+', '-', '*', '/', '%', '^', '>', '<', '='];
const PUNCTUATION: Record<string, string> = {
  '(': "left parenthesis '('",
  ')': "right parenthesis ')'",
  '{': "left brace '{'",
  '}': "right brace '}'",
  '[': "left bracket '['",
  ']': "right bracket ']'",
  ',': '","',
  ':': '":"',
  '@': '"@"',
};

/** Prometheus' lexer item description of the token at the start of `rest`. */
function describeToken(rest: string): string {
  const word = /^[a-zA-Z_:][\w:]*/.exec(rest)?.[0];
  if (word) {
    const lower = word.toLowerCase();
    if (lower === 'and' || lower === 'or' || lower === 'unless' || lower === 'atan2') return `<op:${lower}>`;
    if (KEYWORDS.has(lower)) return `<${lower}>`;
    return `identifier ${JSON.stringify(word)}`;
  }
  const num = /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)(?:[a-z]+)?/.exec(rest)?.[0];
  if (num) return `number ${JSON.stringify(num)}`;
  const str = /^("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/.exec(rest)?.[0];
  if (str) return `string ${JSON.stringify(str)}`;
  const op = OPERATORS.find((o) => rest.startsWith(o));
  if (op) return `<op:${op}>`;
  const p = PUNCTUATION[rest[0]];
  if (p) return p;
  return `character: '${rest[0]}'`;
}

/**
 * Errors Prometheus' lexer reports before parsing (unterminated strings, unbalanced brackets),
 * with its wording; null when the text is lexically sound.
 */
function lexicalError(text: string, maxDepth: number): { detail: string; at: number } | null {
  const stack: { c: string; at: number }[] = [];
  const closers: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '#') {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) {
        if (c !== '`' && text[j] === '\n') break;
        j += text[j] === '\\' && c !== '`' ? 2 : 1;
      }
      if (j >= text.length || text[j] !== c) return { detail: c === '`' ? 'unterminated raw string' : 'unterminated quoted string', at: i };
      i = j;
      continue;
    }
    if (c === '(' || c === '{' || c === '[') {
      // Checked here, before the grammar runs: 100,000 parentheses take lezer seconds to reject.
      if (stack.length >= maxDepth) return { detail: tooDeep(maxDepth), at: i };
      stack.push({ c, at: i });
    }
    if (c in closers) {
      const top = stack.pop();
      if (!top) return { detail: c === ')' ? "unexpected right parenthesis ')'" : `unexpected character: '${c}'`, at: i };
      if (top.c !== closers[c]) {
        if (top.c === '{') return { detail: `unexpected character inside braces: '${c}'`, at: i };
        return { detail: `unexpected character: '${c}'`, at: i };
      }
    }
  }
  const open = stack.pop();
  if (open?.c === '(') return { detail: 'unclosed left parenthesis', at: text.length };
  if (open?.c === '{') return { detail: 'unexpected end of input inside braces', at: text.length };
  if (open?.c === '[') return { detail: 'unexpected end of input inside brackets', at: text.length };
  return null;
}

/** The value type an expression evaluates to. */
export function exprType(e: Expr): ValueType {
  switch (e.type) {
    case 'number':
      return 'scalar';
    case 'string':
      return 'string';
    case 'vectorSelector':
      return 'vector';
    case 'matrixSelector':
    case 'subquery':
      return 'matrix';
    case 'call':
      return FUNCTIONS.get(e.name)!.returnType;
    case 'aggregate':
      return 'vector';
    case 'binary':
      return exprType(e.lhs) === 'scalar' && exprType(e.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'unary':
    case 'paren':
      return exprType(e.expr);
  }
}

/**
 * Rewrites, outside string literals and without moving any offset, what the pinned grammar
 * cannot tokenize but Prometheus accepts: newer function names and numbers with a trailing dot
 * (`1.`). The AST is built from the original text, so the masks never reach the result.
 */
function maskForGrammar(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' && c !== '`' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '#') {
      const j = text.indexOf('\n', i);
      const end = j < 0 ? text.length : j;
      out += text.slice(i, end);
      i = end;
      continue;
    }
    const kw = /^(step|range)(?=\s*\()/i.exec(text.slice(i, i + 6));
    if (kw && kw[1] !== kw[1].toLowerCase() && !/[\w:]/.test(text[i - 1] ?? '')) {
      // Duration keywords are case-insensitive in Prometheus' lexer, not in the grammar.
      out += kw[1].toLowerCase();
      i += kw[1].length;
      continue;
    }
    const fn = /^(min_of|max_of)(?=\s*\()/.exec(text.slice(i, i + 7));
    if (fn && !/[\w:]/.test(text[i - 1] ?? '')) {
      out += GRAMMAR_MASKS[fn[1]];
      i += fn[1].length;
      continue;
    }
    if (c === '.' && /[0-9]/.test(text[i - 1] ?? '') && !/[0-9a-zA-Z_]/.test(text[i + 1] ?? '')) {
      // Only a dot that ends a number: walk back over the digits to be sure.
      let j = i - 1;
      while (j >= 0 && /[0-9]/.test(text[j])) j--;
      if (j < 0 || !/[\w.:]/.test(text[j])) {
        out += ' ';
        i++;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

/**
 * How deeply an expression may nest by default: levels of the syntax tree, where a parenthesis,
 * an operator (`a + b + c` is two levels) and an aggregation count one and a function call two.
 * Dashboards stay under 30; the grammar itself gives up, with a misleading error, near 450
 * chained operators, and the AST is built and evaluated recursively.
 */
export const DEFAULT_MAX_DEPTH = 256;

function tooDeep(maxDepth: number): string {
  return `expression nested more than ${maxDepth} levels deep (limit query.max_depth); write it with fewer parentheses or split a long chain of operators into several queries`;
}

/** The depth of the syntax tree, walked without recursion. */
function treeDepth(tree: Tree, stopAbove: number): number {
  const cursor = tree.cursor();
  let depth = 0;
  let max = 0;
  for (;;) {
    if (cursor.firstChild()) {
      if (++depth > max) max = depth;
      if (max > stopAbove) return max;
      continue;
    }
    while (!cursor.nextSibling()) {
      if (!cursor.parent()) return max;
      depth--;
    }
  }
}

/** Parses a PromQL expression into the engine's AST; throws PromQLParseError. */
export function parseExpr(text: string, maxDepth = DEFAULT_MAX_DEPTH): Expr {
  // The text is parsed as written first; only if that fails is it retried with the masks, so
  // a mask can never change the meaning of something the grammar already accepts (min_of in a
  // duration, for instance, is in the grammar).
  const lexical = lexicalError(text, maxDepth);
  if (lexical) throw new PromQLParseError(lexical.detail, positionOf(text, lexical.at));
  let tree = lezer.parse(text);
  // The top node and the expression under it are two levels every query has.
  if (treeDepth(tree, maxDepth + 2) > maxDepth + 2) throw new PromQLParseError(tooDeep(maxDepth), positionOf(text, 0, text.length));
  let err = firstError(tree);
  if (err) {
    const masked = maskForGrammar(text);
    if (masked !== text) {
      const retry = lezer.parse(masked);
      const retryErr = firstError(retry);
      if (!retryErr) {
        tree = retry;
        err = null;
      }
    }
  }
  const b = new Builder(text);
  if (err) {
    if (text.trim() === '') b.fail('no expression found in input', 0);
    const skipped = text.slice(err.from).length - text.slice(err.from).trimStart().length;
    const rest = text.slice(err.from).trimStart();
    if (rest === '' || err.from >= text.length) b.fail('unexpected end of input', text.length);
    b.fail(`unexpected ${describeToken(rest)}`, err.from + skipped, err.to);
  }
  const top = tree.topNode.firstChild;
  if (top === null) return b.fail('no expression found in input', 0);
  return b.expr(top);
}

function firstError(tree: Tree): SyntaxNode | null {
  let found: SyntaxNode | null = null;
  tree.iterate({
    enter: (ref) => {
      if (found) return false;
      if (ref.type.isError) {
        found = ref.node;
        return false;
      }
      return undefined;
    },
  });
  return found;
}
