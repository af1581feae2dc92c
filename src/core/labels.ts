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
