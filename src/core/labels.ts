/** A label set: name to value. The metric name, where present, is the `__name__` label. */
export type Labels = Readonly<Record<string, string>>;

export const METRIC_NAME = '__name__';

/** Prometheus' staleness marker: a NaN with a specific bit pattern, distinct from an ordinary NaN. */
export const STALE_NAN_BITS = 0x7ff0000000000002n;
const staleView = new DataView(new ArrayBuffer(8));
staleView.setBigUint64(0, STALE_NAN_BITS);
export const STALE_NAN = staleView.getFloat64(0);

/** Whether a value is the staleness marker (an ordinary NaN is not). */
export function isStaleNaN(value: number): boolean {
  if (value === value) return false;
  staleView.setFloat64(0, value);
  return staleView.getBigUint64(0) === STALE_NAN_BITS;
}

/**
 * Names are escaped to Prometheus' classic character set, not kept as UTF-8: the text format
 * 0.0.4, promtool 2.x, Prometheus 2.x as a scraper or remote-write receiver and most PromQL
 * clients only take classic names, and Prometheus 3's own OTLP receiver escapes by default
 * (`UnderscoreEscapingWithSuffixes`). A name that passes here works in every way out.
 */
const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Longest metric or label name taken from a source; longer ones are refused, not cut. */
export const MAX_NAME_CHARS = 256;

/** Why `name` cannot be a metric name, or undefined when it can. */
export function metricNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the metric name is empty';
  if (name.length > MAX_NAME_CHARS) return `the metric name is ${name.length} characters long, more than the ${MAX_NAME_CHARS} allowed`;
  if (!METRIC_NAME_RE.test(name)) return `${JSON.stringify(name)} is not a metric name: use letters, digits, '_' and ':', not starting with a digit`;
  return undefined;
}

/** Why `name` cannot be a label name, or undefined when it can. */
export function labelNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a label name is empty';
  if (name.length > MAX_NAME_CHARS) return `the label name ${JSON.stringify(name.slice(0, 40))}... is ${name.length} characters long, more than the ${MAX_NAME_CHARS} allowed`;
  if (!LABEL_NAME_RE.test(name)) return `${JSON.stringify(name)} is not a label name: use letters, digits and '_', not starting with a digit`;
  if (name.startsWith('__')) return `${JSON.stringify(name)} is not a label name: names starting with "__" are reserved`;
  return undefined;
}
