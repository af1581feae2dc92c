/**
 * The engine's own typed AST. The lezer tree is converted into this once, so evaluation never
 * touches grammar node names and can be tested without the parser.
 */
import type { LabelMatcher } from '../core/queryable.js';

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

/** Offsets into the query text, end exclusive. */
export interface PosRange {
  readonly start: number;
  readonly end: number;
}

export type BinaryOp =
  | '+' | '-' | '*' | '/' | '%' | '^' | 'atan2'
  | '==' | '!=' | '>' | '<' | '>=' | '<='
  | 'and' | 'or' | 'unless';

export type AggregateOp =
  | 'sum' | 'avg' | 'min' | 'max' | 'count' | 'group' | 'stddev' | 'stdvar'
  | 'topk' | 'bottomk' | 'quantile' | 'count_values' | 'limitk' | 'limit_ratio';

/** `@` modifier: a fixed time in ms, or the query's start/end resolved at evaluation. */
export type AtModifier = { readonly kind: 'time'; readonly ms: number } | { readonly kind: 'start' } | { readonly kind: 'end' };

/**
 * A duration written as an expression (experimental in Prometheus): arithmetic in seconds over
 * literals, step(), range(), min_of and max_of. Kept in the AST only when it depends on the
 * query (step()/range()); constant ones are folded by the parser.
 */
export type DurationExpr =
  | { readonly kind: 'literal'; readonly seconds: number; readonly ms?: number }
  | { readonly kind: 'step' }
  | { readonly kind: 'range' }
  | { readonly kind: 'unary'; readonly op: '-' | '+'; readonly expr: DurationExpr }
  | { readonly kind: 'binary'; readonly op: '+' | '-' | '*' | '/' | '%' | '^'; readonly lhs: DurationExpr; readonly rhs: DurationExpr }
  | { readonly kind: 'min_of' | 'max_of'; readonly lhs: DurationExpr; readonly rhs: DurationExpr };

export interface NumberLiteral {
  readonly type: 'number';
  readonly value: number;
  readonly pos: PosRange;
}

export interface StringLiteral {
  readonly type: 'string';
  readonly value: string;
  readonly pos: PosRange;
}

export interface VectorSelector {
  readonly type: 'vectorSelector';
  /** The metric name if written before the braces (also present as a `__name__` matcher). */
  readonly name: string | null;
  readonly matchers: readonly LabelMatcher[];
  readonly offsetMs: number;
  readonly offsetExpr?: DurationExpr;
  readonly at: AtModifier | null;
  /**
   * Experimental `anchored`/`smoothed` modifiers: windows extended by the lookback delta, with
   * values picked or interpolated at the window bounds.
   */
  readonly extension?: 'anchored' | 'smoothed';
  readonly pos: PosRange;
}

export interface MatrixSelector {
  readonly type: 'matrixSelector';
  readonly selector: VectorSelector;
  readonly rangeMs: number;
  readonly rangeExpr?: DurationExpr;
  readonly pos: PosRange;
}

export interface SubqueryExpr {
  readonly type: 'subquery';
  readonly expr: Expr;
  readonly rangeMs: number;
  readonly rangeExpr?: DurationExpr;
  /** 0 means "the engine's default resolution". */
  readonly stepMs: number;
  readonly stepExpr?: DurationExpr;
  readonly offsetMs: number;
  readonly offsetExpr?: DurationExpr;
  readonly at: AtModifier | null;
  readonly pos: PosRange;
}

export interface Call {
  readonly type: 'call';
  readonly name: string;
  readonly args: readonly Expr[];
  readonly pos: PosRange;
}

export interface AggregateExpr {
  readonly type: 'aggregate';
  readonly op: AggregateOp;
  readonly expr: Expr;
  readonly param: Expr | null;
  readonly grouping: readonly string[];
  readonly without: boolean;
  readonly pos: PosRange;
}

export type Cardinality = 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many';

export interface VectorMatching {
  readonly card: Cardinality;
  /** true: `on(labels)`; false: `ignoring(labels)` (or no clause, with empty labels). */
  readonly on: boolean;
  readonly labels: readonly string[];
  /** Extra labels copied from the "one" side by group_left/group_right. */
  readonly include: readonly string[];
  /** `fill(v)`, `fill_left(v)`, `fill_right(v)` (experimental): values for missing matches. */
  readonly fill?: { readonly lhs: number | null; readonly rhs: number | null };
}

export interface BinaryExpr {
  readonly type: 'binary';
  readonly op: BinaryOp;
  readonly lhs: Expr;
  readonly rhs: Expr;
  readonly returnBool: boolean;
  /** Present only when both sides are instant vectors. */
  readonly matching: VectorMatching | null;
  readonly pos: PosRange;
}

export interface UnaryExpr {
  readonly type: 'unary';
  readonly op: '-' | '+';
  readonly expr: Expr;
  readonly pos: PosRange;
}

export interface ParenExpr {
  readonly type: 'paren';
  readonly expr: Expr;
  readonly pos: PosRange;
}

export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | Call
  | AggregateExpr
  | BinaryExpr
  | UnaryExpr
  | ParenExpr;

export const SET_OPERATORS: ReadonlySet<BinaryOp> = new Set(['and', 'or', 'unless']);
export const COMPARISON_OPERATORS: ReadonlySet<BinaryOp> = new Set(['==', '!=', '>', '<', '>=', '<=']);

const VALUE_TYPE_NAMES: Record<ValueType, string> = {
  scalar: 'scalar',
  vector: 'instant vector',
  matrix: 'range vector',
  string: 'string',
};

/** Prometheus' human name of a value type, as used in its error messages. */
export function typeName(t: ValueType): string {
  return VALUE_TYPE_NAMES[t];
}
