/**
 * The experimental `anchored` and `smoothed` range modifiers (Prometheus' extendFloats,
 * pickOrInterpolateLeft/Right): windows that reach one lookback delta beyond the range so a value
 * can be picked (anchored) or interpolated (smoothed) exactly at the range bounds.
 */

/**
 * An anchored/smoothed range vector as a value (Prometheus' extendFloats): the points inside
 * (start, end) framed by a point at each bound, picked (anchored) or interpolated (smoothed).
 */
export function extendPoints(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  start: number,
  end: number,
  before: number,
  after: number,
  smoothed: boolean,
): { ts: number[]; vs: number[] } | null {
  let lo = 0;
  while (lo < ts.length && ts[lo] <= start - before) lo++;
  let hi = lo;
  while (hi < ts.length && ts[hi] <= end + after) hi++;
  if (hi <= lo) return null;
  const b = boundaryPoints(ts, vs, lo, hi, start, end, smoothed, false);
  if (!b) return null;
  const outT = [start];
  const outV = [b.left];
  for (let i = b.first; i <= b.last; i++) {
    outT.push(ts[i]);
    outV.push(vs[i]);
  }
  outT.push(end);
  outV.push(b.right);
  return { ts: outT, vs: outV };
}

/**
 * Values at the bounds of an anchored/smoothed window over points [lo, hi), and the indices of
 * the points strictly inside it; null when the window has nothing to measure.
 */
export function boundaryPoints(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  lo: number,
  hi: number,
  start: number,
  end: number,
  smoothed: boolean,
  isCounter: boolean,
): { left: number; right: number; first: number; last: number } | null {
  let last = hi - 1;
  // The last point at or before the start anchors the window (sort.Search over [lo, last)).
  let first = lo;
  while (first < last && ts[first] <= start) first++;
  first = Math.max(lo, first - 1);
  if (smoothed) {
    let k = lo;
    while (k < last && ts[k] < end) k++;
    last = k;
  }
  if (ts[last] <= start) return null;
  if (smoothed && ts[first] > end) return null;
  const interp = (a: number, b: number, t: number) => {
    let y1 = vs[a];
    const y2 = vs[b];
    if (isCounter && y2 < y1) y1 = 0;
    return y1 + ((y2 - y1) * (t - ts[a])) / (ts[b] - ts[a]);
  };
  const left = smoothed && ts[first] < start ? interp(first, first + 1, start) : vs[first];
  const right = smoothed && last > lo && ts[last] > end ? interp(last - 1, last, end) : vs[last];
  const innerFirst = ts[first] <= start ? first + 1 : first;
  const innerLast = ts[last] >= end ? last - 1 : last;
  return { left, right, first: innerFirst, last: innerLast };
}

