/**
 * A classic histogram as an exporter writes it (a `_bucket` series per upper bound `le`, each
 * counting the observations at or below it, then `_sum` and `_count`) into the one explicit-bucket
 * histogram the aggregation holds: bounds without +Inf, and a count per bucket.
 */

export interface AssembledHistogram {
  /** Upper bounds, increasing, without +Inf. */
  readonly bounds: number[];
  /** Per bucket, not cumulative: one more than `bounds` (the last is the +Inf bucket). */
  readonly bucketCounts: number[];
  readonly count: number;
  readonly sum: number;
}

/**
 * The histogram from its buckets (`les[i]` with the cumulative count `cumulative[i]`, in any
 * order), `_count` and `_sum` (undefined when the exposition has none); or why it is not one.
 * `_count` is kept as given even where it differs from the +Inf bucket, so the series scrapes as
 * the exporter wrote it; without `_count` the +Inf bucket is the count.
 */
export function assembleHistogram(les: readonly number[], cumulative: readonly number[], count: number | undefined, sum: number | undefined): AssembledHistogram | string {
  const order = les.map((_, i) => i).sort((a, b) => les[a] - les[b]);
  const bounds: number[] = [];
  const bucketCounts: number[] = [];
  let prev = 0;
  for (let k = 0; k < order.length; k++) {
    const le = les[order[k]];
    const c = cumulative[order[k]];
    if (Number.isNaN(le)) return 'a bucket\'s le is NaN';
    if (k > 0 && le === les[order[k - 1]]) return `two buckets have the upper bound le="${fmt(le)}"`;
    if (!(c >= 0) || c === Infinity) return `the bucket le="${fmt(le)}" counts ${c}; a bucket counts observations, a finite number not below 0`;
    if (c < prev) return `the bucket le="${fmt(le)}" counts ${c}, fewer than the ${prev} of the bucket below it; buckets are cumulative`;
    if (le !== Infinity) bounds.push(le);
    bucketCounts.push(c - prev);
    prev = c;
  }
  if (order.length === 0 || les[order[order.length - 1]] !== Infinity) return 'it has no le="+Inf" bucket';
  if (sum === undefined) return 'it has no _sum series';
  if (!Number.isFinite(sum)) return `its _sum is ${sum}, not a finite number`;
  if (count !== undefined && (!(count >= 0) || count === Infinity)) return `its _count is ${count}; a count is a finite number not below 0`;
  return { bounds, bucketCounts, count: count ?? prev, sum };
}

/**
 * Counts per bucket over `from` bounds onto `to` bounds. A bound of `to` takes the cumulative count
 * at the largest bound of `from` at or below it, so each observation lands in the first bucket of
 * `to` whose bound is at or above the bound it was counted under: exact where `to`'s bounds are
 * among `from`'s, otherwise an observation may move up (never down) to the next bound `from` has.
 * Bounds of `from` past the last of `to` fold into +Inf.
 */
export function rebucket(from: readonly number[], counts: readonly number[], to: readonly number[]): number[] {
  const cumulative: number[] = [];
  let run = 0;
  for (const c of counts) cumulative.push((run += c));
  const total = run;
  const out: number[] = [];
  let j = -1;
  let prev = 0;
  for (const bound of to) {
    while (j + 1 < from.length && from[j + 1] <= bound) j++;
    const at = j < 0 ? 0 : cumulative[j];
    out.push(at - prev);
    prev = at;
  }
  out.push(total - prev);
  return out;
}

function fmt(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
}
